"""The assemble rule's work: gather a session's stage outputs and annotations, write its table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from egoinstruct.dataset.assemble import CAMERA_ROLES, SessionSources, assemble_session
from egoinstruct.dataset.table import write_dataset
from egoinstruct.dataset.text import embed_texts, embedding_dim, load_sentence_model
from egoinstruct.settings.dataset import TextModelSettings


def build_session_dataset(
    session: str,
    procedure: str | None,
    duration_s: float,
    outputs: Mapping[str, Mapping[str, str | Path]],
    prosody: str | Path | None,
    transcript: str | Path | None,
    segments: pd.DataFrame,
    fps: float,
    text: TextModelSettings,
    output: str | Path,
    visual_roles: Sequence[str] = CAMERA_ROLES,
    log: logging.Logger | None = None,
) -> None:
    """Assemble and write one session's ``dataset.parquet``.

    ``outputs`` maps ``visual`` / ``gaze`` / ``head_motion`` to ``{role: table path}``;
    ``segments`` is the session's validated annotation table.
    """
    logger = log or logging.getLogger(__name__)
    model = load_sentence_model(text.model, text.device)
    sources = SessionSources(
        session=session,
        procedure=procedure,
        duration_s=duration_s,
        visual=outputs.get("visual", {}),
        gaze=outputs.get("gaze", {}),
        head_motion=outputs.get("head_motion", {}),
        prosody=prosody,
        transcript=transcript,
        segments=segments,
    )
    data = assemble_session(
        sources, fps, lambda texts: embed_texts(model, texts, text.batch_size),
        embedding_dim(model), [r for r in CAMERA_ROLES if r in visual_roles],
    )
    for tier, labels in data.labels.items():
        known = sum(label is not None for label in labels)
        logger.info("%s: %d of %d frames labelled", tier, known, len(labels))
    logger.info("feature widths: %s", {g: int(v.shape[1]) for g, v in data.features.items()})
    write_dataset(output, data, {"text_model": text.model, "duration_s": repr(duration_s)})
