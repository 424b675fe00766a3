"""The analysis stream (egoinstruct.analysis): each video decoded once, the stages get the same
session instants and source frames from it, pixel quantities stay in the source's pixels."""

from __future__ import annotations

import copy

import av
import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egoinstruct.analysis import (
    AnalysisReader,
    StreamIndex,
    check_stream_rate,
    open_video_input,
    stream_rate,
    stream_size,
    write_analysis_stream,
)
from egoinstruct.clock import DeviceClock
from egoinstruct.config import read_config_file
from egoinstruct.errors import InputError
from egoinstruct.frames import extract_frames, session_frames
from egoinstruct.gaze.faces import detect_faces
from egoinstruct.media.encode import VideoWriter
from egoinstruct.paths import REPO_ROOT
from egoinstruct.settings.gaze import FaceSettings
from egoinstruct.settings.ingest import FrameSettings
from egoinstruct.settings.visual import HeadMotionSettings
from egoinstruct.settings.workflow import defaults_for, load_settings
from egoinstruct.tables import read_table
from egoinstruct.visual.motion import video_head_motion

from conftest import make_video

# A device that starts 0.37 s into the session and runs 80 ppm fast: frames are not on the grid.
CLOCK = DeviceClock(device="d", offset_s=0.37, drift_ppm=80.0, session_duration_s=6.0)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("v") / "v.mp4", duration_s=6.0, audio=False, size="320x240")


@pytest.fixture(scope="module")
def stream(tmp_path_factory, video):
    folder = tmp_path_factory.mktemp("stream")
    mp4, index = folder / "d.mp4", folder / "d.parquet"
    n = write_analysis_stream(video, mp4, index, CLOCK, fps=10, width=160)
    return mp4, index, n


def test_stream_rate_is_the_least_common_multiple_of_the_stages():
    assert stream_rate(None, [2, 10, 5, 10]) == 10
    assert stream_rate(None, [2.5, 2]) == 10
    assert stream_rate(None, [3, 2]) == 6
    assert stream_rate(20, [2, 10]) == 20


def test_a_rate_that_a_stage_cannot_use_is_refused():
    check_stream_rate(10, {"frames.fps": 2, "features.fps": 5})
    with pytest.raises(InputError, match=r"frames\.fps \(3\)"):
        check_stream_rate(10, {"frames.fps": 3, "features.fps": 5})
    with pytest.raises(InputError, match="more than 60"):
        check_stream_rate(70, {"gaze.faces.fps": 7, "features.fps": 10})


@pytest.mark.parametrize("source,width,expected", [
    ((1408, 1408), 640, (640, 640)), ((1920, 1080), 640, (640, 360)), ((2016, 1512), 640, (640, 480)),
    ((320, 240), 640, (320, 240)), ((333, 250), None, (332, 250)), ((1920, 1080), None, (1920, 1080)),
])
def test_stream_size_keeps_the_aspect_and_is_even(source, width, expected):
    assert stream_size(*source, width) == expected


def test_stream_holds_the_session_frames_of_the_source(stream, video):
    mp4, index_path, n = stream
    index = StreamIndex.read(index_path)
    direct = list(session_frames(video, CLOCK, 10))
    assert n == len(direct) == len(index.t)
    assert index.frame_index.tolist() == [f.index for f in direct]
    assert index.source_time_s.tolist() == [f.source_time_s for f in direct]
    assert index.t.tolist() == [f.t for f in direct]
    assert index.source_size == (320, 240) and index.session_duration_s == 6.0
    # browser-playable: H.264 yuv420p, the index (moov) before the data (mdat)
    with av.open(str(mp4)) as container:
        codec = container.streams.video[0].codec_context
        assert (codec.name, codec.pix_fmt, codec.width, codec.height) == ("h264", "yuv420p", 160, 120)
    data = mp4.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize("fps", [2, 5, 10])
def test_stages_get_the_same_instants_and_frames_from_the_stream(stream, video, fps):
    mp4, index, _ = stream
    direct = list(session_frames(video, CLOCK, fps))
    reader = AnalysisReader(mp4, index)
    via = list(session_frames(reader, reader.clock, fps))
    assert [(f.index, f.t, f.source_time_s) for f in via] == [(f.index, f.t, f.source_time_s) for f in direct]
    assert {f.source_size for f in via} == {(320, 240)}
    # the pictures: the source frame scaled down, plus the H.264 encode's noise
    diffs = [np.abs(a.image((160, 120)).astype(int) - b.image().astype(int)).mean() for a, b in zip(direct, via, strict=True)]
    assert max(diffs) < 4.0


def test_frames_cut_from_the_stream(tmp_path, stream, video):
    mp4, index, _ = stream
    out = tmp_path / "f.parquet"
    reader = AnalysisReader(mp4, index)
    extract_frames(reader, out, reader.clock, defaults_for(FrameSettings, fps=2, width=None, height=None))
    table = read_table(out, "frames").to_pandas()
    direct = list(session_frames(video, CLOCK, 2))
    assert table.source_time_s.tolist() == [f.source_time_s for f in direct]
    assert set(table.width) == {160} and set(table.height) == {120}
    image = cv2.imdecode(np.frombuffer(table.jpeg.iloc[3], np.uint8), cv2.IMREAD_COLOR)
    # H.264 then JPEG on the test pattern's hard edges (real video differs less: docs/benchmarks.md)
    assert np.abs(image.astype(int) - direct[3].image((160, 120)).astype(int)).mean() < 8.0


