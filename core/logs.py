"""Logging for every process (CLI, workers, gateway): one JSON object per line on stderr.

Why this shape: the logs are read by machines (a collector, `jq`, a test) as often as by
people, so each record is exactly one line that parses, traceback included, and carries the
job id whenever it has one, so one job can be followed across processes with a single
filter. The formatter is python-json-logger's, not a hand-written format string, so quotes,
newlines and tracebacks in a message are escaped, not spliced into the line.

During a broker outage aiokafka logs the same few errors on every retry, thousands per
process; `RepeatSummary` passes the first of a run and then says how many followed, so the
outage reads as two lines per error and does not hide everything else.

Three entry points: `setup_logging(level)` for a plain process, `logging_config(level)` for
code that applies a `dictConfig` itself (Faust's Worker), `uvicorn_log_config(level)` for
uvicorn's `log_config=`.
"""

from __future__ import annotations

import atexit
import logging
import logging.config
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

#: a job id is `uuid4().hex`: 32 lower-case hex digits standing alone
JOB_ID_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
#: query-string values that are secrets: `?api_key=`, `&ticket=`, `&token=`, `&key=`, `&signature=`
SECRET_QUERY_RE = re.compile(r"([?&](?:api_key|ticket|token|key|signature)=)[^&#\s\"']*", re.IGNORECASE)


_FIELDS = ["levelname", "name", "message", "process"]
_RENAMES = {"levelname": "level", "name": "logger", "process": "pid"}
# uvicorn's colored copy of its message would only repeat `message` with escape codes
_DROPPED = [*RESERVED_ATTRS, "color_message"]


