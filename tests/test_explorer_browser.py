"""Session explorer pages in a real browser: Debian's headless Chromium driven by Playwright.

Without Chromium these tests are skipped on a developer's machine and fail under CI (``CI`` set),
where tests/browser/install-chromium.sh has installed it."""

import os

import numpy as np
import pytest
from explorer_session import SOURCE_SIZE, STREAM_T0, UTTERANCES, gaze_u, gaze_v, make_session

from egoinstruct.report.browser import (
    chromium_executable,
    headless_chromium,
    open_page,
    wait_for_videos,
)
from egoinstruct.report.explorer import build_session_page


@pytest.fixture(scope="module")
def browser():
    if chromium_executable() is None:
        message = "Chromium not found: run tests/browser/install-chromium.sh (as root) or set EGOINSTRUCT_CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with headless_chromium() as b:
        yield b


def build(tmp_path, **layers):
    session, frames, metrics = make_session(tmp_path / "sessions" / "t01", **layers)
    html = tmp_path / "report" / "sessions" / "t01.html"
    build_session_page(session, html, frames, metrics)
    return html


@pytest.fixture(scope="module")
def full_page(browser, tmp_path_factory):
    opened = open_page(browser, build(tmp_path_factory.mktemp("explorer")))
    wait_for_videos(opened.page)
    yield opened
    opened.page.close()


def seek(page, t):
    page.evaluate(f"egoExplorer.seek({t})")
    wait_for_videos(page)


def magenta_centroid(page):
    """Centre of the gaze point drawn on the overlay (its pure magenta pixels), in CSS pixels."""
    return page.evaluate("""() => {
        const c = document.querySelector('figure.device canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0, sx = 0, sy = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i] > 230 && d[i + 1] < 30 && d[i + 2] > 230 && d[i + 3] > 230) {
                const p = i / 4; n++; sx += p % c.width; sy += Math.floor(p / c.width);
            }
        }
        return n ? [sx / n + 0.5, sy / n + 0.5, n, c.clientWidth, c.clientHeight] : null;
    }""")


def test_loads_offline_without_errors(full_page):
    assert full_page.errors == [] and full_page.remote_requests == []
    page = full_page.page
    assert page.evaluate("document.body.dataset.ready") == "1"
    # the data files were loaded as scripts, the video from where the pipeline wrote it
    assert any(url.endswith("/t01/gaze_learner_aria.js") for url in full_page.requests)
    assert any(url.endswith("/sessions/t01/analysis/learner_aria.mp4") for url in full_page.requests)
    assert page.locator(".lane").count() >= 8 and page.locator(".utt").count() == len(UTTERANCES)
    assert page.locator("#metrics td", has_text="late").count() == 1


def test_clicking_a_segment_seeks_the_video_to_its_start(full_page):
    page = full_page.page
    page.locator('.lane[data-id="truth:steps"] .seg').nth(1).click()  # place_block from 4.0 s
    wait_for_videos(page)
    assert page.evaluate("egoExplorer.time()") == pytest.approx(4.0)
    assert page.evaluate("document.querySelector('video').currentTime") == pytest.approx(4.0 - STREAM_T0, abs=0.01)
    assert "place_block" in page.locator("#detail").inner_text()


def test_mllm_window_shows_its_inputs_and_raw_answer(full_page):
    page = full_page.page
    page.locator('.lane[data-id="mllm:steps:tiny:1"] .seg').first.click()
    detail = page.locator("#detail").inner_text()
    assert "answer 1: pick_block" in detail and "transcript,images" in detail
    assert page.evaluate("egoExplorer.time()") == pytest.approx(4.0)


@pytest.mark.parametrize("t", [1.0, 3.3, 6.5])
def test_gaze_point_is_drawn_where_the_gaze_table_says(full_page, t):
    page = full_page.page
    seek(page, t)
    x, y, n, width, height = magenta_centroid(page)
    # the gaze table's pixel (source 640x480) scaled to the displayed video
    expected = gaze_u(np.array(t)) * width / SOURCE_SIZE[0], gaze_v(np.array(t)) * height / SOURCE_SIZE[1]
    assert n > 20
    assert abs(x - expected[0]) < 1.0 and abs(y - expected[1]) < 1.0


def test_highlighted_utterance_is_the_one_spoken(full_page):
    page = full_page.page
    for t, expected in [(3.5, "this one"), (6.0, "yes put it on top")]:
        seek(page, t)
        assert page.locator(".utt.current").count() == 1
        assert expected in page.locator(".utt.current").inner_text()
    seek(page, 4.6)  # between utterances: none
    assert page.locator(".utt.current").count() == 0
    page.locator(".utt").first.click()
    assert page.evaluate("egoExplorer.time()") == pytest.approx(UTTERANCES[0][0])


def test_keys_play_step_and_jump_to_disagreements(full_page):
    page = full_page.page
    seek(page, 1.0)
    page.select_option("#method", "pred:steps:late")
    page.locator("body").press("ArrowRight")
    assert page.evaluate("egoExplorer.time()") == pytest.approx(2.0)
    page.locator("body").press("n")  # "late" keeps pick_block until 6.0 s: the truth changed at 4.0 s
    assert page.evaluate("egoExplorer.time()") == pytest.approx(4.0)
    page.locator("body").press("p")
    assert page.evaluate("egoExplorer.time()") == pytest.approx(4.0)  # none before
    page.locator("body").press("Space")
    page.wait_for_function("egoExplorer.time() > 4.3")
    assert page.evaluate("!document.querySelector('video').paused")
    page.locator("body").press("Space")
    assert page.evaluate("document.querySelector('video').paused")


@pytest.mark.parametrize("missing", ["gaze", "transcript", "predictions"])
def test_works_without_a_layer(browser, tmp_path, missing):
    opened = open_page(browser, build(tmp_path, **{missing: False}))
    page = opened.page
    assert opened.errors == [] and opened.remote_requests == []
    assert page.evaluate("document.body.dataset.ready") == "1"
    if missing == "transcript":
        assert "No transcript" in page.locator("#transcript").inner_text()
    if missing == "predictions":
        assert page.locator("#method").is_disabled() and "No method" in page.locator("#metrics").inner_text()
    if missing == "gaze":
        wait_for_videos(page)
        seek(page, 3.0)
        assert magenta_centroid(page) is None
    page.locator('.lane[data-id="truth:steps"] .seg').first.click()
    assert page.evaluate("egoExplorer.time()") == 0.0
    page.close()
