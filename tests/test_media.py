"""Decoding a RawSequence's pixels: videos (OpenCV), image files and packed arrays."""

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.demo.groundtruth import find_groundtruth, load_groundtruth
from core.demo.writer import generate
from core.errors import ConfigError, InputError
from core.readers.base import RawSequence
from core.readers.media import FrameBatch, read_frames, video_info


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("media") / "vid"
    generate(out, ids=1, views=("090",), seed=0, frames=8, layout="casia-b-video", workers=1)
    return out


def _video(path: Path) -> RawSequence:
    return RawSequence(sid="001", seq_type="nm-01", view="090", condition="nm", media="video", video=path)


def test_video_info(demo):
    assert video_info(demo / "001-nm-01-090.avi") == {"fps": 25.0, "frames": 8, "width": 320, "height": 240}
    with pytest.raises(InputError, match="does not exist"):
        video_info(demo / "missing.avi")


def test_read_video_rgb_stride_max(demo):
    path = demo / "001-cl-01-090.avi"
    batch = read_frames(_video(path))
    assert isinstance(batch, FrameBatch) and batch.problems == []
    assert batch.images.shape == (8, 240, 320, 3) and batch.images.dtype == np.uint8 and len(batch) == 8
    assert batch.names == [f"{i:05d}" for i in range(1, 9)]
    gt = load_groundtruth(find_groundtruth(demo, "001-cl-01-090"))
    for i in (0, 4, 7):                                     # RGB order: close to the rendered RGB frame ...
        assert np.abs(batch.images[i].astype(int) - gt.rgb(i).astype(int)).mean() < 8
    swapped = batch.images[4][..., ::-1].astype(int)         # ... and far from it with channels swapped
    assert np.abs(swapped - gt.rgb(4).astype(int)).mean() > 2 * np.abs(batch.images[4].astype(int) - gt.rgb(4)).mean()
    strided = read_frames(_video(path), stride=3)
    assert strided.names == ["00001", "00004", "00007"]
    assert np.array_equal(strided.images, batch.images[[0, 3, 6]])
    capped = read_frames(_video(path), stride=2, max_frames=3)
    assert capped.names == ["00001", "00003", "00005"] and capped.problems == []
    assert np.array_equal(capped.images, batch.images[[0, 2, 4]])


