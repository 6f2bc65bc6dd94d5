// Package plugbox is the Go author kit of plugbox: a plugin is one function.
//
//	package main
//
//	import (
//		"strconv"
//		"strings"
//
//		plugbox "plugbox/guest"
//	)
//
//	func init() {
//		plugbox.HandleText(func(text string) (string, error) {
//			if n, err := plugbox.KvIncrement("calls", 1); err == nil {
//				plugbox.Log(plugbox.Info, "call "+strconv.FormatInt(n, 10))
//			}
//			greeting, _ := plugbox.Config("greeting")
//			return greeting + strings.ToUpper(text), nil
//		})
//	}
//
//	func main() {} // c-shared needs a main package; never run
//
// built with `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` and made
// a component with the wasi_snapshot_preview1 reactor adapter (the artifacts
// build of this repository does both; docs/guests/go.md has the commands).
//
// The package implements the plugbox world (wit/plugin.wit) by hand: the
// `handle` export, the canonical ABI's cabi_realloc (from static arenas,
// never calling an import), and the log, config and kv imports. `go vet`
// reports "possible misuse of unsafe.Pointer" where it turns arena
// addresses into pointers: the arenas are static arrays, never moved or
// freed.
package plugbox
