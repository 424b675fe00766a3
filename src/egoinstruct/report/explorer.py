"""Session explorer: one offline HTML page per session (``results/report/sessions/{session}.html``).

The page shows a session as the data are: every device's analysis stream on the session clock with
the gaze point, fixations and the partner's face box drawn over the head cameras' video, the
transcript with word timing, and stacked timelines under one cursor (ground truth, every method's
predictions, MLLM windows with their inputs and raw answers, speech turns, gaze targets, sync
checks). It opens from disk with no server: browsers refuse ``fetch`` of ``file://`` URLs, so
the data travel as small JavaScript files beside the page (``{session}/*.js``, each one call of
``egoExplorerData(name, value)``) that the page adds as ``<script>`` elements when it needs them.
The page's own script and style (``explorer_static/``) are inlined; the videos are linked where
the pipeline wrote them (``results/sessions/{session}/analysis/{device}.mp4``), so the report
folder and ``results/sessions`` must stay side by side.

Everything here reads tables the workflow already wrote; nothing is recomputed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.io import atomic_path, write_text
from egoinstruct.report.data import read_json
from egoinstruct.report.html import esc
from egoinstruct.tables import table_metadata

# Positions are rounded when written: a millisecond and a tenth of a pixel are below what the
# page can show, and they keep a 12-minute session's data small.
TIME_DIGITS = 3
PIXEL_DIGITS = 1


@dataclass(frozen=True)
class DeviceLayers:
    """One device's files: its analysis stream (MP4 + Parquet index), gaze and faces tables."""

    name: str
    role: str
    stream: str | Path | None = None
    stream_index: str | Path | None = None
    gaze: str | Path | None = None
    faces: str | Path | None = None
    sync: str | Path | None = None  # sync/{device}.json


@dataclass(frozen=True)
class SessionLayers:
    """Every file a session's page reads (each optional: a page shows what there is)."""

    session: str
    duration_s: float
    procedure: str | None = None
    devices: Sequence[DeviceLayers] = ()
    transcript: str | Path | None = None
    turns: str | Path | None = None
    annotations: str | Path | None = None
    # (task, model) -> the model's per-window answers for this session
    mllm_windows: Mapping[tuple[str, str], str | Path] = field(default_factory=dict)
    synthetic: bool = False  # a demo session: the page says its figures are on synthetic data

    def paths(self) -> list[Path]:
        files: list[str | Path | None] = [self.transcript, self.turns, self.annotations, *self.mllm_windows.values()]
        for d in self.devices:
            files += [d.stream, d.stream_index, d.gaze, d.faces, d.sync]
        return [Path(p) for p in files if p is not None]


def run_segments(t: np.ndarray, labels: Sequence[Any] | pd.Series, end: float | None = None) -> list[list[Any]]:
    """Runs of equal labels on a time grid: ``[[t_start, t_end, label], ...]``. A run ends where
    the next one starts (the last at ``end``, else one grid step after its last row); missing
    labels (None / NaN / empty) make no segment."""
    t = np.asarray(t, dtype=np.float64)
    if len(t) == 0:
        return []
    codes, names = pd.factorize(pd.Series(labels) if not isinstance(labels, pd.Series) else labels)
    names = [str(n) for n in names]
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    changes = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.r_[0, changes]
    stops = np.r_[t[changes], end if end is not None else t[-1] + step]
    keep = codes[starts] >= 0  # -1: missing
    keep[keep] = [names[c] != "" for c in codes[starts][keep]]
    return [[a, b, names[c]] for a, b, c in zip(np.round(t[starts][keep], TIME_DIGITS).tolist(),
                                                 np.round(stops[keep], TIME_DIGITS).tolist(),
                                                 codes[starts][keep].tolist(), strict=True)]


