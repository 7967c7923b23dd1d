"""Fault-soak subcommand of `avatar-stream`: `faults --runs N`, a JSON table on stdout."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import orjson


def cmd_faults(args: argparse.Namespace) -> int:
    from cli.faults import SCENARIOS, Outcome, run_faults

    names = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        sys.stderr.write(f"avatar-stream faults: unknown scenario {', '.join(unknown)} "
                         f"(known: {', '.join(SCENARIOS)})\n")
        return 2
    started = time.monotonic()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per scenario is the progress

    def progress(o: Outcome) -> None:
        verdict = "ok" if o.ok else f"FAILED ({o.error or 'see the table'})"
        sys.stderr.write(f"[{time.monotonic() - started:6.0f} s] {o.scenario} run {o.run}: {verdict}; "
                         f"resumed {o.resume_s} s, final status {o.done_s} s after the {o.resume_from}\n")

    # a bench of its own (broker, gateway, workers) under the data dir, kept for its logs
    base = Path(args.data_dir).resolve() / "faults"
    base.mkdir(parents=True, exist_ok=True)
    bench_dir = Path(tempfile.mkdtemp(prefix="bench-", dir=base))
    sys.stderr.write(f"fault bench in {bench_dir}: {args.runs} run(s) of {', '.join(names)}\n")
    report = asyncio.run(run_faults(bench_dir, args.runs, names, progress))
    report["machine"] = {"cpus": os.cpu_count(), "machine": platform.machine(),
                         "date": time.strftime("%Y-%m-%d"), "wall_s": round(time.monotonic() - started, 1)}
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"
    if args.out:
        Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0 if report["ok"] == report["runs"] else 1


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("faults", help="jobs through worker kills, stops, joins and a broker restart; "
                                      "checked against a run without faults; prints JSON")
    p.add_argument("--runs", type=int, default=1, help="times each scenario runs (default 1)")
    p.add_argument("--scenarios", default=None,
                   help="comma-separated scenario names (default: all; an unknown name lists them)")
    p.add_argument("--out", default=None, help="also write the JSON table to this file")
    p.set_defaults(fn=cmd_faults)
