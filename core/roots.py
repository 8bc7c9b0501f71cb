"""The folders a served studio may touch, and the hosts it answers to.

A studio behind a web page must not become a file browser for the whole machine: every path a
request carries is resolved (symlinks included) and accepted only inside the workspace or a
``--data-root`` folder. Resolving first is the point: ``root/link -> /etc`` is outside, however
it is spelt. The Host rule keeps a DNS-rebinding page (``evil.example`` resolving to 127.0.0.1)
from driving a loopback-bound studio.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Iterable

from core.errors import InputError

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class Roots:
    """The allowed folders, resolved once; a path is allowed when its resolved form is one of them or inside one."""

    def __init__(self, folders: Iterable[str | Path]):
        self.folders: tuple[Path, ...] = tuple(dict.fromkeys(Path(f).expanduser().resolve() for f in folders))

    def contains(self, path: str | Path) -> bool:
        p = Path(path).expanduser().resolve()
        return any(p == r or r in p.parents for r in self.folders)

    def check(self, path: str | Path) -> Path:
        """The resolved path, or InputError when it resolves outside every root."""
        resolved = Path(path).expanduser().resolve()
        if not self.contains(resolved):
            # One message whether or not it exists: a refusal must not tell what is out there.
            where = f" (it is {resolved})" if str(resolved) != str(path) else ""
            raise InputError(path, f"does not exist or is outside the folders this studio may read{where}; allowed: "
                                   + ", ".join(map(str, self.folders))
                                   + " (start the studio with --data-root DIR to add one)")
        return resolved

    def listing(self, folder: str | Path) -> list[str]:
        """The entry names of ``folder`` that stay inside the roots: a symlink leading out is left out,
        and a folder that is itself outside lists nothing."""
        if not self.contains(folder):
            return []
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return []
        return [n for n in names if self.contains(Path(folder) / n)]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host.strip("[]").lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bound: str, port: int) -> set[str]:
    """The Host header values a studio bound to ``bound``:``port`` answers (compared lower-case)."""
    names = {bound.lower(), *LOCAL_NAMES}
    out = set()
    for n in names:
        n = f"[{n}]" if ":" in n and not n.startswith("[") else n   # an IPv6 address is bracketed in Host
        out |= {n, f"{n}:{port}"}
    return out


def host_allowed(header: str | None, bound: str, port: int) -> bool:
    return bool(header) and header.strip().lower() in allowed_hosts(bound, port)
