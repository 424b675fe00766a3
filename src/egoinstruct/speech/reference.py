"""Any session's speech against standard references: RTTM (who spoke when), STM or plain text.

Contract
--------
:func:`score_session` reads a session's ``speaker_turns.parquet``, ``transcript.parquet`` and
``transcript.json`` (:class:`SessionSpeechFiles`; the folder ``results/sessions/{session}``) and
any of an RTTM, an STM and a plain-text reference, and returns one flat dict:

* from an RTTM (NIST's ``SPEAKER file channel start duration <NA> <NA> speaker <NA> <NA>``;
  lines of other types and other files than ``uri`` are skipped): ``der`` (no collar) and
  ``der_collar`` (``collar_s`` around every reference boundary, pyannote's ``collar`` being its
  total width), ``missed`` / ``false_alarm`` / ``confusion`` (shares of reference speech),
  ``speakers_reference`` / ``speakers_hypothesis`` / ``speaker_count_error`` (absolute
  difference), and ``boundary_precision`` / ``boundary_recall``: turn ends (each speaker's
  touching segments merged, the last end not counted) matched one to one within
  ``tolerance_s`` — all pyannote.metrics (``DiarizationErrorRate``,
  ``DiarizationSpeakerCountError``, ``SegmentationPrecision`` / ``SegmentationRecall``), scored
  from 0 to the end of the later of reference and hypothesis. ``by_role`` scores the turns'
  roles instead of their speaker labels (for an RTTM whose speakers are ``instructor`` /
  ``learner``);
* from an STM (``file channel speaker start end [<label>] text``; ``;;`` comments and
  ``ignore_time_segment_in_scoring`` lines skipped) or a plain-text file: ``wer`` (jiwer, after
  :func:`~egoinstruct.speech.quality.normalise_words` on both sides) with ``ref_words`` and
  ``word_errors``, and ``cer`` (characters without spaces or punctuation); ``primary`` names
  the figure that fits the language: ``cer`` for languages written without spaces (Japanese,
  Chinese, …; :data:`~egoinstruct.speech.transcript.NO_SPACE_LANGUAGES`), else ``wer``.

The session's own record adds ``language``, ``diarization`` (method) and ``rtf``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egoinstruct.errors import InputError

COLLAR_S = 0.25  # ± around reference boundaries (the NIST convention)
TOLERANCE_S = 0.5  # ± for turn-boundary matching
# The DER figures (and their pooling parts) the demo quality rows carry.
DER_KEYS = ("der", "der_collar", "missed", "false_alarm", "confusion", "der_error_s", "der_total_s",
            "der_collar_error_s", "der_collar_total_s")


@dataclass(frozen=True)
class SessionSpeechFiles:
    """One session's speech outputs (``results/sessions/{session}/``)."""

    turns: Path
    transcript: Path
    quality: Path

    @classmethod
    def in_folder(cls, folder: str | Path) -> SessionSpeechFiles:
        folder = Path(folder)
        files = cls(folder / "speaker_turns.parquet", folder / "transcript.parquet", folder / "transcript.json")
        missing = [str(p) for p in (files.turns, files.transcript, files.quality) if not p.exists()]
        if missing:
            raise InputError(f"{folder}: not a session's speech folder ({', '.join(missing)} missing); give "
                             f"results/sessions/<session> after the transcribe rule ran (snakemake "
                             f"results/sessions/<session>/transcript.parquet)")
        return files


def rttm_annotation(turns: Iterable[tuple[float, float, str]], uri: str = "session") -> Any:
    """A pyannote Annotation of ``(start, end, label)`` turns."""
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for i, (start, end, label) in enumerate(turns):
        if end > start:
            annotation[Segment(float(start), float(end)), i] = str(label)
    return annotation


def read_rttm(path: str | Path, uri: str | None = None) -> list[tuple[float, float, str]]:
    """``(start, end, speaker)`` of the SPEAKER lines of one file id (``uri``; any when the RTTM
    holds one)."""
    path = Path(path)
    rows: dict[str, list[tuple[float, float, str]]] = {}
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise InputError(f"{path}, line {number}: an RTTM SPEAKER line has at least 8 fields "
                             f"(SPEAKER file channel start duration <NA> <NA> speaker ...), got {len(fields)}")
        start, duration = _number(fields[3], path, number, "start"), _number(fields[4], path, number, "duration")
        rows.setdefault(fields[1], []).append((start, start + duration, fields[7]))
    return _one_file(rows, uri, path)


def read_stm(path: str | Path, uri: str | None = None) -> list[tuple[float, float, str, str]]:
    """``(start, end, speaker, text)`` of one file id's segments, in time order."""
    path = Path(path)
    rows: dict[str, list[tuple[float, float, str, str]]] = {}
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            raise InputError(f"{path}, line {number}: an STM line is `file channel speaker start end "
                             f"[<label>] text`, got {len(fields)} field(s)")
        if fields[2] == "inter_segment_gap" or "ignore_time_segment_in_scoring" in line:
            continue
        text = fields[5] if len(fields) > 5 else ""
        text = re.sub(r"^<[^>]*>\s*", "", text)  # optional <label> column
        start, end = _number(fields[3], path, number, "start"), _number(fields[4], path, number, "end")
        rows.setdefault(fields[0], []).append((start, end, fields[2], text))
    return sorted(_one_file(rows, uri, path))


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise InputError(f"{path}: reference file not found")
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith(";;")]


def _number(text: str, path: Path, number: int, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}, line {number}: {name} {text!r} is not a number (seconds)") from None


