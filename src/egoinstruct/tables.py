"""The Parquet tables of the pipeline: one schema each, used both to write and to check on read.

Every time column is float64 seconds on the session clock. Table-level facts (source file,
settings, model names) go into the Parquet key-value metadata under ``egoinstruct.*`` keys.
docs/data_contracts.md describes the same schemas for people.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.errors import InputError

FRAMES_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s)
        pa.field("frame_index", pa.int64(), nullable=False),  # k of t = k / fps
        pa.field("source_time_s", pa.float64(), nullable=False),  # device clock time of the frame used
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("jpeg", pa.binary(), nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"frames": FRAMES_SCHEMA}

_PREFIX = "egoinstruct."


def with_metadata(schema: pa.Schema, metadata: dict[str, str]) -> pa.Schema:
    """``schema`` carrying ``metadata`` (keys prefixed ``egoinstruct.``)."""
    return schema.with_metadata({f"{_PREFIX}{k}": str(v) for k, v in metadata.items()})


def table_metadata(path: str | Path) -> dict[str, str]:
    """The ``egoinstruct.*`` metadata of a Parquet file, without the prefix."""
    raw = pq.read_schema(path).metadata or {}
    return {
        k.decode()[len(_PREFIX):]: v.decode() for k, v in raw.items() if k.decode().startswith(_PREFIX)
    }


def check_schema(schema: pa.Schema, expected: pa.Schema, source: str | Path) -> None:
    """Raise :class:`InputError` unless ``schema`` has ``expected``'s columns and types."""
    problems = []
    for field in expected:
        if field.name not in schema.names:
            problems.append(f"missing column {field.name}")
        elif not schema.field(field.name).type.equals(field.type):
            problems.append(f"column {field.name} is {schema.field(field.name).type}, expected {field.type}")
    if problems:
        raise InputError(
            f"{source}: not a valid table ({'; '.join(problems)}); it was written by another "
            "version of egoinstruct or another tool — delete it and rerun the stage that makes it"
        )


def read_table(path: str | Path, kind: str, columns: list[str] | None = None) -> pa.Table:
    """Read a pipeline table and check it against the schema of ``kind``."""
    expected = SCHEMAS[kind]
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read Parquet table ({exc})") from exc
    check_schema(schema, expected, path)
    return pq.read_table(path, columns=columns)


# --- Validated annotations (validate_session): what every stage that uses annotations reads ----
# results/sessions/{session}/annotations.parquet: one row per segment, times on the session clock,
# every task's tier, from every annotation file of the session, after the validate stage's checks.
ANNOTATIONS_SCHEMA = pa.schema(
    [
        pa.field("session", pa.string()),
        pa.field("tier", pa.string()),  # the task (egoinstruct.tasks)
        pa.field("t_start", pa.float64()),
        pa.field("t_end", pa.float64()),
        pa.field("label", pa.string()),
        pa.field("source", pa.string()),  # the annotation file
        pa.field("source_line", pa.string()),  # its line (CSV/TSV) or annotation id (ELAN)
    ]
)
SCHEMAS["annotations"] = ANNOTATIONS_SCHEMA


# --- Predictions (shared by the baselines and the MLLM stage) and MLLM window records -------
# results/predictions/{task}/{method}/{session}.parquet: one row per t = k / rate on the session
# clock; optional per-class score columns `score_<label>` (float64) may follow these three.
PREDICTIONS_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s)
        pa.field("label", pa.string(), nullable=False),  # a label of the set, or "unparseable" (MLLMs)
        pa.field("fold", pa.int64(), nullable=False),  # cross-validation fold; -1 for zero-shot
    ]
)

