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
    async with httpx.AsyncClient() as http:
        final = (await http.get(f"{stack.url}/api/v1/video/{job_id}")).content
    assert saved.read_bytes() == final and final[4:8] == b"ftyp"


# Counts every WebSocket the page opens, whoever opens it.
COUNT_SOCKETS = """
window.socketsOpened = 0;
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) { super(...args); window.socketsOpened += 1; }
};
"""


async def test_player_shows_a_refused_stream_and_does_not_retry_it(stack: Stack) -> None:
    """A keyed gateway, and a ticket it did not sign on the page's WebSocket: the page says why, once."""
    from streamer.auth import key_hash
    from tests.e2e.gateway_util import extra_gateway

    key = "k-player-0123456789"
    env = {"AVATAR_API_KEYS": key_hash(key), "AVATAR_DEV_MODE": "0"}
    forged = '{"ticket": "9999999999.forged"}'
    refusal = "invalid ticket (it names another job, or another gateway signed it)"
    with extra_gateway(stack, "gateway-player-keyed", env) as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page()
                await page.add_init_script(COUNT_SOCKETS)
                await page.clock.install()  # the page's timers run when the test says
                # The job is submitted with the page's key; the ticket it gets for the socket is forged.
                await page.route("**/api/v1/jobs/*/ticket", lambda route: route.fulfill(
                    status=200, content_type="application/json", body=forged))
                await page.goto(url + "/")
                await page.fill("#apikey", key)
                await page.evaluate("window.player.ready")
                await page.fill("#text", "This stream is refused.")
                await page.click("#go")
                await page.wait_for_function("window.player.closed !== null", timeout=30_000)
                assert await page.evaluate("window.player.closed") == {"code": 4401, "reason": refusal}
                assert await page.text_content("#state") == f"Error: {refusal}"
                await page.clock.run_for(60_000)  # every timer due within a minute fires: a retry would
                assert await page.evaluate("window.socketsOpened") == 1
                assert await page.evaluate("window.player.errors") == [refusal]
            finally:
                await browser.close()


async def test_keyed_player_never_puts_the_key_in_a_url(stack: Stack, tmp_path: Path) -> None:
    """With keys on, the page streams with a ticket and downloads with a signed URL: no URL it
    opens (requests, the WebSocket, the download) carries the key."""
    from streamer.auth import key_hash
    from tests.e2e.gateway_util import extra_gateway

    key = "k-player-url-0123456789"
    env = {"AVATAR_API_KEYS": key_hash(key), "AVATAR_DEV_MODE": "0"}
    with extra_gateway(stack, "gateway-player-tickets", env) as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page(accept_downloads=True)
                opened: list[str] = []
                page.on("request", lambda request: opened.append(request.url))
                page.on("websocket", lambda socket: opened.append(socket.url))
                await page.goto(url + "/")
                await page.fill("#apikey", key)
                await page.evaluate("window.player.ready")
                await page.fill("#text", "Keys stay out of every URL.")
                await page.click("#go")
                link = page.locator("#download")
                await link.wait_for(state="visible", timeout=120_000)
                assert await page.evaluate("window.player.errors") == []
                async with page.expect_download() as info:
                    await link.click()
                download = await info.value
                saved = tmp_path / "keyed.mp4"
                await download.save_as(saved)
                opened.append(download.url)
            finally:
                await browser.close()
    sockets = [u for u in opened if u.startswith("ws")]
    assert sockets and all("ticket=" in u for u in sockets), opened
    assert any("/api/v1/video/" in u and "signature=" in u for u in opened), opened
    assert not [u for u in opened if key in u or "api_key" in u], opened
    assert saved.read_bytes()[4:8] == b"ftyp"
