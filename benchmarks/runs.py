"""A benchmark's command run as a child process: its wall-clock time and the resources the
kernel counted for it (and for every process it waited for: its workers)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], stdout: Path | None = None) -> tuple[float, Any]:
    """Seconds, and wait4's rusage (`ru_maxrss`: the peak memory in KB; `ru_utime` and
    `ru_stime`: the processor time). Output goes to `stdout` (a path) or nowhere; a command
    that fails stops the benchmark with its error output."""
    start = time.perf_counter()
    with (stdout.open("wb") if stdout else open(os.devnull, "wb")) as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE, cwd=ROOT)
        err = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err.decode(errors='replace')}")
    return took, usage
