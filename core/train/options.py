"""Options of a training job started without a config file: a preset on a dataset, with overrides."""

from __future__ import annotations

from typing import Optional

from core.schema import Options, option


class TrainOverrides(Options):
    """``python -m core train`` without a config file: a preset on a dataset, with overrides."""

    WHAT = "training option"
    dataset: Optional[str] = option(None, "converted dataset folder")
    preset: str = option("demo-cpu", "training preset (see core.train.config.available_presets)", always=True)
    iterations: Optional[int] = option(None, "training steps (default: the preset's)")
    name: Optional[str] = option(None, "run name (default: MODEL-DATASET)")


class ExperimentOptions(Options):
    """``python -m core experiment``: the augmentation experiment, the same preset trained with and
    without a dataset's merged variants, once per seed."""

    WHAT = "experiment option"
    dataset: Optional[str] = option(None, "converted dataset folder with merged variants")
    preset: str = option("demo-cpu", "training preset (see core.train.config.available_presets)", always=True)
    iterations: Optional[int] = option(None, "training steps (default: the preset's)")
    seeds: int = option(3, "training seeds 0..N-1; each trains both arms, the table shows mean ± spread")
    name: Optional[str] = option(None, "experiment name (default: PRESET-DATASET)")
