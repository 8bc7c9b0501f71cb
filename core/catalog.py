"""The SQLite catalog: the single record of datasets, sequences, jobs, runs, metrics and variants.

One file per workspace, WAL mode so the UI process reads while job workers write. Every
connection is short-lived and per-thread: callers use ``Catalog`` methods, never a shared cursor.
The schema is versioned; ``MIGRATIONS[i]`` upgrades version ``i`` to ``i + 1``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.records import Sequence

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE datasets(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('raw', 'converted')),
        format TEXT NOT NULL,
        path TEXT NOT NULL,
        parent_id INTEGER REFERENCES datasets(id),
        created TEXT NOT NULL,
        info TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE sequences(
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        sid TEXT NOT NULL, seq TEXT NOT NULL, split TEXT NOT NULL,
        condition TEXT, seq_type TEXT, view TEXT, clothes TEXT,
        frames INTEGER NOT NULL DEFAULT 0, source TEXT, origin TEXT,
        UNIQUE(dataset_id, sid, seq)
    );
    CREATE TABLE jobs(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
        slot TEXT NOT NULL DEFAULT 'cpu',
        progress REAL NOT NULL DEFAULT 0, total REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        pid INTEGER, pid_start TEXT, heartbeat REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL, started TEXT, finished TEXT,
        started_at REAL,
        error TEXT, result TEXT,
        run_id INTEGER REFERENCES runs(id),
        resumed_from INTEGER REFERENCES jobs(id)
    );
    CREATE TABLE runs(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        dataset_id INTEGER REFERENCES datasets(id),
        model TEXT NOT NULL,
        config TEXT NOT NULL,
        dir TEXT NOT NULL,
        created TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'created',
        step INTEGER NOT NULL DEFAULT 0,
        results TEXT
    );
    CREATE TABLE metrics(
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, t REAL NOT NULL,
        PRIMARY KEY(run_id, name, step)
    );
    CREATE TABLE variants(
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        sid TEXT NOT NULL, source_seq TEXT NOT NULL, name TEXT NOT NULL,
        method TEXT NOT NULL, recipe TEXT NOT NULL DEFAULT '{}', description TEXT NOT NULL DEFAULT '',
        seed INTEGER, score REAL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
        path TEXT NOT NULL, thumb TEXT, job_id INTEGER, created TEXT NOT NULL,
        merged_seq TEXT,
        UNIQUE(dataset_id, sid, name)
    );
    CREATE TABLE decisions(
        id INTEGER PRIMARY KEY,
        variant_id INTEGER NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
        decision TEXT NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL
    );
    CREATE INDEX idx_seq_dataset ON sequences(dataset_id, split);
    CREATE INDEX idx_jobs_state ON jobs(state);
    CREATE INDEX idx_variants_status ON variants(dataset_id, status);
    """,
    # 1 -> 2: where a job's progress started (a resumed job starts part-way), so its ETA is right.
    """
    ALTER TABLE jobs ADD COLUMN progress_start REAL;
    ALTER TABLE jobs ADD COLUMN progress_t0 REAL;
    """,
    # 2 -> 3: CCVID's protocol needs each sequence's camera.
    """
    ALTER TABLE sequences ADD COLUMN camera TEXT NOT NULL DEFAULT '';
    """,
    # 3 -> 4: the curation workbench sorts and filters thousands of variants by score.
    """
    CREATE INDEX idx_variants_score ON variants(dataset_id, score);
    """,
    # 4 -> 5: a dataset is its resolved folder, not its name (two folders called grew are two datasets).
    # Rows keep their ids, so variants, decisions and runs stay attached; lookups by path need the index.
    # Not UNIQUE: an older catalog may already hold one folder under two names, and both rows must survive.
    """
    CREATE INDEX idx_datasets_path ON datasets(path, id);
    """,
    # 5 -> 6: curation a reviewer can trust. Each decision remembers what it replaced and the bulk
    # action (batch) it belonged to, so a bulk action is undone as one; a variant knows whether its
    # status was set by hand, so bulk actions can leave it alone. An older catalog cannot tell its
    # hand decisions from bulk ones: every decided variant counts as decided by hand (the safe side).
    """
    CREATE TABLE decision_batches(
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        decision TEXT NOT NULL, label TEXT NOT NULL DEFAULT '',
        who TEXT NOT NULL, at TEXT NOT NULL, changed INTEGER NOT NULL DEFAULT 0,
        undoes INTEGER REFERENCES decision_batches(id), undone_by INTEGER REFERENCES decision_batches(id)
    );
    ALTER TABLE decisions ADD COLUMN batch_id INTEGER REFERENCES decision_batches(id);
    ALTER TABLE decisions ADD COLUMN previous TEXT;
    ALTER TABLE decisions ADD COLUMN previous_by_hand INTEGER;
    ALTER TABLE variants ADD COLUMN by_hand INTEGER NOT NULL DEFAULT 0;
    UPDATE variants SET by_hand = 1 WHERE status != 'pending';
    CREATE INDEX idx_decisions_variant ON decisions(variant_id, id);
    CREATE INDEX idx_decisions_batch ON decisions(batch_id);
    CREATE INDEX idx_variants_source ON variants(dataset_id, sid, source_seq);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
JOB_ACTIVE = ("queued", "running")


ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime(ISO_FORMAT)


def iso_epoch(text: str | None) -> float | None:
    """Seconds since the epoch for a catalog timestamp; None when there is none."""
    try:
        return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


def display_name(name: str | None, path: Path, taken: set[str]) -> str:
    """``name`` if free, else the folder with more and more of its parents (``b/grew`` when ``grew``
    is taken, then ``x/b/grew``), else ``name-2``, ``name-3``..."""
    name = name or path.name
    candidates = [name] + ["/".join(path.parts[-k:]).lstrip("/") for k in range(2, len(path.parts) + 1)]
    for c in candidates:
        if c and c not in taken:
            return c
    i = 2
    while f"{name}-{i}" in taken:
        i += 1
    return f"{name}-{i}"


def _row(r: sqlite3.Row | None) -> dict[str, Any] | None:
    if r is None:
        return None
    d = dict(r)
    for k in ("params", "info", "config", "results", "result", "recipe"):
        if k in d and isinstance(d[k], str):
            try:
                d[k] = json.loads(d[k])
            except json.JSONDecodeError:
                pass
    return d


class Catalog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    # -- connection handling -------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken eagerly, so concurrent writers queue instead of deadlocking."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # What the app's pages show from polling: jobs, datasets, runs and their metrics, how many variants.
    # Not decisions: the event making one answers with what changed, and a page refreshed by each
    # decision kept the reviewer's browser busy.
    _SHOWN = ("SELECT (SELECT COUNT(*) || '.' || COALESCE(MAX(id), 0) || '.' || COALESCE(SUM(progress), 0) || '.'"
              " || COALESCE(group_concat(state || cancel_requested || COALESCE(message, '')), '') FROM jobs),"
              " (SELECT COUNT(*) || '.' || COALESCE(MAX(id), 0) FROM datasets),"
              " (SELECT COUNT(*) || '.' || COALESCE(SUM(step), 0) || '.' || COALESCE(group_concat(state), '') || '.'"
              " || COALESCE(SUM(length(results)), 0) FROM runs),"
              " (SELECT COUNT(*) FROM metrics),"
              " (SELECT COUNT(*) || '.' || COALESCE(MAX(id), 0) || '.' || COUNT(merged_seq) FROM variants)")

    def shown_version(self) -> str:
        """A short text that changes whenever what the pages poll for does (see ``_SHOWN``)."""
        import hashlib

        row = self._conn().execute(self._SHOWN).fetchone()
        return hashlib.sha1("|".join(map(str, row)).encode()).hexdigest()[:16]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        with self.tx() as c:
            c.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path}: catalog schema v{version} is newer than this studio (v{SCHEMA_VERSION})")
            for v in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        c.execute(stmt)
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    def integrity_ok(self) -> bool:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- datasets ---------------------------------------------------------------------------
    def add_dataset(self, name: str, kind: str, fmt: str, path: str | Path, info: dict | None = None,
                    parent_id: int | None = None) -> int:
        """Register the folder ``path`` (resolved): a folder already known keeps its id and display name
        and only its record is updated; a new one gets ``name``, made unique (see ``display_name``)."""
        path = Path(path).resolve()
        with self.tx() as c:
            row = c.execute("SELECT id FROM datasets WHERE path=? ORDER BY id DESC LIMIT 1", (str(path),)).fetchone()
            if row:
                c.execute("UPDATE datasets SET kind=?, format=?, parent_id=?, info=? WHERE id=?",
                          (kind, fmt, parent_id, json.dumps(info or {}), row[0]))
                return int(row[0])
            taken = {r[0] for r in c.execute("SELECT name FROM datasets")}
            cur = c.execute("INSERT INTO datasets(name, kind, format, path, parent_id, created, info) VALUES(?,?,?,?,?,?,?)",
                            (display_name(name, path, taken), kind, fmt, str(path), parent_id, now_iso(),
                             json.dumps(info or {})))
            return int(cur.lastrowid)

    def dataset(self, ref: int | str) -> dict | None:
        col = "id" if isinstance(ref, int) else "name"
        return _row(self._conn().execute(f"SELECT * FROM datasets WHERE {col}=?", (ref,)).fetchone())

    def dataset_by_path(self, path: str | Path) -> dict | None:
        return _row(self._conn().execute("SELECT * FROM datasets WHERE path=? ORDER BY id DESC LIMIT 1",
                                         (str(Path(path).resolve()),)).fetchone())

    def datasets(self, kind: str | None = None) -> list[dict]:
        q, args = "SELECT * FROM datasets", ()
        if kind:
            q, args = q + " WHERE kind=?", (kind,)
        return [_row(r) for r in self._conn().execute(q + " ORDER BY id", args)]

    def update_dataset_info(self, dataset_id: int, info: dict) -> None:
        with self.tx() as c:
            c.execute("UPDATE datasets SET info=? WHERE id=?", (json.dumps(info), dataset_id))

    def replace_sequences(self, dataset_id: int, seqs: Iterable[Sequence]) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM sequences WHERE dataset_id=?", (dataset_id,))
            c.executemany(
                "INSERT INTO sequences(dataset_id, sid, seq, split, condition, seq_type, view, clothes, frames, source, origin,"
                " camera) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                [(dataset_id, s.sid, s.seq, s.split, s.condition, s.seq_type, s.view, s.clothes, s.frames, s.source,
                  s.origin, s.camera) for s in seqs])

    def add_sequences(self, dataset_id: int, seqs: Iterable[Sequence]) -> None:
        with self.tx() as c:
            c.executemany(
                "INSERT OR REPLACE INTO sequences(dataset_id, sid, seq, split, condition, seq_type, view, clothes, frames,"
                " source, origin, camera) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                [(dataset_id, s.sid, s.seq, s.split, s.condition, s.seq_type, s.view, s.clothes, s.frames, s.source,
                  s.origin, s.camera) for s in seqs])

    def sequences(self, dataset_id: int, split: str | None = None) -> list[Sequence]:
        q, args = "SELECT * FROM sequences WHERE dataset_id=?", [dataset_id]
        if split:
            q += " AND split=?"
            args.append(split)
        return [Sequence.from_dict(dict(r)) for r in self._conn().execute(q + " ORDER BY sid, seq", args)]

    def sequence_counts(self, dataset_id: int) -> list[dict]:
        return [dict(r) for r in self._conn().execute(
            "SELECT split, condition, COUNT(*) AS sequences, COUNT(DISTINCT sid) AS ids, SUM(frames) AS frames "
            "FROM sequences WHERE dataset_id=? GROUP BY split, condition ORDER BY split, condition", (dataset_id,))]

    # -- jobs ---------------------------------------------------------------------------------
    def create_job(self, kind: str, params: dict, slot: str = "cpu", resumed_from: int | None = None,
                   run_id: int | None = None) -> int:
        with self.tx() as c:
            cur = c.execute("INSERT INTO jobs(kind, params, state, slot, created, resumed_from, run_id) "
                            "VALUES(?,?,?,?,?,?,?)",
                            (kind, json.dumps(params), "queued", slot, now_iso(), resumed_from, run_id))
            return int(cur.lastrowid)

    def job(self, job_id: int) -> dict | None:
        return _row(self._conn().execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())

    def jobs(self, states: Iterable[str] | None = None, kind: str | None = None, limit: int = 200) -> list[dict]:
        q, args = "SELECT * FROM jobs WHERE 1=1", []
        if states:
            states = list(states)
            q += f" AND state IN ({','.join('?' * len(states))})"
            args += states
        if kind:
            q += " AND kind=?"
            args.append(kind)
        return [_row(r) for r in self._conn().execute(q + " ORDER BY id DESC LIMIT ?", (*args, limit))]

    def update_job(self, job_id: int, **fields: Any) -> None:
        if not fields:
            return
        for k in ("params", "result"):
            if k in fields and not isinstance(fields[k], str) and fields[k] is not None:
                fields[k] = json.dumps(fields[k])
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.tx() as c:
            c.execute(f"UPDATE jobs SET {cols} WHERE id=?", (*fields.values(), job_id))

    def transition_job(self, job_id: int, from_states: Iterable[str], to_state: str, **fields: Any) -> bool:
        """Move a job between states only if it is in one of ``from_states``; return whether it moved."""
        from_states = list(from_states)
        for k in ("params", "result"):
            if k in fields and not isinstance(fields[k], str) and fields[k] is not None:
                fields[k] = json.dumps(fields[k])
        sets = ", ".join(["state=?"] + [f"{k}=?" for k in fields])
        with self.tx() as c:
            cur = c.execute(f"UPDATE jobs SET {sets} WHERE id=? AND state IN ({','.join('?' * len(from_states))})",
                            (to_state, *fields.values(), job_id, *from_states))
            return cur.rowcount == 1

    # -- runs and metrics -------------------------------------------------------------------
    def create_run(self, name: str, model: str, config: dict, run_dir: str | Path, dataset_id: int | None) -> int:
        with self.tx() as c:
            cur = c.execute("INSERT INTO runs(name, dataset_id, model, config, dir, created) VALUES(?,?,?,?,?,?)",
                            (name, dataset_id, model, json.dumps(config), str(run_dir), now_iso()))
            return int(cur.lastrowid)

    def run(self, ref: int | str) -> dict | None:
        col = "id" if isinstance(ref, int) else "name"
        return _row(self._conn().execute(f"SELECT * FROM runs WHERE {col}=?", (ref,)).fetchone())

    def runs(self) -> list[dict]:
        return [_row(r) for r in self._conn().execute("SELECT * FROM runs ORDER BY id DESC")]

    def update_run(self, run_id: int, **fields: Any) -> None:
        if "results" in fields and not isinstance(fields["results"], str):
            fields["results"] = json.dumps(fields["results"])
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.tx() as c:
            c.execute(f"UPDATE runs SET {cols} WHERE id=?", (*fields.values(), run_id))

    def log_metrics(self, run_id: int, step: int, values: dict[str, float]) -> None:
        t = time.time()
        with self.tx() as c:
            c.executemany("INSERT OR REPLACE INTO metrics(run_id, step, name, value, t) VALUES(?,?,?,?,?)",
                          [(run_id, step, k, float(v), t) for k, v in values.items()])

    def metrics(self, run_id: int, names: Iterable[str] | None = None, after_step: int = -1) -> dict[str, list[tuple[int, float]]]:
        q, args = "SELECT step, name, value FROM metrics WHERE run_id=? AND step>?", [run_id, after_step]
        if names:
            names = list(names)
            q += f" AND name IN ({','.join('?' * len(names))})"
            args += names
        out: dict[str, list[tuple[int, float]]] = {}
        for r in self._conn().execute(q + " ORDER BY step", args):
            out.setdefault(r["name"], []).append((r["step"], r["value"]))
        return out

    # -- variants and curation ----------------------------------------------------------------
    def add_variant(self, dataset_id: int, sid: str, source_seq: str, name: str, method: str, recipe: dict,
                    description: str, seed: int | None, path: str, thumb: str | None, job_id: int | None,
                    score: float | None = None) -> int:
        with self.tx() as c:
            cur = c.execute(
                "INSERT INTO variants(dataset_id, sid, source_seq, name, method, recipe, description, seed, score, path,"
                " thumb, job_id, created) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(dataset_id, sid, name) DO UPDATE SET recipe=excluded.recipe, description=excluded.description,"
                " path=excluded.path, thumb=excluded.thumb, job_id=excluded.job_id, score=excluded.score RETURNING id",
                (dataset_id, sid, source_seq, name, method, json.dumps(recipe), description, seed, score, path, thumb,
                 job_id, now_iso()))
            return int(cur.fetchone()[0])

    def variant(self, variant_id: int) -> dict | None:
        return _row(self._conn().execute("SELECT * FROM variants WHERE id=?", (variant_id,)).fetchone())

    def variants(self, dataset_id: int, status: str | None = None, sid: str | None = None) -> list[dict]:
        q, args = "SELECT * FROM variants WHERE dataset_id=?", [dataset_id]
        if status:
            q += " AND status=?"
            args.append(status)
        if sid:
            q += " AND sid=?"
            args.append(sid)
        return [_row(r) for r in self._conn().execute(q + " ORDER BY sid, source_seq, name", args)]

    SORTS = {"identity": "sid, source_seq, name", "score ↓": "score IS NULL, score DESC, id",
             "score ↑": "score IS NULL, score ASC, id", "newest": "id DESC"}
    FILTERS = ("status", "sid", "text", "score_min", "score_max", "kind", "method", "source_seq", "condition")
    # How a variant was made, from its ``method``: the chain's model-free edits write 'model-free'
    # (core.augment.generators), DLCR imports 'dlcr-import' (core.dlcr_io.import_variants), and every
    # model-backed stage its own name ('sd-inpaint', ...). tests/test_catalog.py holds these in step.
    METHODS = {"model-free": "method = 'model-free'", "imported": "method = 'dlcr-import'",
               "model": "method NOT IN ('model-free', 'dlcr-import')"}
    # What a user means by a variant's words: its prompt, description and name, never the rest of the
    # recipe (a model-free recipe names every garment, so searching it for 'coat' matched them all).
    _TEXT = ("(instr(lower(description), ?) > 0 OR instr(lower(name), ?) > 0"
             " OR instr(lower(coalesce(json_extract(recipe, '$.prompt'), '')), ?) > 0)")

    @classmethod
    def _variant_filter(cls, dataset_id: int, filters: dict[str, Any]) -> tuple[str, list[Any]]:
        unknown = set(filters) - set(cls.FILTERS)
        if unknown:
            raise ValueError(f"unknown variant filter(s) {sorted(unknown)}; use {list(cls.FILTERS)}")
        f = {k: v for k, v in filters.items() if v not in (None, "")}
        where, args = ["dataset_id=?"], [dataset_id]
        for col in ("status", "sid", "source_seq"):
            if col in f:
                where.append(f"{col}=?")
                args.append(f[col])
        if "text" in f:
            where.append(cls._TEXT)
            args += [str(f["text"]).lower()] * 3
        if "kind" in f:
            where.append("json_extract(recipe, '$.kind') = ?")
            args.append(f["kind"])
        if "method" in f:
            if f["method"] not in cls.METHODS:
                raise ValueError(f"unknown method class {f['method']!r}; use one of {list(cls.METHODS)}")
            where.append(cls.METHODS[f["method"]])
        if "condition" in f:   # the source sequence's condition, as the dataset records it
            where.append("EXISTS (SELECT 1 FROM sequences s WHERE s.dataset_id=variants.dataset_id"
                         " AND s.sid=variants.sid AND s.seq=variants.source_seq AND s.condition=?)")
            args.append(f["condition"])
        if "score_min" in f:
            where.append("score >= ?")
            args.append(float(f["score_min"]))
        if "score_max" in f:
            where.append("score <= ?")
            args.append(float(f["score_max"]))
        return " AND ".join(where), args

    def query_variants(self, dataset_id: int, *, sort: str = "identity", offset: int = 0, limit: int | None = None,
                       **filters: Any) -> tuple[list[dict], int]:
        """One page of variants matching ``filters`` (``FILTERS``), and how many match in all (SQL
        does the work, so 10,000 variants page as fast as 10)."""
        if sort not in self.SORTS:
            raise ValueError(f"unknown sort {sort!r}; use one of {list(self.SORTS)}")
        where, args = self._variant_filter(dataset_id, filters)
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM variants WHERE {where}", args).fetchone()[0]
        if limit == 0:
            return [], int(total)
        q = f"SELECT * FROM variants WHERE {where} ORDER BY {self.SORTS[sort]}"
        if limit is not None:
            q += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [_row(r) for r in conn.execute(q, args)], int(total)

    def variant_ids(self, dataset_id: int, **filters: Any) -> list[int]:
        where, args = self._variant_filter(dataset_id, filters)
        return [r[0] for r in self._conn().execute(f"SELECT id FROM variants WHERE {where}", args)]

    def variant_groups(self, dataset_id: int, *, offset: int = 0, limit: int = 6, per_group: int = 8,
                       **filters: Any) -> tuple[list[dict], int]:
        """One page of source sequences having variants that match ``filters``: each
        {'sid', 'source_seq', 'count', 'pending', 'accepted', 'rejected', 'by_hand', 'variants': first
        ``per_group`` rows}, and how many such sequences there are."""
        where, args = self._variant_filter(dataset_id, filters)
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM variants WHERE {where} GROUP BY sid, source_seq)",
                             args).fetchone()[0]
        groups = [dict(r) for r in conn.execute(
            f"SELECT sid, source_seq, COUNT(*) AS count, SUM(status='pending') AS pending,"
            f" SUM(status='accepted') AS accepted, SUM(status='rejected') AS rejected, SUM(by_hand) AS by_hand"
            f" FROM variants WHERE {where} GROUP BY sid, source_seq ORDER BY sid, source_seq"
            f" LIMIT {int(limit)} OFFSET {int(offset)}", args)]
        for g in groups:
            g["variants"] = [_row(r) for r in conn.execute(
                f"SELECT * FROM variants WHERE {where} AND sid=? AND source_seq=? ORDER BY name LIMIT {int(per_group)}",
                [*args, g["sid"], g["source_seq"]])]
        return groups, int(total)

    def variant_choices(self, dataset_id: int) -> dict[str, list[str]]:
        """The values each meaning filter can take in this dataset: sid, kind, source_seq, condition."""
        conn = self._conn()

        def col(q: str) -> list[str]:
            return [str(r[0]) for r in conn.execute(q, (dataset_id,)) if r[0] not in (None, "")]

        return {"sid": col("SELECT DISTINCT sid FROM variants WHERE dataset_id=? ORDER BY sid"),
                "kind": col("SELECT DISTINCT json_extract(recipe, '$.kind') AS k FROM variants WHERE dataset_id=?"
                            " ORDER BY k"),
                "source_seq": col("SELECT DISTINCT source_seq FROM variants WHERE dataset_id=? ORDER BY source_seq"),
                "condition": col("SELECT DISTINCT s.condition FROM sequences s JOIN variants v ON"
                                 " v.dataset_id=s.dataset_id AND v.sid=s.sid AND v.source_seq=s.seq"
                                 " WHERE s.dataset_id=? ORDER BY s.condition")}

    def variant_sids(self, dataset_id: int) -> list[str]:
        return self.variant_choices(dataset_id)["sid"]

    def variant_counts(self, dataset_id: int) -> dict[str, int]:
        counts = {"pending": 0, "accepted": 0, "rejected": 0}
        for r in self._conn().execute("SELECT status, COUNT(*) FROM variants WHERE dataset_id=? GROUP BY status",
                                      (dataset_id,)):
            counts[r[0]] = r[1]
        counts["merged"] = self._conn().execute(
            "SELECT COUNT(*) FROM variants WHERE dataset_id=? AND merged_seq IS NOT NULL", (dataset_id,)).fetchone()[0]
        return counts

    @staticmethod
    def _check_decision(decision: str) -> None:
        if decision not in ("accepted", "rejected", "pending"):
            raise ValueError(f"unknown decision {decision!r}")

    def decide(self, variant_ids: Iterable[int], decision: str, who: str = "user") -> int:
        """Record accept / reject / undo (back to pending) by hand, at once; returns how many variants
        changed. A hand accept or reject marks the variant as decided by hand; an undo clears that."""
        self._check_decision(decision)
        ids = list(variant_ids)
        at = now_iso()
        hand = int(decision != "pending")
        with self.tx() as c:
            n = 0
            for vid in ids:
                row = c.execute("SELECT status, by_hand FROM variants WHERE id=? AND merged_seq IS NULL",
                                (vid,)).fetchone()
                if row is None:   # a merged variant's decision is final; nothing to record
                    continue
                c.execute("UPDATE variants SET status=?, by_hand=? WHERE id=?", (decision, hand, vid))
                c.execute("INSERT INTO decisions(variant_id, decision, who, at, previous, previous_by_hand)"
                          " VALUES(?,?,?,?,?,?)", (vid, decision, who, at, row[0], row[1]))
                n += 1
            return n

    def _bulk_where(self, dataset_id: int, decision: str, filters: dict[str, Any]) -> tuple[str, list[Any]]:
        where, args = self._variant_filter(dataset_id, filters)
        return f"{where} AND merged_seq IS NULL AND status != ?", [*args, decision]

    def plan_bulk(self, dataset_id: int, decision: str, **filters: Any) -> dict[str, int]:
        """What a bulk ``decision`` over ``filters`` would do, before it is done: {'matching': variants
        matching, 'change': those whose status would change, 'by_hand': of those, how many were decided
        by hand, 'merged': matching variants already merged (never changed)}."""
        self._check_decision(decision)
        where, args = self._variant_filter(dataset_id, filters)
        r = self._conn().execute(
            f"SELECT COUNT(*), COALESCE(SUM(merged_seq IS NULL AND status != ?), 0),"
            f" COALESCE(SUM(merged_seq IS NULL AND status != ? AND by_hand = 1), 0),"
            f" COALESCE(SUM(merged_seq IS NOT NULL), 0) FROM variants WHERE {where}",
            [decision, decision, *args]).fetchone()
        return {"matching": r[0], "change": r[1], "by_hand": r[2], "merged": r[3]}

    def decide_bulk(self, dataset_id: int, decision: str, *, who: str = "user", label: str = "",
                    include_hand: bool = False, **filters: Any) -> tuple[int, int]:
        """Apply ``decision`` to every variant matching ``filters`` as one batch, leaving merged
        variants and (unless ``include_hand``) hand decisions alone. Returns (batch id, changed)."""
        self._check_decision(decision)
        where, args = self._bulk_where(dataset_id, decision, filters)
        if not include_hand:
            where += " AND by_hand = 0"
        with self.tx() as c:
            batch = int(c.execute("INSERT INTO decision_batches(dataset_id, decision, label, who, at) VALUES(?,?,?,?,?)",
                                  (dataset_id, decision, label, who, now_iso())).lastrowid)
            c.execute(f"INSERT INTO decisions(variant_id, decision, who, at, batch_id, previous, previous_by_hand)"
                      f" SELECT id, ?, ?, ?, ?, status, by_hand FROM variants WHERE {where}",
                      [decision, who, now_iso(), batch, *args])
            n = c.execute("UPDATE variants SET status=?, by_hand=0 WHERE id IN"
                          " (SELECT variant_id FROM decisions WHERE batch_id=?)", (decision, batch)).rowcount
            c.execute("UPDATE decision_batches SET changed=? WHERE id=?", (n, batch))
        return batch, n

    def undo_batch(self, batch_id: int, *, who: str = "user") -> dict[str, int]:
        """Put back what batch ``batch_id`` changed, as a batch of its own: each variant returns to its
        status (and hand flag) from before, unless it was decided again since or merged (those are
        kept). Returns {'batch': the undoing batch, 'restored', 'kept'}."""
        with self.tx() as c:
            b = c.execute("SELECT * FROM decision_batches WHERE id=?", (batch_id,)).fetchone()
            if b is None:
                raise ValueError(f"no bulk action #{batch_id} in the decision log")
            if b["undone_by"] is not None:
                raise ValueError(f"bulk action #{batch_id} was already undone (by #{b['undone_by']})")
            undo = int(c.execute("INSERT INTO decision_batches(dataset_id, decision, label, who, at, undoes)"
                                 " VALUES(?,?,?,?,?,?)", (b["dataset_id"], "undo", f"undo #{batch_id}", who,
                                                          now_iso(), batch_id)).lastrowid)
            # Only a variant whose latest decision is still this batch's goes back.
            c.execute("INSERT INTO decisions(variant_id, decision, who, at, batch_id, previous, previous_by_hand)"
                      " SELECT d.variant_id, d.previous, ?, ?, ?, d.decision, 0 FROM decisions d"
                      " JOIN variants v ON v.id = d.variant_id"
                      " WHERE d.batch_id=? AND v.merged_seq IS NULL AND NOT EXISTS"
                      " (SELECT 1 FROM decisions d2 WHERE d2.variant_id=d.variant_id AND d2.id > d.id)",
                      (who, now_iso(), undo, batch_id))
            restored = c.execute(
                "UPDATE variants SET status=(SELECT d.previous FROM decisions d WHERE d.batch_id=? AND d.variant_id=variants.id),"
                " by_hand=(SELECT d.previous_by_hand FROM decisions d WHERE d.batch_id=? AND d.variant_id=variants.id)"
                " WHERE id IN (SELECT variant_id FROM decisions WHERE batch_id=?)", (batch_id, batch_id, undo)).rowcount
            c.execute("UPDATE decision_batches SET changed=? WHERE id=?", (restored, undo))
            c.execute("UPDATE decision_batches SET undone_by=? WHERE id=?", (undo, batch_id))
        return {"batch": undo, "restored": restored, "kept": int(b["changed"]) - restored}

    def decision_log(self, dataset_id: int, limit: int = 20) -> list[dict]:
        """The dataset's bulk actions, newest first."""
        return [dict(r) for r in self._conn().execute(
            "SELECT * FROM decision_batches WHERE dataset_id=? ORDER BY id DESC LIMIT ?", (dataset_id, limit))]

    def decisions(self, variant_id: int) -> list[dict]:
        return [dict(r) for r in self._conn().execute(
            "SELECT * FROM decisions WHERE variant_id=? ORDER BY id", (variant_id,))]

    def mark_merged(self, variant_id: int, seq: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE variants SET merged_seq=? WHERE id=?", (seq, variant_id))
