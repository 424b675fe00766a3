# The only place that reads the configuration and the sample sheets. Rules get everything they
# need through the values and input functions defined here: typed settings (SETTINGS), the
# sheets (RECORDINGS, ANNOTATIONS) and the task registry (egoinstruct.tasks).
import re
from pathlib import Path

from egoinstruct.codeversion import code_digest
from egoinstruct.demo import demo_files
from egoinstruct.gaze.mps_folder import find_mps_trajectory
from egoinstruct.labels import label_file
from egoinstruct.settings.workflow import analysis_stream, check_against_sheet, load_settings
from egoinstruct.sizing import JOB_SIZES, media_facts, stream_facts
from egoinstruct.sheet import (
    HEAD_INPUT_KINDS,
    annotated_tasks,
    MEDIA_KINDS,
    MEDIA_OPTION_KINDS,
    check_paths_exist,
    expand_media_paths,
    is_missing,
    read_annotation_sheet,
    read_recordings,
    resolve_mps_folders,
)
from egoinstruct.tasks import TASKS, TASK_NAMES, task_sessions

# Schema, types and every check that involves several keys, before any job is planned: a typo
# anywhere in the configuration stops `snakemake -n` with the file, the key and the fix.
CONFIG_SOURCE = ", ".join(str(p) for p in workflow.configfiles) or "the configuration"
SETTINGS = load_settings(config, CONFIG_SOURCE)

# Every rule passes the digest of the package code its script runs as a param, so editing a
# module of egoinstruct reruns exactly the jobs whose scripts use it (egoinstruct.codeversion).
SCRIPTS_DIR = Path(workflow.current_basedir).parent / "scripts"
SCRIPT_CODE = lambda script: code_digest(SCRIPTS_DIR / script)

RECORDINGS = read_recordings(SETTINGS.recordings, SETTINGS.reference_role)
ANNOTATIONS = read_annotation_sheet(SETTINGS.annotations, SETTINGS.labels_dir)
SESSIONS = list(dict.fromkeys(RECORDINGS.session))
DEMO = SETTINGS.demo
DEMO_ROOT = Path(DEMO.root)

# Inputs under the demo root are made by the demo_session rule; everything else must exist now,
# so a typo fails here with the sheet line instead of as a missing-input error later.
_generated = DEMO_ROOT if DEMO.enabled else None
_demo_files = demo_files(SESSIONS, DEMO_ROOT) if DEMO.enabled else []
check_paths_exist(RECORDINGS, SETTINGS.recordings, _generated, _demo_files)
check_paths_exist(ANNOTATIONS, SETTINGS.annotations, _generated, _demo_files)
# Every MPS folder's eye gaze, trajectory and calibration, found once (a folder without eye gaze
# stops here with its sheet line).
MPS_FOLDERS = resolve_mps_folders(RECORDINGS, SETTINGS.recordings, SETTINGS.gaze.mps_eye_gaze, _generated, _demo_files)
_unknown = sorted(set(ANNOTATIONS.session) - set(SESSIONS))
if _unknown:
    raise ValueError(
        f"{SETTINGS.annotations}: session(s) {', '.join(_unknown)} are not in "
        f"{SETTINGS.recordings}; fix the session names or add their recordings"
    )
check_against_sheet(SETTINGS, SESSIONS, sorted(set(RECORDINGS.device)), SETTINGS.recordings)


def _one_of(values):
    return "|".join(re.escape(v) for v in sorted(set(values))) or "no-value"


wildcard_constraints:
    session=_one_of(SESSIONS),
    device=_one_of(RECORDINGS.device),
    task=_one_of(TASK_NAMES),


def session_devices(session):
    """Device ids of a session, in sheet order."""
    return list(dict.fromkeys(RECORDINGS.loc[RECORDINGS.session == session, "device"]))


def reference_device(session):
    """The device whose first frame is t = 0 of the session clock."""
    rows = RECORDINGS[(RECORDINGS.session == session) & (RECORDINGS.role == SETTINGS.reference_role)]
    return rows.device.iloc[0]


def _device_table(session, device):
    return RECORDINGS[(RECORDINGS.session == session) & (RECORDINGS.device == device)]


def device_paths(session, device):
    """Every input file of one device (media and gaze)."""
    return _device_table(session, device).path.tolist()


def device_rows(session, device, kinds=None):
    """The sample-sheet rows of one device (of ``kinds`` when given) as plain records; used as
    params, so editing a device's rows reruns only that device's jobs."""
    columns = ["session", "device", "role", "kind", "path", "offset_s", "fold", "line"]
    rows = _device_table(session, device)
    rows = rows if kinds is None else rows[rows.kind.isin(kinds)]
    return rows[columns].to_dict(orient="records")


def device_head_inputs(session, device):
    """The device's MPS folder or eye-gaze CSV and its calibration (probed by probe_head): for an
    MPS folder, the files in it the stages use (so editing them reruns what reads them)."""
    rows = _device_table(session, device)
    paths = rows.loc[rows.kind.isin(["gaze_csv", "calibration"]), "path"].tolist()
    mps = device_mps(session, device)
    return paths + ([str(mps.eye_gaze)] if mps is not None else [])


