"""Backend ``openai``: any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, hosted APIs).

Chat requests carry the OpenAI/vLLM content parts: ``text``, ``image_url`` (a
``data:image/jpeg;base64,…`` URL), ``input_audio`` (``{"data": base64, "format": "wav"}``) and,
for servers that take it (vLLM), ``video_url``. Every chat request except the ``video_url``
extension is validated against the ``openai`` package's own request types before it is sent.
Completion-style prompts (base models) go to ``/v1/completions``.

Answer constraints (``decoding``): ``json_schema`` (``response_format`` with the label schema —
OpenAI, vLLM, SGLang), ``json_object`` (``{"type": "json_object", "schema": …}``, the form the
llama.cpp server accepts), ``grammar`` (a GBNF grammar in the request body, llama.cpp server),
``none`` (free text, parsed robustly).

The key: ``api_key_env`` names the environment variable that holds it; the value is read from the
environment when the backend is created and is never written to config, logs, cache or results.
:meth:`OpenAIServerBackend.preflight` fails before any work when that variable is missing or
empty, when the server cannot be reached (``GET /models``) or rejects the key.

Retries are the runner's job: the client is built with ``max_retries=0``; timeouts, dropped
connections, HTTP 429 and 5xx become :class:`TransientBackendError` (with ``Retry-After``), other
HTTP errors :class:`BackendRequestError`.
"""

from __future__ import annotations

import base64
import logging
import os
from typing import Any

from egoinstruct.errors import InputError
from egoinstruct.mllm.backends.base import (
    Backend,
    BackendRequestError,
    ModelRequest,
    ModelResponse,
    Part,
    TransientBackendError,
    register,
)
from egoinstruct.mllm.prompts import label_grammar, label_json_schema
from egoinstruct.settings.mllm import ModelSettings

log = logging.getLogger(__name__)

NO_KEY = "not-needed"  # the client insists on a key; servers without auth ignore it


class PreflightError(InputError):
    """The model cannot be used as configured (checked before any work starts)."""


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def content_part(part: Part) -> dict[str, Any]:
    """One OpenAI/vLLM chat content part."""
    if part.kind == "text":
        return {"type": "text", "text": part.text or ""}
    data = part.data or b""
    if part.kind == "image":
        return {"type": "image_url", "image_url": {"url": data_url(data, part.mime or "image/jpeg")}}
    if part.kind == "audio":
        fmt = "mp3" if (part.mime or "").endswith(("mpeg", "mp3")) else "wav"
        return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode("ascii"), "format": fmt}}
    if part.kind == "video":
        return {"type": "video_url", "video_url": {"url": data_url(data, part.mime or "video/mp4")}}
    raise ValueError(f"unknown part kind {part.kind!r}")


def chat_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """The chat messages of ``request``: a system message (if any) and one user turn.

    A user turn that is all text is sent as one string (every server accepts that, including
    chat formats that cannot take a list of parts).
    """
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    if all(p.kind == "text" for p in request.parts):
        messages.append({"role": "user", "content": request.text()})
    else:
        messages.append({"role": "user", "content": [content_part(p) for p in request.parts]})
    return messages


_ADAPTER: Any = None


