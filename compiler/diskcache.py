"""Results kept between runs in the user's cache folder (XDG_CACHE_HOME or ~/.cache), under a
key of everything they depend on, always including guidec's own compiler and grammar: a
changed input or another guidec never reads a stale result. GUIDEC_NO_CACHE=1 turns it off.

The entries are pickles that guidec wrote into the user's own cache folder (as Lark's table
cache is); anything unreadable is recomputed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import random
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from ..dsl import parser
from ..dsl.files import cache_dir

T = TypeVar("T")
ENTRIES = 2000  # per kind; past it, the least recently written half goes


@functools.lru_cache(maxsize=1)
def code_stamp() -> bytes:
    """A digest of guidec's compiler, front end and grammar."""
    h = hashlib.sha256()
    roots = [Path(__file__).parent, Path(parser.__file__).parent,
             Path(str(resources.files("guidec.grammar")))]
    for root in roots:
        for f in sorted(root.rglob("*.py")) + sorted(root.glob("*.lark")):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.digest()


def memo(kind: str, parts: Iterable[bytes], compute: Callable[[], T],
         accept: Callable[[object], bool]) -> T:
    """`compute()`, or what it gave before for the same key parts. `accept` checks that what
    was read is of the expected kind."""
    folder = cache_dir()
    if folder is None:
        return compute()
    key = hashlib.sha256(code_stamp())
    for part in parts:
        key.update(hashlib.sha256(part).digest())
    entry = folder / kind / f"{key.hexdigest()[:32]}.pickle"
    try:
        with entry.open("rb") as fh:
            found = pickle.load(fh)  # noqa: S301 - written by guidec, in the user's own cache
        if accept(found):
            return found  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - missing or damaged: compute afresh
        pass
    value = compute()
    tmp = entry.with_suffix(f".{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, entry)
        if random.random() < 1 / 64:
            _prune(entry.parent)
    except (OSError, pickle.PicklingError, RecursionError, TypeError, AttributeError):
        with contextlib.suppress(OSError):
            tmp.unlink()
    return value


def text(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def _prune(folder: Path) -> None:
    entries = list(folder.glob("*.pickle"))
    if len(entries) <= ENTRIES:
        return
    entries.sort(key=lambda f: f.stat().st_mtime)
    for f in entries[:len(entries) - ENTRIES // 2]:
        with contextlib.suppress(OSError):
            f.unlink()
