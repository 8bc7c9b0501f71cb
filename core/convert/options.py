"""Options of scanning a raw dataset and of converting it into the GREW-style layout."""

from __future__ import annotations

from typing import Any, Literal, Optional

from core.convert.align import METHODS
from core.convert.extract import POSE_CHOICES, SILHOUETTE_CHOICES, parse_backend
from core.errors import InputError
from core.schema import Options, option
from core.readers.base import RawSequence
from core.readers.detect import FORMATS
from core.silhouette.persons import DETECTORS as TRACKERS


class ScanOptions(Options):
    """How a raw dataset is read: its folder and, when detection should be skipped, its format."""

    WHAT = "scan option"
    source: str = option(help="the raw dataset's folder", positional=True)
    format: Optional[Literal[FORMATS]] = option(None, "skip auto-detection")
    pattern: Optional[str] = option(None, "video-folder file-name pattern, e.g. '{sid}_{condition}-{seq}_{view}'")


class ConvertOptions(Options):
    """What the converter does to each sequence; ``params()`` are the parts that decide its pixels."""

    WHAT = "conversion option"
    split: Optional[str] = option(None, "official | first:K | random:F[,SEED] (default: official for CASIA-B ids, "
                                        "else the first half of the ids train)")
    align: Literal[METHODS] = option("opengait", "silhouette alignment: OpenGait's crop, or a letterbox")
    size: int = option(64, "side of the aligned square silhouettes, in pixels")
    workers: Optional[int] = option(None, "conversion processes (default: the CPU count)")
    # choices: the backend names; a model-backed one is given as NAME:MODEL (checked by validate())
    silhouette: str = option("auto", "auto (the source's masks, else bgsub) | given | bgsub | groundtruth (demo sets) "
                                     "| segmentation:MODEL_DIR_OR_HUB_ID | mediapipe (MediaPipe BlazePose's person mask, "
                                     "a real offline model; optional extra)", choices=SILHOUETTE_CHOICES)
    pose: str = option("none", "none | given | groundtruth (demo sets) | transformers:MODEL | mediapipe "
                               "(MediaPipe BlazePose, a real offline model, as COCO-17; optional extra)",
                       choices=POSE_CHOICES)
    stride: int = option(1, "keep every N-th frame of videos and frame folders")
    max_frames: Optional[int] = option(None, "keep at most this many frames per sequence")
    camera_background: bool = option(True, "bgsub: one background per camera, fitted from several of its videos")
    track: Optional[Literal[TRACKERS]] = option(None, "several walkers per video: one sequence per tracked "
                                                      "person (<sid>-pNN), boxes from bgsub blobs or OpenCV's "
                                                      "HOG people detector")

    def validate(self) -> None:
        from core.hub import resolve_source

        for spec, choices, what in ((self.silhouette, SILHOUETTE_CHOICES, "silhouette"),
                                    (self.pose, POSE_CHOICES, "pose")):
            name, model = parse_backend(spec, choices, what)
            if name == "mediapipe":   # the optional extra: say how to install it before any work starts
                from core.pose.blazepose import require_mediapipe

                require_mediapipe()
            if model:   # a missing folder or an uncached hub id fails here, not once per sequence
                resolve_source(model, role=f"{what} model")
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise InputError(None, f"stride must be a whole number >= 1, got {self.stride!r}")

    def params(self) -> dict[str, Any]:
        """What decides the output's pixels; a rerun into the same folder must use the same."""
        return {"align": self.align, "size": self.size, "silhouette": self.silhouette, "pose": self.pose,
                "stride": self.stride, "max_frames": self.max_frames, "camera_background": self.camera_background,
                "track": self.track}

    def uses_bgsub(self, raw: RawSequence) -> bool:
        name, _ = parse_backend(self.silhouette, SILHOUETTE_CHOICES, "silhouette")
        return name == "bgsub" or (name == "auto" and raw.media in ("video", "rgb"))


class ConvertJob(ScanOptions, ConvertOptions):
    """``python -m core convert``: a source, where to write it, and how."""

    WHAT = "conversion option"
    out: str = option(help="the converted dataset's folder (new, or a finished/partial conversion to resume)")
    opengait_pkl: Optional[str] = option(None, "also export an OpenGait pkl tree here", metavar="DIR")
