"""Rule faces: faces in a head camera's frames on the session clock -> faces/{device}.parquet
(from the device's analysis stream, or its recording with analysis.enabled: false)."""

import json

from egoinstruct.analysis import open_video_input
from egoinstruct.gaze.faces import detect_faces
from egoinstruct.gaze.parquet import write_frame
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import input_paths
from egoinstruct.settings.gaze import FaceSettings
from egoinstruct.tables import FACES_SCHEMA

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    video = open_video_input(input_paths(sm.input.video), sm.input.sync, sm.wildcards.device,
                             getattr(sm.input, "video_index", None))
    settings = FaceSettings.from_mapping(sm.params.settings)
    faces = detect_faces(video.reader, video.clock, settings, sm.threads)
    write_frame(faces, FACES_SCHEMA, sm.output[0], {
        **video.metadata(), "detector": settings.detector,
        "settings": json.dumps(settings.to_mapping()), "session": sm.wildcards.session, "device": sm.wildcards.device,
    })
