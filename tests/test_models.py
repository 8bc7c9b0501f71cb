import pytest
import torch

from core.errors import ConfigError
from core.models import build_model, list_models
from core.models.pooling import horizontal_pyramid_pool, set_max_pool


def test_reference_gaitbase_parameter_count():
    model = build_model("gaitbase", num_classes=74)
    total = sum(p.numel() for p in model.parameters())
    assert total == 7_305_408
    assert total - model.neck.weight.numel() == 7_002_304


def test_output_shapes_and_dtypes():
    model = build_model("gaitbase", num_classes=5, channels=(8, 16, 16, 32), parts=4, embed_dim=12)
    out = model(torch.rand(3, 6, 32, 22))
    assert out["embeddings"].shape == (3, 12, 4)
    assert out["bn_embeddings"].shape == (3, 12, 4)
    assert out["logits"].shape == (3, 5, 4)
    assert out["logits"].abs().max() <= 1 + 1e-5    # cosine classifier


def test_reference_feature_map_gives_one_row_per_part():
    # 64x44 input, strides 1/2/2/1 -> 16 rows: 16 parts are exact strips
    fmap = torch.arange(2 * 3 * 16 * 11, dtype=torch.float32).reshape(2, 3, 16, 11)
    pooled = horizontal_pyramid_pool(fmap, 16)
    assert pooled.shape == (2, 3, 16)
    assert torch.allclose(pooled, fmap.mean(-1) + fmap.amax(-1))


def test_padded_frames_do_not_change_the_embedding():
    torch.manual_seed(0)
    model = build_model("gaitbase", num_classes=3, channels=(4, 8, 8, 8), parts=2, embed_dim=6).eval()
    x = torch.rand(1, 5, 16, 11)
    padded = torch.cat([x, torch.ones(1, 3, 16, 11)], dim=1)
    with torch.no_grad():
        a = model(x)["embeddings"]
        b = model(padded, lengths=torch.tensor([5]))["embeddings"]
    assert torch.allclose(a, b, atol=1e-6)
    assert set_max_pool(torch.rand(2, 4, 1, 2, 2)).shape == (2, 1, 2, 2)


def test_registry():
    assert "gaitbase" in list_models()
    with pytest.raises(ConfigError, match="nosuchmodel"):
        build_model("nosuchmodel", num_classes=2)
    with pytest.raises(ConfigError, match="chanels"):
        build_model("gaitbase", num_classes=2, chanels=(1, 2, 3, 4))