# results/mllm/{task}/{model}/windows/{session}.parquet: one row per window sent to a model.
MLLM_WINDOWS_SCHEMA = pa.schema(
    [
        pa.field("session", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("window_index", pa.int32(), nullable=False),
        pa.field("t_start", pa.float64(), nullable=False),  # session clock (s)
        pa.field("t_end", pa.float64(), nullable=False),
        pa.field("inputs_used", pa.string(), nullable=False),  # comma list: transcript,image,audio
        pa.field("n_frames", pa.int32(), nullable=False),
        pa.field("n_utterances", pa.int32(), nullable=False),
        pa.field("audio_s", pa.float64(), nullable=False),  # seconds of audio shown (0: none)
        pa.field("previous_label", pa.string()),  # context given (include_previous_step), else null
        pa.field("raw_response", pa.string(), nullable=False),
        pa.field("scores_json", pa.string()),  # loglik decoding: {label: log-likelihood}
        pa.field("outcome", pa.string(), nullable=False),  # json|fenced|repaired|text|fuzzy|loglik|unparseable
        pa.field("label", pa.string()),  # null exactly when outcome is unparseable
        pa.field("confidence", pa.float64()),
        pa.field("parse_detail", pa.string(), nullable=False),
        pa.field("cache_hit", pa.bool_(), nullable=False),
        pa.field("latency_s", pa.float64(), nullable=False),  # of the call that produced the answer
        pa.field("attempts", pa.int32(), nullable=False),  # 0 for a cache hit
        pa.field("prompt_tokens", pa.int64()),
        pa.field("completion_tokens", pa.int64()),
        pa.field("request_key", pa.string(), nullable=False),  # response-cache key (SHA-256)
    ]
)

SCHEMAS["predictions"] = PREDICTIONS_SCHEMA
SCHEMAS["mllm_windows"] = MLLM_WINDOWS_SCHEMA

# -- gaze, faces, head motion and visual features (egoinstruct.gaze, egoinstruct.visual) ------

GAZE_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s), k / gaze.rate_hz
        pa.field("yaw_rad", pa.float64()),  # CPF gaze direction; NaN in gaps
        pa.field("pitch_rad", pa.float64()),
        pa.field("depth_m", pa.float64()),  # distance from the CPF origin along the gaze ray
        pa.field("depth_source", pa.string()),  # file | vergence | default; null in gaps
        pa.field("u_px", pa.float64()),  # gazed-at point in the device's video frame (pixels)
        pa.field("v_px", pa.float64()),
        pa.field("in_frame", pa.bool_(), nullable=False),
        pa.field("velocity_deg_s", pa.float64()),  # I-VT angular speed (faster adjacent interval)
        pa.field("event", pa.string(), nullable=False),  # fixation | saccade | unclassified | gap
        pa.field("fixation_id", pa.int64()),  # 0, 1, … per device; null when not a fixation
        pa.field("target", pa.string(), nullable=False),  # partner_face | workspace | other | unknown
    ]
)

GAZE_WINDOWS_SCHEMA = pa.schema(
    [
        pa.field("t_start", pa.float64(), nullable=False),
        pa.field("t_end", pa.float64(), nullable=False),
        pa.field("n_rows", pa.int32(), nullable=False),  # gaze rows in the window
        pa.field("known_fraction", pa.float64(), nullable=False),  # rows whose target is not unknown
        pa.field("p_partner_face", pa.float64()),  # shares among known rows; NaN if none known
        pa.field("p_workspace", pa.float64()),
        pa.field("p_other", pa.float64()),
        pa.field("n_fixations", pa.int32(), nullable=False),  # fixations starting in the window
        pa.field("n_saccades", pa.int32(), nullable=False),
    ]
)

FACES_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s), k / gaze.faces.fps
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("source_time_s", pa.float64(), nullable=False),  # device clock of the frame used
        pa.field("width", pa.int32(), nullable=False),  # frame size the boxes refer to
        pa.field("height", pa.int32(), nullable=False),
        pa.field("n_faces", pa.int32(), nullable=False),
        pa.field("boxes", pa.list_(pa.list_(pa.float32(), 5)), nullable=False),  # x0, y0, x1, y1, score
        pa.field("face_x0", pa.float64()),  # the partner's face (largest box); NaN if none
        pa.field("face_y0", pa.float64()),
        pa.field("face_x1", pa.float64()),
        pa.field("face_y1", pa.float64()),
        pa.field("search", pa.string(), nullable=False),  # full | near (the last face's region) | none
    ]
)

HEAD_MOTION_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s), k / head_motion.fps
        pa.field("angular_speed_deg_s", pa.float64()),  # head rotation speed; NaN if unknown
        pa.field("flow_dx_px_s", pa.float64()),  # global image motion (video method); NaN otherwise
        pa.field("flow_dy_px_s", pa.float64()),
        pa.field("flow_speed_px_s", pa.float64()),
        pa.field("linear_speed_m_s", pa.float64()),  # trajectory method only
    ]
)

VISUAL_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s), k / features.fps
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("source_time_s", pa.float64(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32()), nullable=False),  # embedding_dim values
    ]
)

