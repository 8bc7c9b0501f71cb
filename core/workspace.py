"""A workspace folder: the catalog plus the files it points to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.catalog import Catalog

DEFAULT_WORKSPACE = Path("workspace")


@dataclass
class Workspace:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        for d in (self.datasets_dir, self.runs_dir, self.variants_dir, self.logs_dir, self.locks_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.root / "catalog.sqlite")
        return self._catalog

    datasets_dir = property(lambda self: self.root / "datasets")
    runs_dir = property(lambda self: self.root / "runs")
    variants_dir = property(lambda self: self.root / "variants")
    logs_dir = property(lambda self: self.root / "logs")
    locks_dir = property(lambda self: self.root / "locks")

    def job_log(self, job_id: int) -> Path:
        return self.logs_dir / f"job-{job_id:05d}.log"

    def dataset_dir(self, area: str, ds: dict) -> Path:
        """A dataset's own folder under ``area`` (variants, imports): keyed by its id, so two datasets
        with one name never share it (the name is only there for whoever browses the folder)."""
        return self.root / area / f"{ds['id']}-{slug(ds['name'])}"

    def unique_name(self, base: str, taken: set[str]) -> str:
        base = slug(base)
        if base not in taken:
            return base
        i = 2
        while f"{base}-{i}" in taken:
            i += 1
        return f"{base}-{i}"


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.")
    return s or "item"
