"""The player page in a real headless Chromium: MSE playback as the job is made, then the download."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from cli.stack import Stack

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TEXT = ("Hello from the browser test. The video plays while it is still being made. "
        "This third sentence keeps it going past two seconds.")


async def test_player_plays_while_generating_and_downloads(stack: Stack, tmp_path: Path) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 720}, accept_downloads=True)
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            await page.goto(stack.url + "/")
            await page.evaluate("window.player.ready")  # the avatar and voice lists are loaded
            assert await page.evaluate("document.querySelector('#avatar').value") == "astronaut"
            await page.select_option("#voice", "piper:joe")
            await page.fill("#text", TEXT)
            await page.click("#go")
            # Playback starts before the job is done: the first segment plays while later ones are made.
            await page.wait_for_function("window.player.segments.length > 0", timeout=60_000)
            await page.wait_for_function("document.querySelector('#video').currentTime > 0", timeout=60_000)
            state_at_start = await page.evaluate("window.player.state")
            await page.wait_for_function("document.querySelector('#video').currentTime > 2", timeout=90_000)
            assert await page.evaluate("document.querySelector('#video').error") is None, console
            assert await page.evaluate("window.player.errors") == [], console
            words = await page.evaluate("window.player.words.map((w) => w.text).join(' ')")
            assert "browser" in words.lower(), words  # the tts stage's captions reached the page

            link = page.locator("#download")
            await link.wait_for(state="visible", timeout=120_000)
            async with page.expect_download() as info:
                await link.click()
            saved = tmp_path / "player.mp4"
            await (await info.value).save_as(saved)
            job_id = await page.evaluate("window.player.jobId")
            shot = Path(os.environ.get("AVATAR_SCREENSHOT", tmp_path / "player.png"))
            await page.screenshot(path=str(shot))
        finally:
            await browser.close()
    assert state_at_start in ("queued", "running"), "playback should start before the job completes"
    final = httpx.get(f"{stack.url}/api/v1/video/{job_id}").content
    assert saved.read_bytes() == final and final[4:8] == b"ftyp"
