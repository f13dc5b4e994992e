"""`guidec check` of guideline files: compile each, analyse its rules, run its embedded tests,
and analyse the library across the files; each file's findings kept between runs.

A file's findings depend only on its path and text, the declarations files it sees, the
check's options and guidec's own code. They are kept in guidec's cache (diskcache, kind
"checked") under a key of exactly those, so an unchanged file is checked again without being
parsed and without loading the solver or the graph library: a library checked on every save or
commit mostly holds unchanged files. The findings across files are kept under the keys of every
file; the case files that tests read are recorded with a digest of their content when the
findings are kept, and a changed one makes the findings stale. What depends on the clock (a solver check that gave up, N001) is never kept, nor is a
file that cannot be read; GUIDEC_NO_CACHE=1 keeps nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..dsl.diagnostics import Diagnostic
from ..dsl.files import FileProblem, read_text
from ..dsl.records import record
from . import diskcache

if TYPE_CHECKING:
    from .analysis.testing import TestResult
    from .pipeline import Compiled

CLOCK = "N001"  # a finding that depends on how fast the solver was


@record(kw_only=False)
class Options:
    tests: bool = True
    analysis: bool = True
    timeout_ms: int = 2000  # per solver check
    budget_ms: int = 30000  # the whole analysis of one file
    entries: int = 2  # entries per list in the analysis's symbolic case

    def key(self) -> bytes:
        return repr((self.tests, self.analysis, self.timeout_ms, self.budget_ms,
                     self.entries)).encode()


@record(frozen=False, kw_only=False, slots=False)
class FileReport:
    path: str
    source: str
    diagnostics: list[Diagnostic]  # the compiler's, the analysis's and failed tests' (T001)
    suppressed: int  # findings acknowledged in comments
    tests: list[dict[str, Any]]  # each embedded test's result, as `TestResult.to_json()`
    guideline: bool  # a guideline without errors: it takes part in the library's analysis
    inputs: list[tuple[str, bytes]]  # other files its findings read (tests' case files), digests
    logic: bytes | None = None  # the digest of its logic (kept.Logic), when it was analysed

    @property
    def passed(self) -> int:
        return sum(bool(t["passed"]) for t in self.tests)

    @property
    def failed(self) -> int:
        return len(self.tests) - self.passed


@record(frozen=False, kw_only=False, slots=False)
class Report:
    files: list[FileReport]
    library: list[Diagnostic]  # findings across files
    library_suppressed: int
    unchanged: int = 0  # files whose findings came from the cache

    @property
    def diagnostics(self) -> list[Diagnostic]:
        out = [d for f in self.files for d in f.diagnostics] + self.library
        out.sort(key=lambda d: (d.span.file, d.span.line, d.span.column, d.code, d.message))
        return out

    @property
    def suppressed(self) -> int:
        return sum(f.suppressed for f in self.files) + self.library_suppressed

    @property
    def tests(self) -> list[dict[str, Any]]:
        return [t for f in self.files for t in f.tests]


def test_diagnostics(results: list[TestResult]) -> list[Diagnostic]:
    """A T001 error for each failed test, at the test."""
    return [Diagnostic("T001", "error", f"test '{r.title}' failed: {r.message}", r.span)
            for r in results if not r.passed]


def check(files: list[Path], options: Options = Options()) -> Report:
    """The findings of each file and across them, from the cache where the files are unchanged."""
    keys: list[list[bytes] | None] = []
    sources: list[str | None] = []
    for f in files:
        try:
            source = read_text(f)
            keys.append([b"check", options.key(), *diskcache.key_parts(str(f), source)])
            sources.append(source)
        except (FileProblem, OSError):
            keys.append(None)
            sources.append(None)
    reports: list[FileReport | None] = [
        _kept_report(k) if k is not None else None for k in keys]
    unchanged = sum(r is not None for r in reports)
    lib_key = (None if any(k is None for k in keys)
               else [b"library", options.key(), *(p for k in keys if k for p in k)])
    library: tuple[list[Diagnostic], int] | None = ([], 0)
    if options.analysis and not (all(reports) and sum(bool(r and r.guideline)
                                                      for r in reports) < 2):
        library = _kept_library(lib_key) if lib_key is not None else None
    for i, r in enumerate(reports):
        if r is None:
            report = reports[i] = _check_file(_compiled(files[i], sources[i]), options)
            key = keys[i]
            if key is not None and _timeless(report.diagnostics):
                diskcache.put("checked", key, report)
    if library is None:
        library = _library_findings(files, sources, reports, options)
        if lib_key is not None and _timeless(library[0]):
            diskcache.put("checked-library", lib_key, library)
    done = [r for r in reports if r is not None]
    return Report(done, library[0], library[1], unchanged)


def _compiled(path: Path, source: str | None) -> Compiled:
    """A file compiled (from this process's or the disk's cache): from its text where it was
    read, else from the file, which then says why it cannot be read."""
    from . import pipeline
    return (pipeline.compile_file(path) if source is None
            else pipeline.compile_text(str(path), source))


def _library_findings(files: list[Path], sources: list[str | None],
                      reports: "list[FileReport | None]", options: Options,
                      ) -> tuple[list[Diagnostic], int]:
    """The analysis's findings across the files' guidelines; and how many a comment
    acknowledges. Kept under the digests of the guidelines' logic, as each file's are: after
    an edit to one file's comments, tests or reasons, they are read back, not proved again."""
    from .analysis import kept

    members = [i for i, r in enumerate(reports) if r is not None and r.guideline]
    if len(members) < 2:
        return [], 0  # nothing to compare across files: no solver

    def logic_of(k: int) -> "kept.Logic | None":
        c = _compiled(files[members[k]], sources[members[k]])
        return kept.Logic(c.ir) if c.ir is not None else None

    digests = [reports[i].logic for i in members]  # type: ignore[union-attr]
    key = (None if any(d is None for d in digests)
           else [b"analysis-library", options.key(), *(d for d in digests if d is not None)])
    stored = diskcache.get("analysed-library", key, lambda x: isinstance(x, list)) if key else None
    found = kept.located(stored, logic_of) if isinstance(stored, list) else None
    if found is None:
        from .analysis import analyze
        items = [_compiled(files[i], sources[i]) for i in members]
        found = analyze.library_findings(
            items, analyze.Options(options.entries, options.timeout_ms, options.budget_ms))
        logics = [kept.Logic(c.ir) for c in items if c.ir is not None]
        anchored = (kept.anchored(logics, found)
                    if key is not None and len(logics) == len(items) and _timeless(found)
                    else None)
        if anchored is not None:
            diskcache.put("analysed-library", key or [], anchored)
    by_path = {str(files[i]): reports[i].source for i in members}  # type: ignore[union-attr]
    return kept.kept([(d, by_path.get(d.span.file, "")) for d in found])


