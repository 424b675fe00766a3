"""Logging for rule scripts: everything (including the final error) goes to the rule's log.

Snakemake gives each job a ``log:`` file; :func:`rule_logging` points Python logging and warnings
at it, and records an uncaught exception's traceback there before re-raising it so the job fails.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def rule_logging(log_path: str | Path | None, name: str = "egoinstruct") -> Iterator[logging.Logger]:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    logger = logging.getLogger(name)
    try:
        yield logger
    except Exception:
        logger.exception("job failed")
        raise
