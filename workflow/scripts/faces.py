"""Rule faces: faces in a head camera's frames on the session clock -> faces/{device}.parquet."""

import json

from egoinstruct.gaze.faces import FaceSettings, detect_faces
from egoinstruct.gaze.parquet import write_frame
from egoinstruct.logutil import rule_logging
from egoinstruct.tables import FACES_SCHEMA

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    clock = json.loads(open(sm.input.sync).read())
    duration = json.loads(open(sm.input.reference_probe).read())["duration_s"]
    settings = FaceSettings(**sm.params.settings)
    faces = detect_faces(sm.input.video, clock["offset_s"], duration, settings, clock["drift_ppm"], sm.threads)
    write_frame(faces, FACES_SCHEMA, sm.output[0], {
        "source": sm.input.video, "offset_s": repr(clock["offset_s"]), "drift_ppm": repr(clock["drift_ppm"]),
        "detector": settings.detector, "settings": json.dumps(sm.params.settings),
        "session": sm.wildcards.session, "device": sm.wildcards.device,
    })
