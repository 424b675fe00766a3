"""Speech regions of a 16 kHz mono track with silero-vad (the PyPI package ships its model).

Contract: :func:`speech_regions` returns ``[(start_s, end_s), …]`` in time order on the track's
own clock (sample 0 = t 0), no region longer than ``max_region_s`` (Whisper reads at most 30 s);
an all-zero or empty track gives ``[]`` without running the model. One VAD pass feeds both
whisperx (as its ``vad_model``) and the offline diarizer.

whisperx's own VAD choices do not suit this stage on CPU: its bundled pyannote segmentation
model takes about half a second per second of audio on two cores (the LSTM over 10 s windows
at a 1 s step), and its ``silero`` option fetches the model from torch.hub, which fails
offline. The silero-vad package runs the same model from its wheel (ONNX when onnxruntime is
installed: about 3× faster than the TorchScript version, same regions).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from egoinstruct.errors import InputError
from egoinstruct.settings.speech import VadSettings


@lru_cache(maxsize=1)
def silero_model() -> Any:
    from silero_vad import load_silero_vad

    try:
        import onnxruntime  # noqa: F401 - only probing whether the faster backend exists

        return load_silero_vad(onnx=True)
    except ImportError:
        return load_silero_vad(onnx=False)


def speech_regions(samples: np.ndarray, rate_hz: int, settings: VadSettings,
                   max_region_s: float = 30.0) -> list[tuple[float, float]]:
    """Speech regions (s) of a mono track; regions longer than ``max_region_s`` are split at a
    pause (else hard) — the ASR passes its chunk length, Whisper reads at most 30 s."""
    if rate_hz not in (8000, 16000):
        raise InputError(f"silero-vad needs 8 or 16 kHz audio, got {rate_hz} Hz (session WAVs are 16 kHz)")
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0 or not np.any(samples):
        return []
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(
        torch.from_numpy(samples),
        silero_model(),
        threshold=settings.threshold,
        sampling_rate=rate_hz,
        min_speech_duration_ms=int(round(settings.min_speech_s * 1000)),
        max_speech_duration_s=max_region_s,
        min_silence_duration_ms=int(round(settings.min_silence_s * 1000)),
        speech_pad_ms=int(round(settings.pad_s * 1000)),
    )
    return [(s["start"] / rate_hz, s["end"] / rate_hz) for s in stamps]