def device_mps(session, device):
    """The files of the device's MPS output folder (egoinstruct.gaze.mps_folder.MpsOutputs), or
    None without an mps row. An MPS folder without eye gaze stops `snakemake -n` here."""
    return MPS_FOLDERS.get((session, device))


def device_gaze_csv(session, device):
    """The device's MPS eye-gaze CSV: from its MPS folder, or its gaze_csv row (None without)."""
    mps = device_mps(session, device)
    return str(mps.eye_gaze) if mps is not None else device_input(session, device, "gaze_csv")


def device_trajectory(session, device):
    """[the MPS SLAM trajectory of the device] (its MPS folder's slam/ or trajectory/, or beside
    its eye-gaze CSV), or []."""
    mps = device_mps(session, device)
    if mps is not None:
        return [str(mps.trajectory)] if mps.trajectory is not None else []
    return find_mps_trajectory(device_input(session, device, "gaze_csv"))


def head_input_devices(session):
    """Devices with an eye-gaze CSV or a calibration (they get a probe_head job)."""
    rows = RECORDINGS[(RECORDINGS.session == session) & RECORDINGS.kind.isin(HEAD_INPUT_KINDS)]
    return list(dict.fromkeys(rows.device))


def device_role(session, device):
    return device_rows(session, device)[0]["role"]


def device_roles(session):
    """{device: role} of a session, in sheet order."""
    return {d: device_role(session, d) for d in session_devices(session)}


def device_media(session, device):
    """The device's media files in order: its aria_vrs file, or its video (audio) chapters, globs
    expanded (egoinstruct.sheet.expand_media_paths). Every stage opens them with
    egoinstruct.media.reader.open_recording, whatever the container."""
    rows = _device_table(session, device)
    return expand_media_paths(rows.loc[rows.kind.isin(MEDIA_KINDS), "path"].tolist())


# The analysis_video rule's parameters (its frame rate resolved from the stages that read it),
# and the rules that read the stream.
ANALYSIS_STREAM = analysis_stream(SETTINGS)
STREAM_READERS = ("frames", "faces", "head_motion", "visual_features")


def video_inputs(wildcards):
    """The video a frame-reading stage (frames, faces, head_motion, visual_features) decodes: the
    device's analysis stream and its index (egoinstruct.analysis), or with analysis.enabled
    false the recording itself. Scripts open either with egoinstruct.analysis.open_video_input."""
    if SETTINGS.analysis.enabled:
        stream = f"results/sessions/{wildcards.session}/analysis/{wildcards.device}"
        return {"video": f"{stream}.mp4", "video_index": f"{stream}.parquet"}
    return {"video": device_media(wildcards.session, wildcards.device)}


def device_export_log(session, device):
    """[the log folder of the device's vrs_to_mp4 export] or []: it places the export's audio."""
    path = device_input(session, device, "export_log")
    return [path] if path else []


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
    """Head-worn devices that have MPS eye gaze (an MPS folder or an eye-gaze CSV)."""
    rows = RECORDINGS[(RECORDINGS.session == session) & RECORDINGS.kind.isin(["gaze_csv", "mps"])]
    return list(dict.fromkeys(rows.device))


def video_devices(session):
    """Devices of a session that have a video, as MP4 (chapters) or raw Aria VRS (frames are
    made for these)."""
    rows = RECORDINGS[(RECORDINGS.session == session) & RECORDINGS.kind.isin(["video", "aria_vrs"])]
    return list(dict.fromkeys(rows.device))


def device_probe(wildcards):
    """The probe of the job's device (media facts, duration)."""
    return f"results/sessions/{wildcards.session}/probe/{wildcards.device}.json"


def reference_probe_of(session):
    return f"results/sessions/{session}/probe/{reference_device(session)}.json"


def reference_probe(wildcards):
    """The probe of the session's reference device: its duration is the session's extent."""
    return reference_probe_of(wildcards.session)


def device_clock_inputs(wildcards):
    """What egoinstruct.clock.DeviceClock.read needs: the session clock (sync.json, checked across
    devices), of which the job's device is one."""
    return {"sync": f"results/sessions/{wildcards.session}/sync.json"}


def session_annotations(session):
    """Every annotation file of a session, in sheet order (all of them are read together)."""
    return ANNOTATIONS.loc[ANNOTATIONS.session == session, "path"].tolist()


def session_annotation_tasks(session):
    """Per annotation file of a session (session_annotations' order), the tasks it labels."""
    return [cell.split(",") for cell in ANNOTATIONS.loc[ANNOTATIONS.session == session, "tasks"]]


def validated_annotations(sessions):
    """The validated annotation tables of ``sessions`` (validate_session): what every stage that
    uses annotations reads, so nothing is scored on annotations validation rejected."""
    return [f"results/sessions/{s}/annotations.parquet" for s in sessions]


def session_procedure(session):
    rows = ANNOTATIONS[ANNOTATIONS.session == session]
    return rows.procedure.iloc[0] if not rows.empty else None


