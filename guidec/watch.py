"""`guidec check --watch`: the check run again in the same process whenever a file it read
changes, for an editor or a terminal beside one.

A new process pays for Python, typer, Lark's tables and guidec's own modules before it checks
anything (`benchmarks/cold_start.py`); a process that stays up pays for them once, and a save
is checked in the time the check itself takes. What is watched: the guideline files and
folders named, the declarations files they see, and the case files their tests read (the
folders holding them, so an editor that saves by renaming is seen too). Only changes to
guideline, declarations and case files (`.gl`, `.yaml`, `.yml`, `.json`, `.jsonl`) start a
check; a guideline added to a watched folder is checked from then on. The file system is
watched with watchfiles (inotify on Linux; set WATCHFILES_FORCE_POLLING=1 where events do not
arrive, as on some network drives).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, TextIO

WATCHED = (".gl", ".yaml", ".yml", ".json", ".jsonl")


def roots(named: Iterable[str], read: Iterable[Path]) -> list[Path]:
    """The folders to watch: each folder named, the folder of each file named, and the folder
    of each other file the check read; none inside another."""
    found: set[Path] = set()
    for name in named:
        p = Path(name).resolve()
        found.add(p if p.is_dir() else p.parent)
    for f in read:
        found.add(Path(f).resolve().parent)
    found = {p for p in found if p.is_dir()}
    return sorted(p for p in found if not any(q != p and q in p.parents for q in found))


def relevant(path: str) -> bool:
    return path.endswith(WATCHED)


def watch(named: list[str], check: Callable[[], tuple[int, list[Path]]], err: TextIO) -> int:
    """Run `check` (its exit code, and the files it read besides the guidelines), then again
    after each change, until Ctrl-C; the last check's exit code."""
    import watchfiles

    code, read = check()
    while True:
        folders = roots(named, read)
        err.write(f"watching {len(folders)} folder{'s' * (len(folders) != 1)} for changes "
                  "(Ctrl-C to stop)\n")
        err.flush()
        try:
            for changes in watchfiles.watch(*folders, watch_filter=lambda _, p: relevant(p),
                                            debounce=1600, step=50, raise_interrupt=True):
                changed = sorted({Path(p).name for _, p in changes})
                err.write(f"\n--- {time.strftime('%H:%M:%S')}: {', '.join(changed)} changed\n")
                err.flush()
                start = time.perf_counter()
                code, now_read = check()
                err.write(f"checked in {(time.perf_counter() - start) * 1000:.0f} ms\n")
                err.flush()
                if roots(named, now_read) != folders:
                    read = now_read
                    break  # a case file or declarations file in another folder: watch it too
        except KeyboardInterrupt:
            return code
