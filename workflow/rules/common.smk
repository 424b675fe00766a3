# The only place that reads the configuration and the sample sheets. Rules get everything they
# need through the input functions and values defined here.
import re
from pathlib import Path

from snakemake.utils import validate

from egoinstruct.codeversion import code_digest
from egoinstruct.sheet import (
    MEDIA_KINDS,
    check_paths_exist,
    is_missing,
    read_annotation_sheet,
    read_recordings,
)

validate(config, schema="../schemas/config.schema.yaml")

# Every rule passes the digest of the package code its script runs as a param, so editing a
# module of egoinstruct reruns exactly the jobs whose scripts import it (egoinstruct.codeversion).
SCRIPTS_DIR = Path(workflow.current_basedir).parent / "scripts"
SCRIPT_CODE = lambda script: code_digest(SCRIPTS_DIR / script)

# One environment serves every rule (whisperx pins the torch that all stages use). Rules name it
# so that `--software-deployment-method conda` can build it; relative to workflow/rules/.
CONDA_ENV = "../../environment.yml"

RECORDINGS = read_recordings(config["recordings"], config["reference_role"])
ANNOTATIONS = read_annotation_sheet(config["annotations"], config["labels_dir"])
SESSIONS = list(dict.fromkeys(RECORDINGS.session))
DEMO = config["demo"]
DEMO_ROOT = Path(DEMO["root"])

# Inputs under the demo root are made by the demo_session rule; everything else must exist now,
# so a typo fails here with the sheet line instead of as a missing-input error later.
_generated = DEMO_ROOT if DEMO["enabled"] else None
check_paths_exist(RECORDINGS, config["recordings"], _generated)
check_paths_exist(ANNOTATIONS, config["annotations"], _generated)
_unknown = sorted(set(ANNOTATIONS.session) - set(SESSIONS))
if _unknown:
    raise ValueError(
        f"{config['annotations']}: session(s) {', '.join(_unknown)} are not in "
        f"{config['recordings']}; fix the session names or add their recordings"
    )


def _one_of(values):
    return "|".join(re.escape(v) for v in sorted(set(values)))


wildcard_constraints:
    session=_one_of(SESSIONS),
    device=_one_of(RECORDINGS.device),


def session_devices(session):
    """Device ids of a session, in sheet order."""
    return list(dict.fromkeys(RECORDINGS.loc[RECORDINGS.session == session, "device"]))


def reference_device(session):
    """The device whose first frame is t = 0 of the session clock."""
    rows = RECORDINGS[(RECORDINGS.session == session) & (RECORDINGS.role == config["reference_role"])]
    return rows.device.iloc[0]


def _device_table(session, device):
    return RECORDINGS[(RECORDINGS.session == session) & (RECORDINGS.device == device)]


def device_paths(session, device):
    """Every input file of one device (media and gaze)."""
    return _device_table(session, device).path.tolist()


def device_rows(session, device):
    """The sample-sheet rows of one device as plain records; used as params, so editing a
    device's rows reruns only that device's jobs."""
    columns = ["session", "device", "role", "kind", "path", "offset_s", "fold", "line"]
    return _device_table(session, device)[columns].to_dict(orient="records")


def device_media(session, device):
    """The device's media file (video, aria_vrs or audio)."""
    rows = _device_table(session, device)
    return rows.loc[rows.kind.isin(MEDIA_KINDS), "path"].iloc[0]


def device_sheet_offset(session, device):
    """offset_s given for the device in the sample sheet, or None."""
    values = [v for v in _device_table(session, device).offset_s if not is_missing(v)]
    return float(values[0]) if values else None


def device_input(session, device, kind):
    """Path of the device's input of ``kind`` (e.g. gaze_csv, calibration), or None."""
    rows = _device_table(session, device)
    rows = rows[rows.kind == kind]
    return rows.path.iloc[0] if not rows.empty else None


def head_devices(session):
    """Head-worn devices of a session (roles instructor and learner), in sheet order."""
    rows = RECORDINGS[(RECORDINGS.session == session) & RECORDINGS.role.isin(["instructor", "learner"])]
    return list(dict.fromkeys(rows.device))


def gaze_devices(session):
    """Head-worn devices that have an MPS eye-gaze CSV."""
    rows = RECORDINGS[(RECORDINGS.session == session) & (RECORDINGS.kind == "gaze_csv")]
    return list(dict.fromkeys(rows.device))


def video_devices(session):
    """Devices of a session that have a video (frames are made for these)."""
    rows = RECORDINGS[(RECORDINGS.session == session) & (RECORDINGS.kind == "video")]
    return list(dict.fromkeys(rows.device))


def device_probe(wildcards):
    """The probe of the job's device (media facts, duration)."""
    return f"results/sessions/{wildcards.session}/probe/{wildcards.device}.json"


def reference_probe(wildcards):
    """The probe of the session's reference device: its duration is the session's extent."""
    return f"results/sessions/{wildcards.session}/probe/{reference_device(wildcards.session)}.json"


def session_annotation_rows(session):
    rows = ANNOTATIONS[ANNOTATIONS.session == session]
    return rows[["session", "procedure", "path", "line"]].to_dict(orient="records")


def session_procedure(session):
    rows = ANNOTATIONS[ANNOTATIONS.session == session]
    return rows.procedure.iloc[0] if not rows.empty else None


# What `snakemake` with no target builds: each stage's .smk registers a function returning its
# final outputs, so adding a stage never touches this file.
TARGETS = []

# Every method that writes predictions registers here: PREDICTION_METHODS[task][method] =
# {"sessions": [...], "kind": "baseline" | "zero-shot" | "reference", "inputs": [modalities]}
# (predictions in results/predictions/{task}/{method}/{session}.parquet). The evaluation stage
# evaluates whatever is registered.
PREDICTION_METHODS = {"steps": {}, "states": {}}


def prediction_paths(task, method):
    return [
        f"results/predictions/{task}/{method}/{s}.parquet" for s in PREDICTION_METHODS[task][method]["sessions"]
    ]


def all_outputs():
    return [path for targets in TARGETS for path in targets()]
