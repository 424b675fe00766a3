"""Can a model hub be used right now? Decided at once, without waiting on network timeouts.

Shared by every stage that loads hub-hosted models (speech alignment and diarization, Whisper
models by name, sentence embeddings): the Hugging Face offline flags are honoured first, then one
quick TCP connect per host and process.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlparse

_OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_reason(url: str, honour_hf_flags: bool = True, timeout_s: float = 3.0) -> str | None:
    """Why ``url``'s host cannot be used now, or ``None`` when it accepts a connection."""
    if honour_hf_flags:
        for flag in _OFFLINE_FLAGS:
            if os.environ.get(flag, "").strip().lower() in {"1", "true", "yes", "on"}:
                return f"{flag} is set"
    parsed = urlparse(url)
    return _connect_reason(parsed.hostname or url, parsed.port or 443, timeout_s)


@lru_cache(maxsize=16)
def _connect_reason(host: str, port: int, timeout_s: float) -> str | None:
    # One quick TCP connect per host and process: no HTTP retries, no proxies' long timeouts.
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{host} cannot be reached ({exc.__class__.__name__}: {exc})"


def looks_like_path(spec: str) -> bool:
    # Hub ids are "owner/name"; anything else with a separator, or starting like a path, is a path.
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or "\\" in spec