def _one_file(rows: dict[str, list[Any]], uri: str | None, path: Path) -> list[Any]:
    if uri is not None:
        if uri not in rows:
            raise InputError(f"{path}: no lines for file {uri!r} (it has {', '.join(sorted(rows)) or 'none'})")
        return rows[uri]
    if len(rows) > 1:
        raise InputError(f"{path}: lines for several files ({', '.join(sorted(rows))}); say which with --uri")
    return next(iter(rows.values()), [])


def diarization_scores(reference: Any, hypothesis: Any, collar_s: float = COLLAR_S,
                       tolerance_s: float = TOLERANCE_S) -> dict[str, Any]:
    """DER with and without collar, speaker-count error, turn-boundary precision and recall."""
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate, DiarizationSpeakerCountError
    from pyannote.metrics.segmentation import SegmentationPrecision, SegmentationRecall

    end = max([s.end for s in reference.get_timeline()] + [s.end for s in hypothesis.get_timeline()] + [0.0])
    uem = Timeline([Segment(0.0, end)]) if end > 0 else None
    plain = DiarizationErrorRate(collar=0.0)(reference, hypothesis, uem=uem, detailed=True)
    collared = DiarizationErrorRate(collar=2 * collar_s)(reference, hypothesis, uem=uem, detailed=True)
    total = plain["total"] or float("nan")
    turn_ends = {"reference": reference.support().get_timeline(), "hypothesis": hypothesis.support().get_timeline()}
    return {
        "der": plain["diarization error rate"],
        "der_collar": collared["diarization error rate"],
        "collar_s": collar_s,
        "missed": plain["missed detection"] / total,
        "false_alarm": plain["false alarm"] / total,
        "confusion": plain["confusion"] / total,
        "der_error_s": plain["missed detection"] + plain["false alarm"] + plain["confusion"],
        "der_total_s": plain["total"],
        "der_collar_error_s": collared["missed detection"] + collared["false alarm"] + collared["confusion"],
        "der_collar_total_s": collared["total"],
        "speakers_reference": len(reference.labels()),
        "speakers_hypothesis": len(hypothesis.labels()),
        "speaker_count_error": abs(DiarizationSpeakerCountError()(reference, hypothesis, uem=uem)),
        "boundary_precision": SegmentationPrecision(tolerance=tolerance_s)(
            turn_ends["reference"], turn_ends["hypothesis"], uem=uem),
        "boundary_recall": SegmentationRecall(tolerance=tolerance_s)(
            turn_ends["reference"], turn_ends["hypothesis"], uem=uem),
        "tolerance_s": tolerance_s,
    }


def word_scores(reference_text: str, hypothesis_text: str, language: str | None) -> dict[str, Any]:
    """WER and CER of a hypothesis against a reference text (see the module docstring)."""
    import jiwer

    from egoinstruct.speech.quality import normalise_words
    from egoinstruct.speech.transcript import NO_SPACE_LANGUAGES

    reference, hypothesis = normalise_words(reference_text), normalise_words(hypothesis_text)
    if reference:
        measures = jiwer.process_words(" ".join(reference), " ".join(hypothesis) if hypothesis else "")
        errors = measures.substitutions + measures.deletions + measures.insertions
    else:
        errors = len(hypothesis)
    reference_chars, hypothesis_chars = "".join(reference), "".join(hypothesis)
    cer = (jiwer.cer(reference_chars, hypothesis_chars) if reference_chars and hypothesis_chars
           else float(len(hypothesis_chars) if not reference_chars else 1.0))
    return {
        "ref_words": len(reference),
        "hyp_words": len(hypothesis),
        "word_errors": errors,
        "wer": errors / len(reference) if reference else float("nan"),
        "cer": cer,
        "primary": "cer" if (language or "") in NO_SPACE_LANGUAGES else "wer",
    }


def score_session(files: SessionSpeechFiles, rttm: str | Path | None = None, stm: str | Path | None = None,
                  text: str | Path | None = None, uri: str | None = None, collar_s: float = COLLAR_S,
                  tolerance_s: float = TOLERANCE_S, by_role: bool = False) -> dict[str, Any]:
    """The session's speech against the given references (see the module docstring)."""
    from egoinstruct.tables import read_table

    if rttm is None and stm is None and text is None:
        raise InputError("nothing to score against: give an RTTM (who spoke when) and/or an STM or plain-text "
                         "reference (the words)")
    if stm is not None and text is not None:
        raise InputError("give either an STM or a plain-text reference for the words, not both")
    quality = json.loads(Path(files.quality).read_text())
    language = quality.get("language")
    out: dict[str, Any] = {"language": language, "diarization": (quality.get("diarization") or {}).get("method"),
                           "rtf": quality.get("rtf")}
    if rttm is not None:
        turns = read_table(files.turns, "speaker_turns").to_pandas()
        label = "role" if by_role else "speaker"
        hypothesis = rttm_annotation(zip(turns.t_start, turns.t_end, turns[label], strict=True))
        out.update(diarization_scores(rttm_annotation(read_rttm(rttm, uri)), hypothesis, collar_s, tolerance_s))
        out["labels"] = label
    if stm is not None or text is not None:
        transcript = read_table(files.transcript, "transcript").to_pandas().sort_values("t_start")
        if stm is not None:
            reference_text = " ".join(t for *_, t in read_stm(stm, uri))
        else:
            assert text is not None
            path = Path(text)
            if not path.exists():
                raise InputError(f"{path}: reference file not found")
            reference_text = path.read_text(encoding="utf-8")
        out.update(word_scores(reference_text, " ".join(transcript.text), language))
    return out
