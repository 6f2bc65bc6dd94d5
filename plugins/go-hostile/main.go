// go-hostile: the hostile plugins (plugins/spin, plugins/grow) in Go. The
// request names the attack:
//
//   - spin: loops forever (the call's deadline, or its fuel, must stop it);
//   - bomb: allocates and touches 1 MiB blocks without end (the memory
//     limit must stop it: Go's runtime fails to grow its heap and aborts,
//     a trap);
//   - throw: panics (a bug: the call traps);
//   - noop: answers ok.
package main

import (
	"errors"
	"strconv"

	plugbox "plugbox/guest"
)

// blocks keeps the bomb's blocks reachable, so the collector frees none.
var blocks [][]byte

// counter is what the spin loop updates, so that it is not optimized away.
var counter uint64

func attack(request string) (string, error) {
	switch request {
	case "spin":
		for {
			counter++
		}
	case "bomb":
		for {
			block := make([]byte, 1<<20)
			for i := range block {
				block[i] = 0x5a
			}
			blocks = append(blocks, block)
		}
	case "throw":
		panic("a bug")
	case "noop":
		return "ok", nil
	}
	return "", errors.New("unknown attack " + strconv.Quote(request))
}

func init() {
	plugbox.HandleText(attack)
}

// A c-shared module needs a main package; its main is never run.
func main() {}