PROCEDURE_OF = {s: session_procedure(s) for s in SESSIONS}
ANNOTATED = [s for s in SESSIONS if session_annotations(s)]
# The tasks each annotated session labels (the annotation sheet's tasks column; all by default).
SESSION_TASKS = annotated_tasks(ANNOTATIONS)
# The sessions each task is run on (an annotated session: its tasks; per-procedure tasks need the
# session's procedure) and scored on (those with the task's annotations).
TASK_RUN_SESSIONS = {name: task_sessions(task, PROCEDURE_OF, SESSION_TASKS) for name, task in TASKS.items()}
TASK_SCORED_SESSIONS = {name: [s for s in sessions if s in ANNOTATED] for name, sessions in TASK_RUN_SESSIONS.items()}


def label_files(task, sessions):
    """The label sets of ``task`` that ``sessions`` use (per procedure, or the task's one set): rule
    inputs wherever labels are read, so editing a label set (names or descriptions) reruns them."""
    procedures = {PROCEDURE_OF[s] for s in sessions if TASKS[task].takes_part(PROCEDURE_OF[s])}
    if not TASKS[task].per_procedure:
        procedures = {None} if sessions else set()
    return sorted(str(label_file(SETTINGS.labels_dir, task, p)) for p in procedures)


def session_label_files(session):
    """Every label set a session's annotations are checked against (those of its tasks)."""
    return [path for task in SESSION_TASKS.get(session, ()) for path in label_files(task, [session])]


def device_facts(session, device):
    """Length and video size of a device's recording (egoinstruct.sizing.media_facts): from its
    probe once written, before that from the demo settings or the files' size."""
    media = device_media(session, device)
    demo = DEMO.to_mapping() if DEMO.enabled and media and all(Path(p).is_relative_to(DEMO_ROOT) for p in media) else None
    return media_facts(f"results/sessions/{session}/probe/{device}.json", media, demo)


def sized(rule):
    """mem_mb and runtime of the jobs of ``rule`` (egoinstruct.sizing.JOB_SIZES): they follow the
    job's recording (its device's, or for a session job the reference device's) and grow with
    the attempt, so a job retried after running out of memory or time asks for more."""
    size = JOB_SIZES[rule]
    facts = lambda wc: device_facts(wc.session, getattr(wc, "device", None) or reference_device(wc.session))
    reads_stream = SETTINGS.analysis.enabled and rule in STREAM_READERS
    if reads_stream:  # they decode the small stream, not the recording
        recording = facts
        facts = lambda wc: stream_facts(recording(wc), ANALYSIS_STREAM["width"], ANALYSIS_STREAM["fps"])
    return {
        "mem_mb": lambda wc, attempt: size.request(facts(wc), attempt)["mem_mb"],
        "runtime": lambda wc, attempt: size.request(facts(wc), attempt)["runtime"],
    }


# What `snakemake` with no target builds: each stage's .smk registers a function returning its
# final outputs, so adding a stage never touches this file.
TARGETS = []

# Every method that writes predictions registers here: PREDICTION_METHODS[task][method] =
# {"sessions": [...], "kind": "baseline" | "zero-shot" | "reference", "inputs": [modalities]}
# (predictions in results/predictions/{task}/{method}/{session}.parquet). The evaluation stage
# evaluates whatever is registered.
PREDICTION_METHODS = {name: {} for name in TASK_NAMES}


def prediction_paths(task, method):
    return [
        f"results/predictions/{task}/{method}/{s}.parquet" for s in PREDICTION_METHODS[task][method]["sessions"]
    ]


def all_outputs():
    return [path for targets in TARGETS for path in targets()]


def explorer_layout(session, mllm_runs):
    """The files of a session's explorer page (egoinstruct.report.explorer.SessionLayers): each
    device's analysis stream, gaze, faces and sync check; transcript, turns, annotations, and the
    windows of each (task, model) in ``mllm_runs``."""
    stream = lambda d, ext: (
        f"results/sessions/{session}/analysis/{d}.{ext}" if SETTINGS.analysis.enabled and d in video_devices(session) else None
    )
    devices = [
        {
            "name": d,
            "role": device_role(session, d),
            "stream": stream(d, "mp4"),
            "stream_index": stream(d, "parquet"),
            "gaze": f"results/sessions/{session}/gaze/{d}.parquet" if d in gaze_devices(session) else None,
            "faces": (
                f"results/sessions/{session}/faces/{d}.parquet"
                if d in gaze_devices(session) and d in video_devices(session)
                else None
            ),
            "sync": f"results/sessions/{session}/sync/{d}.json",
        }
        for d in session_devices(session)
    ]
    return {
        "devices": devices,
        "transcript": f"results/sessions/{session}/transcript.parquet",
        "turns": f"results/sessions/{session}/speaker_turns.parquet",
        "annotations": validated_annotations([session])[0] if session in ANNOTATED else None,
        "mllm": [[task, model, f"results/mllm/{task}/{model}/windows/{session}.parquet"] for task, model in mllm_runs],
    }
