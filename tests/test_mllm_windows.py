"""MLLM windows: spans, frame sampling, audio clips, tolerant transcript reader, device choice."""

from __future__ import annotations

import io
import wave

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egoinstruct.errors import InputError
from egoinstruct.media.audio import write_wav
from egoinstruct.mllm.windows import (
    FrameStore,
    SessionMedia,
    excerpt,
    read_transcript,
    resolve_devices,
    window_spans,
)
from egoinstruct.tables import FRAMES_SCHEMA


def write_frames(path, fps=2.0, duration_s=20.0, start_s=0.0):
    times = np.arange(int(np.ceil(start_s * fps)), int(np.ceil(duration_s * fps))) / fps
    table = pa.Table.from_pydict(
        {
            "t": times,
            "frame_index": (times * fps).round().astype(np.int64),
            "source_time_s": times,
            "width": np.full(len(times), 4, np.int32),
            "height": np.full(len(times), 4, np.int32),
            "jpeg": [f"jpeg@{t:.1f}".encode() for t in times],
        },
        schema=FRAMES_SCHEMA,
    )
    pq.write_table(table, path)
    return path


def write_transcript(path, rows, columns=("t_start", "t_end", "speaker", "role", "text")):
    frame = pd.DataFrame(rows, columns=list(columns))
    frame.to_parquet(path)
    return path


def test_window_spans_cover_the_session_with_the_hop_grid():
    assert window_spans(20.0, 8.0, 4.0) == [(0.0, 8.0), (4.0, 12.0), (8.0, 16.0), (12.0, 20.0)]
    # The last window is the first to reach the end and is clipped.
    assert window_spans(21.0, 8.0, 4.0)[-1] == (16.0, 21.0)
    assert window_spans(5.0, 8.0, 4.0) == [(0.0, 5.0)]
    assert window_spans(0.0, 8.0, 4.0) == []
    spans = window_spans(60.0, 8.0, 4.0)
    assert spans[0][0] == 0.0 and spans[-1][1] == 60.0
    assert all(b[0] <= a[1] for a, b in zip(spans, spans[1:], strict=False))


def test_hop_longer_than_window_is_refused():
    with pytest.raises(InputError, match="hop_s"):
        window_spans(20.0, 4.0, 8.0)


def test_frames_sampled_evenly_inside_the_window(tmp_path):
    store = FrameStore(write_frames(tmp_path / "f.parquet"), "cam")
    frames = store.sample(4.0, 12.0, 4)
    # Sub-interval centres 5, 7, 9, 11 s; frames exist every 0.5 s.
    assert [f.t for f in frames] == [5.0, 7.0, 9.0, 11.0]
    assert frames[0].jpeg == b"jpeg@5.0" and frames[0].device == "cam"
    # More frames asked than exist: each stored frame once.
    assert [f.t for f in store.sample(4.0, 5.0, 8)] == [4.0, 4.5]
    # A device that started late has no frames early on.
    late = FrameStore(write_frames(tmp_path / "late.parquet", start_s=10.0), "late")
    assert late.sample(0.0, 8.0, 4) == []


def test_audio_clip_is_the_windows_samples_as_wav(tmp_path):
    rate = 16000
    samples = np.zeros(20 * rate, np.float32)
    samples[5 * rate : 6 * rate] = 0.5  # a marker second at 5-6 s
    write_wav(tmp_path / "a.wav", samples, rate)
    media = SessionMedia.load("s", 20.0, {}, tmp_path / "a.wav", None)
    window = list(media.windows(8.0, 4.0, 0))[1]  # 4-12 s
    with wave.open(io.BytesIO(window.audio_wav), "rb") as handle:
        assert handle.getframerate() == rate and handle.getnchannels() == 1
        clip = np.frombuffer(handle.readframes(handle.getnframes()), "<i2") / 32767.0
    assert len(clip) == 8 * rate
    assert np.allclose(clip[rate : 2 * rate], 0.5, atol=1e-4) and np.allclose(clip[:rate], 0.0)


def test_transcript_reader_is_tolerant_and_excerpts_overlaps(tmp_path):
    path = write_transcript(
        tmp_path / "t.parquet",
        [(3.0, 4.5, "SPEAKER_00", "instructor", "Take the plate.", 0.9), (7.5, 9.0, None, None, None, 0.8)],
        columns=("t_start", "t_end", "speaker", "role", "text", "confidence"),
    )
    table = read_transcript(path)
    assert list(table.columns) == ["t_start", "t_end", "speaker", "role", "text"]
    assert table.role.tolist() == ["instructor", "unknown"] and table.text.tolist()[1] == ""
    assert [u.text for u in excerpt(table, 4.0, 8.0)] == ["Take the plate.", ""]
    assert [u.t_start for u in excerpt(table, 4.5, 7.5)] == []  # touching is not overlapping
    minimal = write_transcript(tmp_path / "m.parquet", [(0.0, 1.0, "hi")], columns=("t_start", "t_end", "text"))
    assert read_transcript(minimal).speaker.tolist() == ["unknown"]


def test_transcript_without_times_is_named(tmp_path):
    path = write_transcript(tmp_path / "bad.parquet", [(0.0, "x")], columns=("start", "text"))
    with pytest.raises(InputError, match=r"bad.parquet.*t_start, t_end"):
        read_transcript(path)


def test_devices_by_reference_role_or_id():
    roles = {"instructor_aria": "instructor", "learner_aria": "learner", "exo_gopro": "exo"}
    assert resolve_devices(["reference"], roles, "instructor_aria") == ["instructor_aria"]
    assert resolve_devices(["learner", "exo_gopro", "reference"], roles, "instructor_aria") == [
        "learner_aria", "exo_gopro", "instructor_aria"]
    assert resolve_devices(["instructor", "reference"], roles, "instructor_aria") == ["instructor_aria"]
    assert resolve_devices(["missing_cam"], roles, "instructor_aria") == []


def test_session_media_builds_windows_with_everything(tmp_path):
    write_wav(tmp_path / "a.wav", np.zeros(20 * 16000, np.float32))
    transcript = write_transcript(tmp_path / "t.parquet", [(1.0, 2.0, "A", "learner", "Like this?")])
    media = SessionMedia.load(
        "s01", 20.0, {"cam": write_frames(tmp_path / "f.parquet")}, tmp_path / "a.wav", transcript
    )
    windows = list(media.windows(8.0, 4.0, 3))
    assert len(windows) == 4
    first = windows[0]
    assert (first.session, first.index, first.t_start, first.t_end) == ("s01", 0, 0.0, 8.0)
    assert len(first.frames) == 3 and first.audio_wav is not None and first.audio_rate_hz == 16000
    assert [u.text for u in first.utterances] == ["Like this?"]
    assert windows[1].utterances == ()
