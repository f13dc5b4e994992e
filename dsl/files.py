"""Reading what users give guidec (guidelines and case files): size limit, UTF-8, one message.

Every file a user names is read through `read_text`, so a file that is too large is refused
before it is read into memory, and a file that is not UTF-8 is named with the byte offset of
the first bad byte.
"""

from __future__ import annotations

import os
import importlib
from pathlib import Path

DEFAULT_MAX_FILE_MB = 20


class FileProblem(Exception):
    """A file that cannot be used as text; the message starts with the file's name."""


def max_file_bytes() -> int:
    """The size limit for one file (or one JSON Lines record): GUIDEC_MAX_FILE_MB, default 20."""
    raw = os.environ.get("GUIDEC_MAX_FILE_MB", "")
    try:
        mb = float(raw) if raw.strip() else DEFAULT_MAX_FILE_MB
    except ValueError:
        mb = DEFAULT_MAX_FILE_MB
    return int(max(mb, 0.001) * 1_000_000)


def _size_words(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def decode(data: bytes, name: str) -> str:
    """UTF-8 bytes → text (a leading byte-order mark dropped), or a FileProblem naming the byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 1].hex()
        raise FileProblem(f"{name}: not UTF-8 text: byte 0x{bad} at offset {exc.start} "
                          f"cannot be decoded; the file must be saved as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def check_size(path: str | Path, size: int | None = None) -> None:
    limit = max_file_bytes()
    if size is None:
        size = os.stat(path).st_size
    if size > limit:
        raise FileProblem(f"{path}: the file is {_size_words(size)}, over the limit of "
                          f"{_size_words(limit)} (set GUIDEC_MAX_FILE_MB to raise it)")


def read_text(path: str | Path) -> str:
    """The text of a file, refusing files over the size limit and files that are not UTF-8."""
    try:
        if Path(path).is_dir():
            raise FileProblem(f"{path}: is a folder, not a file")
        check_size(path)
        with open(path, "rb") as fh:
            data = fh.read(max_file_bytes() + 1)
    except OSError as exc:
        raise FileProblem(f"{path}: cannot read the file ({exc.strerror})") from None
    check_size(path, len(data))  # it may have grown since stat
    return decode(data, str(path))


def find_guidelines(paths: list[str]) -> list[Path]:
    """The .gl files named, and every .gl file below the folders named, sorted."""
    out: list[Path] = []
    for name in paths:
        p = Path(name)
        out.extend(sorted(p.rglob("*.gl")) if p.is_dir() else [p])
    return out


def cache_dir() -> Path | None:
    """guidec's folder in the user's cache (XDG_CACHE_HOME or ~/.cache), made if need be;
    None when it cannot be written or GUIDEC_NO_CACHE is set (then nothing is kept)."""
    if os.environ.get("GUIDEC_NO_CACHE"):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "guidec"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK) else None


DECLARATIONS_FILE = "facts.gl"


def standard_path() -> Path:
    """The declarations shipped with guidec (the library's facts.gl, package data)."""
    return package_folder("guidec.guidelines") / DECLARATIONS_FILE


def package_folder(package: str) -> Path:
    """The folder of one of guidec's data packages (`guidec.grammar`, `guidec.guidelines`).
    They install as plain folders (the wheel is unpacked, never imported from a zip), so the
    package's own file gives it: importlib.resources would load its readers and zipfile to
    say the same, about 4 ms of every command's start."""
    return Path(importlib.import_module(package).__file__ or package).parent


def declaration_files(guideline: str | Path | None) -> list[Path]:
    """The standard declarations, then every facts.gl from the filesystem root down to the
    guideline's folder (each file once)."""
    files = [standard_path()]
    if guideline is not None and not str(guideline).startswith("<"):
        folder = Path(guideline).resolve().parent
        chain = [folder, *folder.parents]
        for f in reversed(chain):
            candidate = f / DECLARATIONS_FILE
            if candidate.is_file():
                files.append(candidate)
    out: list[Path] = []
    for f in files:
        try:
            real = f.resolve()
        except OSError:
            continue
        if real not in out and real.is_file():
            out.append(real)
    return out
