"""Load-test subcommand of `avatar-stream`: many watchers and jobs against a gateway."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import orjson


def cmd_loadtest(args: argparse.Namespace) -> int:
    from cli.loadtest import LOAD_TEXT, run_load
    from cli.stack import Stack

    text = " ".join([args.text or LOAD_TEXT] * args.repeat)
    machine = {"cpus": os.cpu_count(), "machine": platform.machine()}
    if args.url:
        data_dir = Path(args.data_dir) if args.check_store else None
        api_key = os.environ.get("AVATAR_API_KEY")
        report: dict[str, Any] = asyncio.run(run_load(args.url, args.watchers, args.jobs, text, data_dir, api_key))
    else:
        started = time.perf_counter()
        with Stack(Path(args.data_dir)) as stack:
            machine["stack_start_s"] = round(time.perf_counter() - started, 3)
            report = asyncio.run(run_load(stack.url, args.watchers, args.jobs, text, stack.data_dir))
    report["machine"] = machine
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    incomplete = sum(p["streams"] - p["complete_streams"] for k, p in report.items() if k != "machine")
    return 1 if incomplete else 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("loadtest", help="N WebSocket clients on one job, then M concurrent jobs; prints JSON")
    p.add_argument("--url", default=None,
                   help="a running gateway (its key, if any, in AVATAR_API_KEY); default: start the whole stack here")
    p.add_argument("--watchers", type=int, default=50)
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--text", default=None)
    p.add_argument("--repeat", type=int, default=1,
                   help="the text this many times over (8: some 80 s of video per job)")
    p.add_argument("--check-store", action="store_true",
                   help="with --url: also compare streams with the segments under --data-dir")
    p.set_defaults(fn=cmd_loadtest)
