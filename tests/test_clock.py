"""The session clock of a device: conversions both ways, capture timestamps, spans, reading it."""

import json

import numpy as np
import pytest

from egoinstruct.clock import DeviceClock, Span
from egoinstruct.errors import InputError
from egoinstruct.settings.ingest import SyncSettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.sync import DeviceSync, session_sync_summary

START_US = 51_000_000_123  # a device capture clock (µs since boot) at the video's first frame


def test_to_session_and_back_with_drift():
    clock = DeviceClock(device="d", offset_s=1.5, drift_ppm=100.0, session_duration_s=60.0)
    assert clock.scale == pytest.approx(1.0001)
    # t_session = offset + t_device · (1 + drift·1e-6)
    assert clock.to_session(10.0) == pytest.approx(1.5 + 10.0 * 1.0001, abs=1e-12)
    assert isinstance(clock.to_session(10.0), float)
    t_device = np.array([-2.0, 0.0, 0.25, 600.0])
    t_session = clock.to_session(t_device)
    assert isinstance(t_session, np.ndarray) and t_session.shape == t_device.shape
    assert np.allclose(clock.to_device(t_session), t_device, rtol=0, atol=1e-12)
    assert clock.to_device(1.5) == 0.0  # the device's first frame
    reference = DeviceClock(device="r", offset_s=0.0, drift_ppm=0.0, session_duration_s=60.0)
    assert reference.to_session(12.25) == 12.25 and reference.to_device(12.25) == 12.25


def test_capture_timestamps_keep_microseconds_at_large_device_clocks():
    ts = np.array([START_US, START_US + 1, START_US + 33_333])
    clock = DeviceClock(device="d", offset_s=1.5, drift_ppm=0.0, session_duration_s=60.0)
    t = clock.from_capture_us(ts, START_US)
    # in float64, 5.1e10 µs as seconds would keep only ~10 µs; the difference is taken first
    assert t[1] - t[0] == pytest.approx(1e-6, abs=1e-12)
    assert t[2] == pytest.approx(1.5 + 0.033333, abs=1e-12)
    drifting = DeviceClock(device="d", offset_s=0.0, drift_ppm=100.0, session_duration_s=60.0)
    assert drifting.from_capture_us(ts, START_US)[2] == pytest.approx(0.033333 * 1.0001, abs=1e-12)


def test_recording_and_session_spans():
    clock = DeviceClock(device="d", offset_s=-2.0, drift_ppm=50.0, session_duration_s=30.0)
    assert clock.session == Span(0.0, 30.0)
    recording = clock.recording(40.0)  # 40 device seconds from t = 0
    assert recording.start == -2.0 and recording.end == pytest.approx(-2.0 + 40.0 * (1 + 50e-6))
    covered = recording.intersect(clock.session)
    assert covered == Span(0.0, 30.0) and covered.length == 30.0
    late = DeviceClock(device="d", offset_s=45.0, drift_ppm=0.0, session_duration_s=30.0)
    assert late.recording(10.0).intersect(late.session).length == 0.0  # no overlap: empty, not negative
    assert "does not overlap the reference" in str(late.no_overlap("v.mp4"))
    assert clock.metadata() == {"offset_s": "-2.0", "drift_ppm": "50.0", "session_duration_s": "30.0"}


def test_read_from_the_session_clock(tmp_path):
    sync = tmp_path / "sync.json"
    records = [DeviceSync("instructor", "instructor", "instructor", "reference", 0.0).to_dict(),
               DeviceSync("learner", "learner", "instructor", "gcc_phat", offset_s=0.125, drift_ppm=12.5).to_dict()]
    summary = session_sync_summary("s1", "instructor", 61.5, records, [], defaults_for(SyncSettings))
    sync.write_text(json.dumps(summary))  # what the sync_session rule writes
    clock = DeviceClock.read(sync, "learner")
    assert clock == DeviceClock(device="learner", offset_s=0.125, drift_ppm=12.5, session_duration_s=61.5)
    assert DeviceClock.read(sync, "instructor").offset_s == 0.0
    # a clock without drift (short recordings) has none
    summary["devices"]["learner"]["drift_ppm"] = None
    sync.write_text(json.dumps(summary))
    assert DeviceClock.read(sync, "learner").drift_ppm == 0.0


def test_read_of_a_missing_or_invalid_file_names_it(tmp_path):
    sync = tmp_path / "sync.json"
    with pytest.raises(InputError, match=r"sync\.json: not found"):
        DeviceClock.read(sync, "learner")
    sync.write_text("{not json")
    with pytest.raises(InputError, match=r"sync\.json: not valid JSON"):
        DeviceClock.read(sync, "learner")
    sync.write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match=r"sync\.json: expected a JSON object"):
        DeviceClock.read(sync, "learner")
    sync.write_text(json.dumps({"session_duration_s": 60.0, "devices": {"instructor": {"offset_s": 0.0}}}))
    with pytest.raises(InputError, match=r"sync\.json: no clock of device learner"):
        DeviceClock.read(sync, "learner")
