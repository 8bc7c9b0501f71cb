"""Our SupConLoss_Lp against the values OpenGait's own class computed (tests/opengait_ref/losses/supcon_lp.*,
written by a script run outside the repo on OpenGait's code)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.train.losses import supcon_lp_loss

REF = Path(__file__).parent / "opengait_ref" / "losses" / "supcon_lp"
META = json.loads(REF.with_suffix(".json").read_text())
ARR = np.load(REF.with_suffix(".npz"))


# singletons_c16 has two ids seen once: anchors without a positive, which the loss leaves out.
@pytest.mark.parametrize("case", sorted(META["cases"]))
def test_supcon_lp_matches_opengait(case):
    ref = META["cases"][case]
    x = torch.from_numpy(ARR[f"{case}__features"]).requires_grad_(True)
    labels = torch.from_numpy(ARR[f"{case}__labels"])
    loss = supcon_lp_loss(x, labels, ref["temperature"])
    loss.backward()
    assert abs(loss.item() - ref["loss"]) <= 1e-6 * max(1.0, abs(ref["loss"]))
    assert abs(x.grad.norm().item() - ref["grad_norm"]) <= 1e-6 * max(1.0, ref["grad_norm"])
    np.testing.assert_allclose(x.grad.numpy(), ARR[f"{case}__grad"], atol=1e-6, rtol=0)

