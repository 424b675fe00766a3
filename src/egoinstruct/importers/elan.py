"""ELAN ``.eaf`` documents, read through pympi-ling, → tiers ``steps`` and/or ``states``.

:func:`read_eaf_tiers` gives every tier's annotations as ``(start_s, end_s, value)``:

* time-aligned annotations keep their time slots' values;
* slots without a value (Time_Subdivision and Included_In children whose boundaries were never
  aligned) are interpolated evenly: along the chain of annotations that share boundary slots, each
  run of unvalued slots is spread at equal steps between the valued slots around it, so the
  children divide their parent's interval into equal parts, as ELAN shows them;
* reference annotations (Symbolic_Subdivision, Symbolic_Association) have no times of their own and
  get the interval of the time-aligned annotation they hang from, as pympi-ling resolves them
  (several symbolic children therefore share their parent's interval);
* the primary media descriptor's ``TIME_ORIGIN`` (ms into the media where the document's 0 lies)
  is added, so times are on the media's (the session's) clock.

:func:`import_elan` turns the tiers the user names into ``steps`` / ``states`` segments, labels
being the slugs of the annotation values (empty values are dropped and reported).
"""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from egoinstruct.errors import InputError
from egoinstruct.importers.common import (
    ImportReport,
    ImportResult,
    Segment,
    complete,
    keep_segment,
    one_line,
    require_slug,
    slug,
)

_XSI_SCHEMA = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"


def _load(path: str | Path, time_values: Mapping[str, float | None] | None = None) -> Any:
    """The document as pympi-ling reads it. ``time_values`` (slot id -> ms, read beforehand)
    replace pympi's own: it reads whole milliseconds only, while some tools write decimals. pympi
    also needs the schema location attribute that ELAN writes and other tools may leave out; such
    documents are read through a copy with whole milliseconds and the attribute."""
    try:
        from pympi import Eaf
    except ImportError:
        raise InputError(f"{path}: reading ELAN needs pympi-ling; install it (pip install pympi-ling)") from None
    if not Path(path).is_file():
        raise InputError(f"{path}: ELAN file not found; check the path")
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        raise InputError(f"{path}: not a readable ELAN file (XML error: {exc})") from exc
    root = tree.getroot()
    fractional = any(v is not None and not float(v).is_integer() for v in (time_values or {}).values())
    try:
        if not fractional and _XSI_SCHEMA in root.attrib:
            eaf = Eaf(str(path), suppress_version_warning=True)
        else:
            root.set(_XSI_SCHEMA, root.get(_XSI_SCHEMA, "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"))
            for slot in root.iter("TIME_SLOT"):
                if (value := slot.get("TIME_VALUE")) is not None:
                    slot.set("TIME_VALUE", str(int(float(value))))
            with tempfile.TemporaryDirectory() as folder:
                copy = Path(folder) / Path(path).name
                tree.write(copy, encoding="UTF-8", xml_declaration=True)
                eaf = Eaf(str(copy), suppress_version_warning=True)
    except Exception as exc:  # pympi raises bare XML/Key/Value errors on malformed documents
        raise InputError(f"{path}: not a readable ELAN document ({type(exc).__name__}: {exc}); re-save it in "
                         "ELAN") from None
    if time_values is not None:
        eaf.timeslots = {slot: time_values.get(slot) for slot in eaf.timeslots}
    return eaf


def time_origin_ms(eaf: Any) -> float:
    """``TIME_ORIGIN`` of the first media descriptor that has one (0 without)."""
    for descriptor in eaf.media_descriptors:
        if descriptor.get("TIME_ORIGIN") not in (None, ""):
            return float(descriptor["TIME_ORIGIN"])
    return 0.0


def _slot_times(eaf: Any, path: str | Path) -> dict[str, float]:
    """Every used time slot's value in ms, unvalued ones interpolated along annotation chains."""
    times = {slot: float(v) for slot, v in eaf.timeslots.items() if v is not None}
    for tier_id, (aligned, _ref, _attrs, _ord) in eaf.tiers.items():
        following = {a[0]: a[1] for a in aligned.values()}
        starts = set(following) - set(following.values())
        for first in starts:
            chain = [first]
            while chain[-1] in following and len(chain) <= len(following):
                chain.append(following[chain[-1]])
            known = [i for i, slot in enumerate(chain) if slot in times]
            if not known or known[0] != 0 or known[-1] != len(chain) - 1:
                missing = next(s for s in chain if s not in times)
                raise InputError(f"{path}: tier {tier_id!r}: time slot {missing} has no time and no aligned "
                                 "boundary to interpolate from; time-align the tier's first and last "
                                 "annotation in ELAN")
            for lo, hi in zip(known, known[1:], strict=False):
                for i in range(lo + 1, hi):
                    fraction = (i - lo) / (hi - lo)
                    times[chain[i]] = times[chain[lo]] + fraction * (times[chain[hi]] - times[chain[lo]])
    return times


