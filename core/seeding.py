"""Seeds derived from labels, the same on every machine and Python run (unlike ``hash()``)."""

from __future__ import annotations

import hashlib


def stable_seed(*parts: object, bits: int = 32) -> int:
    """The low ``bits`` of the first four bytes of SHA-1 over ``parts`` joined by ``|``.

    Model-free recipe plans use all 32 bits and the DLCR prompt / model seeds 31 (a positive
    int32); both are recorded in finished variants and decide their names, so neither may change.
    """
    value = int.from_bytes(hashlib.sha1("|".join(map(str, parts)).encode()).digest()[:4], "little")
    return value & ((1 << bits) - 1)
