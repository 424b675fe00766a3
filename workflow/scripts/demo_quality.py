"""Rule demo_quality: the demo sessions' results against the generator's truth -> demo_quality.json."""

from pathlib import Path

from egoinstruct.gaze.check import GazeFiles
from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.speech.quality import SpeechFiles
from egoinstruct.truth import DemoSessionFiles, demo_quality

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    gaze: dict[str, list[GazeFiles]] = {}
    for (session, device), path, truth_frames in zip(sm.params.gaze_devices, sm.input.gaze, sm.input.gaze_truth,
                                                      strict=True):
        gaze.setdefault(session, []).append(GazeFiles(session, device, Path(path), Path(truth_frames)))
    files = [
        DemoSessionFiles(
            session=session, truth=Path(truth), sync=Path(sync), alignment=Path(alignment),
            speech=SpeechFiles(session, Path(dialogue), Path(transcript), Path(turns), Path(speech)),
            gaze=gaze.get(session, []),
        )
        for session, truth, dialogue, sync, alignment, transcript, turns, speech in zip(
            sm.params.sessions, sm.input.truth, sm.input.dialogues, sm.input.syncs, sm.input.alignments,
            sm.input.transcripts, sm.input.turns, sm.input.speech, strict=True)
    ]
    quality = demo_quality(files, frame_period_s=1.0 / sm.params.demo_fps)
    write_json(sm.output[0], quality)
    speech = quality["speech_summary"]
    log.info("%d demo sessions: worst sync error %s ms; WER %s, DER %s, role attribution %s", len(files),
             quality["sync_summary"]["worst_abs_error_ms"], speech.get("wer"), speech.get("der"),
             speech.get("role_accuracy"))