def eaf_annotations(eaf: Any, path: str | Path) -> dict[str, dict[str, tuple[float, float, str]]]:
    """tier → annotation id → (start_ms, end_ms, value) before ``TIME_ORIGIN``, in document order."""
    slots = _slot_times(eaf, path)
    aligned_times: dict[str, tuple[float, float]] = {}
    out: dict[str, dict[str, tuple[float, float, str]]] = {}
    for tier_id, (aligned, _ref, _attrs, _ord) in eaf.tiers.items():
        out[tier_id] = {}
        for ident, (ts1, ts2, value, _svg) in aligned.items():
            aligned_times[ident] = (slots[ts1], slots[ts2])
            out[tier_id][ident] = (slots[ts1], slots[ts2], value)
    for tier_id, (_aligned, refs, _attrs, _ord) in eaf.tiers.items():
        for ident, (_parent, value, _prev, _svg) in refs.items():
            root = ident
            for _ in range(len(eaf.annotations)):  # follow the reference chain to an aligned annotation
                if root in aligned_times:
                    break
                owner = eaf.tiers.get(eaf.annotations.get(root, ""))
                if owner is None or root not in owner[1]:
                    raise InputError(f"{path}: tier {tier_id!r}, annotation {ident}: refers to the unknown "
                                     f"annotation {root}; repair the document in ELAN")
                root = owner[1][root][0]
            start, end = aligned_times[root]
            out[tier_id][ident] = (start, end, value)
    return out


def read_eaf_annotations(
    path: str | Path, time_values: Mapping[str, float | None] | None = None
) -> dict[str, list[tuple[str, float, float, str]]]:
    """Every tier's annotations as ``(annotation id, start_s, end_s, value)`` on the media clock,
    sorted by time (see the module docstring for dependent tiers and ``TIME_ORIGIN``).
    ``time_values``: the slots' values in ms when already read (they may hold decimals)."""
    eaf = _load(path, time_values)
    origin = time_origin_ms(eaf)
    return {tier: sorted(((ident, (s + origin) / 1000.0, (e + origin) / 1000.0, v)
                          for ident, (s, e, v) in annotations.items()), key=lambda a: (a[1], a[2]))
            for tier, annotations in eaf_annotations(eaf, path).items()}


def read_eaf_tiers(path: str | Path) -> dict[str, list[tuple[float, float, str]]]:
    """Every tier's annotations as ``(start_s, end_s, value)`` on the media clock, sorted by time."""
    return {tier: [(s, e, v) for _ident, s, e, v in annotations]
            for tier, annotations in read_eaf_annotations(path).items()}


def import_elan(path: str | Path, steps_tier: str | None = None, states_tier: str | None = None,
                session: str | None = None, procedure: str | None = None) -> ImportResult:
    """Import the named ELAN tiers as ``steps`` / ``states`` (see the module docstring)."""
    chosen = {tier: name for tier, name in (("steps", steps_tier), ("states", states_tier)) if name}
    if not chosen:
        raise InputError(f"{path}: name the ELAN tier(s) to import: --steps-tier and/or --states-tier")
    if "steps" in chosen and not procedure:
        raise InputError(f"{path}: steps need a procedure (their label set is steps_<procedure>.yaml); pass "
                         "--procedure NAME")
    tiers = read_eaf_tiers(path)
    session = session or require_slug(Path(path).stem, path, "file name (session)")
    report = ImportReport("elan", str(path))
    segments: list[Segment] = []
    descriptions: dict[tuple[str, str | None, str], str] = {}
    for tier, name in chosen.items():
        if name not in tiers:
            raise InputError(f"{path}: no ELAN tier {name!r} (tiers: {', '.join(sorted(tiers))}); pass one of "
                             f"those as --{tier}-tier")
        for i, (start, end, value) in enumerate(tiers[name]):
            where = f"tier {name!r} annotation {i + 1} ({value!r})"
            label = slug(value or "")
            if not label:
                report.drop("annotation without a value", where)
                continue
            times = keep_segment(report, where, start, end)
            if times is None:
                continue
            if label != value:
                report.map("annotation value → label", f"{value!r} → {label}")
            key = (tier, procedure if tier == "steps" else None, label)
            descriptions.setdefault(key, "" if one_line(value) == label else f"ELAN annotation “{one_line(value)}”.")
            segments.append(Segment(session, tier, times[0], times[1], label))
    comment = f"Imported from the ELAN document {Path(path).name} (egoinstruct import elan)."
    return complete(segments, report, descriptions, {session: procedure}, comment)
