"""Rule gaze: one head camera's MPS eye gaze on the session clock, in its pixels, with fixations
and targets -> gaze/{device}.parquet and gaze_windows/{device}.parquet."""

import json

from egoinstruct.gaze.parquet import write_frame
from egoinstruct.gaze.stage import (
    GazeStageSettings,
    device_camera,
    optional_input,
    run_gaze,
    video_facts,
)
from egoinstruct.logutil import rule_logging
from egoinstruct.tables import GAZE_SCHEMA, GAZE_WINDOWS_SCHEMA, read_table

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe = json.loads(open(sm.input.probe).read())
    clock = json.loads(open(sm.input.sync).read())
    duration = json.loads(open(sm.input.reference_probe).read())["duration_s"]
    settings = GazeStageSettings.from_config(sm.params.settings)
    _, video_size, _ = video_facts(probe)
    camera, camera_source = device_camera(
        video_size,
        calibration=optional_input(sm.input.calibration),
        vrs=optional_input(sm.input.vrs),
        configured=settings.camera,
        where=f"{sm.params.recordings_sheet}: session {sm.wildcards.session}, device {sm.wildcards.device}",
    )
    log.info("camera model from %s: %s %dx%d", camera_source, camera.model, camera.width, camera.height)
    faces_path = optional_input(sm.input.faces)
    faces = read_table(faces_path, "faces").to_pandas() if faces_path else None
    result = run_gaze(sm.input.csv, probe, clock, duration, camera, camera_source, faces, settings)
    meta = {**result.metadata, "session": sm.wildcards.session, "device": sm.wildcards.device}
    write_frame(result.windows, GAZE_WINDOWS_SCHEMA, sm.output.windows, meta)
    write_frame(result.table, GAZE_SCHEMA, sm.output.gaze, meta)
