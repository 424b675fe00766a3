"""Diarization quality of a demo run's sessions, per method, against the generator's truth.

For every session folder under ``--results``/sessions whose demo truth exists under
``--demo-root`` (``truth/dialogue.tsv``), reads the session-aligned WAVs the workflow wrote
(``audio/{device}.wav``), runs the speech regions and each diarization method (level: the two
wearers' level difference; offline: embeddings + clustering on the reference track, roles by
the per-turn level difference) — no ASR — and prints DER (no collar, and ±0.25 s collar) and
role attribution (share of reference speech time whose turn names the right role), pooled over
sessions. The demo voices are synthetic (espeak-ng): figures measured here are synthetic.

``--transcribe`` runs the whole transcribe job (default settings: level diarization, ASR) on
the same sessions instead, and prints the demo quality figures the ``demo_quality`` rule would
(WER, DER, role attribution, real-time factor without model loading).

``--real`` measures on real recorded speech instead: pyannote.audio's sample (see
``tests/speech_samples.py`` for its source and licence) presented as two wearers (level
diarizer) and as one device (offline diarizer with two speakers known, and with the count
left open), against its RTTM; and the voice similarity (resemblyzer centroids) between its two
people and between the two halves of each one's speech — the evidence for the merge rule.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from egoinstruct.settings.workflow import default_settings
from egoinstruct.speech.diarize import Diarizer, speaker_count
from egoinstruct.speech.io import load_session_audio
from egoinstruct.speech.level import level_diarize
from egoinstruct.speech.quality import _der, role_accuracy
from egoinstruct.speech.roles import ROLES, assign_roles
from egoinstruct.speech.session import union_regions
from egoinstruct.speech.vad import speech_regions


def demo_sessions(results: Path, demo_root: Path) -> list[tuple[str, pd.DataFrame, Any]]:
    """(session, truth, session audio) of every demo session with truth and session WAVs."""
    out = []
    for folder in sorted((results / "sessions").iterdir()):
        truth_path = demo_root / folder.name / "truth" / "dialogue.tsv"
        if not truth_path.exists():
            continue
        quality = json.loads((folder / "transcript.json").read_text())
        wearers = quality["wearer_devices"]
        devices = sorted(p.stem for p in (folder / "audio").glob("*.wav"))
        roles = {d: next((r for r, w in wearers.items() if w == d), "exo") for d in devices}
        audio = load_session_audio(folder.name, {d: folder / "audio" / f"{d}.wav" for d in devices}, roles,
                                   quality["diarized_device"].split("+")[0])
        out.append((folder.name, pd.read_csv(truth_path, sep="\t"), audio))
    if not out:
        raise SystemExit(f"no demo session with truth under {results}/sessions and {demo_root}")
    return out


def transcribed(results: Path, demo_root: Path) -> None:
    import tempfile

    from egoinstruct.io import write_json
    from egoinstruct.speech.io import write_table
    from egoinstruct.speech.quality import SpeechFiles, speech_errors, speech_summary
    from egoinstruct.speech.session import SpeechModels, transcribe_session

    settings = default_settings().speech
    models = SpeechModels(settings, threads=1)
    files = []
    with tempfile.TemporaryDirectory() as tmp:
        for session, _, audio in demo_sessions(results, demo_root):
            result = transcribe_session(audio, settings, models=models)
            out = Path(tmp) / session
            out.mkdir()
            write_table(out / "transcript.parquet", result.transcript, "transcript", {})
            write_table(out / "speaker_turns.parquet", result.turns, "speaker_turns", {})
            write_json(out / "transcript.json", result.quality)
            files.append(SpeechFiles(session, demo_root / session / "truth" / "dialogue.tsv",
                                     out / "transcript.parquet", out / "speaker_turns.parquet",
                                     out / "transcript.json"))
        errors = speech_errors(files)
    print(errors[["session", "wer", "der", "der_collar", "role_accuracy", "n_speakers", "diarization", "rtf"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    summary = speech_summary(errors)
    print(f"whole transcribe job, {summary['sessions']} sessions (synthetic demo voices): WER {summary['wer']:.2%}, "
          f"DER {summary['der']:.2%} (collar {summary['der_collar']:.2%}), role attribution "
          f"{summary['role_accuracy']:.2%} (worst session {summary['role_accuracy_worst_session']:.2%}), "
          f"mean RTF {summary['rtf_mean']:.3f} (model loading excluded: {models.load_seconds:.1f} s, once)")


def real_recording() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from speech_samples import rttm_turns, sample_audio, two_wearer_tracks

    from egoinstruct.speech.diarize import SpeakerCount, Turn, offline_turns, speaker_centroids
    from egoinstruct.speech.embeddings import cosine, track_mel
    from egoinstruct.speech.reference import diarization_scores, rttm_annotation

    settings = default_settings().speech
    wearers = {"instructor": "speaker90", "learner": "speaker91"}
    role_of = {speaker: role for role, speaker in wearers.items()}
    reference = rttm_annotation([(a, b, role_of[s]) for a, b, s in rttm_turns()])
    tracks = two_wearer_tracks(wearers)
    regions = union_regions(*(speech_regions(t, 16000, settings.vad) for t in tracks.values()))
    level = level_diarize(tracks, regions, settings.level_diarizer, settings.roles)
    scores = diarization_scores(reference, rttm_annotation(
        [(t.start, t.end, level.decisions[t.speaker].role) for t in level.turns]))
    print(f"real recording as two wearers, level: DER {scores['der']:.2%} (collar {scores['der_collar']:.2%}), "
          f"{scores['speakers_hypothesis']} speakers, decided by level {level.evidence['decided_by_level']:.1%}, "
          f"by voice {level.evidence['decided_by_voice']:.1%}")
    audio = sample_audio()
    mel = track_mel(audio)
    one_regions = speech_regions(audio, 16000, settings.vad)
    for name, count in (("speakers 2", SpeakerCount(num=2, min=2, max=2)), ("open", SpeakerCount(min=1, max=2))):
        turns = offline_turns(mel, one_regions, count, settings.offline_diarizer)
        scores = diarization_scores(reference, rttm_annotation([(t.start, t.end, t.speaker) for t in turns]))
        print(f"real recording as one device, offline, count {name}: {scores['speakers_hypothesis']} speakers, "
              f"DER {scores['der']:.2%} (collar {scores['der_collar']:.2%})")
    turns = [Turn(a, b, s) for a, b, s in rttm_turns()]
    centroids = speaker_centroids(mel, turns)
    print(f"voice similarity between the two people: {cosine(*centroids.values()):.3f}")
    for speaker in centroids:
        own = [t for t in turns if t.speaker == speaker]
        half = len(own) // 2
        a = speaker_centroids(mel, [Turn(t.start, t.end, "a") for t in own[:half]])["a"]
        b = speaker_centroids(mel, [Turn(t.start, t.end, "b") for t in own[half:]])["b"]
        print(f"voice similarity between the halves of {speaker}'s speech: {cosine(a, b):.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="results folder of a demo run")
    parser.add_argument("--demo-root", default="resources/demo", help="demo.root of that run's config")
    parser.add_argument("--real", action="store_true", help="measure on pyannote.audio's real sample instead")
    parser.add_argument("--transcribe", action="store_true", help="run the whole transcribe job (ASR included)")
    args = parser.parse_args(argv)
    if args.real:
        real_recording()
        return
    if args.transcribe:
        transcribed(Path(args.results), Path(args.demo_root))
        return
    settings = default_settings().speech
    offline = Diarizer(dataclasses.replace(settings, diarization="offline"))
    rows = []
    for session, truth, audio in demo_sessions(Path(args.results), Path(args.demo_root)):
        devices = list(audio.tracks)
        wearers = audio.wearer_devices()
        regions = {d: speech_regions(audio.tracks[d], audio.rate_hz, settings.vad, settings.asr.chunk_size_s)
                   for d in devices}
        tracks = {role: audio.tracks[wearers[role]] for role in ROLES}
        start = time.perf_counter()
        level = level_diarize(tracks, union_regions(*(regions[wearers[r]] for r in ROLES)), settings.level_diarizer,
                              settings.roles)
        level_s = time.perf_counter() - start
        spans = {"level": [(t.start, t.end, level.decisions[t.speaker].role) for t in level.turns]}
        start = time.perf_counter()
        reference = audio.reference
        result = offline(audio.tracks[reference], regions[reference], speaker_count(2, settings.speakers))
        decisions = assign_roles(result.turns, result.centroids, tracks, settings.roles,
                                 {r: regions[wearers[r]] for r in ROLES})
        offline_s = time.perf_counter() - start
        spans["offline"] = [(t.start, t.end, decisions[t.speaker].role) for t in result.turns]
        for method, turns in spans.items():
            frame = pd.DataFrame(turns, columns=["t_start", "t_end", "speaker"])
            accuracy, _, speech_s = role_accuracy(truth, turns)
            rows.append({"session": session, "method": method, **_der(truth, frame),
                         "role_accuracy": accuracy, "speech_s": speech_s,
                         "seconds": level_s if method == "level" else offline_s,
                         "duration_s": audio.duration_s})
    table = pd.DataFrame(rows)
    columns = ["session", "method", "der", "der_collar", "missed", "false_alarm", "confusion", "role_accuracy",
               "seconds"]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for method, group in table.groupby("method"):
        print(f"{method}: {len(group)} sessions (synthetic demo voices): "
              f"DER {group.der_error_s.sum() / group.der_total_s.sum():.2%} (no collar), "
              f"{group.der_collar_error_s.sum() / group.der_collar_total_s.sum():.2%} (0.25 s collar), "
              f"role attribution {(group.role_accuracy * group.speech_s).sum() / group.speech_s.sum():.2%} "
              f"(worst session {group.role_accuracy.min():.2%}), "
              f"diarization time / audio time {group.seconds.sum() / group.duration_s.sum():.4f}")


if __name__ == "__main__":
    main()
