"""Synthesised speech for the demo sessions: espeak-ng through ctypes, deterministic.

Contract
--------
:func:`synthesize` takes ``(voice, text)`` pairs and returns one float32 mono clip per pair at
``rate_hz`` (48 kHz by default), trimmed to the voiced extent, values in [-1, 1].

espeak-ng comes from the PyPI package ``espeakng-loader`` (shared library and voice data, no
system install). Two properties of the library shape this module:

* Breathy voices (the learner's ``+f2``) mix in noise from espeak-ng's own random generator,
  which is seeded from the clock; :meth:`Espeak.speak` seeds it per sentence
  (``espeak_ng_SetRandSeed``).
* espeak-ng also keeps synthesis state between calls that neither ``espeak_Terminate`` nor the
  seed resets (the pitch "flutter" phase, for one), so the same sentence comes out a few
  samples different depending on what was spoken before it in the process. The output *is*
  reproducible for the same sequence of calls from a fresh process. So
  :func:`synthesize` runs the whole batch in a fresh worker process (``python -m
  egoinstruct.demo.speech``), in the order given; callers pass a fixed batch (the demo passes
  a procedure's whole sentence bank in a fixed order) and get byte-identical clips every time,
  whatever else the calling process has synthesised.
* The library is initialised once per process (in the worker); importing this module does not
  load or initialise it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys
import tempfile
import threading
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from egoinstruct.errors import MissingModelError

# espeak-ng API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # enum espeak_AUDIO_OUTPUT: PLAYBACK=0, RETRIEVAL=1, SYNCHRONOUS=2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1  # espeak_PARAMETER espeakRATE (words per minute)
_INITIALIZE_DONT_EXIT = 0x8000  # don't let the library call exit() on a data error

# Two clearly different voices: male variant for the instructor, female for the learner.
VOICES: dict[str, str] = {"instructor": "en-us+m3", "learner": "en-us+f2"}
# Speaking rate (words per minute) per voice; the learner talks a little faster.
RATES_WPM: dict[str, int] = {"en-us+m3": 160, "en-us+f2": 172}

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """In-process espeak-ng synthesiser (one per process; see the module docstring)."""

    _instance: Espeak | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - pinned dependency
            raise MissingModelError(
                "the demo generator needs the PyPI package espeakng-loader (espeak-ng library "
                "and voices); install the project's requirements"
            ) from exc
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        # breathy voices (the learner's f2) add noise from espeak's own random generator, which
        # is seeded from the clock unless set: seed it per sentence
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
        libc_name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(libc_name) if libc_name else None
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate: int = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise MissingModelError(
                f"espeak-ng failed to initialise with data at {data_path.decode()!r}"
            )
        self._chunks: list[np.ndarray] = []
        # Keep a reference to the ctypes callback, or it is garbage-collected under espeak.
        self._callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> Espeak:
        """The process-wide synthesiser, initialised on first use."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav: Any, n: int, _events: Any) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = continue synthesis

    def speak(self, voice: str, text: str) -> np.ndarray:
        """int16 samples at :attr:`sample_rate` for ``text`` spoken by ``voice``."""
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise MissingModelError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_ESPEAK_RATE, RATES_WPM.get(voice, 165), 0)
            self._chunks = []
            data = text.encode("utf-8") + b"\0"
            seed = zlib.crc32(f"{voice}|{text}".encode())
            if self._set_seed is not None:
                self._set_seed(seed)
            if self._libc is not None:
                self._libc.srand(ctypes.c_uint(seed))  # in case a code path uses libc rand()
            status = self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            if status != 0:
                raise RuntimeError(f"espeak_Synth failed ({status}) for {text!r}")
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def trim_silence(samples: np.ndarray, rate_hz: int, threshold: float = 0.01) -> np.ndarray:
    """Cut leading/trailing samples quieter than ``threshold`` (peak-relative), keeping 5 ms."""
    if samples.size == 0:
        return samples
    level = np.abs(samples)
    loud = np.nonzero(level > threshold * level.max())[0]
    if loud.size == 0:
        return samples[:0]
    margin = int(0.005 * rate_hz)
    return samples[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling by the exact rational ratio (22050 → 48000 is 320/147)."""
    if rate_in == rate_out:
        return samples.astype(np.float32)
    ratio = Fraction(rate_out, rate_in)
    return resample_poly(samples.astype(np.float64), ratio.numerator, ratio.denominator).astype(
        np.float32
    )


def _worker_main() -> None:
    """Worker entry point: JSON ``{"items": [[voice, text], ...], "out": path}`` on stdin;
    writes an ``.npz`` with ``rate`` and ``clip{i}`` (int16, native rate, untrimmed)."""
    request = json.load(sys.stdin)
    engine = Espeak.get()
    clips = {
        f"clip{i}": engine.speak(voice, text) for i, (voice, text) in enumerate(request["items"])
    }
    np.savez(request["out"], rate=np.array(engine.sample_rate), **clips)


def synthesize(items: list[tuple[str, str]], rate_hz: int = 48000) -> list[np.ndarray]:
    """Clips (float32, ``rate_hz``, trimmed) for ``(voice, text)`` pairs, in a fresh worker.

    Deterministic for a given list (order included); see the module docstring for why.
    """
    if not items:
        return []
    with tempfile.TemporaryDirectory(prefix="egoinstruct-speech-") as tmp:
        out = Path(tmp) / "clips.npz"
        request = json.dumps({"items": [list(item) for item in items], "out": str(out)})
        proc = subprocess.run(
            [sys.executable, "-m", "egoinstruct.demo.speech"],
            input=request.encode(),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                "espeak-ng speech worker failed:\n" + proc.stderr.decode(errors="replace")[-2000:]
            )
        with np.load(out) as data:
            native_rate = int(data["rate"])
            raw = [data[f"clip{i}"] for i in range(len(items))]
    clips: list[np.ndarray] = []
    for samples, (_voice, text) in zip(raw, items, strict=True):
        audio = resample(samples.astype(np.float32) / 32768.0, native_rate, rate_hz)
        audio = trim_silence(audio, rate_hz)
        if audio.size == 0:
            raise RuntimeError(f"espeak-ng produced silence for {text!r}")
        clips.append(np.clip(audio, -1.0, 1.0).astype(np.float32))
    return clips


if __name__ == "__main__":
    _worker_main()
