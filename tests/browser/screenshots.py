"""Screenshots of a session's explorer page for docs/ (the browser the tests use).

    python tests/browser/screenshots.py results/report/sessions/s01.html docs/images

Writes explorer.png (the page at 16.2 s, an MLLM window's details open) and
explorer_overlay.png (the head cameras' videos with gaze point, fixation and face box).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from egoinstruct.report.browser import headless_chromium, open_page, wait_for_videos


def shrink(path: Path) -> None:
    """256 colours: a third of the bytes in the repository, the same picture to a reader."""
    Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--time", type=float, default=16.2, help="session time shown (s)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with headless_chromium() as browser:
        opened = open_page(browser, args.page, width=1400, height=1000)
        page = opened.page
        wait_for_videos(page)
        window = page.locator('.lane[data-id^="mllm:"] .seg')
        if window.count():
            window.nth(min(3, window.count() - 1)).click()
        page.evaluate(f"egoExplorer.seek({args.time})")
        wait_for_videos(page)
        page.screenshot(path=str(args.out / "explorer.png"), full_page=True)
        page.locator("#videos").screenshot(path=str(args.out / "explorer_overlay.png"))
        for name in ("explorer.png", "explorer_overlay.png"):
            shrink(args.out / name)
        if opened.errors or opened.remote_requests:
            raise SystemExit(f"page errors {opened.errors} or remote requests {opened.remote_requests}")
    print(f"wrote {args.out / 'explorer.png'} and {args.out / 'explorer_overlay.png'}")


if __name__ == "__main__":
    main()
