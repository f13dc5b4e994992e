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
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from .. import dsl
from ..dsl.files import cache_dir, declaration_files, package_folder

T = TypeVar("T")
ENTRIES = 2000  # per kind; past it, the least recently written half goes


@functools.lru_cache(maxsize=1)
def code_stamp() -> bytes:
    """A digest of guidec's compiler, front end and grammar."""
    return stamp([Path(__file__).parent, Path(dsl.__file__).parent,
                  package_folder("guidec.grammar")])


def stamp(roots: list[Path]) -> bytes:
    """A digest of the Python and grammar files below these folders: each file's name, size
    and time of last change, which Python's own bytecode cache trusts in the same way (reading
    and hashing guidec's 1.5 MB of source took 6 ms of every command that reads the cache)."""
    h = hashlib.sha256()
    for root in roots:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(names):
                if name.endswith((".py", ".lark")):
                    st = os.stat(os.path.join(folder, name))
                    where = os.path.relpath(os.path.join(folder, name), root)
                    h.update(f"{where}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.digest()


def _entry(kind: str, parts: Iterable[bytes]) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    key = hashlib.sha256(code_stamp())
    for part in parts:
        key.update(hashlib.sha256(part).digest())
    return folder / kind / f"{key.hexdigest()[:32]}.pickle"


# Objects that many entries hold alike (the declared facts every guideline of a library
# sees: 15,000 of the 25,000 objects of its compiled guidelines) are kept once, in an entry of
# their own under their digest (`digest() -> bytes`), and the entries that hold one name it.
# Read back, every entry that names it holds the same object.
_SHARED: tuple[type, ...] = ()
_shared: dict[bytes, object] = {}  # written or read back in this process, by digest


def share(*types: type) -> None:
    """Keep the objects of these types once (each type has `digest() -> bytes`)."""
    global _SHARED
    _SHARED = tuple(dict.fromkeys((*_SHARED, *types)))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> object:
        if type(obj) not in _SHARED:
            return None
        digest: bytes = obj.digest()  # type: ignore[attr-defined]
        if _shared.get(digest) is not obj:
            entry = _entry("shared", [digest])
            if entry is not None and not entry.exists():
                _write(entry, obj, pickle.Pickler)
            _shared.setdefault(digest, obj)
        return ("shared", digest)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: object) -> object:
        if not (isinstance(pid, tuple) and len(pid) == 2 and pid[0] == "shared"
                and isinstance(pid[1], bytes)):
            raise pickle.UnpicklingError("not an object guidec keeps once")
        found = _shared.get(pid[1])
        if found is None:
            entry = _entry("shared", [pid[1]])
            if entry is None:
                raise pickle.UnpicklingError("no cache folder")
            try:
                with entry.open("rb") as fh:
                    found = pickle.load(fh)  # noqa: S301 - written by guidec, in the user's cache
                if type(found) not in _SHARED:
                    raise pickle.UnpicklingError("not the object named")
            except Exception:
                # Damaged: removed, so that the entry that names it, made again, writes it
                # again.
                with contextlib.suppress(OSError):
                    entry.unlink()
                raise
            found = _shared.setdefault(pid[1], found)
        return found


def get(kind: str, parts: Iterable[bytes], accept: Callable[[object], bool]) -> object | None:
    """What was kept for these key parts, if anything (and `accept` takes it)."""
    entry = _entry(kind, parts)
    if entry is None:
        return None
    try:
        with entry.open("rb") as fh:
            found = _Unpickler(fh).load()  # noqa: S301 - written by guidec, in the user's cache
    except Exception:  # noqa: BLE001 - missing or damaged (or a part kept once is): none
        return None
    return found if accept(found) else None


def put(kind: str, parts: Iterable[bytes], value: object) -> None:
    """Keep `value` under these key parts (quietly not, when the cache cannot be written)."""
    entry = _entry(kind, parts)
    if entry is None:
        return
    _write(entry, value, _Pickler)


def _write(entry: Path, value: object, pickler: type[pickle.Pickler]) -> None:
    tmp = entry.with_suffix(f".{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(exist_ok=True)
        with tmp.open("wb") as fh:
            pickler(fh, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
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
