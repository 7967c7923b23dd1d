"""Children started by `spawn_tied` outlive the thread that asked for them and die with the
process that started them (real processes, real signals)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

from cli.children import spawn_tied
from tests.cli.proc_util import alive, wait_gone

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_child_asked_for_by_a_thread_that_ends_lives_on() -> None:
    procs: list[subprocess.Popen[bytes]] = []
    helper = threading.Thread(target=lambda: procs.append(spawn_tied(SLEEPER)))
    helper.start()
    helper.join()
    try:  # a PR_SET_PDEATHSIG tied to the helper thread would have killed it by now
        assert wait_gone({procs[0].pid}, timeout_s=1.0) == {procs[0].pid}
    finally:
        procs[0].kill()
        procs[0].wait()


def test_children_die_with_their_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, threading, time
        from cli.children import spawn_tied
        kids = []
        t = threading.Thread(target=lambda: kids.append(spawn_tied({SLEEPER!r})))
        t.start(); t.join()
        print(kids[0].pid, flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, cwd=os.getcwd())
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert wait_gone({child}) == set()
