"""Logging for rule scripts: everything (including the final error) goes to the rule's log.

Snakemake gives each job a ``log:`` file; :func:`rule_logging` points Python logging and warnings
at it and at stderr. How a job ends when something is wrong:

* a problem with the user's input or a missing model (:class:`InputError`,
  :class:`MissingModelError`, whose messages name the file, row or key and the fix) is written
  once, as one paragraph without a traceback — the traceback would only bury the line that
  matters — and the job exits with status 1;
* anything else is a bug: its full traceback goes to the log and the exception propagates.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from egoinstruct.errors import InputError, MissingModelError

#: Exit status of a job stopped by bad input (a bug exits through its exception instead).
INPUT_ERROR_STATUS = 1


def problem_text(exc: BaseException) -> str:
    """The paragraph a user sees for a bad-input error."""
    kind = "missing model" if isinstance(exc, MissingModelError) else "bad input"
    return f"{kind}: {exc}"


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
    except (InputError, MissingModelError) as exc:
        logger.error(problem_text(exc))
        logging.shutdown()
        raise SystemExit(INPUT_ERROR_STATUS) from None
    except Exception:
        logger.exception("job failed")
        raise
