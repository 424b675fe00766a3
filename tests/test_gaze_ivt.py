"""I-VT fixations and saccades on a regular gaze track."""

import numpy as np

from egoinstruct.gaze.ivt import classify, interval_velocity_deg_s
from egoinstruct.settings.gaze import IVTSettings
from egoinstruct.settings.workflow import defaults_for

RATE = 30.0


def ivt(velocity_threshold_deg_s: float, min_fixation_ms: float) -> IVTSettings:
    """The tests state both values (the config's defaults may change)."""
    return defaults_for(IVTSettings, velocity_threshold_deg_s=velocity_threshold_deg_s,
                        min_fixation_ms=min_fixation_ms)


def track(yaw_deg: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yaw = np.radians(np.asarray(yaw_deg, float))
    return np.arange(len(yaw)) / RATE, yaw, np.zeros_like(yaw)


def test_interval_velocity_by_hand():
    t, yaw, pitch = track([0.0, 1.0, 1.0, 11.0])
    # 1° in 1/30 s = 30°/s; 0; 10° in 1/30 s = 300°/s
    assert np.allclose(interval_velocity_deg_s(t, yaw, pitch), [30.0, 0.0, 300.0])
    # pitch alone works the same, and tiny angles keep their precision
    assert np.isclose(interval_velocity_deg_s(t[:2], np.zeros(2), np.radians([0.0, 1e-4]))[0], 3e-3)


def test_fixations_saccade_in_flight_and_ids():
    # 6 samples at 0°, one in flight at 10°, 6 samples at 20°
    t, yaw, pitch = track([0] * 6 + [10] + [20] * 6)
    r = classify(t, yaw, pitch, ivt(100, 100))
    assert r.event.tolist() == ["fixation"] * 6 + ["saccade"] + ["fixation"] * 6
    assert r.fixation_id.tolist() == [0] * 6 + [-1] + [1] * 6
    assert r.n_fixations == 2
    assert np.isclose(r.velocity_deg_s[6], 300.0)


def test_a_quick_saccade_between_samples_still_splits_the_fixations():
    t, yaw, pitch = track([0] * 6 + [20] * 6)
    r = classify(t, yaw, pitch, ivt(100, 100))
    assert (r.event == "fixation").all()
    assert r.fixation_id.tolist() == [0] * 6 + [1] * 6


def test_short_runs_are_unclassified_and_gaps_end_fixations():
    # 2 slow samples (67 ms < 100 ms) between two jumps, then a gap inside a long fixation
    t, yaw, pitch = track([0] * 5 + [10, 10] + [30] * 8)
    yaw[10] = np.nan
    r = classify(t, yaw, pitch, ivt(100, 100))
    assert r.event[5:7].tolist() == ["unclassified"] * 2
    assert r.event[10] == "gap"
    assert r.fixation_id[7:10].tolist() == [1] * 3 and r.fixation_id[11:].tolist() == [2] * 4
    # smooth pursuit below the threshold stays one fixation
    t, yaw, pitch = track(list(np.arange(20) * 2.0))  # 60°/s
    r = classify(t, yaw, pitch, ivt(100, 100))
    assert (r.fixation_id == 0).all()
    r = classify(t, yaw, pitch, ivt(30, 100))
    assert (r.event[1:-1] == "saccade").all()


def test_empty_track():
    r = classify(np.empty(0), np.empty(0), np.empty(0), defaults_for(IVTSettings))
    assert r.n_fixations == 0 and len(r.event) == 0
