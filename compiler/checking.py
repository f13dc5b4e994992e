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
from . import diskcache
from ..dsl.records import record

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
    missing = [i for i, r in enumerate(reports) if r is None]
    if missing or library is None:
        from . import pipeline
        wanted = range(len(files)) if library is None else missing
        compiled = {i: (pipeline.compile_file(files[i]) if sources[i] is None
                        else pipeline.compile_text(str(files[i]), sources[i] or ""))
                    for i in wanted}
        for i in missing:
            report = _check_file(compiled[i], options)
            reports[i] = report
            key = keys[i]
            if key is not None and _timeless(report.diagnostics):
                diskcache.put("checked", key, report)
        together = [compiled[i] for i in range(len(files))] if library is None else []
        if library is None and sum(c.ok and c.kind == "guideline" for c in together) < 2:
            library = ([], 0)  # nothing to compare across files: no solver
        if library is None:
            from .analysis import analyze
            library = analyze.analyze_library(
                together, analyze.Options(options.entries, options.timeout_ms, options.budget_ms))
            if lib_key is not None and _timeless(library[0]):
                diskcache.put("checked-library", lib_key, library)
    done = [r for r in reports if r is not None]
    return Report(done, library[0], library[1], unchanged)


def _timeless(diagnostics: list[Diagnostic]) -> bool:
    """Findings that do not depend on the clock, and so may be kept."""
    return not any(d.code == CLOCK for d in diagnostics)


def _check_file(c: Compiled, options: Options) -> FileReport:
    diagnostics = list(c.diagnostics)
    suppressed = 0
    if options.analysis:
        found, suppressed = _findings(c, options)
        diagnostics += found
    from .analysis import testing
    results = testing.run_tests(c) if options.tests else []
    diagnostics += test_diagnostics(results)
    inputs = [(str(f), _digest(f)) for f in testing.case_files(c)] if options.tests else []
    return FileReport(c.path, c.source, diagnostics, suppressed,
                      [r.to_json() for r in results], c.ok and c.kind == "guideline", inputs)


def _findings(c: Compiled, options: Options) -> tuple[list[Diagnostic], int]:
    """The analysis's findings for a file that no comment acknowledges, and how many one
    does; from the cache when its logic is unchanged (an edit to a test, a reason's words or
    a comment does not run the solver again)."""
    from .analysis import kept  # the model's modules: loaded only for a file checked afresh
    if not (c.ok and c.kind == "guideline" and c.ir is not None):
        return [], 0
    logic = kept.Logic(c.ir)
    key = [b"analysis", options.key(), logic.digest]
    stored = diskcache.get("analysed", key, lambda x: isinstance(x, list))
    found = logic.located(stored) if isinstance(stored, list) else None
    if found is None:
        from .analysis import analyze  # the solver loads only when a file is analysed afresh
        found = analyze.file_findings(
            c, analyze.Options(options.entries, options.timeout_ms, options.budget_ms))
        anchored = logic.anchored(found) if _timeless(found) else None
        if anchored is not None:
            diskcache.put("analysed", key, anchored)
    return kept.kept([(d, c.source) for d in found])


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
