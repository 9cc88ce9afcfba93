"""Headless Chromium for the report page: the browser the tests drive, and a screenshot.

    python scripts/report_screenshot.py runs/demo/index.html docs/figures/report_page.png

Uses Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium
chromium-driver``) through Selenium (the ``browser`` extra); nothing is downloaded: the driver's
path is given, so Selenium Manager never runs. The page is opened from ``file://``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def missing() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    return None


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium WebDriver with a fresh profile, closed (and its profile removed)
    on exit; its console is readable with ``driver.get_log("browser")``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="jaxnet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page, png, width: int = 1400, max_height: int = 2400, clicks: int = 0) -> list:
    """Save a screenshot of the whole ``page`` (up to ``max_height`` pixels) to ``png``.

    Args:
      clicks: rows of the first table to select after the page's own three (more curves).

    Returns:
      The browser console's entries (an empty list for a clean page).
    """
    with chromium(width) as driver:
        driver.get(Path(page).resolve().as_uri())
        rows = driver.find_elements("css selector", "section.sweep tbody tr")
        for row in rows[3 : 3 + clicks]:
            row.click()
        loaded = "return Array.from(document.images).every((i) => i.complete)"
        deadline = time.monotonic() + 30
        while not driver.execute_script(loaded) and time.monotonic() < deadline:
            time.sleep(0.1)
        sizes = "return [document.documentElement.scrollHeight, outerHeight - innerHeight]"
        for _ in range(3):  # a taller window can make the page taller (vh units): settle
            height, frame = driver.execute_script(sizes)
            driver.set_window_size(width, min(height, max_height) + frame)
        driver.save_screenshot(str(png))
        _shrink(png)
        return driver.get_log("browser")


def _shrink(png) -> None:
    """256 colours without dithering: a page is flat colour and text, so it looks the same at
    about a third of the bytes (Pillow comes with matplotlib)."""
    from PIL import Image

    with Image.open(png) as image:
        flat = image.convert("RGB").quantize(
            256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    flat.save(png, optimize=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="the report's index.html")
    parser.add_argument("png", help="where the screenshot goes")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--max-height", type=int, default=2400)
    parser.add_argument("--clicks", type=int, default=0, help="extra rows to select")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        raise SystemExit(f"report_screenshot: {reason}")
    console = screenshot(args.page, args.png, args.width, args.max_height, args.clicks)
    print(f"wrote {args.png}; console: {console or 'clean'}")


if __name__ == "__main__":
    main()
