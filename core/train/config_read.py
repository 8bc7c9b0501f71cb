"""Reading a training config's raw mapping: from YAML/JSON or a dict, refusing OpenGait's own
format (it has its converter), and moving the first format's flat keys into their sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import ConfigError


# Flat keys of the first config format -> (section, key). Kept so old runs and checkpoints load.
LEGACY_KEYS = {
    "lr": ("optimizer", "lr"), "momentum": ("optimizer", "momentum"), "weight_decay": ("optimizer", "weight_decay"),
    "milestones": ("scheduler", "milestones"), "gamma": ("scheduler", "gamma"),
    "triplet_margin": ("loss", "triplet_margin"), "triplet_weight": ("loss", "triplet_weight"),
    "ce_scale": ("loss", "ce_scale"), "label_smoothing": ("loss", "label_smoothing"), "ce_weight": ("loss", "ce_weight"),
    "frames": ("sampling", "frames"),
}


OPENGAIT_KEYS = ("data_cfg", "model_cfg", "loss_cfg", "optimizer_cfg", "scheduler_cfg", "trainer_cfg", "evaluator_cfg")


def read_source(source: Any) -> dict[str, Any]:
    """The raw mapping of a config file or dict (a TrainConfig is read by ``load_config`` itself)."""
    if isinstance(source, dict):
        _not_opengait(source, "config")
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml
            data = yaml.safe_load(text)
    except Exception as exc:  # both parsers' errors carry the line; pass them on
        raise ConfigError(f"{path}: cannot parse ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    _not_opengait(data, str(path))
    return data


def _not_opengait(data: dict[str, Any], where: str) -> None:
    found = [k for k in OPENGAIT_KEYS if k in data]
    if found:
        raise ConfigError(f"{where}: this is an OpenGait config ({', '.join(found)}); convert it with "
                          f"core.train.opengait_config.import_opengait(path, dataset=...), which also lists the "
                          f"keys it cannot use")


def migrate_legacy(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in LEGACY_KEYS}
    for key, (section, sub) in LEGACY_KEYS.items():
        if key not in data:
            continue
        sec = out.get(section)
        sec = dict(sec) if isinstance(sec, dict) else ({} if sec is None else sec)
        if not isinstance(sec, dict):
            continue   # the section's own check reports the bad type
        if sub in sec and sec[sub] != data[key]:
            raise ConfigError(f"{key}: given both as {key!r} and as {section}.{sub}; keep one")
        sec[sub] = data[key]
        out[section] = sec
    return out
