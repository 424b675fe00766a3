"""Backend ``transformers``: a local Hugging Face model through its processor and chat template.

For omni models such as Qwen2.5-Omni (image + audio + text in, text out) on a GPU, and for any
text or image-text model whose weights are on disk. Nothing is downloaded: ``model_path`` (a
model folder, or a ``.gguf`` file) or ``model`` (a hub id already in the local Hugging Face
cache) must point at weights present now; otherwise :meth:`TransformersBackend.preflight` raises
:class:`MissingModelError` saying how to provide them; preflight also reads the model's config,
so a broken install fails before any work. The weights are loaded at the first call that the
cache cannot answer (a fully cached rerun never loads them).

Qwen2.5-Omni specifics (from its model card and processor): the conversation must start with
the documented system prompt (:data:`QWEN_OMNI_SYSTEM_PROMPT`; the template's own system text
moves to the start of the user turn), the same ``use_audio_in_video`` value must reach the
processor and ``generate`` (it is one setting here, ``use_audio_in_video``), and the talker
(speech output) is disabled: only text is generated.

Decodings: ``none`` (greedy generation, parsed robustly) and ``loglik`` (the log-likelihood of
each allowed answer as the continuation of the prompt, one forward pass per label; no
generation, no parse failures). Requests run one at a time (``max_concurrency = 1``).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import logging
import threading
import wave
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
from egoinstruct.settings.mllm import ModelSettings

log = logging.getLogger(__name__)

QWEN_OMNI_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Float32 mono samples and rate of 16-bit PCM WAV bytes."""
    with wave.open(io.BytesIO(data), "rb") as handle:
        rate = handle.getframerate()
        channels = handle.getnchannels()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    samples = pcm.astype(np.float32) / 32767.0
    return (samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples), rate


def build_conversation(request: ModelRequest, qwen_omni: bool, system_prompt: str | None = None) -> tuple[list[dict], list, list]:
    """Chat-template conversation plus the images (PIL) and audio arrays it refers to, in order.

    For Qwen2.5-Omni the system turn is :data:`QWEN_OMNI_SYSTEM_PROMPT` (or ``system_prompt``)
    and the request's own system text opens the user turn.
    """
    from PIL import Image

    images: list = []
    audios: list = []
    content: list[dict[str, Any]] = []
    system = request.system
    override = system_prompt or (QWEN_OMNI_SYSTEM_PROMPT if qwen_omni else None)
    if override is not None and override != system:
        if system:
            content.append({"type": "text", "text": system + "\n\n"})
        system = override
    for part in request.parts:
        if part.kind == "text":
            content.append({"type": "text", "text": part.text or ""})
        elif part.kind == "image":
            image = Image.open(io.BytesIO(part.data or b"")).convert("RGB")
            images.append(image)
            content.append({"type": "image", "image": image})
        elif part.kind == "audio":
            samples, rate = decode_wav(part.data or b"")
            if rate != 16000:
                raise BackendRequestError(f"request {request.request_id}: audio must be 16 kHz, got {rate} Hz")
            audios.append(samples)
            content.append({"type": "audio", "audio": samples})
        else:
            raise BackendRequestError(f"request {request.request_id}: {part.kind} parts are not supported by this backend")
    conversation: list[dict] = []
    if system:
        conversation.append({"role": "system", "content": [{"type": "text", "text": system}]})
    conversation.append({"role": "user", "content": content})
    return conversation, images, audios


def answer_continuation(label: str, answer_format: str, style: str) -> str:
    """The text whose likelihood scores ``label`` (what a perfect answer would look like)."""
    if answer_format == "json":
        return json.dumps({"label": label})
    return (" " if style == "completion" else "") + label


