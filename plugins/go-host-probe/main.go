// go-host-probe: plugins/host-probe in Go, through the author kit's `log`,
// `config` and `kv` wrappers; one command per call, answered as the Rust
// plugin answers it:
//
//	log LEVEL TEXT, spam N (N log messages of 1 KiB), config KEY, get KEY,
//	set KEY VALUE, delete KEY, inc KEY DELTA
//
// Key-value refusals are answered as `error: <the Rust error's Debug>`.
package main

import (
	"errors"
	"strconv"
	"strings"

	plugbox "plugbox/guest"
)

func probe(input string) (string, error) {
	words := strings.SplitN(input, " ", 3)
	for len(words) < 3 {
		words = append(words, "")
	}
	command, first, rest := words[0], words[1], words[2]
	switch command {
	case "log":
		levels := map[string]plugbox.Level{
			"trace": plugbox.Trace, "debug": plugbox.Debug, "info": plugbox.Info, "warn": plugbox.Warn,
		}
		level, known := levels[first]
		if !known {
			level = plugbox.Error
		}
		plugbox.Log(level, rest)
		return "ok", nil
	case "spam":
		count, err := strconv.ParseUint(strings.TrimPrefix(first, "+"), 10, 64)
		if err != nil {
			return "", errors.New("spam needs a count")
		}
		line := strings.Repeat("x", 1024)
		for i := uint64(0); i < count; i++ {
			plugbox.Log(plugbox.Info, line)
		}
		return "ok", nil
	case "config":
		if value, set := plugbox.Config(first); set {
			return value, nil
		}
		return "(unset)", nil
	case "get":
		value, found, err := plugbox.KvGet(first)
		if err != nil {
			return refused(err), nil
		}
		if !found {
			return "(absent)", nil
		}
		return strings.ToValidUTF8(string(value), "\uFFFD"), nil
	case "set":
		if err := plugbox.KvSet(first, []byte(rest)); err != nil {
			return refused(err), nil
		}
		return "ok", nil
	case "delete":
		existed, err := plugbox.KvDelete(first)
		if err != nil {
			return refused(err), nil
		}
		return strconv.FormatBool(existed), nil
	case "inc":
		delta, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return "", errors.New("inc needs a delta")
		}
		value, err := plugbox.KvIncrement(first, delta)
		if err != nil {
			return refused(err), nil
		}
		return strconv.FormatInt(value, 10), nil
	}
	return "", errors.New("unknown command `" + command + "`")
}

// refused formats a refusal as the Rust plugin's `{error:?}` does.
func refused(err error) string {
	var kv *plugbox.KvError
	if !errors.As(err, &kv) {
		return "error: " + err.Error()
	}
	switch kv.Kind {
	case "denied":
		return "error: Error::Denied"
	case "quota-exceeded":
		return "error: Error::QuotaExceeded"
	case "invalid":
		return "error: Error::Invalid(" + strconv.Quote(kv.Detail) + ")"
	}
	return "error: Error::Unavailable(" + strconv.Quote(kv.Detail) + ")"
}

func init() {
	plugbox.HandleText(probe)
}

// A c-shared module needs a main package; its main is never run.
func main() {}
