"""Thin helpers for plugbox plugins written in Python (componentize-py).

componentize-py generates the bindings of the plugbox world (`wit_world`)
when it builds the component; this module wraps them so that a plugin is one
function::

    import plugbox

    def uppercase(text: str) -> str:
        return text.upper()

    Handler = plugbox.plugin(uppercase, text=True)

The function gets the request (``bytes``, or ``str`` with ``text=True``) and
returns the response (``bytes`` or ``str``). Raising :class:`GuestError`
answers the caller with that message (a guest error, the plugin stays
usable); any other exception is a bug and traps (the host reports a trap and
poisons the instance), as a Rust plugin's panic does.

Host functions: :func:`log` (and :func:`info`, :func:`warn`, ...),
:func:`config`, and the key-value store :func:`kv_get`, :func:`kv_set`,
:func:`kv_delete`, :func:`kv_increment` (raising :class:`KvError`).
"""

from typing import Callable, Optional, Union

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config as _config
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log


class GuestError(Exception):
    """An error the plugin reports to its caller (`ErrorKind::Guest`)."""


def plugin(function: Callable, text: bool = False) -> type:
    """The ``Handler`` class componentize-py exports, calling ``function``.

    With ``text=True`` the request is decoded as UTF-8 first (invalid UTF-8
    is a guest error) and a ``str`` response is encoded back.
    """

    class Handler(exports.Handler):
        def handle(self, input: bytes) -> bytes:
            request: Union[bytes, str] = input
            if text:
                try:
                    request = input.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise Err(f"input is not valid UTF-8: {error}")
            try:
                response = function(request)
            except GuestError as error:
                raise Err(str(error))
            if isinstance(response, str):
                return response.encode("utf-8")
            return bytes(response)

    return Handler


# Logging.

_LEVELS = {
    "trace": _log.Level.TRACE,
    "debug": _log.Level.DEBUG,
    "info": _log.Level.INFO,
    "warn": _log.Level.WARN,
    "error": _log.Level.ERROR,
}


def log(level: str, message: str) -> None:
    """Logs ``message`` at ``level`` (``trace`` ... ``error``) into the host's logs."""
    _log.log(_LEVELS[level], message)


def trace(message: str) -> None:
    """Logs at trace level."""
    _log.log(_log.Level.TRACE, message)


def debug(message: str) -> None:
    """Logs at debug level."""
    _log.log(_log.Level.DEBUG, message)


def info(message: str) -> None:
    """Logs at info level."""
    _log.log(_log.Level.INFO, message)


def warn(message: str) -> None:
    """Logs at warn level."""
    _log.log(_log.Level.WARN, message)


def error(message: str) -> None:
    """Logs at error level."""
    _log.log(_log.Level.ERROR, message)


# Configuration.


def config(key: str) -> Optional[str]:
    """The value of ``key`` in the policy's ``[config]``, or ``None``."""
    return _config.get(key)


# Key-value store.


class KvError(Exception):
    """The store refused an operation.

    ``kind`` is ``denied``, ``quota-exceeded``, ``invalid`` or
    ``unavailable``; ``detail`` the host's message, if any.
    """

    def __init__(self, kind: str, detail: Optional[str] = None):
        super().__init__(kind if detail is None else f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def _kv_error(value: object) -> KvError:
    if isinstance(value, _kv.Error_Denied):
        return KvError("denied")
    if isinstance(value, _kv.Error_QuotaExceeded):
        return KvError("quota-exceeded")
    if isinstance(value, _kv.Error_Invalid):
        return KvError("invalid", value.value)
    if isinstance(value, _kv.Error_Unavailable):
        return KvError("unavailable", value.value)
    return KvError("unavailable", repr(value))


def kv_get(key: str) -> Optional[bytes]:
    """The value stored under ``key``, or ``None``."""
    try:
        return _kv.get(key)
    except Err as error:
        raise _kv_error(error.value) from None


def kv_set(key: str, value: bytes) -> None:
    """Stores ``value`` under ``key``."""
    try:
        _kv.set(key, value)
    except Err as error:
        raise _kv_error(error.value) from None


def kv_delete(key: str) -> bool:
    """Removes ``key``; whether it existed."""
    try:
        return _kv.delete(key)
    except Err as error:
        raise _kv_error(error.value) from None


def kv_increment(key: str, delta: int) -> int:
    """Adds ``delta`` to the integer under ``key`` (0 if absent), atomically; the new value."""
    try:
        return _kv.increment(key, delta)
    except Err as error:
        raise _kv_error(error.value) from None
