"""`py-hostile`: the hostile plugins (plugins/spin, plugins/grow) in Python,
and a sleeper. The request names the attack:

- ``spin``: loops forever (the call's deadline, or its fuel, must stop it);
- ``bomb``: allocates and touches 1 MiB blocks without end (the memory limit
  must stop it: CPython's allocator fails, and the ``MemoryError`` it raises
  is not caught, so the call traps);
- ``sleep <ms>``: sleeps in ``time.sleep``, a WASI host call (the deadline
  must stop it there too);
- ``throw``: raises a ``TypeError`` (a bug: the call traps);
- ``noop``: answers ``ok``.
"""

import time

import plugbox


def attack(request: str) -> str:
    command, _, argument = request.partition(" ")
    if command == "spin":
        counter = 0
        while True:
            counter += 1
    if command == "bomb":
        blocks = []
        while True:
            blocks.append(bytearray(b"\x5a" * (1 << 20)))
    if command == "sleep":
        time.sleep(int(argument) / 1000)
        return "slept"
    if command == "throw":
        raise TypeError("a bug")
    if command == "noop":
        return "ok"
    raise plugbox.GuestError(f"unknown attack {command!r}")


Handler = plugbox.plugin(attack, text=True)
