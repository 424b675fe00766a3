"""Parse a model's answer into a label of the task's label set, or say that it cannot.

Accepted, in this order (the first that yields a label wins; the outcome says which):

* ``json``: the whole answer is JSON — an object with a ``label`` key (also ``answer``,
  ``class``, ``state``, ``step``, ``prediction``, any case) or a JSON string;
* ``fenced``: a JSON object inside a Markdown code fence;
* ``repaired``: the first ``{…}`` in the text after minor repairs (single quotes, trailing
  commas, unquoted keys, Python literals), or the quoted label field of an object cut off
  before its end (``max_tokens``);
* ``text``: the answer names exactly one label (as the whole answer, or once among other words).

The label found must match the label set exactly or after normalisation (case, spaces and
hyphens → underscores, surrounding quotes/punctuation). A near miss (difflib ratio ≥ 0.85,
one unique best match) is accepted with the outcome ``fuzzy``. Everything else — empty
answers, several different labels, labels outside the set, text without any label — is
``unparseable`` and is never mapped to a class. ``confidence`` is read when it is a number in
[0, 1].
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from egoinstruct.predictions import UNPARSEABLE

OUTCOMES = ("json", "fenced", "repaired", "text", "fuzzy", "loglik", UNPARSEABLE)
_LABEL_KEYS = ("label", "answer", "class", "state", "step", "prediction")
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*(.*?)```", re.DOTALL)
_LABEL_VALUE = re.compile(r"[\"']?(label|answer|class|state|step|prediction)[\"']?\s*:\s*[\"']([^\"'\n]+)[\"']", re.IGNORECASE)
FUZZY_CUTOFF = 0.85


@dataclass(frozen=True)
class ParsedAnswer:
    label: str | None  # None exactly when outcome is "unparseable"
    outcome: str
    confidence: float | None = None
    detail: str = ""


def normalise(text: str) -> str:
    text = text.strip().strip("\"'`*.,;:!?()[]{}<> \t\n").lower()
    return re.sub(r"[\s\-]+", "_", text)


def match_label(candidate: str, labels: Sequence[str]) -> tuple[str | None, bool]:
    """(label, fuzzy) for a candidate string; (None, False) when nothing matches."""
    if candidate in labels:
        return candidate, False
    by_norm = {normalise(label): label for label in labels}
    norm = normalise(candidate)
    if norm in by_norm:
        return by_norm[norm], False
    if not norm:
        return None, False
    scored = sorted(((difflib.SequenceMatcher(None, norm, key).ratio(), key) for key in by_norm), reverse=True)
    if scored and scored[0][0] >= FUZZY_CUTOFF and (len(scored) == 1 or scored[1][0] < scored[0][0]):
        return by_norm[scored[0][1]], True
    return None, False


def _label_field(obj: Any) -> tuple[str | None, float | None]:
    if isinstance(obj, str):
        return obj, None
    if not isinstance(obj, dict):
        return None, None
    lowered = {str(k).lower(): v for k, v in obj.items()}
    label = next((lowered[k] for k in _LABEL_KEYS if k in lowered), None)
    confidence = lowered.get("confidence")
    conf = float(confidence) if isinstance(confidence, int | float) and 0 <= confidence <= 1 else None
    return (label if isinstance(label, str) else None), conf


def _first_object(text: str) -> str | None:
    """The first balanced ``{…}`` substring (quotes respected), or None."""
    start = text.find("{")
    while start != -1:
        depth, in_string, quote, escaped = 0, False, "", False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == quote:
                    in_string = False
            elif ch in "\"'":
                in_string, quote = True, ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None


def _repair(candidate: str) -> Any:
    fixed = re.sub(r"'([^'\\]*)'", r'"\1"', candidate)  # single-quoted strings
    fixed = re.sub(r",\s*([}\]])", r"\1", fixed)  # trailing commas
    fixed = re.sub(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:", r'\1"\2":', fixed)  # bare keys
    fixed = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", fixed)))
    return json.loads(fixed)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None


def parse_answer(text: str | None, labels: Sequence[str]) -> ParsedAnswer:
    """The label in ``text`` (see the module docstring for what is accepted)."""
    raw = (text or "").strip()
    if not raw:
        return ParsedAnswer(None, UNPARSEABLE, detail="empty answer")
    attempts: list[tuple[str, Any]] = [("json", _loads(raw))]
    fence = _FENCE.search(raw)
    if fence:
        attempts.append(("fenced", _loads(fence.group(1).strip())))
    obj = _first_object(raw)
    if obj is not None:
        repaired = _loads(obj)
        if repaired is None:
            try:
                repaired = _repair(obj)
            except (json.JSONDecodeError, ValueError):
                repaired = None
        attempts.append(("repaired", repaired))
    for outcome, value in attempts:
        candidate, confidence = _label_field(value)
        if candidate is None:
            continue
        label, fuzzy = match_label(candidate, labels)
        if label is None:
            return ParsedAnswer(None, UNPARSEABLE, detail=f"label {candidate[:60]!r} is not in the label set")
        return ParsedAnswer(label, "fuzzy" if fuzzy else outcome, confidence, detail=candidate[:60])
    truncated = _LABEL_VALUE.search(raw)
    if truncated:  # e.g. an object cut off by max_tokens after its label
        label, fuzzy = match_label(truncated.group(2), labels)
        if label is None:
            return ParsedAnswer(None, UNPARSEABLE, detail=f"label {truncated.group(2)[:60]!r} is not in the label set")
        return ParsedAnswer(label, "fuzzy" if fuzzy else "repaired", detail="label field of incomplete JSON")
    if obj is not None or raw.startswith("{"):
        return ParsedAnswer(None, UNPARSEABLE, detail="JSON without a label field")
    # Plain text: the whole answer, or exactly one label named in it.
    label, fuzzy = match_label(raw.splitlines()[0], labels)
    if label is not None and (not fuzzy or len(raw.split()) == 1):
        return ParsedAnswer(label, "fuzzy" if fuzzy else "text", detail=raw[:60])
    words = re.findall(r"[A-Za-z][A-Za-z0-9_\-]*", raw)
    named: set[str] = set()
    for word in words:
        found, near = match_label(word, labels)
        if found is not None and not near:
            named.add(found)
    if len(named) == 1:
        return ParsedAnswer(named.pop(), "text", detail="label named in text")
    if len(named) > 1:
        return ParsedAnswer(None, UNPARSEABLE, detail=f"several labels named: {', '.join(sorted(named))}")
    return ParsedAnswer(None, UNPARSEABLE, detail="no label found")


def from_scores(scores: dict[str, float], labels: Sequence[str]) -> ParsedAnswer:
    """Log-likelihood decoding: the best-scoring label; confidence is its softmax probability."""
    missing = [label for label in labels if label not in scores]
    if missing:
        return ParsedAnswer(None, UNPARSEABLE, detail=f"no score for {', '.join(missing)}")
    values = [scores[label] for label in labels]
    best = max(range(len(values)), key=values.__getitem__)
    top = values[best]
    denom = sum(math.exp(v - top) for v in values)
    return ParsedAnswer(labels[best], "loglik", 1.0 / denom, detail="")
