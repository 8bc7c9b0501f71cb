"""The app is a thin layer: its modules reach ``core`` only through ``core.studio``.

Read with ``ast`` (nothing is imported), module- and function-level imports alike. ``core.studio``
re-exports the few UI-neutral names a page needs (protocols, options, runs, StudioError, ...);
anything else the app needs from core becomes a Studio method or one of those names.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
ALLOWED = {"core.studio"}


def _core_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from core import x` names the module core.x (or a name of core itself: also not allowed)
            names = [f"{node.module}.{a.name}" if node.module == "core" else node.module for a in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n == "core" or n.startswith("core.")]
    return found


def test_app_modules_import_only_core_studio():
    bad = [f"{p.name}:{line} imports {name}" for p in sorted(APP.glob("*.py"))
           for line, name in _core_imports(p) if name not in ALLOWED]
    assert not bad, "app modules must reach core through core.studio only:\n" + "\n".join(bad)


def test_the_check_sees_every_kind_of_import(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import core.catalog\nfrom core import options\nfrom core.studio import runs\n"
                 "def g():\n    from core.evaluate import report\n")
    assert [n for _, n in _core_imports(f)] == ["core.catalog", "core.options", "core.studio", "core.evaluate"]


def test_app_modules_never_reach_the_catalog():
    bad = [f"{p.name}:{node.lineno}" for p in sorted(APP.glob("*.py"))
           for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.Attribute) and node.attr == "catalog"]
    assert not bad, "app modules must go through Studio, not studio.catalog: " + ", ".join(bad)
