"""Rule head_motion: how fast a head camera's wearer moves their head, on the session clock
-> head_motion/{device}.parquet (MPS trajectory when present, else video optical flow)."""

import json

from egoinstruct.camera import CameraModel
from egoinstruct.gaze.mps import read_mps_eye_gaze
from egoinstruct.gaze.parquet import write_frame
from egoinstruct.gaze.stage import optional_input, video_facts
from egoinstruct.gaze.track import device_clock_start_us
from egoinstruct.logutil import rule_logging
from egoinstruct.tables import HEAD_MOTION_SCHEMA
from egoinstruct.visual.motion import MotionSettings, device_head_motion

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe = json.loads(open(sm.input.probe).read())
    clock = json.loads(open(sm.input.sync).read())
    duration = json.loads(open(sm.input.reference_probe).read())["duration_s"]
    settings = MotionSettings(**sm.params.settings)
    tags, _, video_duration = video_facts(probe)
    trajectory = optional_input(sm.input.trajectory)
    gaze_csv = optional_input(sm.input.gaze_csv)
    clock_start_us = None
    if trajectory:
        first = int(read_mps_eye_gaze(gaze_csv).table.tracking_timestamp_us.min()) if gaze_csv else 0
        clock_start_us, _ = device_clock_start_us(tags, first, sm.params.clock_start, sm.input.video)
    calibration = optional_input(sm.input.calibration)
    camera = (CameraModel.from_json(calibration) if calibration
              else CameraModel.from_dict(sm.params.camera, "config gaze.camera") if sm.params.camera else None)
    motion, method = device_head_motion(
        sm.input.video, clock["offset_s"], clock["drift_ppm"], video_duration, duration, settings,
        trajectory, clock_start_us, camera, sm.threads,
    )
    log.info("%d rows of head motion from the %s, median angular speed %.1f deg/s", len(motion), method,
             motion.angular_speed_deg_s.median())
    write_frame(motion, HEAD_MOTION_SCHEMA, sm.output[0], {
        "method": method, "source": trajectory if method == "trajectory" else sm.input.video,
        "offset_s": repr(clock["offset_s"]), "drift_ppm": repr(clock["drift_ppm"]), "fps": repr(settings.fps),
        "flow_width": str(settings.flow_width), "session": sm.wildcards.session, "device": sm.wildcards.device,
    })
