package plugbox

// The canonical ABI of the plugbox world, by hand: the `handle` export, its
// return area, and `cabi_realloc`, through which the host writes the request
// (and the results of `config` and `kv`) into this module's memory.
//
// cabi_realloc must never call an import: the host calls it while lowering
// values, where the component model forbids leaving the instance. Go's
// allocator may read the clock (a WASI import) or run the garbage collector,
// so realloc never allocates with Go: it bumps a pointer through two static
// arenas (in the module's zero-initialized data, so usable before Go's
// runtime has started: the WASI adapter allocates its state and stack with
// this realloc from within the runtime's first WASI calls).

import (
	"unicode/utf8"
	"unsafe"
)

// Arena sizes. The call arena holds one request and whatever the host
// returns to the plugin during the call (config values, kv values); it is
// emptied when the call returns. Its default fits the host's default input
// limit (1 MiB) with room for the host functions' results. The permanent
// arena serves allocations that outlive a call: the WASI adapter's state
// and stack, requested once per instance.
const (
	callArenaBytes      = 1<<20 + 256<<10
	permanentArenaBytes = 256 << 10
)

var (
	callMemory      [callArenaBytes]byte
	permanentMemory [permanentArenaBytes]byte
)

// An arena: a bump allocator over a static array. Its methods are nosplit
// (no stack growth, which could allocate) like realloc.
type arena struct {
	base, size uintptr
	used       uintptr // bytes in use from base
	last       uintptr // offset of the last allocation, to grow it in place
}

// alloc returns the address of size bytes aligned to align, or 0 if the
// arena is full.
//
//go:nosplit
func (a *arena) alloc(align, size uintptr) uintptr {
	if align == 0 || align&(align-1) != 0 {
		return 0
	}
	start := (a.base + a.used + align - 1) &^ (align - 1)
	end := start + size
	if end > a.base+a.size || end < start {
		return 0
	}
	a.last = start - a.base
	a.used = end - a.base
	return start
}

// grow grows the last allocation in place, if old is it and it fits.
//
//go:nosplit
func (a *arena) grow(old, oldSize, newSize uintptr) bool {
	if old != a.base+a.last || a.last+oldSize != a.used || a.last+newSize > a.size {
		return false
	}
	a.used = a.last + newSize
	return true
}

//go:nosplit
func (a *arena) owns(address uintptr) bool {
	return address >= a.base && address < a.base+a.size
}

func (a *arena) reset() {
	a.used = 0
	a.last = 0
}

var (
	// Statically initialized (no code runs to set them up).
	callArena      = arena{size: callArenaBytes}
	permanentArena = arena{size: permanentArenaBytes}
	// Set by this package's initialization: before it, realloc serves
	// the runtime's own start-up (the adapter's state) from the permanent
	// arena.
	ready bool
	// Whether a `handle` call is running, and whether it is waiting in one
	// of the plugbox host functions (whose results the host lowers into
	// the call arena).
	inCall, inHostCall bool
)

func init() {
	ready = true
}

// trap stops the instance without calling an import: a load past the end
// of linear memory (4 GiB - 16 is beyond any memory this host grants).
//
//go:nosplit
func trap() {
	_ = *(*byte)(unsafe.Pointer(uintptr(0xffff_fff0)))
}

// realloc is `cabi_realloc(old, old_size, align, new_size) -> new`.
//
// Requests from the host while it lowers a request (between calls) or a
// host function's result (inside one) come from the call arena; any other
// request (the WASI adapter allocating its state and stack, once) comes
// from the permanent arena. A request that does not fit traps.
//
//go:wasmexport cabi_realloc
//go:nosplit
func realloc(old unsafe.Pointer, oldSize, align, newSize uint32) unsafe.Pointer {
	a := &permanentArena
	a.base = uintptr(unsafe.Pointer(&permanentMemory))
	if ready && (!inCall || inHostCall) {
		a = &callArena
		a.base = uintptr(unsafe.Pointer(&callMemory))
	}
	oldAddress := uintptr(old)
	if oldAddress != 0 && a.owns(oldAddress) && a.grow(oldAddress, uintptr(oldSize), uintptr(newSize)) {
		return old
	}
	address := a.alloc(uintptr(align), uintptr(newSize))
	if address == 0 {
		trap()
	}
	for i := uintptr(0); oldAddress != 0 && i < uintptr(oldSize) && i < uintptr(newSize); i++ {
		*(*byte)(unsafe.Pointer(address + i)) = *(*byte)(unsafe.Pointer(oldAddress + i))
	}
	return unsafe.Pointer(address)
}

// The return area of `handle`: result<list<u8>, string> is a discriminant
// byte at 0 and a (pointer, length) pair at 4 and 8.
var returnArea [3]uint32

// response keeps the last answer alive (and in place: Go's collector does
// not move objects) until the host has read it, after `handle` returns.
var response []byte

// The plugin's handler, set by Handle or HandleText.
var handler func([]byte) ([]byte, error)

//go:wasmexport plugbox:plugin/handler@0.1.0#handle
func handle(input unsafe.Pointer, length uint32) unsafe.Pointer {
	// From here, what the WASI adapter allocates is permanent. The request
	// is copied out of the call arena, so that the plugin may keep it, and
	// the arena is emptied for the host functions' results.
	inCall = true
	request := make([]byte, length)
	if length > 0 {
		copy(request, unsafe.Slice((*byte)(input), length))
	}
	callArena.reset()
	var output []byte
	var err error
	if handler == nil {
		err = errorString("plugbox: no handler: call plugbox.Handle or plugbox.HandleText in an init function")
	} else {
		output, err = handler(request)
	}
	inCall = false
	callArena.reset()
	if err != nil {
		response = []byte(err.Error())
		returnArea[0] = 1
	} else {
		response = output
		returnArea[0] = 0
	}
	returnArea[1] = 0
	if len(response) > 0 {
		returnArea[1] = uint32(uintptr(unsafe.Pointer(&response[0])))
	}
	returnArea[2] = uint32(len(response))
	return unsafe.Pointer(&returnArea[0])
}

type errorString string

func (e errorString) Error() string { return string(e) }

// Handle makes handler the plugin: it gets each request's bytes and returns
// the response, or an error whose message the caller gets as the plugin's
// own (guest) error. A panic traps: the host reports a trap and discards
// the instance. Call it from an init function.
func Handle(h func(request []byte) ([]byte, error)) {
	handler = h
}

// HandleText is Handle for text: a request that is not valid UTF-8 is a
// guest error, and the handler's string is the response.
func HandleText(h func(request string) (string, error)) {
	handler = func(request []byte) ([]byte, error) {
		if !utf8.Valid(request) {
			return nil, errorString("input is not valid UTF-8: " + invalidAt(request))
		}
		text, err := h(string(request))
		if err != nil {
			return nil, err
		}
		return []byte(text), nil
	}
}

// invalidAt names the first byte that is not valid UTF-8.
func invalidAt(b []byte) string {
	i := 0
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		i += size
	}
	return "invalid byte at index " + itoa(i)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var digits [20]byte
	i := len(digits)
	for n > 0 {
		i--
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	return string(digits[i:])
}
