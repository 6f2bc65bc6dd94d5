package plugbox

// The plugbox host functions (`log`, `config`, `kv` of wit/plugin.wit),
// lowered by hand. Strings and lists are passed as (pointer, length) into
// Go memory; results the host returns through a return area whose layout
// the canonical ABI fixes, and values it allocates with cabi_realloc in the
// call arena, copied out before the next host call.

import "unsafe"

//go:wasmimport plugbox:plugin/log@0.1.0 log
func hostLog(level uint32, message unsafe.Pointer, length uint32)

//go:wasmimport plugbox:plugin/config@0.1.0 get
func hostConfigGet(key unsafe.Pointer, length uint32, ret unsafe.Pointer)

//go:wasmimport plugbox:plugin/kv@0.1.0 get
func hostKvGet(key unsafe.Pointer, length uint32, ret unsafe.Pointer)

//go:wasmimport plugbox:plugin/kv@0.1.0 set
func hostKvSet(key unsafe.Pointer, keyLength uint32, value unsafe.Pointer, valueLength uint32, ret unsafe.Pointer)

//go:wasmimport plugbox:plugin/kv@0.1.0 delete
func hostKvDelete(key unsafe.Pointer, length uint32, ret unsafe.Pointer)

//go:wasmimport plugbox:plugin/kv@0.1.0 increment
func hostKvIncrement(key unsafe.Pointer, length uint32, delta int64, ret unsafe.Pointer)

// stringData is the address of s's bytes (nil for "", which the host
// accepts with length 0).
func stringData(s string) unsafe.Pointer {
	return unsafe.Pointer(unsafe.StringData(s))
}

func bytesData(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// hostCall runs call as a host function call: the host's values for it
// go into the call arena.
func hostCall(call func()) {
	inHostCall = true
	call()
	inHostCall = false
}

// copied copies length bytes at address out of the call arena.
func copied(address, length uint32) []byte {
	out := make([]byte, length)
	if length > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(uintptr(address))), length))
	}
	return out
}

// Level is a log message's severity.
type Level uint32

// The levels of wit/plugin.wit's `log.level`.
const (
	Trace Level = iota
	Debug
	Info
	Warn
	Error
)

// Log writes message into the host's logs at level. The host bounds what
// one call may log; messages past the bound are dropped and counted.
func Log(level Level, message string) {
	hostCall(func() { hostLog(uint32(level), stringData(message), uint32(len(message))) })
}

// Config is the value of key in the `[config]` table of the plugin's
// policy, and whether the policy sets it.
func Config(key string) (string, bool) {
	var ret [3]uint32
	hostCall(func() { hostConfigGet(stringData(key), uint32(len(key)), unsafe.Pointer(&ret)) })
	if ret[0]&0xff == 0 {
		return "", false
	}
	return string(copied(ret[1], ret[2])), true
}

// KvError is a refusal of the key-value store.
type KvError struct {
	// Kind is "denied", "quota-exceeded", "invalid" or "unavailable".
	Kind string
	// Detail is the host's message for "invalid" and "unavailable".
	Detail string
}

func (e *KvError) Error() string {
	if e.Detail == "" {
		return "kv: " + e.Kind
	}
	return "kv: " + e.Kind + ": " + e.Detail
}

// kvError reads kv's `error` variant: a discriminant byte, then a string's
// (pointer, length) for the two cases that carry one.
func kvError(discriminant, address, length uint32) error {
	switch discriminant & 0xff {
	case 0:
		return &KvError{Kind: "denied"}
	case 1:
		return &KvError{Kind: "quota-exceeded"}
	case 2:
		return &KvError{Kind: "invalid", Detail: string(copied(address, length))}
	default:
		return &KvError{Kind: "unavailable", Detail: string(copied(address, length))}
	}
}

// KvGet is the value stored under key; ok is false when there is none.
func KvGet(key string) (value []byte, ok bool, err error) {
	// result<option<list<u8>>, error>: discriminant at 0, payload at 4
	// (option: discriminant at 4, list at 8 and 12).
	var ret [4]uint32
	hostCall(func() { hostKvGet(stringData(key), uint32(len(key)), unsafe.Pointer(&ret)) })
	if ret[0]&0xff != 0 {
		return nil, false, kvError(ret[1], ret[2], ret[3])
	}
	if ret[1]&0xff == 0 {
		return nil, false, nil
	}
	return copied(ret[2], ret[3]), true, nil
}

// KvSet stores value under key.
func KvSet(key string, value []byte) error {
	var ret [4]uint32
	hostCall(func() {
		hostKvSet(stringData(key), uint32(len(key)), bytesData(value), uint32(len(value)), unsafe.Pointer(&ret))
	})
	if ret[0]&0xff != 0 {
		return kvError(ret[1], ret[2], ret[3])
	}
	return nil
}

// KvDelete removes key and says whether it existed.
func KvDelete(key string) (bool, error) {
	var ret [4]uint32
	hostCall(func() { hostKvDelete(stringData(key), uint32(len(key)), unsafe.Pointer(&ret)) })
	if ret[0]&0xff != 0 {
		return false, kvError(ret[1], ret[2], ret[3])
	}
	return ret[1]&0xff != 0, nil
}

// KvIncrement adds delta to the decimal integer under key (0 if absent),
// atomically, and returns the new value.
func KvIncrement(key string, delta int64) (int64, error) {
	// result<s64, error>: discriminant at 0, payload at 8 (s64 aligns to
	// 8; the error's string at 12 and 16).
	var ret [3]uint64
	hostCall(func() { hostKvIncrement(stringData(key), uint32(len(key)), delta, unsafe.Pointer(&ret)) })
	if ret[0]&0xff != 0 {
		return 0, kvError(uint32(ret[1]), uint32(ret[1]>>32), uint32(ret[2]))
	}
	return int64(ret[1]), nil
}
