"""What a cluster job asks for: memory and time from the recording it works on, more on a retry.

A job's request is ``base + per_hour × hours + per_gigapixel × decoded gigapixels`` (time) and
``base + per_hour × hours + per_megapixel × frame megapixels`` (memory), times the attempt number:
a job that failed (out of memory or time, on SLURM) asks for twice as much on its second try.

* Video stages stream frames, so their memory follows the frame size, not the recording's
  length; their time follows the pixels decoded (width × height × fps × duration). The stages
  that read a device's analysis stream (:mod:`egoinstruct.analysis`) decode the stream, not the
  recording: :func:`stream_facts`.
* Whole-recording stages (sync cross-correlation, transcription, assembly) hold a recording's
  audio or features in memory, so memory grows with the hours too.

The recording's facts come from its probe (``results/sessions/<s>/probe/<device>.json``), which
exists before any stage that reads the media runs; Snakemake evaluates resource callables again
just before it submits a job, so the request follows the probe. Before probing (a dry run of a
fresh workflow) :func:`media_facts` falls back to the demo settings for demo sessions and, for
real files, to a conservative guess from their size (:data:`GUESS_BYTES_PER_S`).

The coefficients are requests, not predictions: about 3× the per-job times and 1.5–2× the peak
memory measured by ``bench/bench_scale.py`` (docs/benchmarks.md: per rule at the demo's 320×240,
and the decode-bound rules' shares at Aria Gen 1's 1408×1408, 20 fps), so that an ordinary job
fits on its first try.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# Encoded bytes per second of recording assumed for a real file not yet probed: low for head
# cameras (Aria Gen 1 VRS ~ 1–3 MB/s, GoPro 1080p ~ 6–8 MB/s), so the guessed duration, and
# the request, err on the long side.
GUESS_BYTES_PER_S = 750_000
# Frame size and rate assumed for a file not yet probed (a GoPro's 1080p30).
GUESS_WIDTH, GUESS_HEIGHT, GUESS_FPS = 1920, 1080, 30.0


@dataclass(frozen=True)
class MediaFacts:
    """What the request of a job depends on: the recording's length and its video's size."""

    duration_s: float
    width: int = 0
    height: int = 0
    fps: float = 0.0
    source: str = "probe"  # probe | demo | file size

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def gigapixels(self) -> float:
        """Pixels decoded when every frame is read, in billions."""
        return self.megapixels * self.fps * self.duration_s / 1e3


def stream_facts(facts: MediaFacts, width: int | None, fps: float) -> MediaFacts:
    """What a stage that reads a device's analysis stream (:mod:`egoinstruct.analysis`) decodes:
    the recording's length at the stream's size and rate."""
    from egoinstruct.analysis import stream_size

    if not facts.width or not facts.height:
        return facts
    w, h = stream_size(facts.width, facts.height, width)
    return replace(facts, width=w, height=h, fps=fps)


@dataclass(frozen=True)
class JobSize:
    """One rule's request model (module docstring). Times in minutes, memory in MB."""

    mem_mb: int
    runtime_min: float
    mem_mb_per_hour: float = 0.0
    mem_mb_per_megapixel: float = 0.0
    runtime_min_per_hour: float = 0.0
    runtime_min_per_gigapixel: float = 0.0

    def request(self, facts: MediaFacts, attempt: int = 1) -> dict[str, int]:
        """``{"mem_mb", "runtime"}`` for a job on ``facts``, scaled by the attempt (1 = first try)."""
        hours = facts.duration_s / 3600.0
        mem = self.mem_mb + self.mem_mb_per_hour * hours + self.mem_mb_per_megapixel * facts.megapixels
        runtime = self.runtime_min + self.runtime_min_per_hour * hours + self.runtime_min_per_gigapixel * facts.gigapixels
        scale = max(1, int(attempt))
        return {"mem_mb": int(math.ceil(mem * scale)), "runtime": int(math.ceil(runtime * scale))}


