"""Reading an OpenGait ``model_cfg`` exactly: every key is honoured, dropped for a stated reason
that cannot change results, or the import is refused with a one-line ConfigError naming the key.

Families plug in through the model registry: a registered model class that can stand for an
OpenGait class sets ``OPENGAIT_CLASSES = ("GaitPart", ...)`` and a classmethod
``from_opengait(m: Keys, data: Keys) -> Translated``. Several classes may claim one OpenGait
class (Baseline with a ResNet9 or a Plain backbone): the first that accepts the config wins,
otherwise the first refusal is the answer. ``stands_for`` sets both for a family whose
translation reads model_cfg alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from core.errors import ConfigError

_MISSING = object()


@dataclass
class Report:
    """What an import did with each key: honoured (key, value), ignored (key, why), notes."""

    honoured: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _kind_name(v: Any) -> str:
    return "a list" if isinstance(v, list) else "a mapping" if isinstance(v, dict) else f"{type(v).__name__} {v!r}"


class Keys:
    """One mapping of an OpenGait config; ``where`` is its dotted path for messages."""

    def __init__(self, d: Any, where: str, report: Report):
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_kind_name(d)}")
        self.d, self.where, self.report = d, where, report
        self.read: set[str] = set()

    def key(self, k: str) -> str:
        return f"{self.where}.{k}"

    def has(self, k: str) -> bool:
        return k in self.d

    def refuse(self, k: str, why: str) -> ConfigError:
        return ConfigError(f"{self.key(k)}: {why}")

    def raw(self, k: str, default: Any = _MISSING) -> Any:
        self.read.add(k)
        if k not in self.d or self.d[k] is None and default is not _MISSING:
            if default is _MISSING:
                raise ConfigError(f"{self.key(k)}: missing (OpenGait needs it)")
            return default
        return self.d[k]

    def _done(self, k: str, v: Any) -> Any:
        if k in self.d:
            self.report.honoured.append((self.key(k), repr(v)))
        return v

    def int(self, k: str, default: Any = _MISSING, lo: int | None = None) -> int:
        v = self.raw(k, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{self.key(k)}: expected an integer, got {_kind_name(v)}")
        if lo is not None and v < lo:
            raise ConfigError(f"{self.key(k)}: must be at least {lo}, got {v}")
        return self._done(k, v)

    def num(self, k: str, default: Any = _MISSING) -> float:
        v = self.raw(k, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{self.key(k)}: expected a number, got {_kind_name(v)}")
        return self._done(k, float(v))

    def bool(self, k: str, default: Any = _MISSING) -> bool:
        v = self.raw(k, default)
        if not isinstance(v, bool):
            raise ConfigError(f"{self.key(k)}: expected true or false, got {_kind_name(v)}")
        return self._done(k, v)

    def str(self, k: str, default: Any = _MISSING) -> str:
        v = self.raw(k, default)
        if not isinstance(v, str):
            raise ConfigError(f"{self.key(k)}: expected a name, got {_kind_name(v)}")
        return self._done(k, v)

    def ints(self, k: str, n: int | None = None, default: Any = _MISSING, lo: int = 1) -> list[int]:
        v = self.raw(k, default)
        if not isinstance(v, (list, tuple)) or not v or any(isinstance(x, bool) or not isinstance(x, int) for x in v):
            raise ConfigError(f"{self.key(k)}: expected a list of integers, got {_kind_name(v)}")
        if n is not None and len(v) != n:
            raise ConfigError(f"{self.key(k)}: expected {n} entries, got {len(v)}")
        if min(v) < lo:
            raise ConfigError(f"{self.key(k)}: entries must be at least {lo}, got {list(v)}")
        return self._done(k, [int(x) for x in v])

    def bools(self, k: str) -> list[bool]:
        v = self.raw(k)
        if not isinstance(v, list) or not v or any(not isinstance(x, bool) for x in v):
            raise ConfigError(f"{self.key(k)}: expected a list of true/false, got {_kind_name(v)}")
        return self._done(k, v)

    def sub(self, k: str, default: Any = _MISSING) -> "Keys":
        return Keys(self.raw(k, default), self.key(k), self.report)

    def equal(self, k: str, value: Any, want: Any, why: str) -> None:
        if value != want:
            raise self.refuse(k, f"{value!r}: {why}")

    def drop(self, k: str, why: str) -> None:
        self.read.add(k)
        if k in self.d:
            self.report.ignored.append((self.key(k), why))

    def rest(self, why: str | None) -> None:
        """Keys not read so far: ignored with ``why`` (they cannot change results), or, with
        ``why`` None, refused because OpenGait itself would fail on them."""
        for k in self.d:
            if k not in self.read:
                if why is None:
                    raise self.refuse(k, "not an argument OpenGait accepts here (OpenGait would fail on it)")
                self.report.ignored.append((self.key(k), why))
                self.read.add(k)


@dataclass
class Translated:
    """An OpenGait model_cfg as one of our models: its arguments, the config's class count and
    how many inputs (``data_cfg.data_in_use`` entries) it reads."""

    args: dict[str, Any]
    num_classes: int | None
    inputs: int = 1
    losses: tuple[str, ...] = ("triplet", "softmax")   # the training features (loss log_prefix) it gives


def opengait_claimants(opengait_class: str) -> list[tuple[str, type]]:
    """Registered models that say they can stand for ``opengait_class``, in name order (importing
    this module imported ``core.models``, which registers the families)."""
    from core.models.registry import list_models, model_class

    return [(n, model_class(n)) for n in list_models()
            if opengait_class in getattr(model_class(n), "OPENGAIT_CLASSES", ())]


def opengait_classes() -> list[str]:
    from core.models.registry import list_models, model_class

    return sorted({c for n in list_models() for c in getattr(model_class(n), "OPENGAIT_CLASSES", ())})


def translate_model(model_cfg: Any, data_cfg: Any, report: Report) -> tuple[str, Translated]:
    """``model_cfg`` -> (our registry name, Translated); ConfigError with the reason otherwise."""
    m = Keys(model_cfg, "model_cfg", Report())
    theirs = m.str("model")
    claimants = opengait_claimants(theirs)
    if not claimants:
        raise ConfigError(f"model_cfg.model: OpenGait model {theirs!r} is not implemented here "
                          f"(implemented: {', '.join(opengait_classes())})")
    first: ConfigError | None = None
    for name, cls in claimants:
        trial = Report()
        m = Keys(model_cfg, "model_cfg", trial)
        m.str("model")
        data = Keys(data_cfg, "data_cfg", trial)
        try:
            out = cls.from_opengait(m, data)
            m.rest(f"not read by OpenGait's {theirs}")
        except ConfigError as exc:
            first = first or exc
            continue
        report.honoured += trial.honoured
        report.ignored += trial.ignored
        report.notes += trial.notes
        report.honoured.append(("model_cfg.model", f"{theirs} -> our {name!r}"))
        return name, out
    raise first  # type: ignore[misc]


def bnneck(m: Keys, parts: int, channels: int, *, all_read: bool = True) -> int:
    """OpenGait's SeparateBNNecks(parts_num, in_channels, class_num, norm=True, parallel_BN1d=True)
    as our BNNeck (cosine classifier over a BatchNorm of all parts); returns class_num. With
    ``all_read`` False the model reads only class_num and the rest is dropped as OpenGait does."""
    b = m.sub("SeparateBNNecks")
    classes = b.int("class_num", lo=1)
    if not all_read:
        b.rest("this OpenGait model reads only SeparateBNNecks.class_num")
        return classes
    b.equal("parts_num", b.int("parts_num"), parts, f"the head has {parts} parts (OpenGait would fail on the mismatch)")
    b.equal("in_channels", b.int("in_channels"), channels,
            f"the embedding has {channels} channels (OpenGait would fail on the mismatch)")
    b.equal("norm", b.bool("norm", True), True, "an un-normalised BNNeck classifier is not implemented here")
    b.equal("parallel_BN1d", b.bool("parallel_BN1d", True), True,
            "a BatchNorm per part is not implemented here (one BatchNorm over all parts is)")
    b.rest(None)
    return classes


def separate_fcs(m: Keys, key: str = "SeparateFCs") -> tuple[int, int, int]:
    """OpenGait's SeparateFCs(parts_num, in_channels, out_channels, norm=False) -> (p, cin, cout)."""
    f = m.sub(key)
    p, cin, cout = f.int("parts_num", lo=1), f.int("in_channels", lo=1), f.int("out_channels", lo=1)
    f.equal("norm", f.bool("norm", False), False, "normalised separate FCs are not implemented here")
    f.rest(None)
    return p, cin, cout


def use_emb2(m: Keys) -> bool:
    """OpenGait's ``use_emb2``: test features are the BNNeck's output instead of the FC's."""
    return m.bool("use_emb2", False)


def stands_for(opengait_class: str, translate: Callable[[Keys], Translated]):
    """Class decorator: the model stands for ``opengait_class``, its model_cfg read by
    ``translate`` (families whose translation needs only model_cfg)."""
    def mark(cls: type) -> type:
        cls.OPENGAIT_CLASSES = (opengait_class,)
        cls.from_opengait = classmethod(lambda _cls, m, data: translate(m))
        return cls
    return mark
