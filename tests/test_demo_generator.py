"""Tests of the demo-session generator (egoinstruct.demo).

The module fixtures generate two short sessions (8 s each, one per procedure, ~3 s each); most
tests check those files against the truth the generator wrote. The planner is also checked on
its own with made-up sentence lengths for durations from a few seconds to an hour.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import yaml

from egoinstruct.camera import CameraModel, vergence_distance
from egoinstruct.demo import (
    DEVICES,
    PROCEDURES,
    DemoSettings,
    demo_sheets,
    generate_session,
    procedure_for,
    session_files,
)
from egoinstruct.demo import generate as gen
from egoinstruct.demo.script import SCRIPTS, plan_session, sentence_bank
from egoinstruct.demo.speech import VOICES, synthesize
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import LAYOUT_COLUMNS, read_mps_eye_gaze
from egoinstruct.settings.workflow import defaults_for

# The config's demo settings, 8 s long; 15 fps video and 30 Hz gaze (every other sample a frame).
SHORT = defaults_for(DemoSettings, duration_s=8.0, fps=15, gaze_rate_hz=30.0)
HEAD = ("instructor_aria", "learner_aria")
LABELS = Path(__file__).resolve().parents[1] / "resources" / "labels"


def _labels(name: str) -> list[str]:
    return list(yaml.safe_load((LABELS / name).read_text())["labels"])


STATES = _labels("states.yaml")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_session("demo01", "block_assembly", out, SHORT, with_eaf=True)
    generate_session("demo02", "paper_folding", out, SHORT, with_eaf=False)
    return out


def _truth(root: Path, session: str) -> dict:
    return json.loads((root / session / "truth" / "truth.json").read_text())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_hashes(base: Path) -> dict[str, str]:
    return {str(p.relative_to(base)): _sha(p) for p in sorted(base.rglob("*")) if p.is_file()}


# -- files, atomicity, determinism -----------------------------------------------------------------


def test_all_listed_files_exist_and_nothing_else(root: Path) -> None:
    for session, eaf in (("demo01", True), ("demo02", False)):
        files = session_files(session, root, eaf)
        assert ("annotations_eaf" in files) == eaf
        for key, path in files.items():
            assert path.is_file() and path.stat().st_size > 0, key
        on_disk = {p for p in (root / session).rglob("*") if p.is_file()}
        assert on_disk == set(files.values())
    # the temporary staging folders are gone
    assert sorted(p.name for p in root.iterdir()) == ["demo01", "demo02"]


def test_same_seed_gives_identical_files(root: Path, tmp_path: Path) -> None:
    files = generate_session("demo01", "block_assembly", tmp_path, SHORT, with_eaf=True)
    assert files == session_files("demo01", tmp_path, True)
    assert _tree_hashes(tmp_path / "demo01") == _tree_hashes(root / "demo01")


def test_other_seed_or_session_changes_the_data(root: Path, tmp_path: Path) -> None:
    truth_a = _truth(root, "demo01")
    truth_b = _truth(root, "demo02")
    assert (
        truth_a["devices"]["learner_aria"]["offset_s"]
        != truth_b["devices"]["learner_aria"]["offset_s"]
    )
    generate_session("demo01", "block_assembly", tmp_path, defaults_for(DemoSettings, duration_s=8.0, seed=7))
    other = _truth(tmp_path, "demo01")
    assert (
        other["devices"]["learner_aria"]["offset_s"]
        != truth_a["devices"]["learner_aria"]["offset_s"]
    )


def test_crash_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash while encoding")

    monkeypatch.setattr(gen, "_render_videos", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_session("demo01", "block_assembly", tmp_path, SHORT)
    assert list(tmp_path.iterdir()) == []  # neither the session folder nor staging leftovers


def test_bad_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="procedure"):
        generate_session("demo01", "origami", tmp_path, SHORT)
    with pytest.raises(InputError, match="session name"):
        generate_session("../x", "block_assembly", tmp_path, SHORT)
    with pytest.raises(InputError, match="duration_s"):
        generate_session("demo01", "block_assembly", tmp_path, defaults_for(DemoSettings, duration_s=2.0))
    with pytest.raises(InputError, match="states.yaml"):
        generate_session(
            "demo01", "block_assembly", tmp_path, SHORT, labels_dir=tmp_path / "nowhere"
        )


def test_demo_sheets_rows() -> None:
    sessions = ["demo01", "demo02", "demo03"]
    recordings, annotations = demo_sheets(sessions, Path("resources/demo"))
    assert list(recordings.columns) == ["session", "device", "role", "kind", "path"]
    assert list(annotations.columns) == ["session", "procedure", "path"]
    per_session = sum(len(kinds) for _, _, kinds in DEVICES)
    assert len(recordings) == per_session * len(sessions)
    assert list(annotations.procedure) == [procedure_for(i) for i in range(3)]
    assert list(annotations.procedure) == ["block_assembly", "paper_folding", "block_assembly"]
    assert annotations.path.tolist() == [
        "resources/demo/demo01/annotations.eaf",
        "resources/demo/demo02/annotations.tsv",
        "resources/demo/demo03/annotations.tsv",
    ]
    # the instructor's gaze comes as the MPS folder, the learner's as the CSV: both ways in
    gaze = recordings[recordings.kind == "gaze_csv"]
    folders = recordings[recordings.kind == "mps"]
    assert set(gaze.device) == {"learner_aria"} and set(folders.device) == {"instructor_aria"}
    assert set(gaze.device) | set(folders.device) == set(HEAD)
    assert (
        "resources/demo/demo02/learner_aria/mps/eye_gaze/general_eye_gaze.csv" in gaze.path.tolist()
    )
    # every path the sheets name is one generate_session writes (an MPS folder: the one that holds its gaze)
    for index, session in enumerate(sessions):
        written = {
            str(p) for p in session_files(session, Path("resources/demo"), index == 0).values()
        }
        rows = recordings[recordings.session == session]
        assert set(rows[rows.kind != "mps"].path) <= written
        assert {str(Path(p).parent.parent) for p in written if p.endswith("general_eye_gaze.csv")} >= set(
            rows[rows.kind == "mps"].path)
        assert set(annotations[annotations.session == session].path) <= written
    assert set(recordings.role) == {"instructor", "learner", "exo"}


# -- clocks and videos -------------------------------------------------------------------------------


def test_truth_offsets_in_range(root: Path) -> None:
    for session in ("demo01", "demo02"):
        truth = _truth(root, session)
        devices = truth["devices"]
        assert truth["clock"]["reference_device"] == "instructor_aria"
        assert devices["instructor_aria"]["offset_s"] == 0.0
        ref_start = devices["instructor_aria"]["world_start_s"]
        for name, info in devices.items():
            assert 0.3 <= info["world_start_s"] <= 3.0, name
            assert info["offset_s"] == pytest.approx(info["world_start_s"] - ref_start, abs=1e-12)
            assert -2.7 <= info["offset_s"] <= 2.7
            assert 10**9 <= info["device_clock_start_us"] <= 10**11
            # every stream runs past the end of the session clock
            assert info["offset_s"] + info["n_frames"] / SHORT.fps >= truth["duration_s"]
        offsets = [info["offset_s"] for info in devices.values()]
        assert len(set(offsets)) == len(offsets)  # devices really start at different times


def test_mp4s_decode_with_expected_format_and_clock_tag(root: Path) -> None:
    for session in ("demo01", "demo02"):
        truth = _truth(root, session)
        for device, info in truth["devices"].items():
            with av.open(str(root / session / info["video"])) as container:
                assert container.metadata["device_clock_start_us"] == str(
                    info["device_clock_start_us"]
                )
                video = container.streams.video[0]
                audio = container.streams.audio[0]
                assert (video.codec_context.width, video.codec_context.height) == (
                    SHORT.width,
                    SHORT.height,
                )
                assert video.codec_context.name == "h264"
                assert video.average_rate == SHORT.fps
                assert audio.codec_context.name == "aac"
                assert audio.rate == SHORT.audio_rate_hz and audio.channels == 2
                frames = sum(1 for _ in container.decode(video=0))
            assert frames == info["n_frames"], (session, device)
            with av.open(str(root / session / info["video"])) as container:
                duration = float(container.duration) / av.time_base
            assert duration == pytest.approx(info["n_frames"] / SHORT.fps, abs=0.05)


def _audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray() for f in container.decode(stream)]
        rate = stream.rate
    samples = np.concatenate(chunks, axis=1)  # planar float: [channels, n]
    return samples.mean(axis=0), rate


def test_own_voice_is_louder_on_own_device(root: Path) -> None:
    checked = 0
    for session in ("demo01", "demo02"):
        truth = _truth(root, session)
        audio = {d: _audio(root / session / truth["devices"][d]["video"]) for d in HEAD}
        dialogue = pd.read_csv(root / session / "truth" / "dialogue.tsv", sep="\t")
        own = {"instructor": "instructor_aria", "learner": "learner_aria"}
        for row in dialogue.itertuples():
            energy = {}
            for device in HEAD:
                samples, rate = audio[device]
                offset = truth["devices"][device]["offset_s"]
                a = int((row.t_start - offset) * rate)
                b = int((row.t_end - offset) * rate)
                if a < 0 or b > len(samples):
                    break
                energy[device] = float(np.mean(samples[a:b] ** 2))
            else:
                mine = own[row.role]
                theirs = next(d for d in HEAD if d != mine)
                ratio_db = 10 * np.log10(energy[mine] / energy[theirs])
                assert ratio_db > 3.0, (session, row.text, ratio_db)
                checked += 1
    assert checked >= 3


def test_voices_differ_in_pitch_and_synthesis_is_reproducible() -> None:
    text = "Now take the two red blocks and attach them on the left side."
    items = [(VOICES["instructor"], text), (VOICES["learner"], text)]
    first = synthesize(items)
    second = synthesize(items)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))

    def median_f0(x: np.ndarray, rate: int = 48000) -> float:
        f0 = []
        for i in range(0, len(x) - 2048, 1024):
            w = x[i : i + 2048]
            if np.sqrt(np.mean(w**2)) < 0.05:
                continue
            ac = np.correlate(w, w, "full")[2047:]
            lo, hi = rate // 400, rate // 70
            lag = lo + int(np.argmax(ac[lo:hi]))
            if ac[lag] > 0.3 * ac[0]:
                f0.append(rate / lag)
        return float(np.median(f0))

    male, female = median_f0(first[0]), median_f0(first[1])
    assert 70 < male < 160 and female > 1.5 * male


# -- eye gaze ------------------------------------------------------------------------------------------


def test_gaze_csvs_round_trip_to_truth_pixels(root: Path) -> None:
    layouts_seen = set()
    for session in ("demo01", "demo02"):
        truth = _truth(root, session)
        for device in HEAD:
            info = truth["devices"][device]
            gaze = read_mps_eye_gaze(root / session / info["gaze_csv"])
            assert gaze.layout == info["gaze_layout"]
            layouts_seen.add(gaze.layout)
            # the real MPS header of the layout: gen1_v3 has no combined yaw, the reader derives it
            header = pd.read_csv(root / session / info["gaze_csv"], nrows=0).columns.tolist()
            assert header == LAYOUT_COLUMNS[gaze.layout]
            assert ("yaw_rads_cpf" in header) == (gaze.layout != "gen1_v3")
            camera = CameraModel.from_json(root / session / info["calibration"])
            frames = pd.read_parquet(root / session / info["truth_frames"])
            table = gaze.table
            t = (
                table.tracking_timestamp_us.to_numpy() - info["device_clock_start_us"]
            ) / 1e6 + info["offset_s"]
            # match gaze samples to frames by time (default rates: every other sample is a frame)
            ft = frames.t.to_numpy()
            j = np.clip(np.searchsorted(ft, t - 1e-4), 0, len(ft) - 1)
            matched = np.abs(ft[j] - t) < 1e-4
            assert matched.sum() >= 0.9 * frames.gaze_u.notna().sum() > 0
            # depth: from the file, else from vergence (converted from z to range), else truth
            depth = table.depth_m.to_numpy()
            yaw, pitch = table.yaw_rad.to_numpy(), table.pitch_rad.to_numpy()
            truth_depth = frames.gaze_depth_m.to_numpy()[j]
            if gaze.layout == "gen1_v3":
                assert np.isfinite(depth).all()
            else:
                assert np.isnan(depth).all()
            if gaze.layout != "gen1_v2":
                verged = vergence_distance(
                    table.left_yaw_rad, table.right_yaw_rad, table.left_eye_x_m, table.right_eye_x_m,
                    yaw=yaw, pitch=pitch,
                )
                np.testing.assert_allclose(verged[matched], truth_depth[matched], rtol=1e-5)
                if gaze.layout == "gen2":
                    depth = verged
            if gaze.layout == "gen1_v2":
                depth = truth_depth
            pixels = camera.project_gaze(yaw, pitch, depth)
            error = np.hypot(
                pixels[:, 0] - frames.gaze_u.to_numpy()[j],
                pixels[:, 1] - frames.gaze_v.to_numpy()[j],
            )
            assert np.nanmax(error[matched]) < 0.5
            assert not np.isnan(error[matched]).any()
            # the pixels lie in the image and the eye tracker rate is about right
            assert camera.in_frame(pixels[matched]).all()
            steps_us = np.diff(table.tracking_timestamp_us.to_numpy())
            assert np.median(steps_us) == pytest.approx(1e6 / SHORT.gaze_rate_hz, abs=1)
            assert (steps_us > 0).all() and len(table) > 0.8 * info["gaze_samples"]
            assert info["gaze_samples_dropped"] > 0  # real trackers drop samples
    assert layouts_seen == {"gen1_v2", "gen1_v3", "gen2"}


def test_frames_truth_is_consistent(root: Path) -> None:
    for session in ("demo01", "demo02"):
        truth = _truth(root, session)
        steps = _labels(f"steps_{truth['procedure']}.yaml")
        for device in HEAD:
            info = truth["devices"][device]
            frames = pd.read_parquet(root / session / info["truth_frames"])
            assert list(frames.columns[:4]) == ["t", "frame_index", "gaze_u", "gaze_v"]
            assert len(frames) == info["n_frames"]
            assert frames.t.dtype == np.float64
            np.testing.assert_allclose(np.diff(frames.t), 1 / SHORT.fps, atol=1e-9)
            assert frames.t.iloc[0] == pytest.approx(info["offset_s"])
            assert set(frames.step.dropna()) <= set(steps)
            assert set(frames.state.dropna()) <= set(STATES)
            assert set(frames.gaze_target.dropna()) <= {"partner_face", "workspace", "other"}
            assert frames.gaze_target.isna().equals(frames.gaze_u.isna())
            box = frames[
                ["partner_face_x0", "partner_face_y0", "partner_face_x1", "partner_face_y1"]
            ].to_numpy()
            seen = ~np.isnan(box[:, 0])
            assert 0.1 < seen.mean() < 1.0  # people look at each other and at the table
            assert (box[seen, 0] >= 0).all() and (box[seen, 2] <= SHORT.width).all()
            assert (box[seen, 1] >= 0).all() and (box[seen, 3] <= SHORT.height).all()
            assert ((box[seen, 2] - box[seen, 0]) > 20).all()
            on_face = frames.gaze_target == "partner_face"
            assert on_face.sum() > 0 and (frames.gaze_target == "workspace").sum() > 0
            inside = (
                (frames.gaze_u >= frames.partner_face_x0)
                & (frames.gaze_u <= frames.partner_face_x1)
                & (frames.gaze_v >= frames.partner_face_y0)
                & (frames.gaze_v <= frames.partner_face_y1)
            )
            assert (inside == on_face.fillna(False)).all()


def test_face_boxes_cover_a_drawn_face(root: Path) -> None:
    """Where truth says the partner's face is, the decoded video shows skin (reddish), and
    where no face is in view the same image region is not predominantly face-coloured."""
    for session in ("demo01", "demo02"):
        truth = _truth(root, session)
        for device in HEAD:
            info = truth["devices"][device]
            frames = pd.read_parquet(root / session / info["truth_frames"])
            with av.open(str(root / session / info["video"])) as container:
                images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            skin = []
            for row, image in zip(frames.itertuples(), images, strict=True):
                if np.isnan(row.partner_face_x0):
                    continue
                cx, cy = (
                    (row.partner_face_x0 + row.partner_face_x1) / 2,
                    (row.partner_face_y0 + row.partner_face_y1) / 2,
                )
                w, h = (
                    row.partner_face_x1 - row.partner_face_x0,
                    row.partner_face_y1 - row.partner_face_y0,
                )
                # cheeks: left and right of the nose, below the eyes
                patches = [
                    image[
                        int(cy + 0.1 * h) : int(cy + 0.2 * h),
                        int(cx + s * 0.3 * w) - 2 : int(cx + s * 0.3 * w) + 3,
                    ]
                    for s in (-1, 1)
                ]
                rgb = np.concatenate([p.reshape(-1, 3) for p in patches]).mean(axis=0)
                skin.append(rgb[0] - rgb[2] > 35 and rgb[0] > 120)
            assert len(skin) > 10 and np.mean(skin) > 0.95


# -- annotations and dialogue -----------------------------------------------------------------------


def _check_tier(intervals: pd.DataFrame, duration: float, allowed: set[str]) -> None:
    starts, ends = intervals.t_start.to_numpy(), intervals.t_end.to_numpy()
    assert starts[0] == 0.0 and ends[-1] == pytest.approx(duration, abs=1e-9)
    np.testing.assert_array_equal(starts[1:], ends[:-1])  # no gaps, no overlaps
    assert (ends > starts).all()
    assert set(intervals.label) <= allowed
    assert np.allclose(np.round(starts, 3), starts)


def test_annotation_tiers_cover_the_session(root: Path) -> None:
    for session in ("demo01", "demo02"):
        truth = _truth(root, session)
        ann = pd.read_csv(root / session / "annotations.tsv", sep="\t")
        assert list(ann.columns) == ["session", "tier", "t_start", "t_end", "label"]
        assert set(ann.session) == {session} and set(ann.tier) == {"steps", "states"}
        steps = _labels(f"steps_{truth['procedure']}.yaml")
        _check_tier(ann[ann.tier == "steps"], truth["duration_s"], set(steps))
        _check_tier(ann[ann.tier == "states"], truth["duration_s"], set(STATES))
        step_order = [s for s in ann[ann.tier == "steps"].label if s != "background"]
        assert step_order == steps[1 : 1 + len(step_order)]  # steps in procedure order
        assert ann[ann.tier == "steps"].label.iloc[0] == "background"


def test_eaf_matches_tsv(root: Path) -> None:
    ann = pd.read_csv(root / "demo01" / "annotations.tsv", sep="\t")
    doc = ET.parse(root / "demo01" / "annotations.eaf").getroot()
    assert doc.tag == "ANNOTATION_DOCUMENT" and doc.get("FORMAT") == "3.0"
    assert doc.find("HEADER").get("TIME_UNITS") == "milliseconds"
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in doc.iter("TIME_SLOT")}
    values = [int(s.get("TIME_VALUE")) for s in doc.iter("TIME_SLOT")]
    assert values == sorted(values)
    types = {t.get("LINGUISTIC_TYPE_ID") for t in doc.iter("LINGUISTIC_TYPE")}
    ids = [a.get("ANNOTATION_ID") for a in doc.iter("ALIGNABLE_ANNOTATION")]
    assert len(ids) == len(set(ids))
    for tier in doc.iter("TIER"):
        assert tier.get("LINGUISTIC_TYPE_REF") in types
        rows = [
            (
                slots[a.get("TIME_SLOT_REF1")] / 1000,
                slots[a.get("TIME_SLOT_REF2")] / 1000,
                a.findtext("ANNOTATION_VALUE"),
            )
            for a in tier.iter("ALIGNABLE_ANNOTATION")
        ]
        expected = ann[ann.tier == tier.get("TIER_ID")]
        assert rows == list(zip(expected.t_start, expected.t_end, expected.label, strict=True))
    assert {t.get("TIER_ID") for t in doc.iter("TIER")} == {"steps", "states"}


def _check_dialogue(dialogue: pd.DataFrame, states: pd.DataFrame) -> None:
    assert (dialogue.t_end > dialogue.t_start).all()
    assert (
        dialogue.t_start.to_numpy()[1:] >= dialogue.t_end.to_numpy()[:-1]
    ).all()  # one speaker at a time
    assert set(dialogue.role) <= {"instructor", "learner"}
    by_state = {
        "instructor_explains": "instructor",
        "instructor_demonstrates": "instructor",
        "instructor_answers": "instructor",
        "learner_asks": "learner",
    }
    for row in dialogue.itertuples():
        if row.state in by_state:
            assert row.role == by_state[row.state], row
        # the utterance lies inside an interval of its own state (1 ms for rounding)
        inside = states[(states.t_start <= row.t_start + 1e-3) & (states.t_end >= row.t_end - 1e-3)]
        assert list(inside.label) == [row.state], row
    roles = dialogue.role.tolist()
    # a question is answered by the instructor straight away
    for i, row in enumerate(dialogue.itertuples()):
        if row.state == "learner_asks":
            assert dialogue.state.iloc[i + 1] == "instructor_answers"
    # nobody talks for long on their own, and the learner never says three things in a row
    assert not any(
        roles[i] == roles[i + 1] == roles[i + 2] == "learner" for i in range(len(roles) - 2)
    )
    # silent work really is silent
    for iv in states[states.label == "silent_work"].itertuples():
        overlap = dialogue[
            (dialogue.t_start < iv.t_end - 1e-3) & (dialogue.t_end > iv.t_start + 1e-3)
        ]
        assert overlap.empty, iv


def test_dialogue_follows_states(root: Path) -> None:
    for session in ("demo01", "demo02"):
        dialogue = pd.read_csv(root / session / "truth" / "dialogue.tsv", sep="\t")
        assert list(dialogue.columns[:5]) == ["t_start", "t_end", "role", "text", "state"]
        ann = pd.read_csv(root / session / "annotations.tsv", sep="\t")
        assert len(dialogue) >= 2
        _check_dialogue(dialogue, ann[ann.tier == "states"])


# -- the planner on its own -----------------------------------------------------------------------------


def _fake_lengths(line: tuple[str, str]) -> float:
    return 0.25 + 0.045 * len(line[1])  # roughly espeak's speed


@pytest.mark.parametrize("procedure", PROCEDURES)
@pytest.mark.parametrize("duration", [6.0, 10.0, 60.0, 720.0, 3600.0])
def test_plan_fits_any_duration(procedure: str, duration: float) -> None:
    steps = _labels(f"steps_{procedure}.yaml")
    plan = plan_session(procedure, steps[1:], duration, _fake_lengths, np.random.default_rng(3))
    tiers = {
        name: pd.DataFrame(
            [(iv.t_start, iv.t_end, iv.label) for iv in ivs], columns=["t_start", "t_end", "label"]
        )
        for name, ivs in (("steps", plan.step_tier), ("states", plan.state_tier))
    }
    _check_tier(tiers["steps"], duration, set(steps))
    _check_tier(tiers["states"], duration, set(STATES))
    dialogue = pd.DataFrame(
        [(u.t_start, u.t_end, u.role, u.text, u.state) for u in plan.utterances],
        columns=["t_start", "t_end", "role", "text", "state"],
    )
    _check_dialogue(dialogue, tiers["states"])
    reached = [s for s in tiers["steps"].label if s != "background"]
    assert reached == steps[1 : 1 + len(reached)] and reached
    step_lengths = tiers["steps"][tiers["steps"].label != "background"]
    assert ((step_lengths.t_end - step_lengths.t_start) >= 3.0).all()
    if duration >= 60:
        assert reached == steps[1:]  # a minute is enough for the whole procedure
        assert set(tiers["states"].label) == set(STATES)  # and every conversation state
    if duration >= 720:
        work = tiers["states"][tiers["states"].label == "silent_work"]
        assert (
            work.t_end - work.t_start
        ).max() <= 25.0 + 1e-6  # long sessions talk more, not just work longer
        assert len(plan.utterances) > duration / 6


def test_plan_rejects_a_too_short_session() -> None:
    with pytest.raises(ValueError, match="too short"):
        plan_session(
            "paper_folding",
            list(SCRIPTS["paper_folding"].steps),
            2.0,
            _fake_lengths,
            np.random.default_rng(0),
        )


def test_script_covers_the_label_files() -> None:
    for procedure in PROCEDURES:
        steps = _labels(f"steps_{procedure}.yaml")
        assert steps[0] == "background"
        assert list(SCRIPTS[procedure].steps) == steps[1:]
        bank = sentence_bank(procedure)
        assert len(bank) == len(set(bank)) and {r for r, _ in bank} == {"instructor", "learner"}


@pytest.mark.slow
def test_sixty_second_session_has_every_state(tmp_path: Path) -> None:
    # Generation speed is reported in docs/demo_data.md, not asserted (machine load varies).
    generate_session("demo02", "paper_folding", tmp_path, defaults_for(DemoSettings, duration_s=60.0))
    ann = pd.read_csv(tmp_path / "demo02" / "annotations.tsv", sep="\t")
    assert set(ann[ann.tier == "states"].label) == set(STATES)
    assert set(ann[ann.tier == "steps"].label) == set(_labels("steps_paper_folding.yaml"))
