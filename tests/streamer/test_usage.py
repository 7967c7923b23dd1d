"""Usage sums on the gateway: each piece of work counted once, costs from the prices, the
daily report per key, and the API's answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from schemas.status import JobState, StatusEvent
from schemas.usage import UsageRecord
from streamer.jobs import JobBoard
from streamer.settings import Prices
from streamer.usage import Tally, cost, report
from tests.streamer.app_util import offline_client

PRICES = Prices(currency="EUR", cpu_hour=3.6, gpu_hour=36.0, tts_1k_chars=(("elevenlabs", 0.3),),
                video_minute=0.6, gb_streamed=10.0)


def _record(job: str = "j", stage: str = "encoder", part: str = "0", **fields: object) -> UsageRecord:
    return UsageRecord(job_id=job, stage=stage, part=part, **fields)  # type: ignore[arg-type]


def test_a_piece_done_twice_is_counted_once() -> None:
    tally = Tally()
    assert tally.add(_record(cpu_s=2.0, video_s=1.5))
    assert not tally.add(_record(cpu_s=2.1, video_s=1.5))  # redone after a fail-over
    assert tally.add(_record(part="1", cpu_s=1.0, video_s=1.0))
    assert tally.add(_record(stage="lipsync", cpu_s=4.0, gpu_s=0.5))
    usage = tally.usage(PRICES)
    assert usage.cpu_s == {"encoder": 3.0, "lipsync": 4.0} and usage.gpu_s == {"lipsync": 0.5}
    assert usage.video_s == 2.5 and usage.currency == "EUR"


def test_cost_from_the_prices() -> None:
    tally = Tally()
    tally.add(_record(stage="tts", cpu_s=3600.0, tts_characters={"elevenlabs": 2000, "piper": 500}))
    tally.add(_record(stage="lipsync", gpu_s=100.0))
    tally.add(_record(stage="encoder", video_s=120.0))
    tally.add(_record(stage="stream", part="s1", bytes_streamed=2 * 10**9))
    assert cost(tally, PRICES) == pytest.approx(3.6 + 1.0 + 0.6 + 1.2 + 20.0)
    assert cost(tally, Prices()) == 0.0


def test_prices_from_the_environment() -> None:
    prices = Prices.from_env({"AVATAR_PRICE_TTS_1K_CHARS": "elevenlabs=0.3, piper=0", "AVATAR_PRICE_GPU_HOUR": "2.5"})
    assert prices.tts_1k_chars == (("elevenlabs", 0.3), ("piper", 0.0)) and prices.gpu_hour == 2.5
    for env, message in (({"AVATAR_PRICE_CPU_HOUR": "cheap"}, "not a number"),
                         ({"AVATAR_PRICE_CPU_HOUR": "-1"}, "0 or more"),
                         ({"AVATAR_PRICE_TTS_1K_CHARS": "0.3"}, "provider=price")):
        with pytest.raises(ValueError, match=message):
            Prices.from_env(env)


def test_report_per_tenant_and_day() -> None:
    day1 = dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.UTC).timestamp()
    day2 = dt.datetime(2026, 12, 2, 0, 1, tzinfo=dt.UTC).timestamp()
    tallies = []
    for seconds in (1.0, 2.0, 4.0):
        tally = Tally()
        tally.add(_record(cpu_s=seconds))
        tallies.append(tally)
    jobs = [("a", day1, tallies[0]), ("a", day2, tallies[1]), ("b", day2, tallies[2])]
    out = report(jobs, dt.date(2026, 12, 1), dt.date(2026, 12, 2), PRICES)
    assert [(d.day, d.tenant, d.jobs, d.usage.cpu_s["encoder"]) for d in out.days] == [
        ("2026-12-01", "a", 1, 1.0), ("2026-12-02", "a", 1, 2.0), ("2026-12-02", "b", 1, 4.0)]
    assert out.prices["cpu_hour"] == 3.6 and out.prices["tts_1k_chars:elevenlabs"] == 0.3
    assert report(jobs, dt.date(2026, 12, 2), dt.date(2026, 12, 2), PRICES).days[0].day == "2026-12-02"


def test_status_shows_usage_and_the_report_endpoint(tmp_path: Path) -> None:
    client, state = offline_client(tmp_path, prices=PRICES)
    state.board = board = JobBoard(prices=PRICES)
    now = dt.datetime.now(dt.UTC)
    board.apply_status(StatusEvent(job_id="j", state=JobState.RUNNING, stage="tts", at=now.timestamp(),
                                   created_at=now.timestamp()))
    board.apply_usage(_record(stage="tts", part="0", cpu_s=36.0, tts_characters={"elevenlabs": 1000}))
    board.apply_usage(_record(stage="tts", part="0", cpu_s=36.0, tts_characters={"elevenlabs": 1000}))
    usage = client.get("/api/v1/status/j").json()["usage"]
    assert usage["cpu_s"] == {"tts": 36.0} and usage["tts_characters"] == {"elevenlabs": 1000}
    assert usage["cost"] == pytest.approx(0.036 + 0.3)
    board.apply_status(StatusEvent(job_id="j", state=JobState.COMPLETED, stage="assembler", at=now.timestamp()))
    assert client.get("/api/v1/status/j").json()["usage"]["cost"] == pytest.approx(0.336)  # kept

    today = now.date().isoformat()
    body = client.get("/api/v1/usage", params={"from": today, "to": today}).json()
    assert [(d["day"], d["jobs"]) for d in body["days"]] == [(today, 1)]
    assert client.get("/api/v1/usage", params={"from": "2026-12-31", "to": "2026-12-01"}).status_code == 422
    bad = client.get("/api/v1/usage", params={"to": "soon"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.json()["error"]
    assert client.get("/api/v1/usage", params={"from": "2020-01-01", "to": "2026-01-01"}).status_code == 422


def test_usage_outlives_the_jobs_status() -> None:
    """Deleted or removed by retention, a job is still in the report; a removed job's day and
    owner come from the record the sweep left, and its usage makes no job appear again."""
    board = JobBoard(prices=PRICES)
    created = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC).timestamp()
    board.apply_usage(_record(job="early", stage="tts", cpu_s=1.0))  # usage before its status
    board.apply_status(StatusEvent(job_id="early", state=JobState.COMPLETED, stage="assembler",
                                   at=created + 60, created_at=created))
    assert board.get("early").status.usage.cpu_s == {"tts": 1.0}  # type: ignore[union-attr]
    assert [s.job_id for s in board.expired(created + 61)] == ["early"] and board.expired(created + 59) == []
    board.forget("early")
    assert board.get("early") is None
    board.apply_usage(_record(job="early", stage="stream", part="s", bytes_streamed=10))
    assert board.get("early") is None and board.all() == []

    # A gateway started after the sweep: no status at all, the sweep's record names the day.
    later = JobBoard(prices=PRICES)
    later.apply_usage(_record(job="early", stage="tts", cpu_s=1.0))
    later.apply_usage(_record(job="early", stage="gateway", part="retained", created_at=created, tenant="t1"))
    [day] = report(later.usage.rows(), dt.date(2026, 12, 1), dt.date(2026, 12, 1), PRICES).days
    assert (day.tenant, day.jobs, day.usage.cpu_s) == ("t1", 1, {"tts": 1.0})
    assert later.all() == []
