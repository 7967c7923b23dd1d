"""Child processes that die with this one, whichever thread starts them.

The kernel's PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not
the process: a child started from a short-lived thread (`asyncio.to_thread`, a
supervisor's helper) would be killed as soon as that thread finished. So every child is
forked from one thread that lives as long as the process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

_FORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forker")

def _die_with_parent(parent: int) -> None:
    """Runs in the child before exec: ask the kernel to SIGKILL it when we die.

    SIGKILL, not SIGTERM: a parent that died without stopping its children was itself
    killed, and a graceful shutdown can hang once the broker is gone too (seen with a
    Faust worker spinning on reconnects)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def spawn_tied(args: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(args, **popen)`, forked from the long-lived forker thread, with the
    child set to be killed when this process dies."""
    def fork() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, preexec_fn=partial(_die_with_parent, os.getpid()),  # noqa: PLW1509 - prctl only
                                **popen)
    return _FORKER.submit(fork).result()