#: Request models of the rules whose work grows with the recording (the others keep fixed
#: requests in their rule). Per device unless said: the device's recording; per session: the
#: reference device's recording.
JOB_SIZES: Mapping[str, JobSize] = {
    # decode every frame of the recording, downscale, encode the analysis stream (H.264)
    "analysis_video": JobSize(mem_mb=800, runtime_min=5, mem_mb_per_megapixel=150, runtime_min_per_hour=15,
                              runtime_min_per_gigapixel=0.3),
    # decode every frame (of the analysis stream; with analysis.enabled false, of the recording),
    # downscale, write JPEG thumbnails at frames.fps
    "frames": JobSize(mem_mb=800, runtime_min=5, mem_mb_per_megapixel=150, runtime_min_per_hour=10,
                      runtime_min_per_gigapixel=0.2),
    # face detection on sampled frames
    "faces": JobSize(mem_mb=800, runtime_min=5, mem_mb_per_megapixel=150, runtime_min_per_hour=45,
                     runtime_min_per_gigapixel=0.5),
    "head_motion": JobSize(mem_mb=800, runtime_min=5, mem_mb_per_megapixel=150, runtime_min_per_hour=20,
                           runtime_min_per_gigapixel=0.3),
    # EfficientNet-Lite0 embeddings of sampled frames (the model is most of the memory)
    "visual_features": JobSize(mem_mb=2500, runtime_min=5, mem_mb_per_megapixel=150, runtime_min_per_hour=40,
                               runtime_min_per_gigapixel=0.4),
    # decode the device's audio to 16 kHz
    "device_audio": JobSize(mem_mb=800, runtime_min=3, mem_mb_per_hour=600, runtime_min_per_hour=10),
    "session_audio": JobSize(mem_mb=800, runtime_min=3, mem_mb_per_hour=600, runtime_min_per_hour=10),
    # cross-correlation of whole 16 kHz tracks (several copies in memory)
    "sync_device": JobSize(mem_mb=1500, runtime_min=3, mem_mb_per_hour=2500, runtime_min_per_hour=20),
    "audio_alignment": JobSize(mem_mb=1200, runtime_min=3, mem_mb_per_hour=2000, runtime_min_per_hour=15),
    # per session: ASR + alignment + diarization of every track (the demo's tiny.en is the fast end)
    "transcribe": JobSize(mem_mb=3500, runtime_min=10, mem_mb_per_hour=2000, runtime_min_per_hour=60),
    "prosody": JobSize(mem_mb=1500, runtime_min=3, mem_mb_per_hour=1000, runtime_min_per_hour=20),
    "egemaps": JobSize(mem_mb=1500, runtime_min=3, mem_mb_per_hour=1000, runtime_min_per_hour=30),
    # per session: every feature group at dataset.fps in memory
    "assemble": JobSize(mem_mb=2500, runtime_min=5, mem_mb_per_hour=3000, runtime_min_per_hour=30),
    "gaze": JobSize(mem_mb=800, runtime_min=3, mem_mb_per_hour=800, runtime_min_per_hour=10),
}


def probe_facts(probe: Mapping[str, Any]) -> MediaFacts:
    """The facts of a device probe (``probe/<device>.json``): its duration and its video."""
    video: Mapping[str, Any] = {}
    for item in (probe.get("inputs") or {}).values():
        if isinstance(item, Mapping) and isinstance(item.get("video"), Mapping):
            video = item["video"]
            break
    return MediaFacts(
        duration_s=float(probe.get("duration_s") or 0.0),
        width=int(video.get("width") or 0),
        height=int(video.get("height") or 0),
        fps=float(video.get("fps") or 0.0),
    )


def media_facts(
    probe_path: str | Path,
    media: Iterable[str | Path] = (),
    demo: Mapping[str, Any] | None = None,
) -> MediaFacts:
    """A device's facts: from its probe when it has been written; before that, ``demo`` (the
    demo settings, for a demo session's files) or a guess from the media files' size."""
    path = Path(probe_path)
    if path.is_file():
        try:
            return probe_facts(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass  # half-written or unreadable: the guess below is safe, the job's inputs are checked later
    if demo is not None:
        return MediaFacts(float(demo["duration_s"]), int(demo["width"]), int(demo["height"]), float(demo["fps"]),
                          source="demo")
    size = sum(os.path.getsize(p) for p in media if os.path.isfile(p))
    return MediaFacts(size / GUESS_BYTES_PER_S, GUESS_WIDTH, GUESS_HEIGHT, GUESS_FPS, source="file size")