def _timeless(diagnostics: list[Diagnostic]) -> bool:
    """Findings that do not depend on the clock, and so may be kept."""
    return not any(d.code == CLOCK for d in diagnostics)


def _check_file(c: Compiled, options: Options) -> FileReport:
    diagnostics = list(c.diagnostics)
    suppressed, logic = 0, None
    if options.analysis:
        found, suppressed, logic = _findings(c, options)
        diagnostics += found
    from .analysis import testing
    results = testing.run_tests(c) if options.tests else []
    diagnostics += test_diagnostics(results)
    inputs = [(str(f), _digest(f)) for f in testing.case_files(c)] if options.tests else []
    return FileReport(c.path, c.source, diagnostics, suppressed,
                      [r.to_json() for r in results], c.ok and c.kind == "guideline", inputs,
                      logic)


def _findings(c: Compiled, options: Options) -> tuple[list[Diagnostic], int, bytes | None]:
    """The analysis's findings for a file that no comment acknowledges, how many one does,
    and the digest of the file's logic; from the cache when its logic is unchanged (an edit
    to a test, a reason's words or a comment does not run the solver again)."""
    from .analysis import kept  # the model's modules: loaded only for a file checked afresh
    if not (c.ok and c.kind == "guideline" and c.ir is not None):
        return [], 0, None
    logic = kept.Logic(c.ir)
    key = [b"analysis", options.key(), logic.digest]
    stored = diskcache.get("analysed", key, lambda x: isinstance(x, list))
    found = kept.located(stored, lambda _: logic) if isinstance(stored, list) else None
    if found is None:
        from .analysis import analyze  # the solver loads only when a file is analysed afresh
        found = analyze.file_findings(
            c, analyze.Options(options.entries, options.timeout_ms, options.budget_ms))
        anchored = kept.anchored([logic], found) if _timeless(found) else None
        if anchored is not None:
            diskcache.put("analysed", key, anchored)
    return (*kept.kept([(d, c.source) for d in found]), logic.digest)


def _digest(path: Path | str) -> bytes:
    """A digest of a file's content, or of its absence."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError as exc:
        return f"unreadable: {exc.strerror}".encode()


def _kept_report(key: list[bytes]) -> FileReport | None:
    found = diskcache.get("checked", key, lambda x: isinstance(x, FileReport))
    if not isinstance(found, FileReport):
        return None
    if any(_digest(path) != digest for path, digest in found.inputs):
        return None  # a case file a test reads has changed since
    return found


def _kept_library(key: list[bytes]) -> tuple[list[Diagnostic], int] | None:
    found = diskcache.get("checked-library", key,
                          lambda x: isinstance(x, tuple) and len(x) == 2)
    return found if isinstance(found, tuple) else None
