"""Time-ordered ids: UUIDv7 (RFC 9562, section 5.7), for orders and their events.

A UUIDv7 begins with its creation time (48 bits of Unix milliseconds), so ids made later sort
after ids made earlier: a B-tree on them grows at its right edge, as one on a sequence does,
instead of touching a random page of the whole index for every insert (UUIDv4). As strings
they are UUIDs like any other; the API and events do not change.

Layout (RFC 9562 5.7): unix_ts_ms (48) | ver 0b0111 (4) | rand_a (12) | var 0b10 (2) | rand_b (62).
The 74 random bits come from `os.urandom`. Within one millisecond, and if the clock steps
back, ids stay increasing in this process (RFC 9562 6.2, method 2, "monotonic random"): the
previous id's random bits plus a random increment, carried into the time when they overflow.
"""

import os
import threading
import time
from uuid import UUID

_RANDOM_BITS = 74
_RANDOM_LIMIT = 1 << _RANDOM_BITS
_RAND_A_SHIFT = 62  # rand_a sits above the variant bits and rand_b
_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_RAND_B_MASK = (1 << 62) - 1
# A random increment of up to 2^32 keeps a run of ids within a millisecond hard to guess and
# leaves room for about 2^42 ids in that millisecond before the time part is carried.
_INCREMENT_BYTES = 4

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _assemble(unix_ms: int, random: int) -> UUID:
    rand_a = random >> _RAND_A_SHIFT
    rand_b = random & _RAND_B_MASK
    return UUID(int=(unix_ms << 80) | _VERSION | (rand_a << 64) | _VARIANT | rand_b)


def uuid7(unix_ms: int | None = None) -> UUID:
    """A new UUIDv7. Without `unix_ms`, now, and greater than every id this process made
    before; with it (a bulk load's past timestamps), that time and fresh random bits."""
    global _last_ms, _last_random
    random = int.from_bytes(os.urandom(10)) >> (80 - _RANDOM_BITS)
    if unix_ms is not None:
        return _assemble(unix_ms, random)
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms, _last_random = now_ms, random
        else:
            increment = 1 + int.from_bytes(os.urandom(_INCREMENT_BYTES))
            _last_random += increment
            if _last_random >= _RANDOM_LIMIT:
                _last_ms, _last_random = _last_ms + 1, random
        return _assemble(_last_ms, _last_random)


def unix_ms_of(value: UUID) -> int:
    """The creation time of a UUIDv7, in Unix milliseconds."""
    return value.int >> 80
