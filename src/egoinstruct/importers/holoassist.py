"""HoloAssist annotation JSON (one file per session: ``events`` with ``label``, ``start``, ``end``
in seconds and ``attributes``) → tiers ``steps`` and ``states``.

* ``Coarse grained action`` → ``steps``: label = slug of ``"<Verb> <Noun>"`` (attribute values
  ``none`` or missing are left out); description = the verb and noun with the first instance's
  ``Action sentence`` as example. The procedure is the slug of the file's ``taskType``.
* ``Conversation`` → ``states`` through a mapping file (default
  ``resources/importers/holoassist_states.yaml``): ``Conversation Purpose`` → state label, or null
  to drop; purposes not in the mapping are dropped and reported as unmapped. State descriptions come
  from the project's ``resources/labels/states.yaml`` where the label is there.
* Every other event (fine-grained actions, narration, …) is not imported and is counted.

The session is the slug of the file name unless given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from egoinstruct.errors import InputError
from egoinstruct.importers.common import (
    ImportReport,
    ImportResult,
    Segment,
    complete,
    keep_segment,
    one_line,
    read_json,
    require_slug,
    slug,
)
from egoinstruct.paths import LABELS_DIR, REPO_ROOT

DEFAULT_MAPPING = REPO_ROOT / "resources" / "importers" / "holoassist_states.yaml"
COARSE, CONVERSATION = "Coarse grained action", "Conversation"


def read_purpose_mapping(path: str | Path = DEFAULT_MAPPING) -> dict[str, str | None]:
    """Conversation purpose (lower case, stripped) → state label, or None for purposes to drop."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: HoloAssist purpose mapping not found; check --mapping") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    purposes = data.get("purposes") if isinstance(data, dict) else None
    if not isinstance(purposes, dict):
        raise InputError(f"{path}: expected a 'purposes' mapping (HoloAssist conversation purpose: state label "
                         "or null); see resources/importers/holoassist_states.yaml")
    mapping: dict[str, str | None] = {}
    for purpose, label in purposes.items():
        if label is not None and slug(label) != label:
            raise InputError(f"{path}: purposes.{purpose}: {label!r} is not a label (lower case, a-z, 0-9, _); "
                             f"write {slug(label)!r} or null")
        mapping[str(purpose).strip().lower()] = label
    return mapping


def _project_states() -> dict[str, str]:
    from egoinstruct.labels import load_labels

    try:
        return dict(load_labels(LABELS_DIR, "states").descriptions)
    except InputError:
        return {}


def _word(value: Any) -> str:
    text = one_line(value or "")
    return "" if text.lower() == "none" else text


def import_holoassist(path: str | Path, session: str | None = None, procedure: str | None = None,
                      mapping: dict[str, str | None] | None = None) -> ImportResult:
    """Import one HoloAssist annotation JSON (see the module docstring)."""
    data = read_json(path, "HoloAssist annotation JSON")
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise InputError(f"{path}: no 'events' list; this is not a HoloAssist annotation JSON (one per session, "
                         "e.g. R007-7July-DSLR.json)")
    session = session or require_slug(Path(path).stem, path, "file name (session)")
    if procedure is None:
        task = data.get("taskType")
        procedure = require_slug(task, path, "taskType") if task else None
    if procedure is None:
        raise InputError(f"{path}: no 'taskType' to name the procedure; pass --procedure NAME")
    mapping = read_purpose_mapping() if mapping is None else mapping
    report = ImportReport("holoassist", str(path))
    segments: list[Segment] = []
    descriptions: dict[tuple[str, str | None, str], str] = {}
    states = _project_states()
    for event in events:
        kind = event.get("label") if isinstance(event, dict) else None
        if kind not in (COARSE, CONVERSATION):
            report.drop(f"{kind} event (not imported)", f"id {event.get('id') if isinstance(event, dict) else '?'}")
            continue
        where = f"event id {event.get('id')} ({kind})"
        attributes = event.get("attributes") or {}
        if kind == COARSE:
            verb, noun = _word(attributes.get("Verb")), _word(attributes.get("Noun"))
            label = slug(f"{verb} {noun}")
            if not label:
                report.drop("coarse action without verb and noun", where)
                continue
            tier = "steps"
            sentence = one_line(attributes.get("Action sentence") or "")
            descriptions.setdefault((tier, procedure, label), f"Coarse action: {verb} {noun}".replace("_", " ").strip()
                                    + (f" (e.g. “{sentence}”)." if sentence else "."))
        else:
            purpose = one_line(attributes.get("Conversation Purpose") or "")
            key = purpose.lower()
            if key not in mapping:
                report.drop("conversation purpose not in the mapping", f"{where}: {purpose!r}")
                continue
            mapped = mapping[key]
            if mapped is None:
                report.drop("conversation purpose mapped to nothing (null)", f"{where}: {purpose!r}")
                continue
            label, tier = mapped, "states"
            report.map("conversation purpose → state", f"{purpose!r} → {label}")
            if label in states:
                descriptions.setdefault((tier, None, label), states[label])
        times = keep_segment(report, where, event.get("start"), event.get("end"))
        if times is not None:
            segments.append(Segment(session, tier, times[0], times[1], label))
    comment = f"Imported from the HoloAssist annotation {Path(path).name} (egoinstruct import holoassist)."
    return complete(segments, report, descriptions, {session: procedure}, comment)