def validate_messages(messages: list[dict[str, Any]]) -> None:
    """Check chat messages against the ``openai`` package's request types (pydantic).

    ``video_url`` parts are a vLLM extension outside OpenAI's schema and are checked for shape
    only. Raises :class:`BackendRequestError` naming the problem.
    """
    global _ADAPTER
    from openai.types.chat import ChatCompletionMessageParam
    from pydantic import TypeAdapter, ValidationError

    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(list[ChatCompletionMessageParam])
    standard = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            videos = [p for p in content if p.get("type") == "video_url"]
            for video in videos:
                url = (video.get("video_url") or {}).get("url")
                if not isinstance(url, str) or not url:
                    raise BackendRequestError("video_url part without a url")
            message = {**message, "content": [p for p in content if p.get("type") != "video_url"]}
        standard.append(message)
    try:
        validated = _ADAPTER.validate_python(standard, strict=True)
        for message in validated:
            content = message.get("content")
            if content is not None and not isinstance(content, str):
                list(content)  # content parts are validated lazily, on iteration
    except ValidationError as exc:
        raise BackendRequestError(f"request does not match the OpenAI chat schema: {exc}") from exc


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@register
class OpenAIServerBackend(Backend):
    name = "openai"
    supported_modalities = frozenset({"text", "image", "audio", "video"})
    supported_decodings = frozenset({"grammar", "json_schema", "json_object", "none"})
    supported_styles = frozenset({"chat", "completion"})

    def __init__(self, settings: ModelSettings, threads: int = 1):
        super().__init__(settings, threads)
        if not settings.base_url:
            raise InputError(f"{settings.key('base_url')}: required for the openai backend (e.g. http://127.0.0.1:8000/v1)")
        if not settings.model:
            raise InputError(f"{settings.key('model')}: required for the openai backend (the served model name)")
        self._client: Any = None

    def identity(self) -> dict[str, Any]:
        s = self.settings
        return {"backend": self.name, "model": s.model, "revision": s.revision or "unspecified"}

    def _api_key(self) -> str:
        name = self.settings.api_key_env
        if not name:
            return NO_KEY
        value = os.environ.get(name, "")
        if not value.strip():
            raise PreflightError(
                f"{self.settings.key('api_key_env')}: the environment variable {name} is not set or empty; "
                f"it must hold the API key for {self.settings.base_url}. Export it (export {name}=…) before "
                "running, or set api_key_env: null for a server without authentication. The key itself "
                "never goes into the config."
            )
        return value.strip()

    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.settings.base_url,
                api_key=self._api_key(),
                timeout=self.settings.timeout_s,
                max_retries=0,
            )
        return self._client

    def preflight(self) -> None:
        import openai

        s = self.settings
        client = self.client.with_options(timeout=min(10.0, s.timeout_s))
        try:
            served = [m.id for m in client.models.list().data]
        except openai.AuthenticationError as exc:
            raise PreflightError(
                f"model {s.name}: {s.base_url} rejected the API key from ${s.api_key_env} (HTTP 401); "
                "check that the variable holds a valid key for this server"
            ) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise PreflightError(
                f"model {s.name}: cannot reach the server at {s.base_url} ({type(exc).__name__}); start it "
                f"(e.g. vllm serve / python -m llama_cpp.server) or fix {s.key('base_url')}"
            ) from exc
        except openai.APIStatusError as exc:
            raise PreflightError(
                f"model {s.name}: {s.base_url}/models answered HTTP {exc.status_code}; is this an "
                f"OpenAI-compatible server? Fix {s.key('base_url')}"
            ) from exc
        if served and s.model not in served:
            log.warning("model %s: %s serves %s, not %r; the server may still accept the name",
                        s.name, s.base_url, ", ".join(served[:5]), s.model)

    def _constraint(self, request: ModelRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if request.decoding == "grammar":
            kwargs["extra_body"] = {"grammar": label_grammar(request.labels, request.answer_format)}
        elif request.decoding == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "window_label", "schema": label_json_schema(request.labels), "strict": True},
            }
        elif request.decoding == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": label_json_schema(request.labels)}
        return kwargs

    def request_kwargs(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments of the client call (chat or completion) for ``request``."""
        s = request.sampling
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "seed": s.seed,
            **self._constraint(request),
        }
        if s.top_p is not None:
            kwargs["top_p"] = s.top_p
        if request.style == "completion":
            if request.media():
                raise BackendRequestError(f"request {request.request_id}: completion-style prompts cannot carry media")
            kwargs["prompt"] = request.text()
        else:
            messages = chat_messages(request)
            validate_messages(messages)
            kwargs["messages"] = messages
        return kwargs

    def complete(self, request: ModelRequest) -> ModelResponse:
        import openai

        kwargs = self.request_kwargs(request)
        try:
            if request.style == "completion":
                result = self.client.completions.create(**kwargs)
                choice = result.choices[0]
                text = choice.text or ""
            else:
                result = self.client.chat.completions.create(**kwargs)
                choice = result.choices[0]
                text = choice.message.content or ""
        except openai.APITimeoutError as exc:
            raise TransientBackendError(f"timed out after {self.settings.timeout_s} s") from exc
        except openai.APIConnectionError as exc:
            raise TransientBackendError(f"connection failed ({exc.__cause__ or exc})") from exc
        except openai.RateLimitError as exc:
            raise TransientBackendError("HTTP 429 (rate limited)", _retry_after(exc), 429) from exc
        except openai.InternalServerError as exc:
            raise TransientBackendError(f"HTTP {exc.status_code} (server error)", _retry_after(exc), exc.status_code) from exc
        except openai.APIStatusError as exc:
            raise BackendRequestError(f"request {request.request_id}: HTTP {exc.status_code}: {exc.message}") from exc
        usage = getattr(result, "usage", None)
        return ModelResponse(
            text=text,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            finish_reason=getattr(choice, "finish_reason", None),
            model_reported=getattr(result, "model", None),
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
