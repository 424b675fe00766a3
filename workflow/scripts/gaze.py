"""Rule gaze: one head camera's MPS eye gaze on the session clock, in its pixels, with fixations
and targets -> gaze/{device}.parquet and gaze_windows/{device}.parquet."""

import json

from egoinstruct.clock import DeviceClock
from egoinstruct.gaze.parquet import write_frame
from egoinstruct.gaze.stage import device_camera, optional_input, run_gaze
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import RecordingFacts
from egoinstruct.settings.gaze import GazeSettings
from egoinstruct.tables import GAZE_SCHEMA, GAZE_WINDOWS_SCHEMA, read_table
from egoinstruct.validate import check_generations

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe = json.loads(open(sm.input.probe).read())
    where = f"{sm.params.recordings_sheet}: session {sm.wildcards.session}, device {sm.wildcards.device}"
    # the recording, its eye gaze and its calibration must come from one pair of glasses
    check_generations({**probe["inputs"], **json.loads(open(sm.input.head_probe).read())["inputs"]}, where)
    clock = DeviceClock.read(sm.input.sync, sm.wildcards.device)
    settings = GazeSettings.from_mapping(sm.params.settings)
    camera, camera_source = device_camera(
        RecordingFacts.from_probe(probe),
        calibration=optional_input(sm.input.calibration),
        vrs=optional_input(sm.input.vrs),
        configured=settings.camera,
        where=where,
    )
    assert camera is not None  # required: device_camera raises without one
    log.info("camera model from %s: %s %dx%d", camera_source, camera.model, camera.width, camera.height)
    faces_path = optional_input(sm.input.faces)
    faces = read_table(faces_path, "faces").to_pandas() if faces_path else None
    result = run_gaze(sm.input.csv, probe, clock=clock, camera=camera, camera_source=camera_source, faces=faces,
                      settings=settings)
    meta = {**result.metadata, "session": sm.wildcards.session, "device": sm.wildcards.device}
    write_frame(result.windows, GAZE_WINDOWS_SCHEMA, sm.output.windows, meta)
    write_frame(result.table, GAZE_SCHEMA, sm.output.gaze, meta)
