"""OpenGait's ``Plain`` layer specs (``BC-<c>``, ``FC-<c>-<k>``, ``M``) read into tuples: apart from the
network so that translating a config needs no torch module (and no import cycle with the families)."""

from __future__ import annotations

from typing import Sequence as Seq


def parse_layers(layers: Seq[str], name: str = "layers") -> list[tuple[str, int, int]]:
    """Spec strings -> (kind, out_channels, halving); ValueError naming the bad entry."""
    out = []
    for i, spec in enumerate(layers):
        parts = str(spec).split("-")
        try:
            if parts == ["M"]:
                out.append(("M", 0, 0))
            elif parts[0] == "BC" and len(parts) == 2:
                out.append(("BC", int(parts[1]), 0))
            elif parts[0] == "FC" and len(parts) == 3:
                out.append(("FC", int(parts[1]), int(parts[2])))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{name}[{i}]: {spec!r} is not BC-<channels>, FC-<channels>-<halving> or M") from None
    if not out or out[0][0] == "M":
        raise ValueError(f"{name} must start with a conv (BC-... or FC-...)")
    return out
