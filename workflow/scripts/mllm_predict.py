"""Rule mllm_predict_{task}: one zero-shot MLLM on one task over every session.

Writes the frame-level predictions (shared predictions contract) and window records of each
session, and the run summary (`run.json`: inputs shown and left out, outcomes, calls, cache hits,
tokens, latency, throughput). The backend is preflighted before any input is read.
"""

import json

from egoinstruct.io import write_json
from egoinstruct.labels import labels_folder
from egoinstruct.logutil import rule_logging
from egoinstruct.mllm.stage import SessionInputs, run_model_task
from egoinstruct.settings.mllm import MllmSettings, ModelSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    stage = MllmSettings.from_mapping(sm.params.stage)
    model = ModelSettings.from_mapping(sm.params.model)
    # The inputs are listed session by session in the order of params.layout.
    frames, audio = iter(sm.input.frames), iter(sm.input.audio)
    sessions = []
    for entry, probe, transcript, predictions, windows in zip(
        sm.params.layout, sm.input.probes, sm.input.transcripts, sm.output.predictions, sm.output.windows, strict=True
    ):
        sessions.append(
            SessionInputs(
                session=entry["session"],
                procedure=entry["procedure"],
                duration_s=float(json.loads(open(probe).read())["duration_s"]),  # the reference device probe
                frames={device: next(frames) for device in entry["frame_devices"]},
                audio=next(audio) if entry["audio"] else None,
                transcript=transcript,
                predictions=predictions,
                windows=windows,
            )
        )
    summary = run_model_task(sm.params.task, model, stage, sessions, labels_folder(sm.input.labels),
                             threads=sm.threads)
    write_json(sm.output.run, summary)
    log.info(
        "%s / %s: %d windows, %d new calls, %d cached, %d unparseable, %.2f windows/s",
        sm.params.task, model.name, summary["windows"], summary["calls"]["new_calls"],
        summary["calls"]["cache_hits"], summary["unparseable_windows"], summary["windows_per_s"] or 0.0,
    )
