import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError
from egoinstruct.frames import extract_frames
from egoinstruct.settings.ingest import FrameSettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.tables import FRAMES_SCHEMA, read_table, table_metadata

from conftest import make_video


def clock(offset_s: float, duration_s: float) -> DeviceClock:
    return DeviceClock(device="d", offset_s=offset_s, drift_ppm=0.0, session_duration_s=duration_s)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("v") / "v.mp4", duration_s=6.0, size="160x120")


@pytest.mark.parametrize("offset,first_t,first_source", [(0.0, 0.0, 0.0), (1.3, 1.5, 0.2), (-2.2, 0.0, 2.2)])
def test_frames_land_on_the_session_clock(tmp_path, video, offset, first_t, first_source):
    out = tmp_path / "f.parquet"
    n = extract_frames(video, out, clock(offset, 6.0), settings=defaults_for(FrameSettings, fps=2))
    table = read_table(out, "frames").to_pandas()
    assert len(table) == n
    assert table.t.iloc[0] == first_t and np.allclose(np.diff(table.t), 0.5)
    assert table.source_time_s.iloc[0] == pytest.approx(first_source, abs=1 / 30 + 1e-9)
    # every frame is the device frame nearest to its session time (15 fps -> within half a frame)
    assert np.all(np.abs(table.t - offset - table.source_time_s) <= 1 / 30 + 1e-9)
    # the device's recording bounds the output: 6 s of video
    assert table.t.iloc[-1] - offset <= 6.0 and table.t.iloc[-1] < 6.0
    assert table_metadata(out)["offset_s"] == repr(offset)
    image = cv2.imdecode(np.frombuffer(table.jpeg.iloc[0], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (120, 160, 3)


def test_resize_keeps_aspect(tmp_path, video):
    out = tmp_path / "f.parquet"
    extract_frames(video, out, clock(0.0, 2.0), defaults_for(FrameSettings, fps=5, width=80, height=None))
    table = pq.read_table(out).to_pandas()
    assert set(table.width) == {80} and set(table.height) == {60}
    assert len(table) == 10
    assert pq.read_schema(out).remove_metadata().equals(FRAMES_SCHEMA)


def test_truncated_video_leaves_no_output(tmp_path, video):
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "f.parquet"
    with pytest.raises(InputError, match="cut.mp4"):
        extract_frames(cut, out, clock(0.0, 6.0), defaults_for(FrameSettings))
    assert not out.exists() and not list(tmp_path.glob(".f.parquet*"))


def test_device_outside_the_session_is_an_error(tmp_path, video):
    out = tmp_path / "f.parquet"
    with pytest.raises(InputError, match="does not overlap the reference"):
        extract_frames(video, out, clock(-30.0, 6.0), defaults_for(FrameSettings))
    assert not out.exists()


def test_wrong_table_is_named(tmp_path):
    import pyarrow as pa
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"t": [1.0]}), path)
    with pytest.raises(InputError, match="missing column frame_index"):
        read_table(path, "frames")
