// go-hello: the `hello` plugin in Go. It returns its input in upper case.
package main

import plugbox "plugbox/guest"

func init() {
	plugbox.HandleText(func(text string) (string, error) {
		return upper(text), nil
	})
}

// A c-shared module needs a main package; its main is never run.
func main() {}
