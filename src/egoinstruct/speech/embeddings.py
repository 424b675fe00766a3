"""Speaker embeddings of audio windows with resemblyzer (the PyPI package ships its encoder).

Contract: :func:`window_embeddings` returns one L2-normalised 256-d embedding per
``(start_s, end_s)`` window of a 16 kHz mono track (float32 array of shape ``(n, 256)``). The
mel spectrogram is computed once for the whole track (10 ms frames) and windows are cut from it,
so overlapping windows cost only the encoder. resemblyzer's own ``preprocess_wav`` is not used:
it trims silences and would move every window in time; the track only gets one global gain
(the level resemblyzer was trained at), so relative levels within it stay as recorded.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

FRAME_S = 0.01  # resemblyzer mel hop
EMBEDDING_DIM = 256
_BATCH = 64


@lru_cache(maxsize=1)
def voice_encoder() -> Any:
    import torch
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(torch.device("cpu"), verbose=False)


def track_mel(samples: np.ndarray) -> np.ndarray:
    """(frames, 40) mel spectrogram of a whole 16 kHz track at resemblyzer's level and hop."""
    from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram
    from resemblyzer.hparams import audio_norm_target_dBFS

    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0 or not np.any(samples):
        return np.zeros((0, 40), np.float32)
    return wav_to_mel_spectrogram(normalize_volume(samples, audio_norm_target_dBFS, increase_only=True))


def window_embeddings(mel: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    """Embeddings of ``windows`` (s) cut from ``mel`` (:func:`track_mel`); windows are grouped by
    length so each encoder batch has one shape."""
    import torch

    out = np.zeros((len(windows), EMBEDDING_DIM), np.float32)
    if not windows or mel.shape[0] == 0:
        return out
    spans = []
    for start, end in windows:
        a = int(np.clip(round(start / FRAME_S), 0, mel.shape[0] - 1))
        b = int(np.clip(round(end / FRAME_S), a + 1, mel.shape[0]))
        spans.append((a, b))
    encoder = voice_encoder()
    by_length: dict[int, list[int]] = {}
    for index, (a, b) in enumerate(spans):
        by_length.setdefault(b - a, []).append(index)
    with torch.inference_mode():
        for length, indices in by_length.items():
            for first in range(0, len(indices), _BATCH):
                chunk = indices[first:first + _BATCH]
                batch = np.stack([mel[spans[i][0]:spans[i][0] + length] for i in chunk])
                out[chunk] = encoder(torch.from_numpy(batch)).numpy()
    return out


def centroid(embeddings: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Normalised (weighted) mean of embeddings; zeros when there are none."""
    if len(embeddings) == 0:
        return np.zeros(EMBEDDING_DIM, np.float32)
    mean = np.average(embeddings, axis=0, weights=weights)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else mean.astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else 0.0