class HalfFrameDetector:
    """A 'face' at fixed fractions of whatever image it is given."""

    name = "fixed"

    def detect(self, image_bgr: np.ndarray, size_px: tuple[int, int] | None = None) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        return np.array([[0.25 * w, 0.25 * h, 0.75 * w, 0.5 * h, 1.0]], np.float32)


def test_face_boxes_stay_in_the_recordings_pixels(stream, video):
    mp4, index, _ = stream
    settings = defaults_for(FaceSettings, fps=5, redetect_every=1)  # every frame in full: the box is the frame's
    direct = detect_faces(video, CLOCK, settings, detector=HalfFrameDetector())
    reader = AnalysisReader(mp4, index)
    via = detect_faces(reader, reader.clock, settings, detector=HalfFrameDetector())
    assert direct.t.tolist() == via.t.tolist()
    assert set(via.width) == {320} and set(via.height) == {240}
    for column in ("face_x0", "face_y0", "face_x1", "face_y1"):
        assert np.allclose(via[column], direct[column], atol=1.0)
    assert via.face_x0.iloc[0] == pytest.approx(80.0, abs=1.0)


def _panning_video(path, frames=60, speed_px=2):
    """320x240 crops of a fixed texture, moving ``speed_px`` to the right per frame at 15 fps."""
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (240, 320 + frames * speed_px, 3), np.uint8), (0, 0), 2)
    writer = VideoWriter(path, None, 15, 320, 240, {}, crf=18)
    for i in range(frames):
        writer.write(np.ascontiguousarray(texture[:, i * speed_px: i * speed_px + 320]))
    writer.close()
    return path


def test_head_motion_flow_stays_in_the_recordings_pixels(tmp_path):
    video = _panning_video(tmp_path / "pan.mp4")
    clock = DeviceClock(device="d", offset_s=0.0, drift_ppm=0.0, session_duration_s=4.0)
    write_analysis_stream(video, tmp_path / "a.mp4", tmp_path / "a.parquet", clock, fps=10, width=160)
    settings = defaults_for(HeadMotionSettings, fps=10, flow_width=80)
    direct = video_head_motion(video, clock, settings)
    reader = AnalysisReader(tmp_path / "a.mp4", tmp_path / "a.parquet")
    via = video_head_motion(reader, reader.clock, settings)
    # content moves 2 px per frame to the left at 15 fps: -30 px/s in the recording's pixels
    assert direct.flow_dx_px_s.median() == pytest.approx(-30, abs=3)
    assert via.flow_dx_px_s.median() == pytest.approx(-30, abs=3)
    assert np.nanmedian(np.abs(via.flow_dx_px_s - direct.flow_dx_px_s)) < 2.0


def test_a_stream_that_disagrees_with_its_index_is_an_input_error(tmp_path, stream):
    mp4, index, _ = stream
    table = pq.read_table(index)
    longer = pa.concat_tables([table, table.slice(0, 3)])
    pq.write_table(longer.replace_schema_metadata(table.schema.metadata), tmp_path / "i.parquet")
    with pytest.raises(InputError, match="rerun the workflow"):
        list(AnalysisReader(mp4, tmp_path / "i.parquet").frames())


def test_a_device_outside_the_session_leaves_nothing(tmp_path, video):
    late = DeviceClock(device="d", offset_s=100.0, drift_ppm=0.0, session_duration_s=6.0)
    with pytest.raises(InputError, match="no frame falls inside the session"):
        write_analysis_stream(video, tmp_path / "a.mp4", tmp_path / "a.parquet", late, fps=10, width=160)
    assert list(tmp_path.iterdir()) == []


def test_open_video_input_reads_either(tmp_path, stream, video):
    mp4, index, _ = stream
    sync = tmp_path / "sync.json"
    sync.write_text('{"session_duration_s": 6.0, "devices": {"d": {"offset_s": 0.37, "drift_ppm": 80.0}}}')
    direct = open_video_input([str(video)], sync, "d")
    assert direct.clock == direct.device_clock == CLOCK and direct.metadata()["decoded_from"] == "source"
    via = open_video_input([str(mp4)], sync, "d", index)
    assert via.clock == DeviceClock("d", 0.37, 0.0, 6.0) and via.device_clock == CLOCK
    assert via.metadata()["source"] == str(video) and via.metadata()["offset_s"] == repr(0.37)


def _config(**changes):
    config = copy.deepcopy(read_config_file(REPO_ROOT / "config" / "config.yaml"))
    for key, value in changes.items():
        section, *path, leaf = key.split("__")
        target = config[section]
        for part in path:
            target = target[part]
        target[leaf] = value
    return config


def test_configuration_check_of_the_stream():
    load_settings(_config(frames__fps=3))  # a 30 fps stream serves 3, 10, 10 and 5
    with pytest.raises(InputError, match=r"gaze\.faces\.fps \(10\)"):
        load_settings(_config(analysis__fps=4))
    with pytest.raises(InputError, match="frames.width"):
        load_settings(_config(frames__width=1000))
    with pytest.raises(InputError, match="more than 60"):
        load_settings(_config(gaze__faces__fps=7))
    load_settings(_config(analysis__enabled=False, analysis__fps=4, frames__width=1000))  # stages decode the recording
