"""The one rule for a sequence whose frames differ in size: it keeps its majority size, and each
frame of another size is dropped and listed with this reason (by the scan and by decoding alike)."""

from __future__ import annotations

from collections import Counter


def majority_size(sizes: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The most common (height, width); a tie goes to the size seen first."""
    if not sizes:
        return None
    counts = Counter(sizes)
    best = max(counts.values())
    return next(s for s in sizes if counts[s] == best)


def other_size_reason(size: tuple[int, int], majority: tuple[int, int], n_major: int, n: int) -> str:
    return (f"size {size[1]}x{size[0]} differs from the sequence's majority size {majority[1]}x{majority[0]} "
            f"({n_major} of {n} frames); frame dropped")