def test_truncated_video_reports_and_keeps_what_decoded(demo, tmp_path):
    data = (demo / "001-nm-02-090.avi").read_bytes()
    cut = tmp_path / "001-nm-02-090.avi"
    cut.write_bytes(data[: len(data) // 2])
    whole = read_frames(_video(demo / "001-nm-02-090.avi"))
    batch = read_frames(_video(cut))
    n = len(batch)
    assert 0 < n < 7 and batch.names == [f"{i:05d}" for i in range(1, n + 1)]
    # the frame the file breaks off in is dropped (it decodes half-garbled); the others are intact
    assert np.array_equal(batch.images, whole.images[:n])
    assert len(batch.problems) == 1
    p = batch.problems[0]
    assert p.path == str(cut) and p.severity == "warning"
    assert p.reason == (f"decoded {n + 1} of the 8 frames the container declares; the file looks truncated or "
                        f"corrupt — kept what decoded except frame {n + 1}, where the stream breaks off")
    # reading only the first frames of it does not complain: the damage is never reached
    assert read_frames(_video(cut), max_frames=2).problems == []


def test_video_without_frames_raises_naming_file(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_frames(_video(empty))
    assert err.value.path == str(empty) and "0 bytes" in err.value.reason
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(InputError) as err:
        read_frames(_video(junk))
    assert err.value.path == str(junk)
    assert "cannot open" in err.value.reason or "no frame could be decoded" in err.value.reason
    with pytest.raises(InputError, match="names no file"):
        read_frames(RawSequence(sid="1", seq_type="nm", view="", condition="nm", media="video"))


def _sil(path: Path, value: int, size=(64, 44)) -> Path:
    img = np.zeros(size, np.uint8)
    img[5:20, 5:15] = value
    assert cv2.imwrite(str(path), img)
    return path


def test_silhouette_frames_with_bad_files(tmp_path):
    d = tmp_path / "seq"
    d.mkdir()
    frames = [_sil(d / "001.png", 255), _sil(d / "002.png", 255), d / "003.png", d / "004.png",
              _sil(d / "005.png", 128, size=(32, 22)), _sil(d / "006.png", 255)]
    (d / "003.png").write_bytes(b"")
    (d / "004.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    raw = RawSequence(sid="001", seq_type="nm-01", view="090", condition="nm", frames=frames)
    batch = read_frames(raw)
    assert batch.images.shape == (3, 64, 44) and batch.images.dtype == np.uint8
    assert batch.names == ["001", "002", "006"] and batch.images[0, 10, 10] == 255 and batch.images[0, 30, 30] == 0
    assert [(p.path, p.reason) for p in batch.problems] == [
        (str(d / "003.png"), "empty file (0 bytes); frame skipped"),
        (str(d / "004.png"), "cannot be decoded as an image (damaged or not an image); frame skipped"),
        (str(d / "005.png"), "size 22x32 differs from the sequence's majority size 44x64 (3 of 4 frames); "
                             "frame dropped")]
    assert read_frames(raw, stride=2).names == ["001"]        # 001, 003 (empty), 005 (other size)
    assert read_frames(raw, stride=1, max_frames=2).names == ["001", "002"]
    bad = RawSequence(sid="001", seq_type="nm-01", view="090", condition="nm", frames=[d / "003.png", d / "004.png"])
    with pytest.raises(InputError) as err:
        read_frames(bad)
    assert err.value.path == str(d) and "no readable frame among 2 files" in err.value.reason
    for kw in ({"stride": 0}, {"stride": 1.5}, {"max_frames": 0}):
        with pytest.raises(ConfigError):
            read_frames(raw, **kw)


def test_an_oversized_first_frame_is_dropped_not_the_others(tmp_path):
    """The sequence keeps its majority size, wherever the odd frame sits; with max_frames too."""
    d = tmp_path / "seq"
    d.mkdir()
    frames = [_sil(d / "000.png", 255, size=(128, 88))] + [_sil(d / f"{i:03d}.png", 255) for i in range(1, 36)]
    raw = RawSequence(sid="001", seq_type="nm-01", view="090", condition="nm", frames=frames)
    batch = read_frames(raw)
    assert batch.images.shape == (35, 64, 44) and batch.names == [f"{i:03d}" for i in range(1, 36)]
    assert [(p.path, p.reason) for p in batch.problems] == [
        (str(d / "000.png"), "size 88x128 differs from the sequence's majority size 44x64 (35 of 36 frames); "
                             "frame dropped")]
    capped = read_frames(raw, max_frames=4)
    assert capped.names == ["001", "002", "003", "004"] and len(capped.problems) == 1


def test_rgb_frames_are_rgb(tmp_path):
    d = tmp_path / "session1" / "001_01"
    d.mkdir(parents=True)
    rgb = np.zeros((24, 16, 3), np.uint8)
    rgb[..., 0] = 200                                           # red in RGB
    for i in (1, 2):
        cv2.imwrite(str(d / f"{i:05d}.jpg"), rgb[..., ::-1])    # OpenCV writes BGR
    raw = RawSequence(sid="001", seq_type="c1", view="", condition="c1", media="rgb",
                      frames=sorted(d.glob("*.jpg")), name="s1-01")
    batch = read_frames(raw)
    assert batch.images.shape == (2, 24, 16, 3) and batch.names == ["00001", "00002"]
    assert abs(int(batch.images[0, 12, 8, 0]) - 200) < 6 and batch.images[0, 12, 8, 2] < 10


def test_array_media(tmp_path):
    arr = (np.arange(5 * 64 * 44).reshape(5, 64, 44) % 2 * 255).astype(np.uint8)
    pkl = tmp_path / "090.pkl"
    pkl.write_bytes(pickle.dumps(arr, protocol=4))
    raw = RawSequence(sid="001", seq_type="nm-01", view="090", condition="nm", media="array", array=pkl)
    batch = read_frames(raw, stride=2)
    assert batch.names == ["00001", "00003", "00005"] and np.array_equal(batch.images, arr[::2])
    one = tmp_path / "one.pkl"
    one.write_bytes(pickle.dumps(arr[0], protocol=4))           # a single 2-D frame
    raw.array = one
    assert read_frames(raw).images.shape == (1, 64, 44)