def stream_facts(layer: DeviceLayers, page_dir: Path) -> dict[str, Any]:
    """Where a device's stream is (relative to the page) and how its time maps to the session's:
    the stream's first frame is the index's first row, so session t = t0 + video time."""
    if layer.stream is None or layer.stream_index is None:
        return {"video": None}
    t = pq.read_table(layer.stream_index, columns=["t"]).column("t").to_numpy()
    meta = table_metadata(layer.stream_index)
    width, height = int(meta["width"]), int(meta["height"])
    return {
        "video": Path(os.path.relpath(layer.stream, page_dir)).as_posix(),
        "t0": round(float(t[0]), 6) if len(t) else 0.0,
        "t_end": round(float(t[-1]), 6) if len(t) else 0.0,
        "fps": float(meta["fps"]),
        "width": width,
        "height": height,
        "source_width": int(meta.get("source_width", width)),
        "source_height": int(meta.get("source_height", height)),
    }


def fixation_spans(t: np.ndarray, u: np.ndarray, v: np.ndarray, fixation_id: np.ndarray) -> list[list[float]]:
    """Each fixation (rows sharing an id >= 0, inside the image): [t_first, t_last, mean u, mean v]."""
    keep = (fixation_id >= 0) & np.isfinite(u) & np.isfinite(v)
    if not keep.any():
        return []
    ids, t, u, v = fixation_id[keep], t[keep], u[keep], v[keep]
    order = np.argsort(ids, kind="stable")
    ids, t, u, v = ids[order], t[order], u[order], v[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, len(ids)])
    first, last = t[starts], t[starts + counts - 1]
    mean_u, mean_v = np.add.reduceat(u, starts) / counts, np.add.reduceat(v, starts) / counts
    spans = np.column_stack([np.round(first, TIME_DIGITS), np.round(last, TIME_DIGITS),
                             np.round(mean_u, PIXEL_DIGITS), np.round(mean_v, PIXEL_DIGITS)])
    return spans[np.argsort(spans[:, 0], kind="stable")].tolist()


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 (nulls: NaN)."""
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def _texts(table: pa.Table, name: str) -> list[str]:
    return [x or "" for x in table.column(name).to_pylist()]


def _scaled(values: np.ndarray, factor: int) -> list[int | None]:
    """Numbers as integers of 1/factor (JSON integers: smaller and quicker to write and parse
    than decimals); NaN as None."""
    scaled = np.round(values * factor)
    missing = np.isnan(scaled)
    if not missing.any():
        return scaled.astype(np.int64).tolist()
    out = np.where(missing, 0, scaled).astype(np.int64).astype(object)
    out[missing] = None
    return out.tolist()


def gaze_layer(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The gaze track in the camera's pixels (the stream's source pixels) — t in ms, u and v in
    tenths of a pixel (None outside the image), fixations with their mean position — and each
    row's gaze target (drawn as a timeline, not needed by the overlay)."""
    table = pq.read_table(path, columns=["t", "u_px", "v_px", "in_frame", "fixation_id", "target"])
    meta = table_metadata(path)
    t = _numbers(table, "t")
    inside = table.column("in_frame").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    u = np.where(inside, _numbers(table, "u_px"), np.nan)
    v = np.where(inside, _numbers(table, "v_px"), np.nan)
    camera = json.loads(meta.get("camera", "null") or "null") or {}
    layer = {
        "t_ms": _scaled(t, 1000),
        "u_tenths": _scaled(u, 10),
        "v_tenths": _scaled(v, 10),
        "fixations": fixation_spans(t, u, v, table.column("fixation_id").fill_null(-1).to_numpy().astype(np.int64)),
        "width": camera.get("width"),
        "height": camera.get("height"),
        "rate_hz": float(meta.get("rate_hz", "nan")),
    }
    return layer, _texts(table, "target")


def faces_layer(path: str | Path) -> dict[str, Any]:
    """The partner's face box per face frame (None where no face), in whole pixels of the
    recording; t in ms."""
    f = pq.read_table(path, columns=["t", "width", "height", "face_x0", "face_y0", "face_x1", "face_y1"])
    boxes = np.column_stack([_numbers(f, c) for c in ("face_x0", "face_y0", "face_x1", "face_y1")])
    found = np.isfinite(boxes).all(axis=1)
    rounded = np.where(np.isfinite(boxes), np.round(boxes), 0).astype(int).tolist()  # whole pixels
    return {
        "t_ms": _scaled(_numbers(f, "t"), 1000),
        "box": [b if ok else None for b, ok in zip(rounded, found.tolist(), strict=True)],
        "width": int(f.column("width")[0].as_py()) if f.num_rows else None,
        "height": int(f.column("height")[0].as_py()) if f.num_rows else None,
    }


