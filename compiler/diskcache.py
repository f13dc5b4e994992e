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

from .. import dsl
from ..dsl.files import cache_dir, declaration_files

T = TypeVar("T")
ENTRIES = 2000  # per kind; past it, the least recently written half goes


@functools.lru_cache(maxsize=1)
def code_stamp() -> bytes:
    """A digest of guidec's compiler, front end and grammar."""
    h = hashlib.sha256()
    roots = [Path(__file__).parent, Path(dsl.__file__).parent,
             Path(str(resources.files("guidec.grammar")))]
    for root in roots:
        for f in sorted(root.rglob("*.py")) + sorted(root.glob("*.lark")):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.digest()


def _entry(kind: str, parts: Iterable[bytes]) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    key = hashlib.sha256(code_stamp())
    for part in parts:
        key.update(hashlib.sha256(part).digest())
    return folder / kind / f"{key.hexdigest()[:32]}.pickle"


def get(kind: str, parts: Iterable[bytes], accept: Callable[[object], bool]) -> object | None:
    """What was kept for these key parts, if anything (and `accept` takes it)."""
    entry = _entry(kind, parts)
    if entry is None:
        return None
    try:
        with entry.open("rb") as fh:
            found = pickle.load(fh)  # noqa: S301 - written by guidec, in the user's own cache
    except Exception:  # noqa: BLE001 - missing or damaged: none
        return None
    return found if accept(found) else None


def put(kind: str, parts: Iterable[bytes], value: object) -> None:
    """Keep `value` under these key parts (quietly not, when the cache cannot be written)."""
    entry = _entry(kind, parts)
    if entry is None:
        return
    tmp = entry.with_suffix(f".{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(exist_ok=True)
        with tmp.open("wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, entry)
        if random.random() < 1 / 64:
            _prune(entry.parent)
    except (OSError, pickle.PicklingError, RecursionError, TypeError, AttributeError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def memo(kind: str, parts: Iterable[bytes], compute: Callable[[], T],
         accept: Callable[[object], bool]) -> T:
    """`compute()`, or what it gave before for the same key parts. `accept` checks that what
    was read is of the expected kind."""
    parts = list(parts)
    found = get(kind, parts, accept)
    if found is not None:
        return found  # type: ignore[return-value]
    value = compute()
    put(kind, parts, value)
    return value


def key_parts(path: str, source: str) -> list[bytes]:
    """What a guideline file's compiled form depends on, for cache keys: its path and text
    and the text of every declarations file it sees (OSError when one cannot be read)."""
    parts = [text(path), text(source)]
    for f in declaration_files(path):
        parts += [text(str(f)), f.read_bytes()]
    return parts


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
