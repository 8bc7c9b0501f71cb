"""Readers turn a raw dataset on disk into a ``ScanReport`` of ``RawSequence`` records.

They only read: no reader ever writes inside a source tree.
"""

from core.readers.base import NothingReadable, Problem, RawSequence, ScanReport
from core.readers.detect import Detection, detect, scan

__all__ = ["Detection", "NothingReadable", "Problem", "RawSequence", "ScanReport", "detect", "scan"]
