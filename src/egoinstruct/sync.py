"""Put every device of a session on one clock: offsets (and drift) from audio cross-correlation.

Convention: ``t_session = offset_s + t_device · (1 + drift_ppm·1e-6)``; the reference device has
offset 0 and no drift, so t = 0 is its first frame. A sound heard at reference time ``t_r`` and
device time ``t_d`` gives ``offset_s = t_r − t_d``.

Estimation (:func:`estimate_offset`): GCC-PHAT between band-limited 16 kHz mono tracks,
coarse-to-fine — a coarse search over the whole allowed lag range (± ``max_lag_s``) on audio
decimated to ``coarse_rate_hz``, then a fine search at 16 kHz within a few coarse samples of the
coarse peak, with parabolic interpolation for a sub-sample lag. Confidence is the peak-to-sidelobe
ratio (PSR) of the fine correlation's magnitude (microphone polarity may differ between devices):
(peak − mean of the sidelobes) / their standard deviation, sidelobes being everything farther
than ``psr_exclusion_s`` from the peak.

Drift (:func:`estimate_drift`): the offset is re-estimated in windows spread over the session
(fine search around the global offset); a PSR-weighted line through (device time, offset) gives
the drift. It is applied only when at least three windows are confident and the session is long
enough for drift to matter (``min_duration_for_drift_s``); otherwise it is reported as 0 with the
reason.

Sanity (a confident peak can still be wrong: speech that repeats across sessions, audio of
another session): :func:`window_agreement` cuts the device's recording into
``agreement_windows`` stretches and locates each in the reference on its own (full search); a
confident stretch more than ``agreement_tolerance_s`` from the whole-recording estimate (drift
included) makes the estimate low-confidence. :func:`pair_closure` checks that every directly
correlated pair of devices agrees with their two offsets (sheet offsets included; with only
audio estimates this needs three devices).
Either failure follows ``sync.on_low_confidence``, like a weak peak.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import signal

from egoinstruct.errors import InputError
from egoinstruct.settings.ingest import SyncSettings

# Fixed parts of the method (not settings): the fine search spans this much around the coarse
# peak (s), and the peak-to-sidelobe ratio ignores this neighbourhood of the peak (s).
FINE_SEARCH_S = 0.05
PSR_EXCLUSION_S = 0.02


@dataclass
class OffsetEstimate:
    offset_s: float
    confidence_psr: float
    coarse_offset_s: float
    # correlation around the peak for the diagnostic plot (lags in s relative to nothing: absolute)
    curve_lag_s: list[float] = field(default_factory=list)
    curve_value: list[float] = field(default_factory=list)


def _bandpass(x: np.ndarray, rate: int, band: tuple[float, float]) -> np.ndarray:
    high = min(band[1], 0.45 * rate)
    sos = signal.butter(4, [band[0], high], btype="bandpass", fs=rate, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def _gcc_phat(
    reference: np.ndarray, other: np.ndarray, rate_hz: float, band_hz: tuple[float, float]
) -> tuple[np.ndarray, int]:
    """Generalised cross-correlation with phase transform.

    Returns ``cc`` and ``n`` such that ``cc[k mod n]`` scores the lag ``k`` (in samples) where
    ``reference[i + k]`` matches ``other[i]``: a positive lag means the event happens later on
    the reference than on the other device, i.e. offset = +lag.
    """
    n = 1 << int(np.ceil(np.log2(len(reference) + len(other))))
    spectrum = np.fft.rfft(reference, n) * np.conj(np.fft.rfft(other, n))
    spectrum /= np.maximum(np.abs(spectrum), 1e-12)
    # PHAT gives every bin unit weight; bins outside the speech band carry only filter residue
    # and noise, so they are zeroed rather than amplified.
    freqs = np.fft.rfftfreq(n, 1.0 / rate_hz)
    spectrum[(freqs < band_hz[0]) | (freqs > band_hz[1])] = 0.0
    return np.fft.irfft(spectrum, n), n


def _lag_window(cc: np.ndarray, n: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    lags = np.arange(lo, hi + 1)
    return lags, cc[lags % n]


def _psr(values: np.ndarray, peak: int, exclusion: int) -> float:
    mask = np.ones(len(values), dtype=bool)
    mask[max(0, peak - exclusion) : peak + exclusion + 1] = False
    side = values[mask]
    if len(side) < 10:
        return 0.0
    return float((values[peak] - side.mean()) / (side.std() + 1e-12))


def _parabolic(values: np.ndarray, peak: int) -> float:
    if 0 < peak < len(values) - 1:
        a, b, c = values[peak - 1], values[peak], values[peak + 1]
        denominator = a - 2 * b + c
        if denominator != 0:
            return float(0.5 * (a - c) / denominator)
    return 0.0


def estimate_offset(
    reference: np.ndarray,
    other: np.ndarray,
    rate_hz: int,
    settings: SyncSettings,
    around_s: float | None = None,
    search_s: float = FINE_SEARCH_S,
    centre_s: float = 0.0,
) -> OffsetEstimate:
    """Offset of ``other`` relative to ``reference`` (both mono at ``rate_hz``, device clocks).

    With ``around_s`` only lags within ``search_s`` of it are searched (drift
    windows); otherwise the coarse search spans ``centre_s`` ± ``settings.max_lag_s`` (a stretch
    of a device cut from time t matches the reference at lag offset + t).
    """
    if len(reference) == 0 or len(other) == 0:
        return OffsetEstimate(0.0, 0.0, 0.0)
    ref = _bandpass(reference, rate_hz, settings.band_hz)
    oth = _bandpass(other, rate_hz, settings.band_hz)
    if around_s is None:
        factor = max(1, rate_hz // settings.coarse_rate_hz)
        ref_c = signal.resample_poly(ref, 1, factor) if factor > 1 else ref
        oth_c = signal.resample_poly(oth, 1, factor) if factor > 1 else oth
        coarse_rate = rate_hz / factor
        cc, n = _gcc_phat(ref_c, oth_c, coarse_rate, settings.band_hz)
        max_lag = int(settings.max_lag_s * coarse_rate)
        centre = int(round(centre_s * coarse_rate))
        lags, values = _lag_window(cc, n, centre - max_lag, centre + max_lag)
        coarse = float(lags[int(np.argmax(np.abs(values)))] / coarse_rate)
        search = max(search_s, 3.0 / coarse_rate)
    else:
        coarse, search = float(around_s), search_s
    cc, n = _gcc_phat(ref, oth, rate_hz, settings.band_hz)
    centre = int(round(coarse * rate_hz))
    half = int(round(search * rate_hz))
    lags, values = _lag_window(cc, n, centre - half, centre + half)
    # Microphones can differ in polarity: a strong negative peak is as good a match.
    magnitude = np.abs(values)
    peak = int(np.argmax(magnitude))
    offset = (lags[peak] + _parabolic(magnitude, peak)) / rate_hz
    # PSR over a wider neighbourhood so the sidelobe statistics are meaningful.
    wide = max(half, int(0.5 * rate_hz))
    wide_lags, wide_values = _lag_window(cc, n, centre - wide, centre + wide)
    wide_peak = int(np.flatnonzero(wide_lags == lags[peak])[0])
    psr = _psr(np.abs(wide_values), wide_peak, int(PSR_EXCLUSION_S * rate_hz))
    step = max(1, len(wide_lags) // 1000)
    return OffsetEstimate(
        offset_s=float(offset),
        confidence_psr=psr,
        coarse_offset_s=coarse,
        curve_lag_s=(wide_lags[::step] / rate_hz).round(6).tolist(),
        curve_value=wide_values[::step].round(6).tolist(),
    )


def estimate_drift(
    reference: np.ndarray,
    other: np.ndarray,
    rate_hz: int,
    offset_s: float,
    settings: SyncSettings,
) -> dict[str, Any]:
    """Offsets in windows over the session and a weighted line fit; drift in ppm (may be 0)."""
    duration = len(other) / rate_hz
    window = settings.drift_window_s
    if duration < settings.min_duration_for_drift_s or duration < 2 * window:
        return {"drift_ppm": 0.0, "applied": False, "reason": f"device recording shorter than {settings.min_duration_for_drift_s:g} s", "windows": []}
    starts = np.linspace(0.0, duration - window, settings.drift_windows)
    windows = []
    for start in starts:
        a, b = int(start * rate_hz), int((start + window) * rate_hz)
        # The matching reference stretch starts at start + offset on the reference clock.
        r0 = int(round((start + offset_s) * rate_hz)) - int(FINE_SEARCH_S * rate_hz)
        r0c = max(r0, 0)
        ref_part = reference[r0c : r0c + (b - a) + 2 * int(FINE_SEARCH_S * rate_hz)]
        if len(ref_part) < rate_hz:
            continue
        expected = offset_s - r0c / rate_hz + a / rate_hz  # the lag in these local coordinates
        local = estimate_offset(ref_part, other[a:b], rate_hz, settings, around_s=expected)
        windows.append(
            {
                "device_time_s": float(start + window / 2),
                "offset_s": float(local.offset_s + r0c / rate_hz - a / rate_hz),
                "confidence_psr": local.confidence_psr,
            }
        )
    good = [w for w in windows if w["confidence_psr"] >= settings.min_confidence_psr]
    if len(good) < 3:
        return {"drift_ppm": 0.0, "applied": False, "reason": "fewer than 3 confident windows", "windows": windows}
    t = np.array([w["device_time_s"] for w in good])
    y = np.array([w["offset_s"] for w in good])
    weights = np.array([w["confidence_psr"] for w in good])
    slope, intercept = np.polyfit(t, y, 1, w=weights)
    return {
        "drift_ppm": float(slope * 1e6),
        "offset_at_zero_s": float(intercept),
        "confidence_psr": float(np.median(weights)),
        "applied": True,
        "reason": "",
        "windows": windows,
    }


@dataclass
class DeviceSync:
    """The clock of one device relative to the session clock, and how it was found."""

    device: str
    role: str
    reference_device: str
    method: str  # reference | sheet_offset | gcc_phat | unsynchronised
    offset_s: float
    drift_ppm: float = 0.0
    confidence_psr: float | None = None
    low_confidence: bool = False
    message: str = ""
    coarse_offset_s: float | None = None
    drift: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    curve_lag_s: list[float] = field(default_factory=list)
    curve_value: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Stretches shorter than this (s) say too little to check an estimate with.
MIN_AGREEMENT_WINDOW_S = 5.0


def window_agreement(
    reference: np.ndarray, other: np.ndarray, rate_hz: int, offset_s: float, drift_ppm: float,
    settings: SyncSettings,
) -> dict[str, Any]:
    """Each stretch of ``other`` located in ``reference`` alone, against the whole estimate.

    Returns ``{"checked", "agrees", "reason", "windows": [{device_time_s, offset_s, expected_s,
    confidence_psr, agrees}]}``; a window with a weak peak (PSR below the minimum) says nothing
    (``agrees`` None); the estimate agrees when no confident window disagrees.
    """
    length = len(other) // settings.agreement_windows
    if length < MIN_AGREEMENT_WINDOW_S * rate_hz:
        return {"checked": False, "agrees": True, "windows": [],
                "reason": f"recording shorter than {settings.agreement_windows} x {MIN_AGREEMENT_WINDOW_S:g} s"}
    windows = []
    for i in range(settings.agreement_windows):
        a, b = i * length, (i + 1) * length
        local = estimate_offset(reference, other[a:b], rate_hz, settings, centre_s=a / rate_hz)
        centre = (a + b) / 2 / rate_hz
        found = local.offset_s - a / rate_hz
        expected = offset_s + centre * drift_ppm * 1e-6
        confident = local.confidence_psr >= settings.min_confidence_psr
        windows.append({
            "device_time_s": centre, "offset_s": found, "expected_s": expected,
            "confidence_psr": local.confidence_psr,
            "agrees": bool(abs(found - expected) <= settings.agreement_tolerance_s) if confident else None,
        })
    agrees = not any(w["agrees"] is False for w in windows)
    return {"checked": True, "agrees": agrees, "reason": "", "windows": windows}


def sync_device(
    device: str,
    role: str,
    reference_device: str,
    reference_audio: np.ndarray | None,
    device_audio: np.ndarray | None,
    rate_hz: int,
    sheet_offset_s: float | None,
    settings: SyncSettings,
    where: str = "",
) -> DeviceSync:
    """Clock of ``device``: the reference itself, a sheet offset, or a GCC-PHAT estimate.

    Low confidence (PSR below ``settings.min_confidence_psr``, no audio, or audio that does not
    overlap the reference) raises :class:`InputError` when ``settings.on_low_confidence == "error"``; with
    ``"warn"`` the estimate is kept and flagged ``low_confidence`` (offset 0 when there was no
    audio to estimate from).
    """
    if device == reference_device:
        return DeviceSync(device, role, reference_device, "reference", 0.0, confidence_psr=None)
    if sheet_offset_s is not None:
        return DeviceSync(device, role, reference_device, "sheet_offset", float(sheet_offset_s))
    prefix = f"{where}: " if where else ""
    fix = (
        "give the device's offset in the sample sheet's offset_s column, or set "
        "sync.on_low_confidence: warn to continue with a flagged estimate"
    )
    if reference_audio is None or device_audio is None or not np.any(device_audio) or not np.any(reference_audio):
        missing = reference_device if reference_audio is None or not np.any(reference_audio) else device
        message = f"{prefix}{missing} has no usable audio, so {device} cannot be synchronised by audio"
        if settings.on_low_confidence == "error":
            raise InputError(f"{message}; {fix}")
        return DeviceSync(device, role, reference_device, "unsynchronised", 0.0, 0.0, True, message)
    estimate = estimate_offset(reference_audio, device_audio, rate_hz, settings)
    drift = estimate_drift(reference_audio, device_audio, rate_hz, estimate.offset_s, settings)
    # With drift the whole-session peak is smeared; the windowed line is the better estimate.
    offset, confidence = estimate.offset_s, estimate.confidence_psr
    if drift["applied"]:
        offset, confidence = drift["offset_at_zero_s"], max(confidence, drift["confidence_psr"])
    drift_ppm = drift["drift_ppm"] if drift["applied"] else 0.0
    agreement = window_agreement(reference_audio, device_audio, rate_hz, offset, drift_ppm, settings)
    result = DeviceSync(
        device,
        role,
        reference_device,
        "gcc_phat",
        offset,
        drift_ppm=drift_ppm,
        confidence_psr=confidence,
        coarse_offset_s=estimate.coarse_offset_s,
        drift=drift,
        agreement=agreement,
        curve_lag_s=estimate.curve_lag_s,
        curve_value=estimate.curve_value,
    )
    message = ""
    if confidence < settings.min_confidence_psr:
        message = (
            f"{prefix}audio of {device} matches the reference {reference_device} only weakly "
            f"(peak-to-sidelobe ratio {confidence:.1f} < {settings.min_confidence_psr:g}; "
            f"best offset {offset:+.3f} s): the recordings may not overlap in time or "
            f"the lag exceeds sync.max_lag_s ({settings.max_lag_s:g} s)"
        )
    elif not agreement["agrees"]:
        found = ", ".join(f"{w['offset_s']:+.3f} s at {w['device_time_s']:.0f} s" for w in agreement["windows"]
                          if w["agrees"] is False)
        message = (
            f"{prefix}the audio of {device} matches the reference {reference_device} as a whole at {offset:+.3f} s, "
            f"but stretches of it land elsewhere ({found}; tolerance {settings.agreement_tolerance_s:g} s): the "
            "recordings are probably not of the same session — check the device's file in the sample sheet"
        )
    if message:
        if settings.on_low_confidence == "error":
            raise InputError(f"{message}; {fix}")
        result.low_confidence = True
        result.message = message
    return result


def pair_closure(
    tracks: dict[str, np.ndarray], devices: dict[str, dict[str, Any]], rate_hz: int, settings: SyncSettings,
) -> list[dict[str, Any]]:
    """Every pair of devices with audio, correlated directly: the pair offset (B relative to A)
    against ``offset_B − offset_A``. ``devices``: device -> its sync record; ``tracks``: device ->
    audio on its own clock. A pair of the reference and a device estimated against it says nothing
    new and is skipped; a sheet offset is checked like an estimate. Pairs without a confident
    direct peak (a camera far from both wearers) are listed with ``agrees`` None."""
    clocked = [d for d, record in devices.items()
               if record["method"] in ("reference", "gcc_phat", "sheet_offset") and np.any(tracks.get(d, []))]
    pairs = []
    for i, a in enumerate(clocked):
        for b in clocked[i + 1:]:
            if {devices[a]["method"], devices[b]["method"]} == {"reference", "gcc_phat"}:
                continue
            direct = estimate_offset(tracks[a], tracks[b], rate_hz, settings)
            expected = devices[b]["offset_s"] - devices[a]["offset_s"]
            confident = direct.confidence_psr >= settings.min_confidence_psr
            pairs.append({
                "devices": [a, b], "offset_s": direct.offset_s, "expected_s": expected,
                "confidence_psr": direct.confidence_psr,
                "agrees": bool(abs(direct.offset_s - expected) <= settings.agreement_tolerance_s) if confident else None,
            })
    return pairs


def session_sync_summary(
    session: str,
    reference_device: str,
    duration_s: float,
    devices: list[dict[str, Any]],
    pairs: list[dict[str, Any]],
    settings: SyncSettings,
    where: str = "",
) -> dict[str, Any]:
    """The session's ``sync.json`` — the session clock every later stage reads: one clock per
    device (curves left out), the pair checks (:func:`pair_closure`), the worst confidence. A
    confident pair that disagrees follows ``settings.on_low_confidence``: an :class:`InputError`,
    or both devices flagged low-confidence."""
    keep = ("role", "method", "offset_s", "drift_ppm", "confidence_psr", "low_confidence", "message")
    clocks = {d["device"]: {**{k: d[k] for k in keep}, "drift_reason": d.get("drift", {}).get("reason", "")}
              for d in devices}
    for pair in pairs:
        if pair["agrees"] is not False:
            continue
        a, b = pair["devices"]
        message = (
            f"{where + ': ' if where else ''}the clocks of {a} and {b} disagree: each against the reference "
            f"{reference_device} puts {b} {pair['expected_s']:+.3f} s from {a}, their own audio {pair['offset_s']:+.3f} s "
            f"(tolerance {settings.agreement_tolerance_s:g} s) — one of them is synchronised wrongly"
        )
        if settings.on_low_confidence == "error":
            raise InputError(
                f"{message}; check both devices' files, give their offsets in the sample sheet's offset_s column, "
                "or set sync.on_low_confidence: warn to continue with flagged clocks"
            )
        for device in (a, b):
            clocks[device]["low_confidence"] = True
            clocks[device]["message"] = "; ".join(m for m in (clocks[device]["message"], message) if m)
    confidences = [d["confidence_psr"] for d in devices if d["method"] == "gcc_phat"]
    return {
        "session": session,
        "reference_device": reference_device,
        "session_duration_s": duration_s,
        "convention": "t_session = offset_s + t_device * (1 + drift_ppm * 1e-6)",
        "min_confidence_psr": min(confidences) if confidences else None,
        "devices": clocks,
        "pairs": pairs,
    }


def plot_sync(devices: list[dict[str, Any]], path: str, title: str) -> None:
    """Diagnostic plot: the GCC-PHAT correlation around the chosen lag, one panel per device."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    estimated = [d for d in devices if d["curve_lag_s"]]
    n = max(1, len(estimated))
    fig, axes = plt.subplots(n, 1, figsize=(7, 1.9 * n + 0.6), squeeze=False)
    for ax, d in zip(axes[:, 0], estimated, strict=False):
        ax.plot(d["curve_lag_s"], d["curve_value"], lw=0.8, color="#3b6ea8")
        ax.axvline(d["offset_s"], color="#c0392b", lw=1, ls="--")
        flag = "  LOW CONFIDENCE" if d["low_confidence"] else ""
        ax.set_title(
            f"{d['device']} vs {d['reference_device']}: offset {d['offset_s']:+.4f} s, "
            f"PSR {d['confidence_psr']:.1f}, drift {d['drift_ppm']:+.1f} ppm{flag}",
            fontsize=9,
        )
        ax.set_ylabel("GCC-PHAT", fontsize=8)
        ax.tick_params(labelsize=7)
    if not estimated:
        axes[0, 0].text(0.5, 0.5, "no device synchronised by audio (reference or sheet offsets only)",
                        ha="center", va="center", fontsize=9)
        axes[0, 0].set_axis_off()
    axes[-1, 0].set_xlabel("lag = offset (s)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def alignment_report(
    reference_device: str,
    tracks: dict[str, np.ndarray],
    rate_hz: int,
    settings: SyncSettings,
) -> dict[str, Any]:
    """Residual lag (s) of every session-aligned track against the reference track.

    After a correct sync every residual is ~0 (well under a video frame); devices without audio
    get ``None``.
    """
    reference = tracks[reference_device]
    devices: dict[str, Any] = {}
    for device, track in tracks.items():
        if device == reference_device:
            continue
        if not np.any(track) or not np.any(reference):
            devices[device] = {"residual_lag_s": None, "confidence_psr": None}
            continue
        estimate = estimate_offset(reference, track, rate_hz, settings, around_s=0.0, search_s=0.25)
        devices[device] = {"residual_lag_s": estimate.offset_s, "confidence_psr": estimate.confidence_psr}
    lags = [abs(d["residual_lag_s"]) for d in devices.values() if d["residual_lag_s"] is not None]
    return {
        "reference_device": reference_device,
        "max_abs_residual_lag_s": max(lags) if lags else None,
        "devices": devices,
    }