def redact(text: str) -> str:
    """`text` with the value of each secret query parameter replaced by `***`."""
    return SECRET_QUERY_RE.sub(r"\1***", text)


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, pid, then
    any `extra=` fields, `exc_info` (the traceback as one string) and `job_id`.

    `job_id` is the `extra={"job_id": ...}` given with the record, else the first 32-hex
    run in the message (job ids are `uuid4().hex`, and most messages about a job name it);
    absent when neither. Secret query values (`api_key`, `ticket`, `token`, `key`, `signature`) are
    redacted from the message, because access logs print request URLs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(_FIELDS, rename_fields=_RENAMES, reserved_attrs=_DROPPED, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
        message = log_data.get("message")
        if isinstance(message, str):
            log_data["message"] = message = redact(message)
            if log_data.get("job_id") is None and (found := JOB_ID_RE.search(message)):
                log_data["job_id"] = found.group()


def _repeat_key(record: logging.LogRecord) -> tuple[str, str, str | None]:
    """(logger, message as written, `extra` job id): what makes two records "the same" for
    RepeatSummary. Only lines that would read exactly alike are folded, so two jobs' dead
    letters or two partitions' errors (one template, other arguments) never hide each other."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):  # args that do not fit: the handler says so
        message = str(record.msg)
    job_id = getattr(record, "job_id", None)
    return record.name, message, None if job_id is None else str(job_id)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the process's own stderr (`sys.__stderr__`), never to a stand-in that
    replaced `sys.stderr`: Faust's worker swaps in a proxy that logs what is printed (it
    would log its own lines), and a test runner swaps and then closes captured streams (a
    summary written at exit would go to a closed file)."""

    def __init__(self) -> None:
        super().__init__(sys.__stderr__ or sys.stderr)


@dataclass
class _Run:
    """Repeats of one line (see `_repeat_key`) since the first one was passed."""

    since: float  # when the count below started: the passed record, or the last summary
    last: float  # the latest repeat
    count: int = 0  # repeats suppressed since `since`
    sample: logging.LogRecord | None = None  # the latest suppressed one, for the summary's text


class RepeatSummary(logging.Filter):
    """Passes the first WARNING-or-worse record of each line (logger and message) and
    suppresses its repeats while they keep coming less than `window_s` apart; when they stop
    (no repeat for `window_s`), one record says how many there were: "<message> (repeated
    1843 times in 17.2 s)", with `repeated` and `repeated_for_s` fields.

    Keyed by the message as written (and an `extra` job id), so a flood of one line never
    hides a different one, such as another job's warning. A different record from the same
    logger that is passed writes that logger's counts so far first, so lines stay in true
    order; the runs go on (aiokafka alternates two errors from
    one logger during an outage). A flood longer than `report_every_s` gets a summary that
    often, so a long outage stays visible. Counts still pending at exit are written then.

    Attach it to a handler, not a logger: a logger's filters do not see records that
    propagate from its children."""

    def __init__(self, window_s: float = 5.0, report_every_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self.report_every_s = report_every_s
        self._runs: dict[tuple[str, str, str | None], _Run] = {}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        atexit.register(self.flush)

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "repeated"):  # our own summary, coming back through the handler
            return True
        now = record.created
        with self._lock:
            due = self._take_due(now)
            passed = True
            if record.levelno >= logging.WARNING:
                key = _repeat_key(record)
                run = self._runs.get(key)
                if run is None:
                    self._runs[key] = _Run(since=now, last=now)
                else:
                    run.count, run.last, run.sample = run.count + 1, now, record
                    passed = False
                    self._arm_timer()
            if passed:  # what this logger repeated so far goes before it
                due += [self._take_count(run) for (name, _, _), run in self._runs.items()
                        if name == record.name and run.count]
        self._emit(due)
        return passed

    def flush(self) -> None:
        """Writes every pending count now (at exit, or in a test)."""
        with self._lock:
            due = [self._take_count(run) for run in self._runs.values() if run.count]
            self._runs.clear()
        self._emit(due)

    def _take_due(self, now: float) -> list[logging.LogRecord]:
        """Summaries of runs that ended (no repeat for `window_s`) or ran `report_every_s`."""
        due = []
        for key, run in list(self._runs.items()):
            if now - run.last >= self.window_s:
                del self._runs[key]
                if run.count:
                    due.append(self._take_count(run))
            elif run.count and now - run.since >= self.report_every_s:
                due.append(self._take_count(run))
        return due

    def _take_count(self, run: _Run) -> logging.LogRecord:
        """The summary record of `run`'s count so far; the count starts again from zero."""
        sample = run.sample
        assert sample is not None
        spent = max(0.0, run.last - run.since)
        summary = logging.makeLogRecord({
            "name": sample.name, "levelno": sample.levelno, "levelname": sample.levelname,
            "pathname": sample.pathname, "filename": sample.filename, "module": sample.module,
            "lineno": sample.lineno, "funcName": sample.funcName,
            "msg": "%s (repeated %d times in %.1f s)",
            "args": (sample.getMessage(), run.count, spent),
            "repeated": run.count, "repeated_for_s": round(spent, 3),
        })
        if (job_id := getattr(sample, "job_id", None)) is not None:
            summary.job_id = job_id
        run.since, run.count, run.sample = run.last, 0, None
        return summary

    def _arm_timer(self) -> None:
        """So a run's summary comes when its window ends, even if nothing else is logged."""
        if self._timer is not None:
            return
        due_at = min(min(run.last + self.window_s, run.since + self.report_every_s)
                     for run in self._runs.values() if run.count)
        self._timer = threading.Timer(max(0.0, due_at - time.time()) + 0.01, self._on_timer)
        self._timer.daemon = True
        self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            due = self._take_due(time.time())
            if any(run.count for run in self._runs.values()):
                self._arm_timer()
        self._emit(due)

    @staticmethod
    def _emit(summaries: list[logging.LogRecord]) -> None:
        for summary in summaries:  # through its logger, so it goes where the repeats went
            logging.getLogger(summary.name).handle(summary)


def _level(level: str | int) -> str:
    name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    if name not in logging.getLevelNamesMapping():
        raise ValueError(f"unknown log level {level!r}")
    return name


def logging_config(level: str | int = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: the root logger at `level` with one stderr
    handler (JSON lines, repeats summarised); aiokafka no chattier than WARNING, except its
    group coordinator (a few lines per rebalance: joined, assigned, left), which says who
    had what when a job stalled. Loggers created before it stay enabled."""
    name = _level(level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLineFormatter}},
        "filters": {"repeats": {"()": RepeatSummary}},
        "handlers": {"stderr": {"()": StderrHandler,
                                "formatter": "json", "filters": ["repeats"]}},
        "root": {"level": name, "handlers": ["stderr"]},
        "loggers": {"aiokafka": {"level": max(logging.getLevelNamesMapping()[name],
                                               logging.WARNING)},
                    "aiokafka.consumer.group_coordinator": {"level": name}},
    }


def setup_logging(level: str | int = "INFO") -> None:
    """Replaces whatever handlers the root logger has with the JSON one (see module doc)."""
    logging.config.dictConfig(logging_config(level))


def uvicorn_log_config(level: str | int = "INFO") -> dict[str, Any]:
    """For `uvicorn.run(..., log_config=...)`: `logging_config(level)`, with uvicorn's own
    loggers (server, errors, access lines) writing through the root's JSON handler instead
    of their plain-text ones. The access line's URL, and the WebSocket "accepted" line's,
    have secret query values redacted by the formatter."""
    config = logging_config(level)
    config["loggers"] |= {name: {"handlers": [], "propagate": True}
                          for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    return config
