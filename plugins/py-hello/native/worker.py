"""The native worker of `py-hello`: the plugin's own source (`app.py`, with
its helper `guest-sdk/python/plugbox.py`) run by `python3`, serving the
native twins' framed protocol (crate `plugbox-frame`) on stdin and stdout,
so that the density baseline runs under process and container isolation
exactly the Python code the Wasm component runs.

    python3 -I -S -B worker.py PLUGIN_DIR SDK_DIR

A request is a 4-byte little-endian length and that many bytes; a reply is a
status byte (0: output, 1: the plugin's error message), a 4-byte
little-endian length and that many bytes. Requests are served until stdin
closes (exit status 0); a malformed or oversized frame, or a broken pipe,
ends the worker with status 2; an exception other than the plugin's own
error (a trap in Wasm) with status 70, its traceback on stderr.

componentize-py generates the plugbox world's bindings (`wit_world`,
`componentize_py_types`) into the component; here they are stand-ins with
the same names: `log` writes to stderr, `config` is empty (the density
harness grants its tenants none), and `kv` is an in-memory store private to
the worker.
"""

import sys
import types

# The frame bound of plugbox-frame's readers (DEFAULT_MAX_FRAME).
MAX_FRAME = 16 << 20


class Err(Exception):
    """componentize-py's `Err`: raising it answers `err(value)`."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


class _Level:
    TRACE, DEBUG, INFO, WARN, ERROR = "trace", "debug", "info", "warn", "error"


def _log(level, message):
    sys.stderr.write(f"[{level}] {message}\n")


class _KvError:
    """The `kv.error` variant's cases, as componentize-py names them."""

    class Error_Denied:
        pass

    class Error_QuotaExceeded:
        pass

    class Error_Invalid:
        def __init__(self, value):
            self.value = value

    class Error_Unavailable:
        def __init__(self, value):
            self.value = value


_store = {}


def _kv_increment(key, delta):
    try:
        value = int(_store.get(key, b"0").decode("ascii")) + delta
    except ValueError:
        raise Err(_KvError.Error_Invalid(f"the value under {key!r} is not an integer"))
    _store[key] = str(value).encode("ascii")
    return value


def _install_bindings():
    _module("componentize_py_types", Err=Err)

    class Handler:
        """The `handler` export's base class."""

    exports = _module("wit_world.exports", Handler=Handler)
    log = _module("wit_world.imports.log", Level=_Level, log=_log)
    config = _module("wit_world.imports.config", get=lambda key: None)
    kv = _module(
        "wit_world.imports.kv",
        Error_Denied=_KvError.Error_Denied,
        Error_QuotaExceeded=_KvError.Error_QuotaExceeded,
        Error_Invalid=_KvError.Error_Invalid,
        Error_Unavailable=_KvError.Error_Unavailable,
        get=lambda key: _store.get(key),
        set=lambda key, value: _store.__setitem__(key, bytes(value)),
        delete=lambda key: _store.pop(key, None) is not None,
        increment=_kv_increment,
    )
    imports = _module("wit_world.imports", log=log, config=config, kv=kv)
    _module("wit_world", exports=exports, imports=imports)


def _read_exactly(stream, count):
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def _reply(stream, status, payload):
    stream.write(bytes([status]) + len(payload).to_bytes(4, "little") + payload)
    stream.flush()


def serve(handler):
    """Answers framed requests with `handler.handle` until stdin closes."""
    requests = sys.stdin.buffer
    replies = sys.stdout.buffer
    while True:
        prefix = _read_exactly(requests, 4)
        if not prefix:
            return 0
        if len(prefix) < 4:
            sys.stderr.write("py-hello worker: bad request: stream ended inside a frame\n")
            return 2
        length = int.from_bytes(prefix, "little")
        if length > MAX_FRAME:
            sys.stderr.write(f"py-hello worker: bad request: frame of {length} bytes, limit {MAX_FRAME}\n")
            return 2
        payload = _read_exactly(requests, length)
        if len(payload) < length:
            sys.stderr.write("py-hello worker: bad request: stream ended inside a frame\n")
            return 2
        try:
            status, answer = 0, bytes(handler.handle(payload))
        except Err as error:
            status, answer = 1, str(error.value).encode("utf-8")
        try:
            _reply(replies, status, answer)
        except OSError as error:
            sys.stderr.write(f"py-hello worker: cannot answer: {error}\n")
            return 2


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: worker.py PLUGIN_DIR SDK_DIR\n")
        return 2
    plugin_dir, sdk_dir = sys.argv[1], sys.argv[2]
    sys.path[:0] = [plugin_dir, sdk_dir]
    _install_bindings()
    import app

    try:
        return serve(app.Handler())
    except Exception:
        import traceback

        traceback.print_exc()
        return 70


if __name__ == "__main__":
    sys.exit(main())
