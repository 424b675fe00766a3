"""Append-only response cache: a rerun makes no new calls, a crash loses nothing answered.

One JSON Lines file per model (``{mllm.cache_dir}/{model}.jsonl``). Each line is one answered
request: ``{"key", "model", "request_id", "created_utc", "latency_s", "attempts", "response"}``.
A response is appended — under an exclusive ``flock``, flushed and ``fsync``-ed — *before* the
runner hands it on, so everything that was answered survives a crash or a kill. Opening the
cache replays the file; a torn last line (a crash mid-write) is skipped with a warning, and the
next append starts on a fresh line. Later lines win over earlier ones with the same key.

The key (:func:`request_key`) is the SHA-256 of the canonical JSON of everything that can change
the answer: the backend identity (backend, model, weights revision), the prompt-template
version, the prompt itself (system text and text parts verbatim, media by SHA-256 digest and
MIME type), the allowed labels, the answer format, the decoding and the sampling settings. Only
deterministic requests (temperature 0) are cached. No secret is ever part of a key or a record:
identities carry the *name* of the key variable at most, never its value.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from egoinstruct.mllm.backends.base import ModelRequest, ModelResponse

log = logging.getLogger(__name__)


def media_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def request_material(identity: dict[str, Any], request: ModelRequest) -> dict[str, Any]:
    """The canonical description of a request that the cache key hashes."""
    parts = []
    for part in request.parts:
        if part.kind == "text":
            parts.append({"type": "text", "text": part.text})
        else:
            parts.append({"type": part.kind, "mime": part.mime, "sha256": media_digest(part.data or b"")})
    s = request.sampling
    return {
        "model": identity,
        "prompt_template": request.template_version,
        "style": request.style,
        "prompt": {"system": request.system, "parts": parts},
        "labels": list(request.labels),
        "answer_format": request.answer_format,
        "decoding": request.decoding,
        "sampling": {"temperature": _canonical_number(s.temperature), "max_tokens": s.max_tokens,
                     "top_p": _canonical_number(s.top_p), "seed": s.seed},
    }


def _canonical_number(value: float | None) -> float | int | None:
    """A whole number as an int, so a setting written 0 or 0.0 gives the same key (JSON tells
    them apart)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def request_key(identity: dict[str, Any], request: ModelRequest) -> str:
    canonical = json.dumps(request_material(identity, request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_cacheable(request: ModelRequest) -> bool:
    return request.sampling.temperature == 0


class ResponseCache:
    """The cache file of one model (thread-safe; safe across processes through ``flock``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.torn_lines = 0
        self.replayed = 0
        self._replay()

    def _replay(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    key = entry["key"]
                    entry["response"]
                except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                    self.torn_lines += 1
                    log.warning("%s: line %d is incomplete or corrupt (an interrupted write?); skipped", self.path, number)
                    continue
                self._entries[key] = entry
                self.replayed += 1
        if self.replayed or self.torn_lines:
            log.info("%s: replayed %d cached responses", self.path, len(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached entry of ``key`` (with ``response`` as a dict), or None."""
        with self._lock:
            return self._entries.get(key)

    def response(self, key: str) -> ModelResponse | None:
        entry = self.get(key)
        return ModelResponse.from_json(entry["response"]) if entry else None

    def put(self, key: str, response: ModelResponse, **info: Any) -> dict[str, Any]:
        """Append an answered request durably, then remember it; returns the entry."""
        entry = {
            "key": key,
            **info,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "response": response.to_json(),
        }
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size:
                    # A torn last line (crash mid-write) must not swallow this record.
                    with open(self.path, "rb") as reader:
                        reader.seek(size - 1)
                        if reader.read(1) != b"\n":
                            line = b"\n" + line
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            self._entries[key] = entry
        return entry
