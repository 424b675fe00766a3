"""Transcription with whisperx: batched Whisper ASR, then word times by alignment or by Whisper.

Contract
--------
:class:`Transcriber` loads the models once (the Whisper model through ``whisperx.load_model``,
the wav2vec2 alignment model through ``whisperx.load_align_model`` when it is available) and
:meth:`Transcriber.transcribe` turns one 16 kHz mono track (a numpy array; no file paths, so no
ffmpeg or torchcodec is involved) into an :class:`AsrResult`: the words in time order with
``start``/``end`` (s on the track's clock, NaN when alignment could not place a word) and a
``score`` in [0, 1] (wav2vec2 alignment score, or Whisper's word probability), the Whisper
segments, the language, how word times were obtained and why, and timings.

Word times (``align``):

* ``auto``: wav2vec2 forced alignment (``whisperx.align``) when the model is available locally
  or can be downloaded now; otherwise — with one logged line that says why — Whisper's own word
  timestamps;
* ``required``: wav2vec2 or stop with a :class:`~egoinstruct.errors.MissingModelError` that says
  how to provide the model;
* ``off``: Whisper's word timestamps, never touching the hub.

Whisper's word timestamps are computed on whisperx's output: whisperx decodes each VAD chunk
(≤ ``chunk_size_s``) in batches without timestamps, and faster-whisper's cross-attention
alignment (``WhisperModel.add_word_timestamps``, the same code its own ``word_timestamps=True``
runs) places the decoded tokens in time — one extra encoder pass per chunk, no second decode.
wav2vec2 alignment leaves words without times when they contain no character of its alphabet
(digits, symbols; Japanese with a Latin-alphabet model): their share is reported as a quality
figure (:attr:`AsrResult.unaligned_share`).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.settings.speech import SpeechSettings
from egoinstruct.speech.models import (
    ModelSource,
    resolve_align_model,
    resolve_asr_model,
)
from egoinstruct.speech.vad import speech_regions

SAMPLE_RATE_HZ = 16_000
ALIGN_MODES = ("auto", "required", "off")
ASR_VADS = ("silero", "pyannote")

log = logging.getLogger(__name__)


@dataclass
class Word:
    word: str
    start: float  # s; NaN when alignment could not place the word
    end: float
    score: float  # [0, 1]; NaN when there is none

    @property
    def timed(self) -> bool:
        return math.isfinite(self.start) and math.isfinite(self.end)


@dataclass
class AsrResult:
    words: list[Word]
    segments: list[dict[str, Any]]  # whisperx segments: start, end, text, avg_logprob
    language: str | None
    alignment: str  # "wav2vec2", "whisper" or "none" (no speech)
    alignment_model: str | None
    alignment_reason: str
    regions: list[tuple[float, float]]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def unaligned_share(self) -> float:
        """Share of words without a start or end time (0 when there are no words)."""
        if not self.words:
            return 0.0
        return sum(not w.timed for w in self.words) / len(self.words)


def _fixed_regions_vad(regions: list[tuple[float, float]]) -> Any:
    """A whisperx ``Vad`` that returns precomputed regions (one VAD pass serves ASR and diarizer)."""
    from whisperx.diarize import Segment as WhisperxSegment
    from whisperx.vads.vad import Vad

    class FixedRegions(Vad):
        def __init__(self) -> None:
            super().__init__(0.5)

        def __call__(self, audio: Any, **kwargs: Any) -> list[Any]:
            return [WhisperxSegment(start, end, "UNKNOWN") for start, end in regions]

        @staticmethod
        def preprocess_audio(audio: Any) -> Any:
            return audio

        @staticmethod
        def merge_chunks(segments: Any, chunk_size: float, onset: float = 0.5, offset: float | None = None) -> list[dict[str, Any]]:
            return Vad.merge_chunks(segments, chunk_size, onset, offset) if segments else []

    return FixedRegions()


def padded_regions(regions: list[tuple[float, float]], pad_s: float, duration_s: float,
                   max_region_s: float) -> list[tuple[float, float]]:
    """Regions widened by ``pad_s`` on both sides (within the track, at most to the middle of the
    pause to a neighbour, and not beyond ``max_region_s``): the VAD's edges clip soft word onsets
    and endings, which costs Whisper more than a little extra silence does."""
    out: list[tuple[float, float]] = []
    for i, (start, end) in enumerate(regions):
        before = 0.5 * (regions[i - 1][1] + start) if i > 0 else 0.0
        after = 0.5 * (end + regions[i + 1][0]) if i + 1 < len(regions) else duration_s
        grow = max(0.0, min(pad_s, 0.5 * (max_region_s - (end - start))))
        out.append((max(before, start - grow, 0.0), min(after, end + grow, duration_s)))
    return out


class _EncoderTap:
    """Keep the encoder outputs whisperx computes while decoding, so word timing need not re-encode.

    whisperx's batched decoder encodes each batch of chunks once (``WhisperModel.encode``) and
    drops the result; word timing needs exactly that output. The tap wraps ``encode`` on the
    model instance for one ``transcribe`` call. Batches are formed in chunk order, so chunk ``i``
    is item ``i % batch_size`` of the ``i // batch_size``-th output; an extra first output comes
    from language detection. Any other count means whisperx changed: :meth:`per_segment`
    returns ``None`` and the chunks are encoded again.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.outputs: list[Any] = []

    def __enter__(self) -> _EncoderTap:
        original = type(self.model).encode

        def encode(features: Any) -> Any:
            output = original(self.model, features)
            self.outputs.append(output)
            return output

        self.model.encode = encode  # instance attribute shadows the class method
        return self

    def __exit__(self, *exc: object) -> None:
        self.model.__dict__.pop("encode", None)

    def per_segment(self, n_segments: int, batch_size: int) -> list[tuple[Any, int]] | None:
        batch = max(1, batch_size)
        expected = math.ceil(n_segments / batch)
        outputs = self.outputs[1:] if len(self.outputs) == expected + 1 else self.outputs
        if len(outputs) != expected:
            return None
        return [(outputs[i // batch], i % batch) for i in range(n_segments)]


def _alignment_groups(encoded: list[tuple[Any, int]] | None, n_segments: int,
                      batch_size: int) -> list[tuple[list[int], Any]]:
    """Groups of segment indices to align together, each with a reusable encoder output or None.

    A whisperx batch's encoder output is reused when every chunk of that batch is kept, in order
    (a chunk whose text is empty is dropped, and the batch is then encoded again without it).
    """
    if encoded is None:
        return [(list(range(i, min(i + batch_size, n_segments))), None) for i in range(0, n_segments, batch_size)]
    groups: list[tuple[list[int], Any]] = []
    by_output: dict[int, list[int]] = {}
    outputs: dict[int, Any] = {}
    for index, (output, _position) in enumerate(encoded):
        by_output.setdefault(id(output), []).append(index)
        outputs[id(output)] = output
    for key, indices in by_output.items():
        positions = [encoded[i][1] for i in indices]
        batch_len = int(outputs[key].shape[0])
        reusable = positions == list(range(batch_len))
        groups.append((indices, outputs[key] if reusable else None))
    return groups


@contextmanager
def _full_unpickling() -> Iterator[None]:
    """Let torch.load unpickle a whole checkpoint for the duration of one trusted load.

    torch >= 2.6 loads with ``weights_only=True`` unless told otherwise, and refuses Lightning
    checkpoints that pickle hyper-parameters and callbacks — such as the pyannote segmentation
    model inside the whisperx wheel. That file comes with the pinned package, so it is trusted.
    """
    old = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = old


def _is_weights_only_refusal(exc: BaseException) -> bool:
    return isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc)


class Transcriber:
    """Whisper (and, when available, wav2vec2) models loaded once for one or more tracks."""

    def __init__(self, speech: SpeechSettings, threads: int = 1) -> None:
        """Load the models of the ``speech`` section (``speech.asr``, ``align``, ``align_model``,
        ``model_cache_dir``; the VAD of ``speech.vad`` cuts the chunks)."""
        if speech.align not in ALIGN_MODES:
            raise InputError(f"speech.align: {speech.align!r} is not one of {', '.join(ALIGN_MODES)}")
        if speech.asr.vad not in ASR_VADS:
            raise InputError(f"speech.asr.vad: {speech.asr.vad!r} is not one of {', '.join(ASR_VADS)}")
        self.speech = speech
        self.settings = settings = speech.asr
        self.source: ModelSource = resolve_asr_model(settings.model, speech.model_cache_dir)
        start = time.perf_counter()
        self.pipeline = self._load_whisper(threads)
        self.multilingual = bool(self.pipeline.model.model.is_multilingual)
        if not self.multilingual and settings.language not in (None, "en"):
            raise InputError(
                f"speech.asr.language: {settings.language!r}, but the model {self.source.description} is "
                f"English-only; choose a multilingual Whisper model (e.g. small, large-v3) for this language"
            )
        self.language = settings.language if self.multilingual else "en"
        self._aligners: dict[str, tuple[Any, dict[str, Any], str] | str] = {}
        self.aligner_load_seconds = 0.0  # alignment models load on first use of a language
        self.load_seconds = time.perf_counter() - start
        log.info("ASR model: %s (%s, %s) loaded in %.1f s", self.source.description, settings.device,
                 settings.compute_type, self.load_seconds)

    def _load_whisper(self, threads: int) -> Any:
        import whisperx

        s = self.settings
        kwargs: dict[str, Any] = dict(
            device=s.device,
            compute_type=s.compute_type,
            language=s.language,
            asr_options={"beam_size": s.beam_size, "best_of": s.beam_size},
            vad_options={"chunk_size": s.chunk_size_s},
            threads=threads,
            download_root=self.speech.model_cache_dir,
            local_files_only=self.source.origin != "hub",
        )
        if s.vad == "silero":
            return whisperx.load_model(self.source.location, vad_model=_fixed_regions_vad([]), **kwargs)
        try:
            return whisperx.load_model(self.source.location, vad_method="pyannote", **kwargs)
        except Exception as exc:
            if not _is_weights_only_refusal(exc):
                raise
            log.warning("torch refused to unpickle whisperx's bundled VAD checkpoint (weights_only); "
                        "loading that file in full, as it ships with the pinned whisperx wheel")
            with _full_unpickling():
                return whisperx.load_model(self.source.location, vad_method="pyannote", **kwargs)

    # -- alignment ------------------------------------------------------------------------------

    def aligner(self, language: str) -> tuple[Any, dict[str, Any], str] | str:
        """(model, metadata, description) for ``language``, or the reason why there is none."""
        if language in self._aligners:
            return self._aligners[language]
        s = self.speech
        loading = time.perf_counter()
        if s.align == "off":
            result: tuple[Any, dict[str, Any], str] | str = "speech.align is off"
        else:
            try:
                source = resolve_align_model(language, s.align_model, s.model_cache_dir)
                result = self._load_aligner(language, source)
            except MissingModelError as exc:
                if s.align == "required":
                    raise
                result = str(exc)
            except Exception as exc:  # download or load failure (URLError, HTTP, OSError, ValueError)
                if s.align == "required":
                    raise MissingModelError(
                        f"speech.align_model: loading the wav2vec2 alignment model for {language!r} failed "
                        f"({exc.__class__.__name__}: {exc}); provide it locally (speech.align_model) or set "
                        f"speech.align: auto to fall back to Whisper's word timestamps"
                    ) from exc
                result = f"loading the wav2vec2 model failed ({exc.__class__.__name__}: {exc})"
        self._aligners[language] = result
        self.aligner_load_seconds += time.perf_counter() - loading
        if isinstance(result, str) and s.align == "auto":
            log.warning("word times: Whisper's own word timestamps instead of wav2vec2 alignment, because %s", result)
        return result

    def _load_aligner(self, language: str, source: ModelSource) -> tuple[Any, dict[str, Any], str]:
        import whisperx

        model, metadata = whisperx.load_align_model(
            language_code=language,
            device=self.settings.device,
            model_name=source.location,
            model_dir=self.speech.model_cache_dir,
            model_cache_only=source.origin == "cache",
        )
        log.info("word times: wav2vec2 alignment with %s", source.description)
        return model, metadata, source.description

    # -- transcription ----------------------------------------------------------------------------

    def transcribe(self, samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ,
                   regions: list[tuple[float, float]] | None = None) -> AsrResult:
        """Words and segments of one mono track (times on the track's clock)."""
        if rate_hz != SAMPLE_RATE_HZ:
            raise InputError(f"ASR needs {SAMPLE_RATE_HZ} Hz audio, got {rate_hz} Hz")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        seconds: dict[str, float] = {}
        start = time.perf_counter()
        if regions is None:
            regions = speech_regions(samples, rate_hz, self.speech.vad, self.settings.chunk_size_s)
        seconds["vad"] = time.perf_counter() - start
        if not regions:
            return AsrResult([], [], self.language, "none", None, "no speech found by the VAD", [], seconds)

        start = time.perf_counter()
        if self.settings.vad == "silero":
            self.pipeline.vad_model = _fixed_regions_vad(
                padded_regions(regions, self.settings.pad_s, len(samples) / rate_hz, self.settings.chunk_size_s))
        with _EncoderTap(self.pipeline.model) as tap:
            out = self.pipeline.transcribe(
                samples, batch_size=self.settings.batch_size, language=self.language,
                chunk_size=self.settings.chunk_size_s,
            )
        all_segments = [dict(seg) for seg in out["segments"]]
        encoded = tap.per_segment(len(all_segments), self.settings.batch_size)
        keep = [i for i, seg in enumerate(all_segments) if seg["text"].strip()]
        segments = [all_segments[i] for i in keep]
        language = out.get("language") or self.language or "en"
        seconds["asr"] = time.perf_counter() - start

        start = time.perf_counter()
        words: list[Word] = []
        aligner = self.aligner(language) if segments else "no text"
        if segments and not isinstance(aligner, str):
            model, metadata, description = aligner
            words = self._wav2vec2_words(samples, segments, model, metadata)
            method, model_name, reason = "wav2vec2", description, f"wav2vec2 model available ({description})"
        else:
            reuse = [encoded[i] for i in keep] if encoded is not None else None
            words = self._whisper_words(samples, segments, language, reuse) if segments else []
            method, model_name, reason = "whisper", None, aligner if isinstance(aligner, str) else ""
        seconds["align"] = time.perf_counter() - start
        return AsrResult(words, segments, language, method, model_name, reason, list(regions), seconds)

    def _wav2vec2_words(self, samples: np.ndarray, segments: list[dict[str, Any]], model: Any,
                        metadata: dict[str, Any]) -> list[Word]:
        import whisperx

        aligned = whisperx.align(segments, model, metadata, samples, self.settings.device,
                                 return_char_alignments=False)
        words = []
        for seg in aligned["segments"]:
            for w in seg.get("words", []):
                text = str(w.get("word", "")).strip()
                if text:
                    words.append(Word(text, float(w.get("start", math.nan)), float(w.get("end", math.nan)),
                                      float(w.get("score", math.nan))))
        return words

    def _whisper_words(self, samples: np.ndarray, segments: list[dict[str, Any]], language: str,
                       encoded: list[tuple[Any, int]] | None = None) -> list[Word]:
        """Whisper's cross-attention word timestamps for whisperx's (timestamp-free) segments.

        ``encoded``: per segment, the encoder output of its whisperx batch and its index in that
        batch (from :class:`_EncoderTap`); segments whose whole batch is kept are aligned on it,
        the others are encoded again.
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        model = self.pipeline.model
        options = self.pipeline.options
        tokenizer = self.pipeline.tokenizer or Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )
        groups = _alignment_groups(encoded, len(segments), max(1, self.settings.batch_size))
        words: list[Word] = []
        for indices, reused in groups:
            group = [segments[i] for i in indices]
            features, sizes, items = [], [], []
            for seg in group:
                chunk = samples[int(round(seg["start"] * SAMPLE_RATE_HZ)):int(round(seg["end"] * SAMPLE_RATE_HZ))]
                duration = len(chunk) / SAMPLE_RATE_HZ
                if reused is None:
                    features.append(pad_or_trim(model.feature_extractor(chunk)[..., :-1]))
                sizes.append(min(int(math.ceil(duration) * model.frames_per_second), 3000))
                text = seg["text"] if seg["text"].startswith(" ") else " " + seg["text"]
                # Times relative to the chunk (seek 0); the chunk's start is added below.
                items.append([{"tokens": tokenizer.encode(text), "start": 0.0, "end": duration, "seek": 0}])
            output = reused if reused is not None else model.encode(np.stack(features))
            model.add_word_timestamps(items, tokenizer, output, sizes, options.prepend_punctuations,
                                      options.append_punctuations, 0.0)
            for seg, item in zip(group, items, strict=True):
                for w in item[0].get("words", []):
                    text = w["word"].strip()
                    if text:
                        words.append(Word(text, seg["start"] + float(w["start"]), seg["start"] + float(w["end"]),
                                          float(w["probability"])))
        return words
