"""Hub ids that are not cached: refused unless allowed, refused at once where no network answers,
and downloaded (with byte progress and the commit recorded) from a hub served on loopback."""

import json
import time

import pytest

from core.errors import ConfigError
from core.hub import STUDIO_OFFLINE, check_source, resolve_source
from tests.fake_hub import FakeHub, closed_port, serve

REPO = "hybridgait-test/tiny-seg"


@pytest.fixture(scope="module")
def tiny_seg(tmp_path_factory):
    """A tiny random Segformer whose classifier says 'person' everywhere (so every frame aligns)."""
    import torch
    from transformers import SegformerForSemanticSegmentation

    from bench.tiny_models import write_tiny_segformer

    folder = write_tiny_segformer(tmp_path_factory.mktemp("seg") / "m", labels=["background", "person"])
    model = SegformerForSemanticSegmentation.from_pretrained(folder)
    with torch.no_grad():
        model.decode_head.classifier.weight.zero_()
        model.decode_head.classifier.bias.copy_(torch.tensor([0.0, 5.0]))
    model.save_pretrained(folder)
    return folder


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """An empty cache of this test's own, and the studio's offline default (not the user's)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(STUDIO_OFFLINE, "1")
    return tmp_path


def test_not_allowed_asks_nothing(tiny_seg, hub_env, monkeypatch):
    hub = FakeHub(REPO, tiny_seg)
    with serve(hub) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(ConfigError, match="not in the local Hugging Face cache.*only when you allow it"):
            resolve_source(REPO, role="segmentation model")
        with pytest.raises(ConfigError, match="not in the local Hugging Face cache"):
            check_source(REPO, role="segmentation model")
    assert hub.requests == []


def test_no_network_fails_at_once(hub_env, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", closed_port())
    for call in (lambda: resolve_source(REPO, role="segmentation model", allow_download=True),
                 lambda: check_source(REPO, role="segmentation model", allow_download=True)):
        t0 = time.perf_counter()
        with pytest.raises(ConfigError) as err:
            call()
        assert time.perf_counter() - t0 < 2
        msg = str(err.value)
        assert REPO in msg and "no network answers (127.0.0.1:" in msg and "give its local folder" in msg


def test_users_offline_switch_is_kept(tiny_seg, hub_env, monkeypatch):
    hub = FakeHub(REPO, tiny_seg)
    monkeypatch.delenv(STUDIO_OFFLINE)      # HF_HUB_OFFLINE=1 is now the user's own
    with serve(hub) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(ConfigError, match="HF_HUB_OFFLINE=1 is set in this environment"):
            resolve_source(REPO, allow_download=True)
    assert hub.requests == []


def test_allowed_download_reports_bytes_and_revision(tiny_seg, hub_env, monkeypatch):
    from huggingface_hub import constants

    hub = FakeHub(REPO, tiny_seg)
    seen = []
    with serve(hub) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert check_source(REPO, allow_download=True) is None         # the job will fetch it
        assert hub.requests == []
        src = resolve_source(REPO, role="segmentation model", allow_download=True,
                             progress=lambda d, t: seen.append((d, t)))
    assert constants.HF_HUB_OFFLINE                                      # the default is back after the download
    assert src.hub_id == REPO and src.revision == hub.sha and src.path.name == hub.sha
    assert sorted(p.name for p in src.path.iterdir()) == sorted(hub.files)
    assert (src.path / "config.json").read_bytes() == (tiny_seg / "config.json").read_bytes()
    assert seen[-1] == (hub.total_bytes, hub.total_bytes) and len(seen) >= len(hub.files)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    # now cached: found with the server gone, downloads not allowed
    again = resolve_source(REPO, role="segmentation model")
    assert again.path == src.path and again.revision == hub.sha


def test_cli_convert_downloads_and_records_the_revision(tiny_seg, hub_env, monkeypatch, capsys):
    from core.cli import main
    from core.demo.writer import generate

    raw = hub_env / "raw"
    generate(raw, ids=2, views=("090",), seed=0, frames=6, layout="casia-b-video", workers=1)
    hub = FakeHub(REPO, tiny_seg)
    ws, out = str(hub_env / "ws"), hub_env / "out"
    args = ["--workspace", ws, "convert", str(raw), "--out", str(out), "--silhouette", f"segmentation:{REPO}",
            "--max-frames", "3", "--workers", "1", "--json"]
    with serve(hub) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert main(args) == 1                                           # not allowed: refused before a job
        assert "not in the local Hugging Face cache" in capsys.readouterr().err and hub.requests == []
        assert main(args + ["--allow-download"]) == 0
    printed = capsys.readouterr().out          # the job ran here: its log lines, then the JSON summary
    result = json.loads(printed.strip().splitlines()[-1])
    assert f"downloaded revision {hub.sha}" in printed
    mb = f"{hub.total_bytes / 1e6:.1f}"
    assert f"silhouette model {REPO}: {mb} of {mb} MB downloaded" in printed
    assert result["sequences"] == 20 and result["failed"] == 0
    [model] = result["models"]
    assert model == {"role": "silhouette model", "source": REPO, "model_id": REPO, "revision": hub.sha,
                     "path": model["path"], "downloaded": True}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["models"] == [model] and manifest["parameters"]["silhouette"] == f"segmentation:{REPO}"
    assert {r["silhouette"] for r in manifest["sequences"]} == {"segmentation"}
    from core.studio import Studio

    job = Studio(ws).job(result["job_id"])
    assert job["params"]["allow_download"] is True


def test_augment_options_and_cli_offer_the_download(tiny_seg, hub_env, monkeypatch):
    from core.augment.options import ChainOptions
    from core.cli import build_parser

    for verb in ("convert", "augment"):
        assert "--allow-download" in build_parser()._subparsers._group_actions[0].choices[verb].format_help()
    with pytest.raises(ConfigError, match="only when you allow it"):
        ChainOptions(parsing=REPO).validate()
    monkeypatch.setenv("HF_ENDPOINT", closed_port())
    with pytest.raises(ConfigError, match="no network answers"):
        ChainOptions(parsing=REPO, allow_download=True).validate()
    hub = FakeHub(REPO, tiny_seg)
    with serve(hub) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        opts = ChainOptions(parsing=REPO, resilhouette=f"segmentation:{REPO}", allow_download=True).validate()
    assert opts.models() == [("parsing model", REPO), ("segmentation model", REPO)] and hub.requests == []


def test_convert_tab_download_box(tiny_seg, hub_env, monkeypatch):
    from app import convert_tab
    from core.demo.writer import generate
    from core.studio import Studio

    raw = hub_env / "raw"
    generate(raw, ids=2, views=("090",), seed=0, frames=6, layout="casia-b-video", workers=1)
    studio = Studio(hub_env / "ws")
    ds_id = studio.open_dataset(raw)["dataset_id"]
    seg = f"segmentation:{REPO}"
    assert "--allow-download" in convert_tab.cli_command(studio, ds_id, "auto", "opengait", "", seg, "none", 1,
                                                          False, True)
    assert "--allow-download" not in convert_tab.cli_command(studio, ds_id, "auto", "opengait", "", seg)
    err = convert_tab.preview(studio, ds_id, "auto", "opengait", "", seg)["error"]
    assert REPO in err and "only when you allow it" in err
    monkeypatch.setenv("HF_ENDPOINT", closed_port())
    err = convert_tab.start(studio, ds_id, "auto", "opengait", "", seg, "none", 1, False, True)["error"]
    assert "no network answers" in err and studio.latest_job("convert") is None
    hub = FakeHub(REPO, tiny_seg)
    with serve(hub) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        out = convert_tab.preview(studio, ds_id, "auto", "opengait", "", seg, "none", 1, False, True)
    assert out["error"] == "" and "the conversion job downloads it" in out["summary"] and hub.requests == []