@register
class TransformersBackend(Backend):
    name = "transformers"
    supported_modalities = frozenset({"text", "image", "audio"})
    supported_decodings = frozenset({"none", "loglik"})
    supported_styles = frozenset({"chat", "completion"})
    max_concurrency = 1

    def __init__(self, settings: ModelSettings, threads: int = 1):
        super().__init__(settings, threads)
        if not settings.model_path and not settings.model:
            raise InputError(f"mllm.models.{settings.name}: give model_path (a local model folder) or model (a hub id in the local cache)")
        self._model: Any = None
        self._processor: Any = None
        self._qwen_omni = False
        self._folder: Path | None = None
        self._gguf_file: str | None = None
        self._lock = threading.Lock()

    # -- weights ---------------------------------------------------------------------------
    def _locate(self) -> tuple[Path, str | None]:
        s = self.settings
        if s.model_path:
            path = Path(s.model_path).expanduser()
            if path.suffix == ".gguf":
                if not path.is_file():
                    raise MissingModelError(f"{s.key('model_path')}: GGUF file {path} not found; put the file there or fix the path")
                return path.parent, path.name
            if not (path / "config.json").is_file():
                raise MissingModelError(
                    f"{s.key('model_path')}: no model at {path} (expected a folder with config.json and "
                    "weights); download it on a machine with hub access, e.g. "
                    f"`huggingface-cli download {s.model or 'Qwen/Qwen2.5-Omni-7B'} --local-dir {path}`, and copy it here"
                )
            return path, None
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            folder = snapshot_download(str(s.model), revision=s.revision, local_files_only=True)
        except (LocalEntryNotFoundError, FileNotFoundError, ValueError, OSError) as exc:
            raise MissingModelError(
                f"{s.key('model')}: {s.model} is not in the local Hugging Face cache and nothing is "
                "downloaded at run time; fetch it first (`huggingface-cli download "
                f"{s.model}`) or set {s.key('model_path')} to a local copy"
            ) from exc
        return Path(folder), None

    def identity(self) -> dict[str, Any]:
        s = self.settings
        revision = s.revision
        if revision is None:
            folder, gguf = self._locate()
            digest = hashlib.sha256()
            if gguf:
                digest.update(f"{gguf}:{(folder / gguf).stat().st_size}".encode())
            for path in sorted(folder.glob("*.json")) + sorted(folder.glob("*.safetensors")):
                digest.update(path.name.encode())
                digest.update(str(path.stat().st_size).encode())
                if path.suffix == ".json":
                    digest.update(path.read_bytes())
            revision = "files:" + digest.hexdigest()[:16]
        return {"backend": self.name, "model": s.model or Path(str(s.model_path)).name, "revision": revision}

    def preflight(self) -> None:
        self._folder, self._gguf_file = self._locate()
        try:
            from transformers import AutoConfig
        except ImportError as exc:
            raise MissingModelError("the transformers backend needs `transformers` and `torch` installed") from exc
        kwargs: dict[str, Any] = {"gguf_file": self._gguf_file} if self._gguf_file else {}
        try:
            AutoConfig.from_pretrained(self._folder, **kwargs)
        except (ImportError, OSError, ValueError) as exc:
            raise MissingModelError(f"{self.settings.key('model_path')}: cannot read the model at {self._folder} ({exc})") from exc

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoConfig, AutoProcessor

        assert self._folder is not None
        torch.set_num_threads(self.threads)
        kwargs: dict[str, Any] = {"gguf_file": self._gguf_file} if self._gguf_file else {}
        try:
            config = AutoConfig.from_pretrained(self._folder, **kwargs)
        except ImportError as exc:
            raise MissingModelError(f"{self.settings.key('model_path')}: cannot read the model ({exc})") from exc
        self._qwen_omni = getattr(config, "model_type", "") == "qwen2_5_omni"
        load: dict[str, Any] = {"torch_dtype": "auto", **kwargs}
        if self.settings.device_map:
            load["device_map"] = self.settings.device_map
        if self._qwen_omni:
            from transformers import Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor

            self._processor = Qwen2_5OmniProcessor.from_pretrained(self._folder)
            self._model = Qwen2_5OmniForConditionalGeneration.from_pretrained(self._folder, **load)
            self._model.disable_talker()  # text out only: no speech generation
        else:
            from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

            self._processor = AutoProcessor.from_pretrained(self._folder, **kwargs)
            wants_media = bool(set(self.settings.modalities) - {"text"})
            auto = AutoModelForImageTextToText if wants_media else AutoModelForCausalLM
            self._model = auto.from_pretrained(self._folder, **load)
        self._model.eval()
        log.info("model %s loaded from %s (%s)", self.settings.name, self._folder, type(self._model).__name__)

    @property
    def _tokenizer(self) -> Any:
        return getattr(self._processor, "tokenizer", self._processor)

    # -- requests --------------------------------------------------------------------------
    def _prompt_inputs(self, request: ModelRequest, continuation: str = "") -> Any:
        """Model inputs (tensors on the model's device) of the prompt (+ continuation)."""
        if request.style == "completion":
            if request.media():
                raise BackendRequestError(f"request {request.request_id}: completion-style prompts cannot carry media")
            inputs = self._tokenizer(request.text() + continuation, return_tensors="pt")
        else:
            conversation, images, audios = build_conversation(request, self._qwen_omni, self.settings.system_prompt)
            template = getattr(self._processor, "chat_template", None) or getattr(self._tokenizer, "chat_template", None)
            if not template:
                raise InputError(
                    f"{self.settings.key('prompt_version')}: model {self.settings.name} has no chat template "
                    "(a base model?); use a completion-style prompt_version such as completion-v1"
                )
            if images or audios or self._processor is not self._tokenizer:
                text = self._processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
            else:
                flat = [{"role": m["role"], "content": "".join(c["text"] for c in m["content"])} for m in conversation]
                text = self._tokenizer.apply_chat_template(flat, add_generation_prompt=True, tokenize=False)
            extra: dict[str, Any] = {}
            if images:
                extra["images"] = images
            if audios:
                extra["audio"] = audios
            if self._qwen_omni:
                extra["use_audio_in_video"] = self.settings.use_audio_in_video
            if extra:
                inputs = self._processor(text=text + continuation, return_tensors="pt", padding=True, **extra)
            else:
                inputs = self._tokenizer(text + continuation, return_tensors="pt", add_special_tokens=False)
        if "token_type_ids" in inputs and "token_type_ids" not in inspect.signature(self._model.forward).parameters:
            inputs.pop("token_type_ids")
        return inputs.to(self._model.device)

    def complete(self, request: ModelRequest) -> ModelResponse:
        import torch

        with self._lock, torch.inference_mode():
            if self._model is None:
                if self._folder is None:
                    self.preflight()
                self._load()
            if request.decoding == "loglik":
                return self._loglik(request)
            inputs = self._prompt_inputs(request)
            s = request.sampling
            gen: dict[str, Any] = {"max_new_tokens": s.max_tokens, "do_sample": s.temperature > 0}
            if s.temperature > 0:
                gen["temperature"] = s.temperature
                if s.top_p is not None:
                    gen["top_p"] = s.top_p
                torch.manual_seed(s.seed)
            if self._qwen_omni:
                gen["use_audio_in_video"] = self.settings.use_audio_in_video
                gen["return_audio"] = False
            output = self._model.generate(**inputs, **gen)
            sequences = output[0] if isinstance(output, tuple) else output
            n_prompt = int(inputs["input_ids"].shape[1])
            new_tokens = sequences[0, n_prompt:]
            text = self._tokenizer.decode(new_tokens, skip_special_tokens=True)
            return ModelResponse(text=text, prompt_tokens=n_prompt, completion_tokens=int(new_tokens.shape[0]),
                                 finish_reason="length" if int(new_tokens.shape[0]) >= s.max_tokens else "stop")

    def _loglik(self, request: ModelRequest) -> ModelResponse:
        import torch

        scorer = getattr(self._model, "thinker", self._model)
        base = self._prompt_inputs(request)
        prompt_ids = base["input_ids"][0]
        scores: dict[str, float] = {}
        n_prompt = int(prompt_ids.shape[0])
        for label in request.labels:
            inputs = self._prompt_inputs(request, answer_continuation(label, request.answer_format, request.style))
            ids = inputs["input_ids"][0]
            common = 0
            limit = min(len(ids), n_prompt)
            while common < limit and int(ids[common]) == int(prompt_ids[common]):
                common += 1
            if common == len(ids):
                raise BackendRequestError(f"request {request.request_id}: label {label!r} adds no tokens")
            logits = scorer(**inputs).logits[0].float()
            logprobs = torch.log_softmax(logits[common - 1 : len(ids) - 1], dim=-1)
            targets = ids[common:]
            scores[label] = float(logprobs.gather(1, targets.unsqueeze(1)).sum())
        return ModelResponse(text="", scores=scores, prompt_tokens=n_prompt, completion_tokens=0, finish_reason="loglik")

    def close(self) -> None:
        self._model = None
        self._processor = None
