"""The import graph of ``core/``: no cycles, and every import points down the documented layers.

The graph is read with ``ast`` (nothing is imported), counting module-level and function-level
imports alike: a lazy import inside a function is still a dependency, only a deferred one.

The layers, lowest first (README, "Layout of the code"). A module may import from its own layer
or any layer below it, never from one above:
    base      core (the package), errors, atomic, records, parts, procpool, hub,
              alignment, device, imaging, indices, problems, seeding, schema, locks, roots
    record    catalog, workspace            the SQLite record and the folders it describes
    inputs    demo, readers, silhouette, pose
    data      data                          packed frames, frame sampling, batched transforms
    layout    layout                        reading the GREW-style layout (builds data's packed form)
    convert   convert                       raw source -> layout
    models    models
    train     train
    evaluate  evaluate                      (runs trained models: loads checkpoints and configs)
    dlcr      dlcr                          model-backed DLCR stages
    variants  variants                      the one variant folder writer/reader and record
    augment   augment                       the DLCR chain, fallbacks, scoring, merging
    dlcr_io   dlcr_io                       DLCR artifacts in and out
    options   options                       gathers every job kind's schema; the CLI generated from them
    jobs      jobs
    studio    studio, runs                  the facade the app uses; run status and what a run allows
    cli       cli, __main__
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"

LAYERS: list[tuple[str, set[str]]] = [
    ("base", {"core", "errors", "atomic", "records", "benchmarks", "parts", "procpool", "hub",
              "alignment", "device", "imaging", "indices", "problems", "seeding", "schema", "locks", "roots"}),
    ("record", {"catalog", "workspace"}),
    ("inputs", {"demo", "readers", "silhouette", "pose"}),
    ("data", {"data"}),
    ("layout", {"layout"}),
    ("convert", {"convert"}),
    ("models", {"models"}),
    ("train", {"train"}),
    ("evaluate", {"evaluate"}),
    ("dlcr", {"dlcr"}),
    ("variants", {"variants"}),
    ("augment", {"augment"}),
    ("dlcr_io", {"dlcr_io"}),
    ("options", {"options"}),
    ("jobs", {"jobs"}),
    ("studio", {"studio", "runs", "experiment"}),
    ("cli", {"cli", "__main__"}),
]

# Known back-edges whose removal is under way (importer, imported). Empty this set as each fix
# lands; an entry whose import no longer exists fails the test so it cannot linger.
KNOWN_PENDING: set[tuple[str, str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _imports(modules: dict[str, tuple[Path, bool]]) -> dict[str, dict[str, int]]:
    """module -> {imported core module: first line}; ``from pkg import sub`` counts as ``pkg.sub``."""
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_pkg) in modules.items():
        package = name if is_pkg else name.rpartition(".")[0]
        found: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                subs = [f"{src}.{a.name}" for a in node.names if f"{src}.{a.name}" in modules]
                targets = subs if len(subs) == len(node.names) else [src, *subs]
            for t in targets:
                while t and t not in modules and "." in t:   # import core.x.y.name -> core.x.y
                    t = t.rpartition(".")[0]
                if t in modules and t != name:
                    found.setdefault(t, node.lineno)
        graph[name] = found
    return graph


def _unit(module: str) -> str:
    """The top-level part of core a module belongs to ('core' itself for the package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "core"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _edges() -> list[tuple[str, str, int]]:
    graph = _imports(_modules())
    return [(a, b, line) for a, targets in graph.items() for b, line in targets.items()]


def _live_edges() -> list[tuple[str, str, int]]:
    return [e for e in _edges() if (e[0], e[1]) not in KNOWN_PENDING]


def test_every_part_of_core_has_a_layer():
    layered = set().union(*(units for _, units in LAYERS))
    missing = sorted({_unit(m) for m in _modules()} - layered)
    assert not missing, f"give {missing} a layer in LAYERS (and in the README's 'Layout of the code')"


def test_no_import_points_up_the_layers():
    rank = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}
    up = [f"{a}:{line} imports {b} ({LAYERS[rank[_unit(a)]][0]} -> {LAYERS[rank[_unit(b)]][0]})"
          for a, b, line in _live_edges() if rank[_unit(b)] > rank[_unit(a)]]
    assert not up, "imports pointing up the layers:\n" + "\n".join(up)


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = {}
    for a, b, _ in _live_edges():
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    assert _cycles(graph) == []


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for a, b, _ in _live_edges():
        if _unit(a) != _unit(b):
            graph.setdefault(_unit(a), set()).add(_unit(b))
            graph.setdefault(_unit(b), set())
    assert _cycles(graph) == []


def test_known_pending_edges_still_exist():
    present = {(a, b) for a, b, _ in _edges()}
    stale = sorted(KNOWN_PENDING - present)
    assert not stale, f"these back-edges are gone; remove them from KNOWN_PENDING: {stale}"


def test_the_graph_reader_sees_lazy_and_relative_imports():
    # The checks above are only as good as the reader: a function-level import must count.
    graph = _imports(_modules())
    assert "core.train.trainer" in graph["core.train.launch"]
    assert "core.readers.opengait_pkl" in graph["core.readers.media"]      # inside a function
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
