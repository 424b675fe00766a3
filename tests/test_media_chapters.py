"""Chapters of one recording joined onto one device clock (egoinstruct.media.chapters).

The chapters are cut from the real GoPro HERO5 Black file karma.mp4 (read as is, never changed)
by stream copy at keyframes, the way a GoPro splits a long recording: no frame lost, the video's
``timecode`` tag moved to each part's first frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from egoinstruct.errors import InputError
from egoinstruct.media.audio import decode_audio
from egoinstruct.media.chapters import (
    ChapteredReader,
    gopro_chapter,
    timecode_frames,
    timecode_seconds,
)
from egoinstruct.media.probe import probe_media
from egoinstruct.media.reader import open_recording

from conftest import make_video, shared_fixture

FPS = 30000 / 1001  # karma.mp4: 29.97 fps, keyframe every 8 frames, no B-frames
KARMA_TIMECODE = "19:26:48:04"
RATE = 16_000


@pytest.fixture(scope="module")
def karma() -> Path:
    return shared_fixture("real", "gopro", "karma.mp4")


def nondrop_timecode(frames: int, nominal: int = 30) -> str:
    """HH:MM:SS:FF of a frame count (non-drop-frame), wrapping at 24 h."""
    frames %= 24 * 3600 * nominal
    seconds, ff = divmod(frames, nominal)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"


def cut_chapters(
    source: Path,
    folder: Path,
    split_frames: list[int],
    names: list[str],
    first_timecode: str | None = KARMA_TIMECODE,
    timecode_shift_frames: dict[int, int] | None = None,
    creation_times: list[str] | None = None,
) -> list[Path]:
    """Remux the video and audio packets of ``source`` into one MP4 per part, split before the
    given frame indices (keyframes). Each part's timestamps start at 0 at its first frame; audio
    packets go to the part their time falls in. Part k's video gets the timecode of its first
    frame (plus ``timecode_shift_frames[k]``, to fake a gap) and ``creation_times[k]``."""
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [0.0, *(k * 1001 / 30000 for k in split_frames), float("inf")]
    first_frames = [0, *split_frames]
    shift = timecode_shift_frames or {}
    paths: list[Path] = []
    for part, name in enumerate(names):
        lo, hi = bounds[part], bounds[part + 1]
        path = folder / name
        # A fine movie timescale: the edit list that says where each part's audio begins (a few ms
        # after its first frame: AAC packets are 21 ms) would be rounded to whole ms by default.
        with av.open(str(source)) as inp, av.open(str(path), "w", format="mp4",
                                                  options={"movie_timescale": "96000"}) as out:
            in_video, in_audio = inp.streams.video[0], inp.streams.audio[0]
            out_video = out.add_stream_from_template(in_video)
            out_audio = out.add_stream_from_template(in_audio)
            out_video.metadata.pop("timecode", None)
            if first_timecode is not None:
                start = timecode_frames(first_timecode, FPS) + first_frames[part] + shift.get(part, 0)
                out_video.metadata["timecode"] = nondrop_timecode(start)
            if creation_times is not None:
                out.metadata["creation_time"] = creation_times[part]
            for packet in inp.demux(in_video, in_audio):
                if packet.pts is None:
                    continue
                time = float(packet.pts * packet.time_base)
                if not lo <= time < hi:
                    continue
                offset = int(round(lo / packet.time_base))
                packet.pts -= offset
                packet.dts -= offset
                packet.stream = out_video if packet.stream.type == "video" else out_audio
                out.mux(packet)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def original(karma: Path) -> dict:
    """Frame times, a few frames and the 16 kHz audio of karma.mp4 itself."""
    reader = open_recording(karma)
    times, images = [], {}
    for k, (time, frame) in enumerate(reader.frames()):
        times.append(time)
        if k in (119, 120, 240, 361):
            images[k] = frame.to_bgr()
    return {"info": reader.info(check_whole=True), "times": np.array(times), "images": images,
            "audio": decode_audio(reader)}


@pytest.fixture(scope="module")
def three_chapters(karma: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("chapters")
    return cut_chapters(karma, folder, [120, 240], ["GH010042.MP4", "GH020042.MP4", "GH030042.MP4"])


# --- names and timecodes ---


def test_gopro_chapter_names():
    assert gopro_chapter("GH010123.MP4") == (123, 1)
    assert gopro_chapter(Path("/cards/a/GH020123.MP4")) == (123, 2)
    assert gopro_chapter("GX030007.mp4") == (7, 3)  # HEVC; copies get lowercased
    assert gopro_chapter("GOPR0456.MP4") == (456, 0)  # older cameras: first chapter ...
    assert gopro_chapter("GP010456.MP4") == (456, 1)  # ... then GP01, GP02
    for other in ("karma.mp4", "GH010123.MOV", "GH01123.MP4", "GL010123.LRV", "VID_20240101.mp4"):
        assert gopro_chapter(other) is None


def test_timecode_parser():
    assert timecode_frames("00:00:01:00", FPS) == 30
    assert timecode_seconds("00:00:01:00", FPS) == pytest.approx(1.001)  # non-drop runs slow
    assert timecode_frames(KARMA_TIMECODE, FPS) == ((19 * 60 + 26) * 60 + 48) * 30 + 4
    assert timecode_frames("00:00:01:12", 25.0) == 37
    # Drop-frame (';'): frame numbers 0-1 skipped each minute but every tenth, so it keeps wall time.
    assert timecode_frames("00:01:00;02", FPS) == 1800
    assert timecode_frames("00:00:59;29", FPS) + 1 == timecode_frames("00:01:00;02", FPS)
    # ... to within 3.6 ms an hour (108 numbers dropped an hour; 29.97 fps lags 30 by 107.9 frames).
    assert timecode_seconds("00:10:00;00", FPS) == pytest.approx(600.0, abs=1e-3)
    assert timecode_seconds("01:00:00;00", FPS) == pytest.approx(3600.0, abs=0.004)
    assert timecode_seconds("00:10:00;00", 60000 / 1001) == pytest.approx(600.0, abs=1e-3)  # 4 dropped
    for bad, fps in (("1:2:3", FPS), ("00:00:00:30", FPS), ("00:61:00:00", FPS),
                     ("00:01:00;00", FPS), ("00:00:01;00", 25.0), ("garbage", FPS)):
        with pytest.raises(ValueError):
            timecode_frames(bad, fps)


# --- the real GoPro file itself ---


def test_karma_reads_despite_gopro_data_streams(original):
    """karma.mp4 carries GoPro TCD/MET/SOS data streams besides video and audio; they are skipped."""
    info = original["info"]
    assert (info.video.width, info.video.height, info.video.codec) == (854, 480, "h264")
    assert info.video.fps == pytest.approx(FPS)
    assert info.video.n_frames == 362 == len(original["times"])
    assert (info.audio.sample_rate_hz, info.audio.channels) == (48000, 2)
    assert np.diff(original["times"]) == pytest.approx(1 / FPS)
    audio = original["audio"]
    assert len(audio.samples) / RATE == pytest.approx(12.08, abs=0.05)
    assert np.abs(audio.samples).max() > 0.01  # real sound, not silence


# --- joining ---


def test_joined_frames_and_info_match_the_original(three_chapters, original):
    reader = open_recording(three_chapters)
    assert isinstance(reader, ChapteredReader)
    assert reader.paths == tuple(three_chapters)
    info = reader.info(check_whole=True)
    assert info.container == "chapters" and info.path == str(three_chapters[0])
    assert info.video.n_frames == 362
    assert info.video.duration_s == pytest.approx(original["info"].video.duration_s, abs=1e-6)
    assert [c["start_s"] for c in info.details["chapters"]] == pytest.approx([0.0, 120 / FPS, 240 / FPS])
    assert [c["timecode"] for c in info.details["chapters"]] == ["19:26:48:04", "19:26:52:04", "19:26:56:04"]
    json.dumps(info.to_dict())  # the probe writes it as JSON

    times, images = [], {}
    for k, (time, frame) in enumerate(reader.frames()):
        times.append(time)
        if k in original["images"]:
            images[k] = frame.to_bgr()
    assert len(times) == len(original["times"])
    np.testing.assert_allclose(times, original["times"], atol=1 / FPS)
    assert np.abs(np.array(times) - original["times"]).max() < 1e-3  # in fact exact, not a frame off
    for k, image in original["images"].items():  # stream copy: the very same pictures, in order
        np.testing.assert_array_equal(images[k], image)


def test_joined_audio_matches_the_original(three_chapters, original):
    joined = decode_audio(three_chapters)
    reference = original["audio"].samples
    assert joined.original_rate_hz == 48000 and joined.original_channels == 2
    assert abs(len(joined.samples) - len(reference)) <= RATE / FPS  # within one frame
    n = min(len(joined.samples), len(reference))
    assert np.corrcoef(joined.samples[:n], reference[:n])[0, 1] > 0.99
    # Aligned at each split too, not just overall (a misplaced chapter decorrelates its window).
    for split in (120 / FPS, 240 / FPS):
        lo, hi = int((split - 0.5) * RATE), int((split + 0.5) * RATE)
        assert np.corrcoef(joined.samples[lo:hi], reference[lo:hi])[0, 1] > 0.95


# --- gaps between chapters ---


def test_gaps_from_timecode_are_zero_for_consecutive_chapters(three_chapters):
    details = ChapteredReader(three_chapters).info(check_whole=False).details
    assert details["gap_source"] == "timecode"
    assert details["gaps_s"] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert details["warnings"] == []


def test_gap_across_midnight(karma, tmp_path):
    paths = cut_chapters(karma, tmp_path, [120], ["GH010001.MP4", "GH020001.MP4"],
                         first_timecode="23:59:58:00")
    details = ChapteredReader(paths).info(check_whole=False).details
    assert details["chapters"][1]["timecode"] == "00:00:02:00"
    assert details["gaps_s"] == pytest.approx([0.0], abs=1e-6)


def test_manufactured_gap_warns(karma, tmp_path, caplog):
    # The second file's timecode says it began 5 s (150 frames) after the first ended.
    paths = cut_chapters(karma, tmp_path, [120], ["GH010001.MP4", "GH020001.MP4"],
                         timecode_shift_frames={1: 150})
    with caplog.at_level("WARNING"):
        info = ChapteredReader(paths, where="sheet line 3").info(check_whole=False)
    assert info.details["gaps_s"] == pytest.approx([150 / FPS], abs=1e-6)
    (warning,) = info.details["warnings"]
    assert "GH020001.MP4" in warning and "not be consecutive chapters" in warning
    assert "sheet line 3" in caplog.text
    assert info.video.n_frames == 362  # still joined as contiguous


def test_gaps_from_creation_time_without_timecode(karma, tmp_path):
    # creation_time marks each chapter's closing (see the module docstring): the second chapter
    # (242 frames, 8.07 s) closes 8 s after the first; nothing else to go by.
    paths = cut_chapters(karma, tmp_path / "close", [120], ["GH010001.MP4", "GH020001.MP4"], first_timecode=None,
                         creation_times=["2017-04-17T19:27:00.000000Z", "2017-04-17T19:27:08.000000Z"])
    details = ChapteredReader(paths).info(check_whole=False).details
    assert details["gap_source"] == "creation_time"
    assert details["chapters"][0]["timecode"] is None
    assert abs(details["gaps_s"][0]) < 1.0 and details["warnings"] == []
    # Recent GoPros stamp every chapter with the same time: nothing can be measured.
    same = ["2017-04-17T19:27:00.000000Z"] * 2
    paths = cut_chapters(karma, tmp_path / "same", [120], ["GH010001.MP4", "GH020001.MP4"], first_timecode=None,
                         creation_times=same)
    details = ChapteredReader(paths).info(check_whole=False).details
    assert details["gaps_s"] == [None] and details["gap_source"] is None and details["warnings"] == []


# --- wrong input ---


def test_wrong_order_names_the_files(three_chapters):
    with pytest.raises(InputError, match="out of order") as err:
        open_recording([three_chapters[1], three_chapters[0], three_chapters[2]], where="sheet line 7")
    message = str(err.value)
    assert "sheet line 7" in message and "GH020042.MP4, GH010042.MP4" in message
    assert "GH010042.MP4, GH020042.MP4, GH030042.MP4" in message  # the order to use


def test_chapters_of_different_recordings(tmp_path):
    paths = [make_video(tmp_path / "GH010001.MP4", 1.0), make_video(tmp_path / "GH020002.MP4", 1.0)]
    with pytest.raises(InputError, match="different recordings") as err:
        open_recording(paths)
    assert "GH010001.MP4" in str(err.value) and "0002" in str(err.value)


def test_missing_chapter_and_duplicates(tmp_path):
    paths = [make_video(tmp_path / "GOPR0001.MP4", 1.0), make_video(tmp_path / "GP020001.MP4", 1.0)]
    with pytest.raises(InputError, match="chapter 1 is missing between GOPR0001.MP4 and GP020001.MP4"):
        open_recording(paths)
    with pytest.raises(InputError, match="listed twice"):
        open_recording([paths[0], paths[0]])
    hevc = make_video(tmp_path / "GX010001.MP4", 1.0)
    with pytest.raises(InputError, match="both chapter 0"):
        open_recording([paths[0], make_video(tmp_path / "copy" / "GOPR0001.MP4", 1.0)])
    with pytest.raises(InputError, match="GX and GH|GH and GX"):
        open_recording([make_video(tmp_path / "GH010001.MP4", 1.0), hevc])


def test_mismatched_resolution(tmp_path):
    paths = [make_video(tmp_path / "GH010005.MP4", 1.0, size="64x48"),
             make_video(tmp_path / "GH020005.MP4", 1.0, size="80x48")]
    with pytest.raises(InputError, match="frame size 80x48 vs 64x48") as err:
        open_recording(paths).info()
    assert str(paths[1]) in str(err.value)


def test_audio_in_some_chapters_only(tmp_path):
    paths = [make_video(tmp_path / "part1.mp4", 1.0), make_video(tmp_path / "part2.mp4", 1.0, audio=False)]
    reader = open_recording(paths)  # not GoPro names: the given order stands
    with pytest.raises(InputError, match="audio stream missing"):
        reader.info(check_whole=False)
    with pytest.raises(InputError, match="audio stream missing"):
        reader.audio(RATE)


def test_export_log_is_refused(tmp_path):
    paths = [make_video(tmp_path / "a.mp4", 1.0), make_video(tmp_path / "b.mp4", 1.0)]
    with pytest.raises(InputError, match="export_log"):
        open_recording(paths, export_log=tmp_path)


def test_probe_of_plain_chapters(tmp_path):
    """Non-GoPro files in the given order; the probe's dict lists the chapters."""
    paths = [make_video(tmp_path / "b.mp4", 1.0), make_video(tmp_path / "a.mp4", 2.0)]
    facts = probe_media(paths)
    assert facts["format"] == "chapters"
    assert [c["path"] for c in facts["chapters"]] == [str(p) for p in paths]
    assert facts["chapters"][1]["start_s"] == pytest.approx(1.0, abs=0.07)
    assert facts["video"]["n_frames"] == 45 and facts["duration_s"] == pytest.approx(3.0, abs=0.1)
    audio = decode_audio(paths)
    assert len(audio.samples) / RATE == pytest.approx(3.0, abs=0.07)
