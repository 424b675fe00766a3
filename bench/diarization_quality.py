"""Diarization quality of a demo run's sessions, per method, against the generator's truth.

For every session folder under ``--results``/sessions whose demo truth exists under
``--demo-root`` (``truth/dialogue.tsv``), reads the session-aligned WAVs the workflow wrote
(``audio/{device}.wav``), runs the speech regions and each diarization method (level: the two
wearers' level difference; offline: embeddings + clustering on the reference track, roles by
the per-turn level difference) — no ASR — and prints DER (no collar, and ±0.25 s collar) and
role attribution (share of reference speech time whose turn names the right role), pooled over
sessions. The demo voices are synthetic (espeak-ng): figures measured here are synthetic.

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

import pandas as pd

from egoinstruct.settings.workflow import default_settings
from egoinstruct.speech.diarize import Diarizer, speaker_count
from egoinstruct.speech.io import load_session_audio
from egoinstruct.speech.level import level_diarize
from egoinstruct.speech.quality import _der, role_accuracy
from egoinstruct.speech.roles import ROLES, assign_roles
from egoinstruct.speech.session import union_regions
from egoinstruct.speech.vad import speech_regions


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
    args = parser.parse_args(argv)
    if args.real:
        real_recording()
        return
    settings = default_settings().speech
    offline = Diarizer(dataclasses.replace(settings, diarization="offline"))
    rows = []
    for folder in sorted((Path(args.results) / "sessions").iterdir()):
        truth_path = Path(args.demo_root) / folder.name / "truth" / "dialogue.tsv"
        if not truth_path.exists():
            continue
        truth = pd.read_csv(truth_path, sep="\t")
        quality = json.loads((folder / "transcript.json").read_text())
        wearers = quality["wearer_devices"]
        devices = sorted(p.stem for p in (folder / "audio").glob("*.wav"))
        roles = {d: next((r for r, w in wearers.items() if w == d), "exo") for d in devices}
        audio = load_session_audio(folder.name, {d: folder / "audio" / f"{d}.wav" for d in devices}, roles,
                                   quality["diarized_device"].split("+")[0])
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
            rows.append({"session": folder.name, "method": method, **_der(truth, frame),
                         "role_accuracy": accuracy, "speech_s": speech_s,
                         "seconds": level_s if method == "level" else offline_s,
                         "duration_s": audio.duration_s})
    table = pd.DataFrame(rows)
    if table.empty:
        raise SystemExit(f"no demo session with truth under {args.results}/sessions and {args.demo_root}")
    print(table[["session", "method", "der", "der_collar", "missed", "false_alarm", "confusion", "role_accuracy", "seconds"]].to_string(
        index=False, float_format=lambda v: f"{v:.4f}"))
    for method, group in table.groupby("method"):
        print(f"{method}: {len(group)} sessions (synthetic demo voices): "
              f"DER {group.der_error_s.sum() / group.der_total_s.sum():.2%} (no collar), "
              f"{group.der_collar_error_s.sum() / group.der_collar_total_s.sum():.2%} (0.25 s collar), "
              f"role attribution {(group.role_accuracy * group.speech_s).sum() / group.speech_s.sum():.2%} "
              f"(worst session {group.role_accuracy.min():.2%}), "
              f"diarization time / audio time {group.seconds.sum() / group.duration_s.sum():.4f}")


if __name__ == "__main__":
    main()
