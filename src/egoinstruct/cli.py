"""Command line: ``egoinstruct <command>`` for the things people do outside Snakemake.

* ``egoinstruct check [--config config/config.yaml]``: validate the config, both sheets and every
  annotation file's sheet row, without running anything.
* ``egoinstruct demo-sheets --sessions N --out DIR``: write recordings.tsv / annotations.tsv for N
  demo sessions (e.g. 38 like the paper) to scale-test the workflow.
* ``egoinstruct check-demo``: how the results of a demo run compare with the generator's truth
  (``results/data/demo_quality.json``, written by the ``demo_quality`` rule): clock offsets and
  residual audio lags, WER / DER / role attribution, gaze pixel error and gaze-target agreement.
* ``egoinstruct score-speech results/sessions/S [--rttm R] [--stm T | --text T]``: any session's
  speech against standard references: DER (with and without collar), speaker-count error,
  turn-boundary precision / recall, WER and CER (:mod:`egoinstruct.speech.reference`).
* ``egoinstruct import <egoexo4d|holoassist|elan|frames> FILE --out CSV --labels-dir DIR``: convert a
  public dataset's annotations into the project's annotation CSV and label sets, printing what was
  dropped or mapped (docs/importers.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from egoinstruct.errors import InputError


def _check(args: argparse.Namespace) -> int:
    from egoinstruct.demo import demo_files
    from egoinstruct.settings.workflow import check_against_sheet, read_settings
    from egoinstruct.sheet import (
        annotated_tasks,
        check_paths_exist,
        read_annotation_sheet,
        read_recordings,
        resolve_mps_folders,
    )
    from egoinstruct.tasks import TASK_NAMES

    settings = read_settings(args.config)
    recordings = read_recordings(settings.recordings, settings.reference_role)
    annotations = read_annotation_sheet(settings.annotations, settings.labels_dir)
    generated = settings.demo.root if settings.demo.enabled else None
    made = demo_files(list(dict.fromkeys(recordings.session)), settings.demo.root) if settings.demo.enabled else []
    check_paths_exist(recordings, settings.recordings, generated, made)
    check_paths_exist(annotations, settings.annotations, generated, made)
    resolve_mps_folders(recordings, settings.recordings, settings.gaze.mps_eye_gaze, generated, made)
    check_against_sheet(settings, list(dict.fromkeys(recordings.session)), sorted(set(recordings.device)),
                        settings.recordings)
    labelled = annotated_tasks(annotations)
    per_task = ", ".join(f"{task} {sum(task in tasks for tasks in labelled.values())}" for task in TASK_NAMES)
    print(
        f"ok: {recordings.session.nunique()} sessions, {len(recordings)} inputs, "
        f"{annotations.session.nunique()} annotated sessions ({per_task})"
    )
    return 0


def _demo_sheets(args: argparse.Namespace) -> int:
    from egoinstruct.demo import demo_sheets

    sessions = [f"s{i:02d}" for i in range(1, args.sessions + 1)]
    recordings, annotations = demo_sheets(sessions, Path(args.root))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recordings.to_csv(out / "recordings.tsv", sep="\t", index=False)
    annotations.to_csv(out / "annotations.tsv", sep="\t", index=False)
    print(f"wrote {out / 'recordings.tsv'} and {out / 'annotations.tsv'} ({len(sessions)} sessions)")
    return 0


def _check_demo(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    path = Path(args.results) / "data" / "demo_quality.json"
    if not path.exists():
        raise InputError(
            f"{path}: not found. check-demo compares a run on the bundled demo sessions with the generator's "
            "truth; that file is made by the workflow's demo_quality rule for demo sessions only (run `snakemake` "
            "on them first, or just that file: `snakemake --cores 2 " + str(path) + "`). For a real session, "
            "score its speech against your references instead: `egoinstruct score-speech "
            f"{Path(args.results) / 'sessions' / '<session>'} --rttm who_spoke_when.rttm --stm words.stm`"
        )
    quality = json.loads(path.read_text())
    number = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
    sync = pd.DataFrame(quality["sync"])
    print(sync.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    s = quality["sync_summary"]
    print(
        f"\nsync: worst |offset error| {number(s['worst_abs_error_ms'])} ms over {s['estimated_devices']} estimated "
        f"devices (limit: one video frame, {s['frame_period_ms']:.1f} ms); worst |residual lag| after alignment "
        f"{number(s['worst_abs_residual_lag_ms'])} ms"
    )
    speech = quality["speech_summary"]
    if speech.get("sessions"):
        print(
            f"\nspeech over {speech['sessions']} sessions: WER {speech['wer']:.1%}, DER {speech['der']:.1%} "
            f"(0.25 s collar: {speech['der_collar']:.1%}), role attribution {speech['role_accuracy']:.1%} of "
            f"speech time (worst session {speech['role_accuracy_worst_session']:.1%}; target >= 95 %), "
            f"words without timestamps {speech['unaligned_word_share']:.1%}"
        )
    if quality["gaze"]:
        print("\n" + pd.DataFrame(quality["gaze"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\n(measured on the synthetic demo sessions {', '.join(quality['sessions'])}: {path})")
    return 0


def _score_speech(args: argparse.Namespace) -> int:
    import json

    from egoinstruct.speech.reference import SessionSpeechFiles, score_session

    scores = score_session(SessionSpeechFiles.in_folder(args.session), rttm=args.rttm, stm=args.stm, text=args.text,
                           uri=args.uri, collar_s=args.collar, tolerance_s=args.tolerance, by_role=args.by_role)
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n")
    if "der" in scores:
        print(f"who spoke when ({scores['labels']}s vs {args.rttm}): DER {scores['der']:.1%} (±{scores['collar_s']} s "
              f"collar: {scores['der_collar']:.1%}; missed {scores['missed']:.1%}, false alarm "
              f"{scores['false_alarm']:.1%}, confusion {scores['confusion']:.1%}), speakers "
              f"{scores['speakers_hypothesis']} found / {scores['speakers_reference']} in the reference, turn "
              f"boundaries within ±{scores['tolerance_s']} s: precision {scores['boundary_precision']:.1%}, "
              f"recall {scores['boundary_recall']:.1%}")
    if "wer" in scores:
        print(f"words (vs {args.stm or args.text}): WER {scores['wer']:.1%} ({scores['word_errors']} errors / "
              f"{scores['ref_words']} reference words), CER {scores['cer']:.1%}; for language "
              f"{scores['language']!r} the figure to read is {scores['primary'].upper()}")
    return 0


def _add_score_speech(sub: argparse._SubParsersAction) -> None:
    from egoinstruct.speech.reference import COLLAR_S, TOLERANCE_S

    parser = sub.add_parser("score-speech", help="score a session's speech against an RTTM and/or an STM or text")
    parser.add_argument("session", help="the session's results folder (results/sessions/<session>)")
    parser.add_argument("--rttm", help="who spoke when (NIST RTTM)")
    words = parser.add_mutually_exclusive_group()
    words.add_argument("--stm", help="the words, with times and speakers (NIST STM)")
    words.add_argument("--text", help="the words as plain text")
    parser.add_argument("--uri", help="the file id in the RTTM / STM when they hold several")
    parser.add_argument("--collar", type=float, default=COLLAR_S,
                        help=f"± s around reference boundaries not scored in der_collar (default {COLLAR_S})")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE_S,
                        help=f"± s within which a turn boundary matches (default {TOLERANCE_S})")
    parser.add_argument("--by-role", action="store_true",
                        help="score the turns' roles (instructor / learner) instead of their speaker labels")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.set_defaults(func=_score_speech)


def _import(args: argparse.Namespace) -> int:
    from egoinstruct import importers

    if args.format == "egoexo4d":
        sessions = importers.read_session_map(args.sessions) if args.sessions else None
        result = importers.import_egoexo4d(args.input, sessions, args.taxonomy)
    elif args.format == "holoassist":
        mapping = importers.read_purpose_mapping(args.mapping) if args.mapping else None
        result = importers.import_holoassist(args.input, args.session, args.procedure, mapping)
    elif args.format == "elan":
        result = importers.import_elan(args.input, args.steps_tier, args.states_tier, args.session, args.procedure)
    else:
        result = importers.import_frames(
            args.input, args.fps, args.tier, args.procedure, args.session, args.start_column, args.end_column,
            args.label_column, args.session_column, not args.end_exclusive, args.first_frame)
    written = importers.write_outputs(result, args.out, args.labels_dir, args.report_json, args.force)
    print(result.report.text())
    print("wrote " + ", ".join(map(str, written)))
    return 0


def _add_import(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("import", help="convert a public dataset's annotations (see docs/importers.md)")
    formats = parser.add_subparsers(dest="format", required=True)
    helps = {"egoexo4d": "Ego-Exo4D keystep JSON → steps", "holoassist": "HoloAssist JSON → steps and states",
             "elan": "ELAN .eaf tiers → steps / states", "frames": "frame-indexed CSV/TSV → one tier"}
    made = {}
    for name, text in helps.items():
        fmt = formats.add_parser(name, help=text)
        fmt.add_argument("input", help="the annotation file")
        fmt.add_argument("--out", required=True, help="annotation CSV to write")
        fmt.add_argument("--labels-dir", required=True, help="folder for the label-set YAML file(s)")
        fmt.add_argument("--report-json", help="also write the import report here")
        fmt.add_argument("--force", action="store_true", help="overwrite existing output files")
        if name != "egoexo4d":
            fmt.add_argument("--session", help="session name (default: the file name, slugged)")
            fmt.add_argument("--procedure", help="procedure of the steps (label set steps_<procedure>.yaml)")
        fmt.set_defaults(func=_import)
        made[name] = fmt
    made["egoexo4d"].add_argument("--sessions", help="CSV/TSV with columns take (take_uid or take_name), session")
    made["egoexo4d"].add_argument("--taxonomy", help="JSON with Ego-Exo4D's 'taxonomy' (default: the input's own)")
    made["holoassist"].add_argument("--mapping", help="conversation purpose → state YAML (default: "
                                    "resources/importers/holoassist_states.yaml)")
    made["elan"].add_argument("--steps-tier", help="ELAN tier to import as steps")
    made["elan"].add_argument("--states-tier", help="ELAN tier to import as states")
    frames = made["frames"]
    frames.add_argument("--fps", type=float, required=True, help="frames per second of the annotated video")
    frames.add_argument("--tier", default="steps", choices=["steps", "states"])
    frames.add_argument("--start-column", default="start_frame")
    frames.add_argument("--end-column", default="end_frame")
    frames.add_argument("--label-column", default="label")
    frames.add_argument("--session-column", help="column naming each row's session (default: one session)")
    frames.add_argument("--end-exclusive", action="store_true",
                        help="the end frame is the first frame after the segment (default: its last frame)")
    frames.add_argument("--first-frame", type=int, default=0, help="number of the video's first frame (0 or 1)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="egoinstruct", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate config and sample sheets")
    check.add_argument("--config", default="config/config.yaml")
    check.set_defaults(func=_check)
    sheets = sub.add_parser("demo-sheets", help="write sample sheets for N demo sessions")
    sheets.add_argument("--sessions", type=int, default=6)
    sheets.add_argument("--root", default="resources/demo", help="demo.root of the config")
    sheets.add_argument("--out", required=True, help="folder for recordings.tsv and annotations.tsv")
    sheets.set_defaults(func=_demo_sheets)
    demo = sub.add_parser("check-demo", help="show how a demo run's results compare with the generator's truth")
    demo.add_argument("--results", default="results", help="the results folder of the run")
    demo.set_defaults(func=_check_demo)
    _add_score_speech(sub)
    _add_import(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
