import numpy as np
import pytest

from egoinstruct.errors import InputError
from egoinstruct.settings.ingest import SyncSettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.sync import (
    alignment_report,
    estimate_drift,
    estimate_offset,
    pair_closure,
    session_sync_summary,
    sync_device,
    window_agreement,
)

RATE = 16000
# config/config.yaml's sync section; low confidence is an error unless a test says warn
SETTINGS = defaults_for(SyncSettings, on_low_confidence="error")
WARN = defaults_for(SyncSettings, on_low_confidence="warn")


def _world(seconds, seed=0):
    """Speech-like test signal: noise in random 100 ms bursts (a shared acoustic scene)."""
    rng = np.random.default_rng(seed)
    gate = np.repeat(rng.random(int(seconds * 10)) > 0.5, RATE // 10)
    return (rng.standard_normal(len(gate)) * gate).astype(np.float32)


def _record(world, start_s, length_s, seed, noise=0.05):
    """What a device hears when it starts at world time start_s (own mic noise added)."""
    a = int(round(start_s * RATE))
    part = world[a:a + int(length_s * RATE)]
    return part + noise * np.random.default_rng(seed).standard_normal(len(part)).astype(np.float32)


@pytest.mark.parametrize("device_start", [0.3, 1.7, 2.95, 9.0, 1.0 + 1 / 7])
def test_recovers_known_offsets(device_start):
    world = _world(90)
    reference_start = 2.0
    reference = _record(world, reference_start, 60, 1)
    device = _record(world, device_start, 60, 2)
    estimate = estimate_offset(reference, device, RATE, SETTINGS)
    # t_session = t_device + offset; the device started (device_start - reference_start) later
    assert estimate.offset_s == pytest.approx(device_start - reference_start, abs=1 / RATE)
    assert estimate.confidence_psr > 20


def test_lag_beyond_max_lag_is_not_found():
    world = _world(90)
    reference, device = _record(world, 0.0, 40, 1), _record(world, 20.0, 40, 2)
    ok = estimate_offset(reference, device, RATE, defaults_for(SyncSettings, max_lag_s=30))
    assert ok.offset_s == pytest.approx(20.0, abs=1e-3)
    limited = estimate_offset(reference, device, RATE, defaults_for(SyncSettings, max_lag_s=5))
    assert abs(limited.offset_s - 20.0) > 1 and limited.confidence_psr < 8


def test_drift_is_measured_on_long_recordings():
    world = _world(700, seed=3)
    reference = _record(world, 1.0, 600, 1)
    ppm = 40.0
    t_device = np.arange(600 * RATE) / RATE
    device = np.interp((1.5 + t_device * (1 + ppm * 1e-6)) * RATE, np.arange(len(world)), world).astype(np.float32)
    result = sync_device("d", "learner", "r", reference, device, RATE, None, SETTINGS)
    assert result.drift_ppm == pytest.approx(ppm, abs=3)
    assert result.offset_s == pytest.approx(0.5, abs=2e-3)
    short = estimate_drift(reference[: 60 * RATE], device[: 60 * RATE], RATE, 0.5, SETTINGS)
    assert short["applied"] is False and short["drift_ppm"] == 0.0


def test_reference_and_sheet_offsets():
    assert sync_device("r", "instructor", "r", None, None, RATE, None, SETTINGS).method == "reference"
    given = sync_device("d", "exo", "r", None, None, RATE, sheet_offset_s=-1.25, settings=SETTINGS)
    assert given.method == "sheet_offset" and given.offset_s == -1.25


def test_non_overlapping_audio_is_a_clear_error_or_flag():
    world = _world(200)
    reference, device = _record(world, 0.0, 60, 1), _record(world, 120.0, 60, 2)
    with pytest.raises(InputError, match=r"matches the reference r only weakly .*offset_s column"):
        sync_device("d", "learner", "r", reference, device, RATE, None, SETTINGS, where="sheet.tsv: session s1")
    flagged = sync_device("d", "learner", "r", reference, device, RATE, None, WARN)
    assert flagged.low_confidence and "weakly" in flagged.message


def test_device_without_audio():
    reference = _record(_world(70), 0.0, 60, 1)
    with pytest.raises(InputError, match="d has no usable audio.*offset_s"):
        sync_device("d", "exo", "r", reference, None, RATE, None, SETTINGS)
    silent = sync_device("d", "exo", "r", reference, np.zeros(RATE, np.float32), RATE, None, WARN)
    assert silent.method == "unsynchronised" and silent.low_confidence


def test_alignment_report_and_summary():
    world = _world(70)
    reference = _record(world, 0.0, 60, 1)
    aligned = _record(world, 0.0, 60, 2)
    late = _record(world, 0.02, 60, 3)  # 20 ms misaligned
    report = alignment_report("r", {"r": reference, "a": aligned, "b": late, "c": np.zeros(10)}, RATE, SETTINGS)
    assert abs(report["devices"]["a"]["residual_lag_s"]) < 1e-4
    assert report["devices"]["b"]["residual_lag_s"] == pytest.approx(0.02, abs=1e-4)
    assert report["devices"]["c"]["residual_lag_s"] is None
    devices = [sync_device("r", "instructor", "r", reference, reference, RATE, None, SETTINGS).to_dict(),
               sync_device("b", "learner", "r", reference, late, RATE, None, SETTINGS).to_dict()]
    summary = session_sync_summary("s1", "r", 60.0, devices, [], SETTINGS)
    assert summary["devices"]["b"]["offset_s"] == pytest.approx(0.02, abs=1e-4)
    assert summary["min_confidence_psr"] == devices[1]["confidence_psr"]


def test_inverted_polarity_microphone():
    world = _world(90)
    reference = _record(world, 2.0, 60, 1)
    inverted = -_record(world, 3.25, 60, 2)
    estimate = estimate_offset(reference, inverted, RATE, SETTINGS)
    assert estimate.offset_s == pytest.approx(1.25, abs=1 / RATE)
    assert estimate.confidence_psr > 20


def test_every_stretch_of_a_device_agrees_with_its_estimate():
    world = _world(90)
    reference, device = _record(world, 2.0, 60, 1), _record(world, 3.25, 60, 2)
    result = sync_device("d", "learner", "r", reference, device, RATE, None, SETTINGS)
    agreement = result.agreement
    assert agreement["checked"] and agreement["agrees"] and len(agreement["windows"]) == SETTINGS.agreement_windows
    assert all(w["agrees"] and w["offset_s"] == pytest.approx(1.25, abs=1e-3) for w in agreement["windows"])
    short = window_agreement(reference[: 9 * RATE], device[: 9 * RATE], RATE, 1.25, 0.0, SETTINGS)
    assert not short["checked"] and short["agrees"] and "shorter" in short["reason"]


def test_a_recording_whose_stretches_land_elsewhere_is_low_confidence():
    """Audio that matches as a whole but not stretch by stretch (spliced, or another session's
    recording that shares some sounds): a confident peak is not enough."""
    world = _world(200)
    reference = _record(world, 0.0, 90, 1)
    device = np.concatenate([_record(world, 10.0, 40, 2), _record(world, 30.0, 20, 3)])  # the second part 20 s late
    with pytest.raises(InputError, match=r"stretches of it land elsewhere.*not of the same session.*offset_s column"):
        sync_device("d", "learner", "r", reference, device, RATE, None, SETTINGS, where="sheet.tsv: session s1")
    flagged = sync_device("d", "learner", "r", reference, device, RATE, None, WARN)
    assert flagged.low_confidence and flagged.confidence_psr >= SETTINGS.min_confidence_psr
    assert [w["agrees"] for w in flagged.agreement["windows"]].count(False) >= 1


def test_pairs_of_devices_must_agree_with_their_clocks():
    world = _world(90)
    tracks = {"r": _record(world, 2.0, 60, 1), "a": _record(world, 3.0, 60, 2), "b": _record(world, 1.5, 60, 3)}
    devices = {name: sync_device(name, "learner", "r", tracks["r"], tracks[name], RATE, None, SETTINGS).to_dict()
               for name in tracks}
    pairs = pair_closure(tracks, devices, RATE, SETTINGS)
    assert [p["devices"] for p in pairs] == [["a", "b"]] and pairs[0]["agrees"]
    assert pairs[0]["offset_s"] == pytest.approx(devices["b"]["offset_s"] - devices["a"]["offset_s"], abs=1e-3)
    # b's clock off by 0.3 s (as a wrong sheet offset or a wrong estimate would make it)
    wrong = {**devices, "b": {**devices["b"], "offset_s": devices["b"]["offset_s"] + 0.3}}
    bad = pair_closure(tracks, wrong, RATE, SETTINGS)
    assert bad[0]["agrees"] is False
    records = list(wrong.values())
    with pytest.raises(InputError, match=r"sheet.tsv: session s1: the clocks of a and b disagree.*offset_s column"):
        session_sync_summary("s1", "r", 60.0, records, bad, SETTINGS, where="sheet.tsv: session s1")
    summary = session_sync_summary("s1", "r", 60.0, records, bad, WARN)
    assert summary["devices"]["a"]["low_confidence"] and summary["devices"]["b"]["low_confidence"]
    assert summary["pairs"] == bad and not summary["devices"]["r"]["low_confidence"]