SCHEMAS["gaze"] = GAZE_SCHEMA
SCHEMAS["gaze_windows"] = GAZE_WINDOWS_SCHEMA
SCHEMAS["faces"] = FACES_SCHEMA
SCHEMAS["head_motion"] = HEAD_MOTION_SCHEMA
SCHEMAS["visual"] = VISUAL_SCHEMA

# -- Speech (transcripts, speaker turns, prosody) -------------------------------------------------
# Missing float values are NaN (never null): unvoiced F0, words alignment could not place in time.

WORD_TYPE = pa.struct(
    [
        pa.field("word", pa.string()),
        pa.field("t_start", pa.float64()),  # session clock (s); NaN when alignment could not place it
        pa.field("t_end", pa.float64()),
        pa.field("score", pa.float64()),  # wav2vec2 alignment score or Whisper word probability, [0, 1]
    ]
)

TRANSCRIPT_SCHEMA = pa.schema(
    [
        pa.field("t_start", pa.float64(), nullable=False),  # first word's start (s, session clock)
        pa.field("t_end", pa.float64(), nullable=False),  # last word's end
        pa.field("speaker", pa.string(), nullable=False),  # SPEAKER_00… (diarization) or "unknown"
        pa.field("role", pa.string(), nullable=False),  # instructor | learner | unknown
        pa.field("text", pa.string(), nullable=False),
        pa.field("words", pa.list_(WORD_TYPE), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),  # mean word score; NaN when none
        pa.field("source_device", pa.string(), nullable=False),  # device whose audio was transcribed
        pa.field("energy_ratio_db", pa.float64(), nullable=False),  # L_instructor - L_learner; NaN if n/a
    ]
)

SPEAKER_TURNS_SCHEMA = pa.schema(
    [
        pa.field("t_start", pa.float64(), nullable=False),
        pa.field("t_end", pa.float64(), nullable=False),
        pa.field("speaker", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
    ]
)

PROSODY_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # k / 100 s, session clock
        pa.field("role", pa.string(), nullable=False),  # instructor | learner
        pa.field("f0_hz", pa.float64(), nullable=False),  # NaN unless voiced
        pa.field("intensity_db", pa.float64(), nullable=False),  # Praat intensity (dB re 2e-5, full scale = 1 Pa)
        pa.field("voiced", pa.bool_(), nullable=False),  # Praat voicing while this role speaks
        pa.field("speaking", pa.bool_(), nullable=False),  # inside a speaker turn of this role
    ]
)

PROSODY_UTTERANCES_SCHEMA = pa.schema(
    [
        pa.field("utterance", pa.int64(), nullable=False),  # row of transcript.parquet
        pa.field("t_start", pa.float64(), nullable=False),
        pa.field("t_end", pa.float64(), nullable=False),
        pa.field("speaker", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("source_device", pa.string(), nullable=False),  # track the features come from
        pa.field("n_words", pa.int32(), nullable=False),
        pa.field("f0_mean_hz", pa.float64(), nullable=False),
        pa.field("f0_std_hz", pa.float64(), nullable=False),
        pa.field("intensity_mean_db", pa.float64(), nullable=False),
        pa.field("voiced_share", pa.float64(), nullable=False),
        pa.field("speaking_rate_wps", pa.float64(), nullable=False),  # words per second
        pa.field("pause_before_s", pa.float64(), nullable=False),  # since the previous utterance's end
    ]
)

# openSMILE eGeMAPSv02 low-level descriptors, in openSMILE's own names and order.
EGEMAPS_LLD = [
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz", "F1frequency_sma3nz", "F1bandwidth_sma3nz",
    "F1amplitudeLogRelF0_sma3nz", "F2frequency_sma3nz", "F2bandwidth_sma3nz", "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz", "F3bandwidth_sma3nz", "F3amplitudeLogRelF0_sma3nz",
]

EGEMAPS_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # frame start k / 100 s, session clock
        pa.field("role", pa.string(), nullable=False),
        *[pa.field(name, pa.float64(), nullable=False) for name in EGEMAPS_LLD],
    ]
)

SCHEMAS["transcript"] = TRANSCRIPT_SCHEMA
SCHEMAS["speaker_turns"] = SPEAKER_TURNS_SCHEMA
SCHEMAS["prosody"] = PROSODY_SCHEMA
SCHEMAS["prosody_utterances"] = PROSODY_UTTERANCES_SCHEMA
SCHEMAS["egemaps"] = EGEMAPS_SCHEMA
