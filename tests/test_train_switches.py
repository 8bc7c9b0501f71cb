"""The speed switches of the training step leave the loss curve as it was: 200 steps on CPU, each
switch that exists on CPU on and off.

Two kinds of switch, two kinds of check:
- the data path (frames resident on the device, in host RAM read by the loader thread, or read
  from the memmap) and the logging interval (losses summed on the device and read every N steps
  instead of every step) do the same arithmetic in the same order, so the curves must be equal:
  bit for bit for the data path, and within float32 summation order (rtol 1e-5) for the window means.
- channels_last and bf16 autocast change how the convolutions round. This tiny training is chaotic
  step by step (the batch-all triplet loss averages over the terms that are active, so a term
  crossing zero jumps the loss): a one-ulp perturbation of the initial weights alone moves its
  20-step window means by about 0.1. So the first step's loss (no training yet: pure rounding) is
  compared tightly (fp32 re-ordering rtol 1e-4; bf16's 8-bit mantissa rtol 1e-2), and the 200-step
  curve's 20-step window means must stay within NOISE_FACTOR times the divergence of that one-ulp
  control run: a switch that changed the result rather than the rounding would be off by far more.
torch.compile is not in this check: on CPU inductor needs a C compiler and minutes per model, and
its result is held to the eager step by test_train_engine's fallback test and the GPU suite.
"""

import numpy as np
import pytest
import torch

from core.device import Precision
from core.train.trainer import Trainer, _channels_last
from tests.test_train import make_packed, tiny

STEPS, WINDOW = 200, 20
NOISE_FACTOR = 4.0
AUG = ["cut", {"type": "flip", "prob": 0.5}, {"type": "rotate", "prob": 0.5}, {"type": "erase", "prob": 0.5}]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_packed(tmp_path_factory.mktemp("packed"), ids=4, train_ids=4, frames=7)


def _ulp_noise(tr: Trainer) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in tr.model.parameters():
            p.mul_(1 + torch.finfo(torch.float32).eps * torch.randn(p.shape, generator=g))


def _curve(data, run_dir, *, setup=None, **kw) -> np.ndarray:
    """The 'metrics' losses of a STEPS-step run (one per log_every steps)."""
    cfg = tiny(data, **{"iterations": STEPS, "checkpoint_every": 10 * STEPS, "augment": AUG,
                        "data_on_device": "never", "threads": 1, **kw})
    events: list[dict] = []
    tr = Trainer(cfg, run_dir, report=events.append)
    if setup is not None:
        setup(tr)
    try:
        tr.run()
    finally:
        tr.close()
    return np.array([e["loss"] for e in events if e["type"] == "metrics"])


def _windows(curve: np.ndarray) -> np.ndarray:
    return curve.reshape(-1, WINDOW).mean(1)


@pytest.fixture(scope="module")
def base(data, tmp_path_factory):
    return _curve(data, tmp_path_factory.mktemp("base"))


@pytest.mark.parametrize("mode", ["always", "host"])
def test_data_paths_give_the_same_curve_bit_for_bit(data, base, tmp_path, mode):
    curve = _curve(data, tmp_path, data_on_device=mode)
    assert len(curve) == STEPS and np.array_equal(curve, base)


def test_logging_every_n_steps_gives_the_window_means_of_per_step_logging(data, base, tmp_path):
    curve = _curve(data, tmp_path, log_every=WINDOW)
    assert len(curve) == STEPS // WINDOW
    np.testing.assert_allclose(curve, _windows(base), rtol=1e-5)


@pytest.fixture(scope="module")
def noise_floor(data, base, tmp_path_factory):
    control = _curve(data, tmp_path_factory.mktemp("ulp"), setup=_ulp_noise)
    floor = float(np.abs(_windows(control) - _windows(base)).max())
    assert floor > 0      # else the control shows nothing and the tolerance below would be zero
    return floor


@pytest.mark.parametrize("switch, first_rtol", [("channels_last", 1e-4), ("bf16", 1e-2)])
def test_rounding_switches_stay_within_float_noise(data, base, noise_floor, tmp_path, switch, first_rtol):
    def setup(tr: Trainer) -> None:
        if switch == "channels_last":
            _channels_last(tr.model)        # the trainer does this on CUDA only; here by hand
        else:
            tr.prec = Precision(torch.bfloat16, False)     # CPU autocast; the trainer uses it on CUDA only

    curve = _curve(data, tmp_path, setup=setup)
    assert len(curve) == STEPS
    assert curve[0] == pytest.approx(base[0], rel=first_rtol)
    drift = float(np.abs(_windows(curve) - _windows(base)).max())
    assert drift <= NOISE_FACTOR * noise_floor, (switch, drift, noise_floor)
