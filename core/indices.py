"""Evenly spaced positions in a sequence: which frames to show, sample or keep."""

from __future__ import annotations

import numpy as np


def spread_indices(n: int, k: int) -> list[int]:
    """Up to ``k`` distinct, sorted, evenly spaced indices in ``range(n)`` (all of them when ``k >= n``),
    always including the first and last when ``k >= 2``."""
    if n <= 0 or k <= 0:
        return []
    return [int(i) for i in np.unique(np.linspace(0, n - 1, min(int(k), n)).round().astype(int))]
