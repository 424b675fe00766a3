"""Rule head_motion: how fast a head camera's wearer moves their head, on the session clock
-> head_motion/{device}.parquet (MPS trajectory when present, else optical flow of the device's
analysis stream, or of its recording with analysis.enabled: false)."""

import json

from egoinstruct.analysis import open_video_input
from egoinstruct.gaze.mps import read_mps_eye_gaze
from egoinstruct.gaze.parquet import write_frame
from egoinstruct.gaze.stage import device_camera, optional_input
from egoinstruct.gaze.track import device_clock_start_us
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import RecordingFacts, input_paths
from egoinstruct.settings.visual import HeadMotionSettings
from egoinstruct.tables import HEAD_MOTION_SCHEMA
from egoinstruct.visual.motion import device_head_motion

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe = json.loads(open(sm.input.probe).read())
    video = open_video_input(input_paths(sm.input.video), sm.input.sync, sm.wildcards.device,
                             getattr(sm.input, "video_index", None))
    clock = video.device_clock
    settings = HeadMotionSettings.from_mapping(sm.params.settings)
    recording = RecordingFacts.from_probe(probe)
    trajectory = optional_input(sm.input.trajectory)
    gaze_csv = optional_input(sm.input.gaze_csv)
    capture_start_us = None
    if trajectory:
        first = int(read_mps_eye_gaze(gaze_csv).table.tracking_timestamp_us.min()) if gaze_csv else 0
        capture_start_us, _ = device_clock_start_us(recording.clock_start_us, recording.clock_source, first,
                                                    sm.params.clock_start, video.source)
    # the same camera model as the gaze stage (VRS, calibration, config), or none: pixels only
    camera, camera_source = device_camera(
        recording, calibration=optional_input(sm.input.calibration), vrs=optional_input(sm.input.vrs),
        configured=sm.params.camera, required=False,
        where=f"{sm.params.recordings_sheet}: session {sm.wildcards.session}, device {sm.wildcards.device}",
    )
    motion, method = device_head_motion(
        video.reader, clock, video_clock=video.clock, video_duration_s=recording.duration_s, settings=settings, trajectory=trajectory,
        capture_start_us=capture_start_us, camera=camera, threads=sm.threads,
    )
    log.info("%d rows of head motion from the %s, median angular speed %.1f deg/s (camera model: %s)", len(motion),
             method, motion.angular_speed_deg_s.median(), camera_source or "none")
    write_frame(motion, HEAD_MOTION_SCHEMA, sm.output[0], {
        "method": method, **video.metadata(), **({"source": trajectory} if method == "trajectory" else {}),
        "fps": repr(settings.fps), "flow_width": str(settings.flow_width), "camera_source": camera_source,
        "session": sm.wildcards.session, "device": sm.wildcards.device,
    })
