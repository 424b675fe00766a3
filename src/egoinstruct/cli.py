"""Command line: ``egoinstruct <command>`` for the things people do outside Snakemake.

* ``egoinstruct check [--config config/config.yaml]``: validate the config, both sheets and every
  annotation file's sheet row, without running anything.
* ``egoinstruct demo-sheets --sessions N --out DIR``: write recordings.tsv / annotations.tsv for N
  demo sessions (e.g. 38 like the paper) to scale-test the workflow.
* ``egoinstruct check-demo``: compare the results of a demo run with the generator's truth:
  clock offsets and residual audio lags, WER / DER / role attribution, gaze pixel error and
  gaze-target agreement (for the stages that have run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from egoinstruct.config import load_config
from egoinstruct.errors import InputError


def _check(args: argparse.Namespace) -> int:
    from egoinstruct.sheet import check_paths_exist, read_annotation_sheet, read_recordings

    config = load_config(args.config)
    recordings = read_recordings(config["recordings"], config["reference_role"])
    annotations = read_annotation_sheet(config["annotations"], config["labels_dir"])
    generated = config["demo"]["root"] if config["demo"]["enabled"] else None
    check_paths_exist(recordings, config["recordings"], generated)
    check_paths_exist(annotations, config["annotations"], generated)
    print(
        f"ok: {recordings.session.nunique()} sessions, {len(recordings)} inputs, "
        f"{annotations.session.nunique()} annotated sessions"
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
    from egoinstruct.sheet import read_recordings
    from egoinstruct.truth import sync_errors

    config = load_config(args.config)
    sessions = list(dict.fromkeys(read_recordings(config["recordings"], config["reference_role"]).session))
    demo_root = config["demo"]["root"]
    results = Path(args.results)
    errors = sync_errors(results, demo_root, sessions)
    estimated = errors[errors.method == "gcc_phat"]
    print(errors.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(
        f"\nsync: worst |offset error| {estimated.error_ms.abs().max():.2f} ms over {len(estimated)} "
        f"estimated devices (limit: one video frame, {1000 / config['demo']['fps']:.1f} ms); "
        f"worst |residual lag| after alignment {errors.residual_lag_ms.abs().max():.3f} ms"
    )
    with_transcript = [s for s in sessions if (results / "sessions" / s / "transcript.parquet").exists()]
    if with_transcript:
        from egoinstruct.speech.quality import speech_errors, speech_summary

        speech = speech_summary(speech_errors(results, demo_root, with_transcript))
        print(
            f"\nspeech over {speech['sessions']} sessions: WER {speech['wer']:.1%}, DER {speech['der']:.1%} "
            f"(0.25 s collar: {speech['der_collar']:.1%}), role attribution {speech['role_accuracy']:.1%} of "
            f"speech time (worst session {speech['role_accuracy_worst_session']:.1%}; target >= 95 %), "
            f"words without timestamps {speech['unaligned_word_share']:.1%}"
        )
    with_gaze = [s for s in sessions if (results / "sessions" / s / "gaze").is_dir()]
    if with_gaze:
        from egoinstruct.gaze.check import gaze_errors

        gaze = gaze_errors(results, demo_root, with_gaze)
        print("\n" + gaze.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


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
    demo = sub.add_parser("check-demo", help="compare a demo run's results with the generator's truth")
    demo.add_argument("--config", default="config/config.yaml")
    demo.add_argument("--results", default="results")
    demo.set_defaults(func=_check_demo)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
