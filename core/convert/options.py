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
    pattern: Optional[str] = option(None, "video-folder file-name pattern, e.g. '{sid}_{condition}-{seq}_{view}'; "
                                          "for a generic tree or preset, the sequence-folder pattern, e.g. "
                                          "'{condition}-{seq}' or a regex '(?P<condition>[a-z]+)(?P<seq>\\d+)'")
    decode_sample: Optional[int] = option(None, "frames decoded per sequence to find corrupt, truncated or odd-sized "
                                                "ones: N evenly spaced (first and last included), 0 for none "
                                                "(default: every frame in scan; none in convert, whose conversion "
                                                "decodes every frame and lists each it drops)", ge=0, metavar="N")


class ConvertOptions(Options):
    """What the converter does to each sequence; ``params()`` are the parts that decide its pixels."""

    WHAT = "conversion option"
    split: Optional[str] = option(None, "official | first:K | random:F[,SEED] | an OpenGait partition FILE.json "
                                        "(TRAIN_SET/TEST_SET[/PROBE_SET]) | none (extraction only: everything "
                                        "unsplit, e.g. one video or one walker; not trainable) (default: the source's or preset's "
                                        "official split, CASIA-B's for its ids, else the first half of the ids train)")
    gallery: Optional[str] = option(None, "test sequence types or conditions that form the gallery, comma-separated "
                                          "(default: the source's or protocol's; a generic tree: nm-01..04 where "
                                          "present, else its first sequence type)", metavar="TYPES")
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
    allow_download: bool = option(False, "download a model hub id that is not in the local Hugging Face cache "
                                         "(needs a network; by default nothing is downloaded)")
    track: Optional[Literal[TRACKERS]] = option(None, "several walkers per video: one sequence per tracked "
                                                      "person (<sid>-pNN), boxes from bgsub blobs or OpenCV's "
                                                      "HOG people detector")

    def backends(self) -> list[tuple[str, str, str | None]]:
        """(what, backend name, model spec or None) of the silhouette and the pose backend."""
        return [(what, *parse_backend(spec, choices, what))
                for spec, choices, what in ((self.silhouette, SILHOUETTE_CHOICES, "silhouette"),
                                            (self.pose, POSE_CHOICES, "pose"))]

    def models(self) -> list[tuple[str, str]]:
        """(role, model spec) of every model-backed backend chosen."""
        return [(f"{what} model", model) for what, _, model in self.backends() if model]

    def validate(self) -> None:
        from core.hub import check_source

        if any(name == "mediapipe" for _, name, _ in self.backends()):
            from core.pose.blazepose import require_mediapipe

            require_mediapipe()      # the optional extra: say how to install it before any work starts
        for role, model in self.models():   # a missing folder or an uncached hub id fails here, not per sequence
            check_source(model, role=role, allow_download=self.allow_download)
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise InputError(None, f"stride must be a whole number >= 1, got {self.stride!r}")

    def with_folders(self, models: list[dict[str, Any]]) -> "ConvertOptions":
        """A copy whose model specs name the folders ``core.hub.fetch_models`` resolved, for the
        worker processes: their environment may predate the job's (a forkserver started earlier,
        another HF cache), so they load the very folder the job fetched, not a hub id again."""
        folders = {m["source"]: m["path"] for m in models if m.get("path")}
        update = {}
        for field in ("silhouette", "pose"):
            name, _, model = (getattr(self, field) or "").partition(":")
            if model in folders:
                update[field] = f"{name}:{folders[model]}"
        return self.model_copy(update=update)

    def gallery_types(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in (self.gallery or "").split(",") if t.strip())

    def params(self) -> dict[str, Any]:
        """What decides the output's pixels (and the gallery and person tracking, where chosen); a rerun into
        the same folder must use the same."""
        out = {"align": self.align, "size": self.size, "silhouette": self.silhouette, "pose": self.pose,
               "stride": self.stride, "max_frames": self.max_frames, "camera_background": self.camera_background}
        if self.track:
            out["track"] = self.track
        if self.gallery_types():
            out["gallery"] = ",".join(self.gallery_types())
        return out

    def uses_bgsub(self, raw: RawSequence) -> bool:
        name, _ = parse_backend(self.silhouette, SILHOUETTE_CHOICES, "silhouette")
        return name == "bgsub" or (name == "auto" and raw.media in ("video", "rgb"))


class ConvertJob(ScanOptions, ConvertOptions):
    """``python -m core convert``: a source, where to write it, and how."""

    WHAT = "conversion option"
    out: str = option(help="the converted dataset's folder (new, or a finished/partial conversion to resume)")
    opengait_pkl: Optional[str] = option(None, "also export an OpenGait pkl tree here", metavar="DIR")
