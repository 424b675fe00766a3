"""One interface for every model backend; requests and responses as plain data.

A backend is a small subclass of :class:`Backend`, registered by name with :func:`register`
(``mllm.models.<name>.backend`` picks it). It declares what it can do — the modalities it can
pass to a model, the decodings (how the answer is constrained) and prompt styles it supports,
and how many requests it can serve at once — and implements :meth:`Backend.preflight` (cheap
checks that must pass before any work starts: weights present, key variable set, server
reachable) and :meth:`Backend.complete` (one request → one response).

Requests are plain frozen dataclasses (:class:`ModelRequest`): an ordered list of text and media
parts (bytes, never paths), the allowed labels and the sampling settings. Everything that can
change an answer is in the request or in :meth:`Backend.identity`, so the response cache key is
a hash of those two (:func:`egoinstruct.mllm.cache.request_key`).

Errors: :class:`TransientBackendError` (timeouts, HTTP 429 and 5xx, dropped connections) is
retried by the runner with backoff; :class:`BackendRequestError` is not (the request itself is
wrong); configuration problems are :class:`egoinstruct.errors.InputError` and missing weights
:class:`egoinstruct.errors.MissingModelError`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from egoinstruct.errors import InputError
from egoinstruct.settings.mllm import ModelSettings

PartKind = Literal["text", "image", "audio", "video"]


@dataclass(frozen=True)
class Part:
    """One piece of a prompt: text, or media bytes with their MIME type."""

    kind: PartKind
    text: str | None = None
    data: bytes | None = None
    mime: str | None = None

    @staticmethod
    def of_text(text: str) -> Part:
        return Part("text", text=text)

    @staticmethod
    def of_media(kind: PartKind, data: bytes, mime: str) -> Part:
        return Part(kind, data=data, mime=mime)


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    max_tokens: int = 32
    top_p: float | None = None
    seed: int = 0


@dataclass(frozen=True)
class ModelRequest:
    """A prompt plus how to decode the answer.

    ``style`` "chat": ``system`` + ``parts`` as one user turn; "completion": the text parts
    joined, for base models (no media). ``answer_format`` says what the prompt asks for:
    "json" (``{"label": …}``) or "word" (the bare label). ``decoding`` constrains the answer:
    "grammar" (a GBNF grammar over the labels), "json_schema" / "json_object" (the server's
    structured output), "loglik" (score each label's likelihood; no generation) or "none".
    """

    request_id: str
    style: Literal["chat", "completion"]
    system: str | None
    parts: tuple[Part, ...]
    labels: tuple[str, ...]
    answer_format: Literal["json", "word"]
    decoding: str
    sampling: Sampling
    template_version: str

    def text(self) -> str:
        """The text parts joined (the whole prompt for completion style)."""
        return "".join(p.text or "" for p in self.parts if p.kind == "text")

    def media(self) -> list[Part]:
        return [p for p in self.parts if p.kind != "text"]


@dataclass
class ModelResponse:
    """What came back: generated text or per-label log-likelihoods, and token usage."""

    text: str
    scores: dict[str, float] | None = None  # loglik decoding: label -> log P(label | prompt)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    model_reported: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "scores": self.scores,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "model_reported": self.model_reported,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelResponse:
        return cls(
            text=data.get("text") or "",
            scores=data.get("scores"),
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            finish_reason=data.get("finish_reason"),
            model_reported=data.get("model_reported"),
            extra=data.get("extra") or {},
        )


class TransientBackendError(RuntimeError):
    """A failure worth retrying (timeout, HTTP 429 / 5xx, connection reset)."""

    def __init__(self, message: str, retry_after_s: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status


class BackendRequestError(RuntimeError):
    """The server or model rejected the request itself (HTTP 4xx other than 429, bad input)."""


class Backend(ABC):
    """Base class of the model backends (see the module docstring)."""

    name: ClassVar[str]
    supported_modalities: ClassVar[frozenset[str]] = frozenset({"text"})
    supported_decodings: ClassVar[frozenset[str]] = frozenset({"none"})
    supported_styles: ClassVar[frozenset[str]] = frozenset({"chat", "completion"})
    max_concurrency: ClassVar[int | None] = None  # None: as many as configured

    def __init__(self, settings: ModelSettings, threads: int = 1):
        self.settings = settings
        self.threads = max(1, threads)
        unsupported = sorted(set(settings.modalities) - self.supported_modalities)
        if unsupported:
            raise InputError(
                f"{settings.key('modalities')}: the {self.name} backend cannot pass "
                f"{', '.join(unsupported)} to a model (it supports {', '.join(sorted(self.supported_modalities))}); "
                "remove them from the model's modalities"
            )
        if settings.decoding not in self.supported_decodings:
            raise InputError(
                f"{settings.key('decoding')}: {settings.decoding!r} is not supported by the {self.name} "
                f"backend; use one of {', '.join(sorted(self.supported_decodings))}"
            )

    @property
    def modalities(self) -> frozenset[str]:
        """What this model is shown; other inputs of a window are left out (and recorded)."""
        return frozenset(self.settings.modalities)

    @property
    def concurrency(self) -> int:
        limit = self.max_concurrency
        return self.settings.concurrency if limit is None else min(limit, self.settings.concurrency)

    def check_style(self, style: str) -> None:
        if style not in self.supported_styles:
            raise InputError(
                f"{self.settings.key('prompt_version')}: the {self.name} backend cannot send {style}-style "
                f"prompts; choose a template of style {', '.join(sorted(self.supported_styles))}"
            )

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Backend, model and weights revision: the model's part of the cache key (no secrets)."""

    @abstractmethod
    def preflight(self) -> None:
        """Raise a clear error now if the model cannot be used (before any work starts)."""

    @abstractmethod
    def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer one request (thread-safe up to :attr:`concurrency` callers)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model or connection."""


_REGISTRY: dict[str, type[Backend]] = {}
# Where each built-in backend lives; imported only when used (heavy optional dependencies).
_MODULES = {
    "openai": "egoinstruct.mllm.backends.openai_server",
    "llama_cpp": "egoinstruct.mllm.backends.llama_cpp",
    "transformers": "egoinstruct.mllm.backends.transformers_local",
}


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    return sorted(set(_MODULES) | set(_REGISTRY))


def backend_class(name: str) -> type[Backend]:
    if name not in _REGISTRY and name in _MODULES:
        importlib.import_module(_MODULES[name])
    if name not in _REGISTRY:
        raise InputError(f"unknown MLLM backend {name!r}; available: {', '.join(backend_names())}")
    return _REGISTRY[name]


def create_backend(settings: ModelSettings, threads: int = 1) -> Backend:
    """The backend of ``settings.backend``, configured (not yet preflighted)."""
    return backend_class(settings.backend)(settings, threads=threads)
