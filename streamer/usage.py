"""Usage and cost: each job's sums, folded from the usage topic (see streamer/usage_api.py).

The topic is compacted and keyed by piece of work (schemas/usage.py), and read from its
start like the status topic, so a restarted gateway has every job's usage again; a piece
seen twice (a record done again after a fail-over) is counted once. Costs are estimates
from the configured prices (`AVATAR_PRICE_*`), computed when shown.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.base import DEFAULT_TENANT
from schemas.usage import Usage, UsageDay, UsageRecord, UsageReport
from streamer.settings import Prices


@dataclass
class Tally:
    """Sums of pieces of work; `parts` are the keys already counted."""

    parts: set[bytes] = field(default_factory=set)
    cpu_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    gpu_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    tts_characters: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    video_s: float = 0.0
    bytes_streamed: int = 0

    def add(self, record: UsageRecord) -> bool:
        """False for a piece already counted."""
        if record.key in self.parts:
            return False
        self.parts.add(record.key)
        if record.cpu_s:
            self.cpu_s[record.stage] += record.cpu_s
        if record.gpu_s:
            self.gpu_s[record.stage] += record.gpu_s
        for provider, chars in record.tts_characters.items():
            self.tts_characters[provider] += chars
        self.video_s += record.video_s
        self.bytes_streamed += record.bytes_streamed
        return True

    def merge(self, other: Tally) -> None:
        for mine, theirs in ((self.cpu_s, other.cpu_s), (self.gpu_s, other.gpu_s)):
            for stage, seconds in theirs.items():
                mine[stage] += seconds
        for provider, chars in other.tts_characters.items():
            self.tts_characters[provider] += chars
        self.video_s += other.video_s
        self.bytes_streamed += other.bytes_streamed

    def usage(self, prices: Prices) -> Usage:
        return Usage(cpu_s={k: round(v, 4) for k, v in sorted(self.cpu_s.items())},
                     gpu_s={k: round(v, 4) for k, v in sorted(self.gpu_s.items())},
                     tts_characters=dict(sorted(self.tts_characters.items())),
                     video_s=round(self.video_s, 4), bytes_streamed=self.bytes_streamed,
                     cost=round(cost(self, prices), 6), currency=prices.currency)


@dataclass
class JobUsage:
    """One job's sums, with what the report files them under."""

    tally: Tally = field(default_factory=Tally)
    created_at: float | None = None
    tenant: str = DEFAULT_TENANT


class UsageLedger:
    """Every job's usage, kept apart from the job board: a job deleted by its client or
    removed by the retention sweep (streamer/retention.py) is still billed. A job's day and
    owner come from its status, or, once that is gone, from the record the sweep left."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobUsage] = {}

    def get(self, job_id: str) -> JobUsage | None:
        return self._jobs.get(job_id)

    def add(self, record: UsageRecord) -> JobUsage | None:
        """The job's usage when the record changed it; None for a piece already counted."""
        job = self._jobs.setdefault(record.job_id, JobUsage())
        if record.created_at is not None:
            self.describe(record.job_id, record.created_at, record.tenant)
        return job if job.tally.add(record) else None

    def describe(self, job_id: str, created_at: float, tenant: str | None = None) -> None:
        job = self._jobs.setdefault(job_id, JobUsage())
        job.created_at = created_at
        if tenant and job.tenant == DEFAULT_TENANT:  # an owner, once named, is never changed
            job.tenant = tenant

    def rows(self) -> Iterable[tuple[str, float, Tally]]:
        """(tenant, created_at, tally) of every job whose creation is known, for `report`."""
        return ((job.tenant, job.created_at, job.tally) for job in self._jobs.values()
                if job.created_at is not None)


def cost(tally: Tally, prices: Prices) -> float:
    tts = dict(prices.tts_1k_chars)
    return (sum(tally.cpu_s.values()) / 3600 * prices.cpu_hour
            + sum(tally.gpu_s.values()) / 3600 * prices.gpu_hour
            + sum(chars / 1000 * tts.get(provider, 0.0) for provider, chars in tally.tts_characters.items())
            + tally.video_s / 60 * prices.video_minute
            + tally.bytes_streamed / 1e9 * prices.gb_streamed)


def price_list(prices: Prices) -> dict[str, float]:
    return {"cpu_hour": prices.cpu_hour, "gpu_hour": prices.gpu_hour, "video_minute": prices.video_minute,
            "gb_streamed": prices.gb_streamed,
            **{f"tts_1k_chars:{provider}": price for provider, price in prices.tts_1k_chars}}


def day_of(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).date().isoformat()


def report(jobs: Iterable[tuple[str, float, Tally]], first: dt.date, last: dt.date,
           prices: Prices) -> UsageReport:
    """`jobs`: (tenant, created_at, tally) per job; summed per tenant and creation day."""
    days: dict[tuple[str, str], tuple[int, Tally]] = {}
    for tenant, created_at, tally in jobs:
        day = day_of(created_at)
        if not first.isoformat() <= day <= last.isoformat():
            continue
        count, total = days.get((day, tenant), (0, Tally()))
        total.merge(tally)
        days[(day, tenant)] = (count + 1, total)
    rows = [UsageDay(day=day, tenant=tenant, jobs=count, usage=total.usage(prices))
            for (day, tenant), (count, total) in sorted(days.items())]
    return UsageReport(days=rows, prices=price_list(prices))
