"""The explorer in a real browser (issue 15 item 5): start ``adoptsim app`` on a free loopback
port, drive it with Playwright in Debian's chromium, change a lever, press Run, wait for the
headline to change, save a screenshot. Every request that leaves loopback is blocked and fails
the test (a page that needs a CDN would render blank offline)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")


def find_chromium() -> str | None:
    """Debian's chromium (.ci/run installs it when missing), else one on PATH."""
    for cand in (os.environ.get("ADOPTSIM_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_server(tmp_path):
    """``adoptsim app`` on a free loopback port, in tmp_path; its log; stopped afterwards."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "adoptsim", "app", "--port", str(port)], cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"adoptsim app exited with {proc.returncode}: {(tmp_path / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("adoptsim app did not answer within 90 s")
            time.sleep(0.5)
        yield url, tmp_path / "server.log"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def chip_ban_position() -> int:
    """The position of chip_ban_2026 among the resolved policies of chip_ban_tightening (policy
    levers are keyed by position)."""
    from adoptsim.app.session import bundled_scenarios
    from adoptsim.io.scenario_files import load_raw

    raw = load_raw(bundled_scenarios()["chip_ban_tightening"])
    return [p.get("name") for p in raw["policies"]].index("chip_ban_2026")


def test_change_a_lever_run_and_see_the_headline(app_server, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium found (/usr/bin/chromium or on PATH); .ci/run installs Debian's chromium as root")
    from playwright.sync_api import sync_playwright

    url, server_log = app_server
    outside, failed = [], []

    def route(r):
        if r.request.url.startswith(LOCAL):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", route)
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(url)
            page.wait_for_selector(".adoptsim-run", timeout=90_000)
            before = page.inner_text(".adoptsim-headline")
            assert "%" not in before  # no run yet
            page.fill(".adoptsim-members input", "4")  # 4 plausible worlds x 1 replicate: seconds
            page.fill(".adoptsim-replicates input", "1")
            # the chip ban of the default scenario (chip_ban_tightening): total instead of x0.4
            lever = page.locator(f".adoptsim-lever-policies-{chip_ban_position()}-chip-access input")
            assert lever.input_value() == "0.4"
            lever.fill("0")
            page.click(".adoptsim-run")
            page.wait_for_selector(".adoptsim-progress", timeout=30_000)
            page.wait_for_function("!document.querySelector('.adoptsim-headline').innerText.includes('Press Run')",
                                   timeout=300_000)
            after = page.inner_text(".adoptsim-headline")
            page.wait_for_selector("text=Changed: chip_ban_2026", timeout=30_000)
            page.wait_for_timeout(1000)  # the figures
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
            downloads = {}
            for label in ("Download results (zip)", "Download the brief (HTML)"):
                with page.expect_download(timeout=120_000) as dl:
                    page.get_by_role("button", name=label).click()
                downloads[label] = tmp_path / dl.value.suggested_filename
                dl.value.save_as(downloads[label])
        finally:
            browser.close()
    assert after != before and "Chinese models, world share in 2030-12" in after, after
    assert (tmp_path / "app.png").stat().st_size > 10_000
    zipped = downloads["Download results (zip)"]
    assert zipped.name == "chip_ban_tightening-run001.zip"
    assert "chip_ban_tightening/manifest.json" in zipfile.ZipFile(zipped).namelist()
    brief = downloads["Download the brief (HTML)"].read_text()
    assert brief.startswith("<!DOCTYPE html>") and "chip_access 0.4 -&gt; 0.0" in brief
    assert not outside, f"requests leaving loopback: {outside}"
    assert not failed, f"failed requests: {failed}"
    assert "Could not load URL" not in server_log.read_text()  # the server fetched nothing from a CDN