def transcript_layer(path: str | Path) -> list[dict[str, Any]]:
    """Utterances in time order: start, end, role, speaker, text and words [[start, end, word]]."""
    rows = pq.read_table(path, columns=["t_start", "t_end", "speaker", "role", "text", "words"]).to_pylist()
    out = []
    for row in sorted(rows, key=lambda r: r["t_start"]):
        words = [[round(float(w["t_start"]), TIME_DIGITS), round(float(w["t_end"]), TIME_DIGITS), str(w["word"])]
                 for w in row["words"] or []
                 if w.get("t_start") is not None and w.get("t_end") is not None]
        out.append({"t0": round(float(row["t_start"]), TIME_DIGITS), "t1": round(float(row["t_end"]), TIME_DIGITS),
                    "role": str(row["role"] or ""), "speaker": str(row["speaker"] or ""), "text": str(row["text"]),
                    "words": words})
    return out


def _track(track_id: str, group: str, title: str, segments: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {"id": track_id, "group": group, "title": title, "segments": segments, **extra}


def truth_tracks(path: str | Path) -> list[dict[str, Any]]:
    """Ground truth per annotated tier (steps, states), from the validated annotations."""
    tiers = _grouped(pq.read_table(path, columns=["tier", "t_start", "t_end", "label"]).to_pylist(), "tier")
    return [_track(f"truth:{tier}", "truth", f"truth · {tier}", _spans(rows, "label"), task=tier)
            for tier, rows in tiers.items()]


def _grouped(records: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    """Records by ``key`` (first-seen order), each group sorted by t_start."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r[key] or ""), []).append(r)
    return {k: sorted(v, key=lambda r: r["t_start"]) for k, v in groups.items()}


def _spans(rows: list[dict[str, Any]], label: str) -> list[list[Any]]:
    return [[round(float(r["t_start"]), TIME_DIGITS), round(float(r["t_end"]), TIME_DIGITS), str(r[label])]
            for r in rows]


def prediction_tracks(session: str, task: str, frames: pd.DataFrame) -> list[dict[str, Any]]:
    """Each method's labels on the evaluation grid for one session (``metrics/{task}/frames.parquet``),
    with the fold whose model made them (-1: no folds)."""
    rows = frames[frames["session"] == session]
    tracks = []
    for method, m in rows.groupby("method", sort=False):
        m = m.sort_values("t")
        folds = sorted(int(f) for f in m["fold"].unique())
        fold_text = "" if folds == [-1] else " · fold " + ",".join(str(f) for f in folds)
        tracks.append(_track(f"pred:{task}:{method}", "prediction", f"{method}{fold_text}",
                             run_segments(m["t"].to_numpy(), m["label"]), task=task, method=str(method),
                             folds=folds))
    return tracks


MLLM_DETAIL_COLUMNS = ("window_index", "inputs_used", "n_frames", "n_utterances", "audio_s", "previous_label",
                       "outcome", "parse_detail", "confidence", "raw_response", "latency_s", "cache_hit")


def mllm_tracks(task: str, model: str, path: str | Path) -> list[dict[str, Any]]:
    """An MLLM's answer per window: windows overlap, so even and odd windows are two rows; each
    segment carries what the prompt held and the raw answer (shown on click)."""
    records = sorted(pq.read_table(path).to_pylist(), key=lambda r: r["window_index"])
    rows: list[list[list[Any]]] = [[], []]
    for r in records:
        detail = {k: _plain(r.get(k)) for k in MLLM_DETAIL_COLUMNS if k in r}
        rows[int(r["window_index"]) % 2].append([round(float(r["t_start"]), TIME_DIGITS),
                                                 round(float(r["t_end"]), TIME_DIGITS),
                                                 str(r["label"]) if isinstance(r["label"], str) else "(none)", detail])
    return [_track(f"mllm:{task}:{model}:{k}", "mllm", f"mllm-{model} windows{' (odd)' if k else ''}", segs,
                   task=task, method=f"mllm-{model}") for k, segs in enumerate(rows) if segs]


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def speech_tracks(path: str | Path) -> list[dict[str, Any]]:
    """Speech turns, one row per role."""
    roles = _grouped(pq.read_table(path, columns=["t_start", "t_end", "role", "speaker"]).to_pylist(), "role")
    return [_track(f"speech:{role}", "speech", f"speech · {role}", _spans(roles[role], "speaker"))
            for role in sorted(roles)]


def gaze_target_track(device: str, t_ms: Sequence[int], targets: Sequence[str]) -> dict[str, Any]:
    return _track(f"gaze:{device}", "gaze", f"gaze target · {device}",
                  run_segments(np.asarray(t_ms, dtype=np.float64) / 1000, targets))


def sync_track(device: str, sync: Mapping[str, Any]) -> dict[str, Any]:
    """The sync checks along the session: each agreement window's confidence (PSR) at its session
    time, and the device's overall confidence."""
    offset, drift = float(sync.get("offset_s") or 0.0), float(sync.get("drift_ppm") or 0.0)
    windows = (sync.get("agreement") or {}).get("windows") or []
    segs = []
    for w in windows:
        t = offset + float(w["device_time_s"]) * (1 + drift * 1e-6)
        label = "agrees" if w.get("agrees") else "disagrees"
        segs.append([round(t - 1.0, TIME_DIGITS), round(t + 1.0, TIME_DIGITS), label,
                     {"psr": _plain(w.get("confidence_psr")), "offset_s": _plain(w.get("offset_s")),
                      "expected_s": _plain(w.get("expected_s"))}])
    psr = sync.get("confidence_psr")
    overall = "reference" if sync.get("method") == "reference" else (
        f"PSR {psr:.0f}" if isinstance(psr, (int, float)) else "no confidence")
    if sync.get("low_confidence"):
        overall += " (low)"
    return _track(f"sync:{device}", "sync", f"sync · {device}", segs, summary=overall,
                  offset_s=offset, drift_ppm=drift)


def session_metrics(session: str, per_session: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """The session's rows of each task's per-session metrics (``metrics/{task}/per_session.csv``)."""
    out = []
    for table in per_session.values():
        for row in table[table["session"] == session].to_dict("records"):
            out.append({k: _plain(v) for k, v in row.items() if k not in ("session", "procedure")})
    return out


def _script(name: str, value: Any) -> str:
    # JSON is valid JavaScript; '</' is escaped so no string can close a script element.
    text = json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f"egoExplorerData({json.dumps(name)},{text});\n"


def static_text(name: str) -> str:
    return resources.files("egoinstruct.report").joinpath("explorer_static", name).read_text(encoding="utf-8")


def build_session_page(
    layers: SessionLayers,
    html_path: Path,
    frames: Mapping[str, pd.DataFrame] | None = None,
    per_session: Mapping[str, pd.DataFrame] | None = None,
    report_href: str | None = "../index.html",
) -> dict[str, Any]:
    """Write ``html_path`` and its data folder (``html_path`` without ``.html``); return what the
    page holds (layer names, numbers of timelines and devices). ``frames`` / ``per_session``: each task's evaluation grid
    and per-session metrics (the report has them loaded)."""
    page_dir = html_path.parent
    data_dir = html_path.with_suffix("")
    data_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def put(name: str, value: Any) -> str:
        file = data_dir / f"{name}.js"
        with atomic_path(file) as tmp:
            tmp.write_text(_script(name, value), encoding="utf-8")
        files[name] = f"{data_dir.name}/{file.name}"
        return name

    # per task: the truth, then each method's labels, then the MLLM windows behind them
    by_task: list[dict[str, Any]] = truth_tracks(layers.annotations) if layers.annotations is not None else []
    for task, grid in (frames or {}).items():
        by_task += prediction_tracks(layers.session, task, grid)
    for (task, model), path in sorted(layers.mllm_windows.items()):
        by_task += mllm_tracks(task, model, path)
    tasks = list(dict.fromkeys(t["task"] for t in by_task))
    tracks = sorted(by_task, key=lambda t: tasks.index(t["task"]))  # stable: group order kept within a task
    if layers.turns is not None:
        tracks += speech_tracks(layers.turns)

    devices = []
    for d in layers.devices:
        info: dict[str, Any] = {"name": d.name, "role": d.role, **stream_facts(d, page_dir)}
        if d.gaze is not None:
            gaze, targets = gaze_layer(d.gaze)
            info["gaze"] = put(f"gaze_{d.name}", gaze)
            tracks.append(gaze_target_track(d.name, gaze["t_ms"], targets))
        if d.faces is not None:
            info["faces"] = put(f"faces_{d.name}", faces_layer(d.faces))
        if d.sync is not None:
            tracks.append(sync_track(d.name, read_json(d.sync)))
        devices.append(info)

    transcript = transcript_layer(layers.transcript) if layers.transcript is not None else None
    meta = {
        "session": layers.session,
        "duration_s": round(float(layers.duration_s), TIME_DIGITS),
        "procedure": layers.procedure,
        "synthetic": layers.synthetic,
        "devices": devices,
        "metrics": session_metrics(layers.session, per_session or {}),
        "has_transcript": transcript is not None,
        "report": report_href,
    }
    put("tracks", tracks)
    if transcript is not None:
        put("transcript", transcript)
    meta["files"] = files
    put("meta", meta)
    write_text(html_path, page_html(layers.session, data_dir.name, synthetic=layers.synthetic))
    return {"files": sorted(files), "tracks": len(tracks), "devices": len(devices)}


def page_html(session: str, data_folder: str, synthetic: bool = False) -> str:
    """The page: inline style and script; the data come from ``{data_folder}/*.js``."""
    banner = ('<p class="synthetic">Synthetic demo session: every figure on this page is measured on '
              "generated data.</p>") if synthetic else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # nothing may be fetched from another host: the page must open offline
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self' 'unsafe-inline' file:; "
        "media-src 'self' file: blob:; img-src 'self' data: file:\">"
        f"<title>Session {esc(session)} — egoinstruct explorer</title>"
        f"<style>{static_text('explorer.css')}</style></head>\n"
        f'<body data-session="{esc(session)}" data-folder="{esc(data_folder)}">{banner}'
        f"{static_text('explorer.html')}"
        f"<script>{static_text('explorer.js')}</script></body></html>\n"
    )


def write_index(pages: Sequence[tuple[str, str]], path: Path) -> None:
    """A plain list of the pages (``sessions/index.html``), for people who open the folder."""
    items = "".join(f'<li><a href="{esc(href)}">{esc(s)}</a></li>' for s, href in pages)
    write_text(path, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sessions</title>"
               f"</head><body><h1>Sessions</h1><ul>{items}</ul><p><a href=\"../index.html\">report</a></p>"
               "</body></html>\n")


def layers_from_layout(
    session: str, layout: Mapping[str, Any], sync: str | Path, procedure: str | None = None, synthetic: bool = False
) -> SessionLayers:
    """A session's :class:`SessionLayers` from the workflow's layout (report.smk ``explorer_layout``)
    and its ``sync.json`` (the session's duration)."""
    duration = float(read_json(sync)["session_duration_s"])
    return SessionLayers(
        session=session,
        duration_s=duration,
        procedure=procedure,
        devices=[DeviceLayers(**d) for d in layout["devices"]],
        transcript=layout.get("transcript"),
        turns=layout.get("turns"),
        annotations=layout.get("annotations"),
        mllm_windows={(task, model): path for task, model, path in layout.get("mllm") or []},
        synthetic=synthetic,
    )
