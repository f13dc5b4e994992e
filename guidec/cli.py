"""The `guidec` command line: thin commands, each calling one pipeline function."""

import datetime as dt
import sys
from enum import Enum
from pathlib import Path
import importlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

import typer

from . import __version__
if TYPE_CHECKING:
    import json
    from .dsl import diagnostics
    from .dsl.diagnostics import Diagnostic
    from .compiler import batch
    from .compiler.model import cases as casesmod
    from .compiler.evaluation import library as librarymod
    from .compiler import checking, pipeline
    from .compiler.rendering import render
    from .compiler.analysis import testing
    from .compiler.evaluation.library import Library, Review
    from .compiler.pipeline import Compiled
else:
    class _Lazy:
        """A module imported on first use, so each command loads only what it needs
        (`guidec --help` and `guidec fmt` never load the solver, the graph library or the
        case validator)."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            module = importlib.import_module(self._name)
            return getattr(module, attr)

    json = _Lazy("json")
    diagnostics = _Lazy("guidec.dsl.diagnostics")
    casesmod = _Lazy("guidec.compiler.model.cases")
    batch = _Lazy("guidec.compiler.batch")
    render = _Lazy("guidec.compiler.rendering.render")
    testing = _Lazy("guidec.compiler.analysis.testing")
    librarymod = _Lazy("guidec.compiler.evaluation.library")
    pipeline = _Lazy("guidec.compiler.pipeline")

EXIT_CODES = """\b
Exit codes:
  0  everything is clean (and every test passed)
  1  errors in a guideline or a case file, or a failing test
  2  usage error (unknown option, missing argument)"""

T = TypeVar("T")

app = typer.Typer(
    name="guidec",
    help="Compile clinical treatment guidelines (.gl) into decision graphs, check them, "
         "and review cases against them.",
    epilog="\b\nExamples:\n  guidec check guidelines/\n"
           "  guidec review examples/imr-seed-pt-cervical.yaml --library guidelines\n"
           "  guidec review cases.jsonl --library guidelines --format jsonl > out.jsonl\n"
           "  guidec schema case > case.schema.json\n"
           "  guidec compile guidelines/ --to sql --dialect spark > review.sql\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class CheckFormat(str, Enum):
    text = "text"
    json = "json"


class ReviewFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"
    jsonl = "jsonl"


class Engine(str, Enum):
    python = "python"
    duckdb = "duckdb"
    spark = "spark"


def _tty(stream: object = None) -> bool:
    return bool(getattr(stream or sys.stdout, "isatty", lambda: False)())


def _style(text: str, fg: str, bold: bool = False) -> str:
    return typer.style(text, fg=fg, bold=bold) if _tty() else text


def _fail(message: str, code: int = 1) -> "typer.Exit":
    text = "\n".join(diagnostics.inert(line) for line in message.split("\n"))
    typer.echo(f"{_style('error', 'red', True)}: {text}", err=True)
    return typer.Exit(code)


def _parse_date(value: Optional[str]) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"guidec {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """guidec: guidelines as code."""


# ---------------------------------------------------------------- check / test
def _guideline_files(paths: list[str]) -> list[Path]:
    from .dsl.files import find_guidelines
    files = find_guidelines(paths)
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}", 2)
    if not files:
        raise _fail(f"no .gl files found in {', '.join(paths)}", 2)
    return files


def _compile_all(paths: list[str]) -> "list[Compiled]":
    return [pipeline.compile_file(f) for f in _guideline_files(paths)]


class CIFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


CI_EXIT_CODES = """\b
Exit codes:
  0  no errors (warnings and notes do not fail the run) and every test passed
  1  an error in a guideline, a failing test, or coverage under --fail-under
  2  usage error (unknown option, missing argument, no such file)"""


def _emit_findings(sources: dict[str, str], diags: "list[Diagnostic]", fmt: CIFormat,
                   summary: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """The findings in the chosen format; `sources` maps each file checked to its text."""
    from .compiler.rendering import report
    if fmt == CIFormat.json:
        by_file: dict[str, list[dict[str, Any]]] = {p: [] for p in sources}
        for d in diags:
            by_file.setdefault(d.span.file, []).append(d.to_json())
        typer.echo(json.dumps({"files": [{"path": p, "diagnostics": ds}
                                         for p, ds in by_file.items()],
                               "summary": summary, **(extra or {})}, indent=2, default=str))
    elif fmt == CIFormat.github:
        if diags:
            typer.echo(report.github(diags))
    elif fmt == CIFormat.sarif:
        typer.echo(json.dumps(report.sarif(diags, __version__), indent=2, default=str))
    else:
        for d in diags:
            typer.echo(diagnostics.render(d, sources.get(d.span.file)))


@app.command(epilog="\b\nExamples:\n  guidec check guidelines/\n"
                    "  guidec check guidelines/ --format sarif > guidec.sarif\n"
                    "  guidec check guidelines/ --format github   # annotations in GitHub Actions\n"
                    "  guidec check my.gl --no-analysis --format json\n"
                    "  guidec check guidelines/ --watch   # again on every save, in one process"
                    "\n\n" + CI_EXIT_CODES
                    + "\n\nA finding can be acknowledged with a comment right above the line it "
                    "points at: `# guidec: ignore W410 -- why`.")
def check(
    paths: list[str] = typer.Argument(..., help="Guideline files or folders (searched for *.gl)."),
    format: CIFormat = typer.Option(CIFormat.text, "--format", "-f", help="Output format."),
    tests: bool = typer.Option(True, "--tests/--no-tests", help="Also run the embedded tests."),
    analysis: bool = typer.Option(True, "--analysis/--no-analysis",
                                  help="Prove facts about the rules with the z3 solver."),
    timeout: int = typer.Option(2000, "--analysis-timeout", min=1,
                                help="Time limit per solver check, ms."),
    budget: float = typer.Option(30.0, "--analysis-budget", min=0.1,
                                 help="Time limit for the whole analysis of one file, seconds."),
    entries: int = typer.Option(2, "--analysis-entries", min=1, max=8,
                                help="Entries per list (history, surgeries, diagnoses) in the "
                                     "analysis's symbolic case."),
    watch: bool = typer.Option(False, "--watch", "-w",
                               help="Stay running and check again whenever a guideline, a "
                                    "declarations file or a test's case file changes; "
                                    "Ctrl-C stops (exit code: the last check's)."),
) -> None:
    """Parse and check guidelines, analyse their rules, and run their embedded tests.

    Each file's findings are kept in guidec's cache under a key of its text, the declarations
    it sees, these options and guidec's own code: an unchanged file is not checked again
    (GUIDEC_NO_CACHE=1 turns this off)."""
    from .compiler import checking
    options = checking.Options(tests, analysis, timeout, int(budget * 1000), entries)
    if not watch:
        raise typer.Exit(_check_round(paths, format, options)[0])
    if format != CIFormat.text:
        raise _fail("--watch prints text: leave out --format", 2)
    from . import watch as watching
    from .dsl.files import declaration_files

    def round_() -> "tuple[int, list[Path]]":
        """A check, and the other files it read (the declarations the guidelines see, their
        tests' case files): those are watched too."""
        try:
            code, files, report = _check_round(paths, format, options)
        except typer.Exit as exc:  # no such file, or none found: said, and still watched
            return exc.exit_code, []
        read = {Path(path) for f in report.files for path, _ in f.inputs}
        read.update(d for f in files for d in declaration_files(f))
        return code, sorted(read)
    raise typer.Exit(watching.watch(paths, round_, sys.stderr))


def _check_round(paths: list[str], format: CIFormat, options: "checking.Options",
                 ) -> "tuple[int, list[Path], checking.Report]":
    """One check of the files named, written out: the exit code, the files, the report."""
    from .compiler import checking
    files = _guideline_files(paths)
    report = checking.check(files, options)
    diags = report.diagnostics
    tests_passed = sum(f.passed for f in report.files)
    tests_failed = sum(f.failed for f in report.files)
    summary = {"files": len(report.files),
               "errors": sum(d.severity == "error" for d in diags),
               "warnings": sum(d.severity == "warning" for d in diags),
               "notes": sum(d.severity == "note" for d in diags),
               "suppressed": report.suppressed,
               "tests_passed": tests_passed, "tests_failed": tests_failed}
    _emit_findings({f.path: f.source for f in report.files}, diags, format, summary,
                   {"tests": report.tests} if format == CIFormat.json else None)
    if format == CIFormat.text:
        n = summary
        typer.echo(f"{n['files']} file{'s' * (n['files'] != 1)} checked: {n['errors']} "
                   f"error{'s' * (n['errors'] != 1)}, {n['warnings']} "
                   f"warning{'s' * (n['warnings'] != 1)}"
                   + (f" ({report.suppressed} acknowledged in comments)"
                      if report.suppressed else "")
                   + f", {n['tests_passed']} tests passed, {n['tests_failed']} failed"
                   + (f" ({report.unchanged} unchanged since the last check: from the cache)"
                      if report.unchanged else ""))
    return (1 if summary["errors"] else 0), files, report


@app.command(epilog="\b\nExamples:\n  guidec test guidelines/\n"
                    "  guidec test guidelines/ --coverage --fail-under 90\n"
                    "  guidec test guidelines/ --format sarif > tests.sarif\n\n" + CI_EXIT_CODES)
def test(
    paths: list[str] = typer.Argument(..., help="Guideline files or folders."),
    format: CIFormat = typer.Option(CIFormat.text, "--format", "-f"),
    coverage: bool = typer.Option(False, "--coverage",
                                  help="Report the decision-graph nodes and edges the tests "
                                       "exercised, and list the rules they never reach."),
    fail_under: Optional[float] = typer.Option(None, "--fail-under", min=0, max=100,
                                               help="With --coverage: exit 1 when total "
                                                    "coverage is below this percentage."),
) -> None:
    """Run the tests written in guideline files."""
    from .compiler.analysis import coverage as covmod
    compiled = _compile_all(paths)
    diags = [d for c in compiled for d in c.diagnostics if d.severity == "error"]
    per_file = {c.path: testing.run_tests(c) for c in compiled}
    results = [r for rs in per_file.values() for r in rs]
    from .compiler.checking import test_diagnostics
    diags += test_diagnostics(results)
    covs = [covmod.measure(c, per_file[c.path]) for c in compiled if c.ok and c.kind == "guideline"] if coverage else []
    if coverage:
        diags += [d for c, cov in zip([c for c in compiled if c.ok and c.kind == "guideline"], covs)
                  for d in covmod.uncovered_rules(c, cov)]
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    total = _total_coverage(covs)
    low = fail_under is not None and coverage and total < fail_under
    summary: dict[str, Any] = {"passed": passed, "failed": failed}
    if coverage:
        summary["coverage_percent"] = round(total, 1)
    if format == CIFormat.text:
        for r in results:
            mark = _style("PASS", "green") if r.passed else _style("FAIL", "red", True)
            typer.echo(f"{mark} {r.guideline}: {r.title}"
                       + ("" if r.passed else f"\n     {r.span}: {r.message}"))
        sources = {c.path: c.source for c in compiled}
        for d in diags:
            if d.code != "T001":
                typer.echo(diagnostics.render(d, sources.get(d.span.file)))
        if coverage:
            typer.echo(_coverage_table(covs, total))
        typer.echo(f"{passed} passed, {failed} failed")
        if low:
            typer.echo(f"coverage {total:.1f}% is under --fail-under {fail_under:g}%")
    else:
        _emit_findings({c.path: c.source for c in compiled}, diags, format, summary,
                       {"tests": [r.to_json() for r in results],
                        "coverage": [c.to_json() for c in covs]}
                       if format == CIFormat.json else None)
    raise typer.Exit(1 if failed or low or any(d.severity == "error" for d in diags) else 0)


def _total_coverage(covs: list) -> float:  # type: ignore[type-arg]
    total = sum(len(c.nodes) + len(c.edges) for c in covs)
    done = sum(len(c.covered_nodes) + len(c.covered_edges) for c in covs)
    return 100.0 * done / total if total else 100.0


def _coverage_table(covs: list, total: float) -> str:  # type: ignore[type-arg]
    rows = [("file", "nodes", "edges", "coverage")]
    for c in covs:
        rows.append((c.path, f"{len(c.covered_nodes)}/{len(c.nodes)}",
                     f"{len(c.covered_edges)}/{len(c.edges)}", f"{c.percent:.1f}%"))
    nodes = sum(len(c.nodes) for c in covs)
    edges = sum(len(c.edges) for c in covs)
    rows.append(("total", f"{sum(len(c.covered_nodes) for c in covs)}/{nodes}",
                 f"{sum(len(c.covered_edges) for c in covs)}/{edges}", f"{total:.1f}%"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in
                       enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, "  ".join("-" * w for w in widths))
    return "\n".join(["", "Coverage of the decision graphs by the tests:"] + lines + [""])


# ---------------------------------------------------------------- review / run
def _looks_like_case(f: Path) -> bool:
    """In a folder scan, skip YAML/JSON files that are plainly not cases (CI configs, say)."""
    if f.suffix == ".jsonl":
        return True
    head = f.read_text("utf-8", errors="replace")[:20000]
    return "case_id" in head or "requests" in head


def _load_library(paths: list[str]) -> "Library":
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise _fail(f"no such guideline library: {', '.join(missing)} (give --library DIR)", 2)
    try:
        return librarymod.Library.load(paths)
    except librarymod.LibraryError as exc:
        raise _fail(f"the guideline library has errors:\n{exc}")


def _case_files(paths: list[str]) -> list[Path]:
    """The case files named, folders searched (files plainly not cases are skipped, said so)."""
    files: list[Path] = []
    for name in paths:
        p = Path(name)
        if not p.exists():
            raise _fail(f"{name}: no such file or folder", 2)
        if not p.is_dir():
            files.append(p)
            continue
        for f in sorted(f for f in p.rglob("*") if f.suffix in {".yaml", ".yml", ".json",
                                                                 ".jsonl"}):
            if _looks_like_case(f):
                files.append(f)
            else:
                typer.echo(f"skipped {f}: not a case file (no case_id or requests)", err=True)
    return files


def _count_cases(files: list[Path]) -> int:
    """Cases to review, for the progress bar: a JSON Lines record or a file each."""
    total = 0
    for f in files:
        if f.suffix == ".jsonl":
            with f.open("rb") as fh:  # lines, counted a megabyte at a time
                last = b"\n"
                for block in iter(lambda: fh.read(1 << 20), b""):
                    total += block.count(b"\n")
                    last = block[-1:]
                total += last != b"\n"
        else:
            total += 1
    return total


class _Batch:
    """Each case's output, in input order, reviewed on `jobs` processes, with a progress bar
    on a terminal. Problems and warnings go to stderr as they are met; `problems` counts the
    cases and lines that could not be reviewed. With `job.keep`, a kept review is yielded as
    (None, review) after its case's output."""

    def __init__(self, lib: "Library", job: "batch.Job", files: list[Path], jobs: int) -> None:
        self.lib, self.job, self.files = lib, job, files
        self.total = _count_cases(files)
        self.jobs = 1 if job.keep or self.total < batch.MIN_PARALLEL else jobs
        self.problems = 0

    def runs(self) -> "Iterator[batch.Done]":
        """The results a run of cases at a time (each case's output in `out`)."""
        with batch.Runner(self.lib, self.job, self.jobs) as runner:
            todo = batch.units(self.files, batch.chunk_size(self.total, self.jobs))
            for done in _progress(runner.results(todo), self.total, self.total,
                                  weight=lambda d: d.cases + d.problems):
                for note in done.notes:
                    typer.echo(note, err=True)
                self.problems += done.problems
                yield done

    def __iter__(self) -> Iterator[Any]:
        for done in self.runs():
            yield from done.out
            yield from ((None, rv) for rv in done.reviews)


def _review_out(lib: "Library", job: "batch.Job", files: list[Path], jobs: int,
                stream: Any) -> "tuple[int, list[Review]]":
    """Review every case, writing `job.format` to the binary `stream` as the results come;
    the count of problems and (for an HTML report) the reviews."""
    kept: list[Review] = []
    records: list[dict[str, Any]] = []
    results = _Batch(lib, job, files, jobs)
    if job.format == "jsonl":  # each run's lines written at once
        for done in results.runs():
            stream.write(b"".join(done.out))
            kept.extend(done.reviews)
        return results.problems, kept
    first = True
    for item in results:
        if isinstance(item, tuple):  # a kept review
            kept.append(item[1])
        elif job.format == "json":
            records.extend(item)
        else:  # a case's letters; cases apart by a blank line
            stream.write((item if first else "\n" + item).encode("utf-8"))
            first = False
    if job.format == "json":
        stream.write((json.dumps(records, indent=2) + "\n").encode("utf-8"))
    return results.problems, kept


JOBS_HELP = "Worker processes (0: one per core). Output is in input order whatever the number."


@app.command(epilog="\b\nExamples:\n"
                    "  guidec review examples/imr-seed-pt-cervical.yaml --library guidelines\n"
                    "  guidec review case.yaml --library guidelines --format markdown\n"
                    "  guidec review cases.jsonl --library guidelines --format jsonl > out.jsonl\n"
                    "  guidec review case.yaml --library guidelines --as-of 2016-12-01\n"
                    "  guidec review cases.parquet --library guidelines -o reviews.parquet\n"
                    "  guidec review cases.jsonl --engine duckdb > reviews.jsonl\n"
                    "  guidec review cases.parquet --engine spark --spark-master spark://head:7077"
                    " -o reviews/\n\n"
                    + EXIT_CODES)
def review(
    case_paths: list[str] = typer.Argument(..., metavar="CASE...",
                                           help="Case files (YAML, JSON, JSON Lines) or folders."),
    library: list[str] = typer.Option(["guidelines"], "--library", "-l",
                                      help="Guideline folder(s) or files."),
    format: Optional[ReviewFormat] = typer.Option(
        None, "--format", "-f", help="text (default), markdown, json or jsonl; the SQL engines "
                                     "write jsonl (or Parquet with -o FILE.parquet)."),
    as_of: Optional[str] = typer.Option(None, "--as-of",
                                        help="Review as of this date (YYYY-MM-DD) instead of "
                                             "each case's review_date."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here, not stdout "
                                          "(FILE.parquet: Parquet, with an SQL engine)."),
    html_path: Optional[Path] = typer.Option(None, "--html",
                                             help="Also write a self-contained HTML report "
                                                  "(letters beside their decision graphs)."),
    path: bool = typer.Option(False, "--path", help="JSON records: add each step taken "
                              "through the decision graph, with the values it saw."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help=JOBS_HELP),
    engine: Optional[Engine] = typer.Option(
        None, "--engine", "-e", help="python (the reference evaluator; default), duckdb (the "
                                     "library compiled to SQL on embedded DuckDB; default for "
                                     "Parquet input) or spark (the same SQL on PySpark)."),
    spark_master: str = typer.Option("local[*]", "--spark-master",
                                     help="With --engine spark: the Spark master URL."),
) -> None:
    """Review each request of each case against the guideline library."""
    day = _parse_date(as_of)
    parquet = [p for p in case_paths if _is_parquet(Path(p))]
    if engine is None:
        engine = Engine.duckdb if parquet else Engine.python
    if engine != Engine.python:
        _sql_review(case_paths, library, engine, format, day, output, html_path, path,
                    spark_master)
        return
    if parquet:
        raise _fail(f"{parquet[0]}: Parquet is read by the SQL engines: add --engine duckdb "
                    "(or spark)", 2)
    format = format or ReviewFormat.text
    lib = _load_library(library)
    if html_path is not None:
        if format == ReviewFormat.jsonl:
            raise _fail("--html needs the reviews kept: use --format text, markdown or json", 2)
        _writable(html_path)
    if output is not None:
        _writable(output)
    files = _case_files(case_paths)
    job = batch.Job("review", tuple(library), format.value, day, path, keep=html_path is not None)
    try:
        if output is not None:
            with output.open("wb") as fh:
                problems, kept = _review_out(lib, job, files, jobs or batch.default_jobs(), fh)
        else:
            sys.stdout.flush()
            problems, kept = _review_out(lib, job, files, jobs or batch.default_jobs(),
                                         sys.stdout.buffer)
            sys.stdout.buffer.flush()
    except casesmod.CaseError as exc:
        raise _fail(str(exc))
    if html_path is not None:
        from .compiler.rendering import dot as dotmod
        from .compiler.rendering import html as htmlmod
        try:
            html_path.write_text(htmlmod.report(kept), encoding="utf-8")
        except dotmod.DotMissing as exc:
            raise _fail(str(exc))
        typer.echo(f"HTML report written to {html_path}", err=True)
    if problems:
        raise _fail(_unread(problems, "reviewed"))


def _is_parquet(p: Path) -> bool:
    return p.suffix == ".parquet"


def _read_cases(paths: list[str], schema: Any) -> tuple[list[Any], int]:
    """Every case of the files named (a Rich bar on a terminal); problems are reported on
    stderr and counted, every other case is kept."""
    files = _case_files(paths)
    cases: list[Any] = []
    problems = 0

    def each() -> Iterator[Any]:
        for f in files:
            if f.suffix == ".jsonl":
                yield from casesmod.iter_jsonl_file(f, schema)
                continue
            try:
                yield from casesmod.load(f, schema)
            except casesmod.CaseError as exc:
                yield exc

    total = _count_cases(files)
    for item in _progress(each(), total, total):
        if isinstance(item, casesmod.CaseError):
            problems += 1
            typer.echo(str(item), err=True)
        else:
            for w in item.warnings:
                typer.echo(f"warning: {w}", err=True)
            cases.append(item)
    return cases, problems


def _sql_review(case_paths: list[str], library: list[str], engine: "Engine",
                format: Optional[ReviewFormat], day: Optional[dt.date], output: Optional[Path],
                html_path: Optional[Path], path: bool, spark_master: str) -> None:
    """`review` on an SQL engine: the library compiled to one query, run over the cases."""
    from .compiler.evaluation.sql import duck, generate
    name = engine.value
    if format not in (None, ReviewFormat.jsonl):
        raise _fail(f"--engine {name} writes review records: use --format jsonl (or -o "
                    "FILE.parquet); letters come from --engine python", 2)
    for flag, given in (("--as-of", day), ("--html", html_path)):
        if given:
            raise _fail(f"{flag} works with --engine python only", 2)
    if output is not None:
        _writable(output)
    lib = _load_library(library)
    parquet = [p for p in case_paths if _is_parquet(Path(p))]
    if parquet and len(case_paths) > 1:
        raise _fail("give one Parquet cases table, or case files (not both)", 2)
    for p in parquet:
        if not Path(p).exists():
            raise _fail(f"{p}: no such file or folder", 2)
    fmt = "parquet" if output is not None and output.suffix == ".parquet" else "jsonl"
    problems = 0
    tmp: Optional[str] = None  # Spark reads case files from a Parquet table written here
    try:
        if engine == Engine.duckdb:
            runner: Any = duck.DuckEngine(lib, path=path)
            if parquet:
                runner.load_parquet(parquet[0])
            else:
                cases, problems = _read_cases(case_paths, lib.schema)
                runner.load_cases(cases)
        else:
            from .compiler.evaluation.sql import spark
            table = parquet[0] if parquet else None
            if table is None:
                import tempfile
                cases, problems = _read_cases(case_paths, lib.schema)
                tmp = tempfile.mkdtemp(prefix="guidec-")
                table = str(Path(tmp) / "cases.parquet")
                duck.convert(cases, table, lib)
            runner = spark.SparkEngine(lib, master=spark_master, path=path)
            runner.load_parquet(table)
        for w in runner.warnings if parquet else ():  # case files warned as they were read
            typer.echo(f"warning: {w}", err=True)
        if output is not None:
            n = runner.write(output, fmt)
            typer.echo(f"{n} review record{'s' * (n != 1)} written to {output} "
                       f"(engine {name})", err=True)
        else:
            out = sys.stdout.buffer
            for rec in runner.records():
                out.write(render.json_line(rec))
            out.flush()
    except generate.SqlError as exc:
        raise _fail(str(exc))
    except casesmod.CaseError as exc:
        raise _fail(str(exc))
    finally:
        if tmp is not None:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    if problems:
        raise _fail(_unread(problems, "reviewed"))


def _unread(problems: int, verb: str, others: str | None = None) -> str:
    """The closing line of a run in which some case files or lines failed."""
    s = "s" if problems != 1 else ""
    return (f"{problems} case file{s} or line{s} could not be {verb} (above); every other "
            f"case was {others or verb}")


def _writable(path: Path) -> None:
    """An output path guidec can write: its folder exists and it is not itself a folder."""
    if path.is_dir():
        raise _fail(f"{path}: is a folder; give a file name to write", 2)
    if not path.parent.exists():
        raise _fail(f"{path}: the folder {path.parent} does not exist", 2)


@app.command(epilog="\b\nExamples:\n  guidec run guidelines/mtus/chronic_pain/physical_medicine.gl "
                    "examples/imr-seed-pt-cervical.yaml\n\n" + EXIT_CODES)
def run(
    guideline: str = typer.Argument(..., help="One .gl file."),
    case_paths: list[str] = typer.Argument(..., metavar="CASE...", help="Case files."),
    format: ReviewFormat = typer.Option(ReviewFormat.text, "--format", "-f"),
) -> None:
    """Run one guideline (whether or not it would be chosen) against cases."""
    compiled = _compile_all([guideline])[0]
    if not compiled.ok:
        typer.echo(compiled.render_diagnostics(), err=True)
        raise typer.Exit(1)
    lib = librarymod.Library([compiled])
    job = batch.Job("review", (guideline,), format.value)
    sys.stdout.flush()
    try:
        problems, _ = _review_out(lib, job, _case_files(case_paths), 1, sys.stdout.buffer)
    except casesmod.CaseError as exc:
        raise _fail(str(exc))
    sys.stdout.buffer.flush()
    if problems:
        raise _fail(f"{problems} case file(s) or line(s) could not be reviewed (above)")


@app.command(epilog="\b\nExamples:\n"
                    "  guidec viz guidelines/mtus/chronic_pain/physical_medicine.gl -o pm.svg\n"
                    "  guidec viz guidelines/mtus/chronic_pain/physical_medicine.gl "
                    "--case examples/imr-seed-pt-cervical.yaml -o seed.png\n"
                    "  guidec viz my.gl > my.dot\n\n"
                    "Output format follows the extension: .dot, .svg, .png, .pdf "
                    "(all but .dot need Graphviz's `dot`).\n\n" + EXIT_CODES)
def viz(
    guideline: str = typer.Argument(..., help="One .gl file."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Picture file (.dot .svg .png .pdf); "
                                               "DOT on stdout when omitted."),
    case: Optional[Path] = typer.Option(None, "--case", help="Overlay this case's path."),
    request: Optional[str] = typer.Option(None, "--request", help="Which request (default: first)."),
    definitions: Optional[bool] = typer.Option(None, "--definitions/--no-definitions",
                                               help="Show definitions and value sets "
                                                    "(default: only without --case)."),
) -> None:
    """Draw a guideline's decision graph, optionally with one case's path highlighted."""
    from .compiler.rendering import dot as dotmod
    compiled = _compile_all([guideline])[0]
    if not compiled.ok:
        typer.echo(compiled.render_diagnostics(), err=True)
        raise typer.Exit(1)
    det = None
    if case is not None:
        try:
            loaded = casesmod.load(case, compiled.ir.schema if compiled.ir else None)[0]
        except casesmod.CaseError as exc:
            raise _fail(str(exc))
        reqs = [r for r in loaded.requests if request in (None, r["id"])]
        if not reqs:
            raise _fail(f"{case}: no request with id {request!r}", 2)
        det = compiled.evaluator.evaluate(loaded, reqs[0])
    if output is not None:
        _writable(output)
    fmt = output.suffix.lstrip(".").lower() if output else "dot"
    if fmt not in {"dot", "gv", "svg", "png", "pdf"}:
        raise _fail(f"unknown picture format '.{fmt}': use .dot, .svg, .png or .pdf", 2)
    graph = dotmod.to_dot(compiled.graph, det, data_nodes=definitions)
    try:
        data = dotmod.render(graph, "dot" if fmt == "gv" else fmt)
    except dotmod.DotMissing as exc:
        raise _fail(str(exc))
    if output is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output}", err=True)


@app.command(epilog="\b\nExamples:\n"
                    "  guidec corpus ../shared/cases/imr --library guidelines\n"
                    "  guidec corpus cases/ --format json > agreement.json\n\n"
                    "Exit codes: 0 when the table was made (whatever the agreement), 1 on a "
                    "broken case or library, 2 usage error.")
def corpus(
    folder: Path = typer.Argument(..., help="A folder of case files that carry `expected`."),
    library: list[str] = typer.Option(["guidelines"], "--library", "-l"),
    format: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f"),
    disagreements: bool = typer.Option(False, "--disagreements",
                                       help="List only the requests that disagree."),
    reasons: bool = typer.Option(False, "--reasons",
                                 help="For each agreement, the reviewer's reasons beside "
                                      "guidec's."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help=JOBS_HELP),
) -> None:
    """Measure the library against real decisions: expected vs actual, per request."""
    from .compiler import corpus as corpusmod
    if not folder.is_dir():
        raise _fail(f"{folder} is not a folder", 2)
    lib = _load_library(library)
    files = corpusmod.case_files(folder)
    job = batch.Job("corpus", tuple(library))
    results = _Batch(lib, job, files, jobs or batch.default_jobs())
    rows = [row for case_rows in results for row in case_rows]
    if results.problems:
        raise _fail(f"{results.problems} case file(s) of the corpus could not be read (above)")
    stats = corpusmod.summary(rows)
    if format == CheckFormat.json:
        typer.echo(json.dumps({"rows": [r.to_json() for r in rows], "summary": stats}, indent=2))
        return
    shown = [r for r in rows if not r.agree] if disagreements else rows
    typer.echo(_table(shown))
    typer.echo("")
    pct = f"{100 * stats['agreement']:.1f}%" if stats["agreement"] is not None else "n/a"
    typer.echo(f"{stats['agree']} of {stats['requests']} requests agree with the real decision "
               f"({pct}); where the letter gives a quantity and the decisions agree, "
               f"{stats['quantity_agree']} of {stats['quantity_checked']} quantities match.")
    typer.echo(_corpus_context(stats))
    if reasons:
        typer.echo(_reasons_side_by_side([r for r in rows if r.agree],
                                         "Reasons, where guidec and the reviewer agree:"))
        typer.echo(_reasons_side_by_side([r for r in rows if not r.agree],
                                         "Reasons, where they differ:"))


def _pct(t: dict[str, Any]) -> str:
    return (f"{t['agree']} of {t['requests']}"
            + (f" ({100 * t['agreement']:.1f}%)" if t.get("agreement") is not None else ""))


def _corpus_context(stats: dict[str, Any]) -> str:
    """What the agreement should be read against, in a few lines."""
    base = stats["uphold_ur_baseline"]
    lines = ["",
             f"Baseline (uphold every UR decision as made): {_pct(base)}.",
             f"On the items the reviewer overturned: {_pct(stats['overturned'])}.",
             f"Decided by a guideline of the library: {stats['decided_by_a_guideline']['requests']}"
             f" of {stats['requests']}; of those, {_pct(stats['decided_by_a_guideline'])} agree.",
             "By the reviewer's decision: " + "; ".join(
                 f"{d.replace('_', '-')} {_pct(t)}" for d, t in stats["by_expected"].items()
                 if t["requests"]),
             "By treatment: " + "; ".join(f"{k or '(none)'} {_pct(t)}"
                                          for k, t in stats["by_treatment"].items())]
    return "\n".join(lines)


def _reasons_side_by_side(rows: list[Any], heading: str) -> str:
    out = ["", heading]
    for r in rows:
        out.append(f"\n{r.case_id} request {r.request} (reviewer: {r.expected}; guidec: "
                   f"{r.actual}):" if not r.agree else f"\n{r.case_id} request {r.request} "
                   f"({r.expected}):")
        for text in r.expected_reasons or ("(the case file gives no reasons)",):
            out.append(f"  reviewer: {diagnostics.inert(text)}")
        mine = list(r.reasons) or ["(no reasons: certified as requested)"
                                   if r.actual != "not_applicable"
                                   else "(no guideline of the library applies)"]
        for text in mine:
            out.append(f"  guidec:   {diagnostics.inert(text)}")
    return "\n".join(out)


def _progress(items: Iterator[T], size: int, total: int | None,
              weight: Callable[[T], int] | None = None) -> Iterator[T]:
    """The items, with a Rich progress bar on stderr when it is a terminal and the job is
    long (`size` > 20); silent in pipes. `total` is the bar's length, None when unknown;
    `weight` says how far an item moves it (one step each by default)."""
    if not (_tty(sys.stderr) and size > 20):
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("reviewing", total=total)
        for item in items:
            yield item
            progress.advance(task, weight(item) if weight else 1)


def _table(rows: list) -> str:  # type: ignore[type-arg]
    head = ("case", "req", "treatment", "expected", "actual", "", "guideline")
    body = [(r.case_id, r.request, r.treatment,
             r.expected + ("" if r.expected_certified is None else f" {r.expected_certified}"),
             r.actual + ("" if r.certified is None else f" {r.certified}"),
             "agree" if r.agree else "DIFFERS", r.guideline) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for row in body:
        line = "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
        lines.append(_style(line, "red") if row[5] == "DIFFERS" else line)
    return "\n".join(lines)


@app.command(epilog="\b\nExamples:\n  guidec fmt guidelines/\n  guidec fmt --check guidelines/\n\n"
                    "\b\nExit codes:\n  0  every file is formatted (or was rewritten)\n"
                    "  1  --check found a file that is not formatted, or a file has syntax errors\n"
                    "  2  usage error")
def fmt(
    paths: list[str] = typer.Argument(..., help="Guideline files or folders."),
    check_only: bool = typer.Option(False, "--check",
                                    help="Change nothing; show a diff and exit 1 if a file "
                                         "is not formatted."),
) -> None:
    """Rewrite guideline files in the one canonical layout (comments kept)."""
    import difflib

    from .dsl import formatter, parser
    from .dsl.files import FileProblem, find_guidelines, read_text
    files = find_guidelines(paths)
    if not files or any(not f.exists() for f in files):
        raise _fail(f"no .gl files found in {', '.join(paths)}", 2)
    bad = changed = 0
    for f in files:
        try:
            source = read_text(f)
        except FileProblem as exc:
            typer.echo(f"error: {diagnostics.inert(str(exc))}", err=True)
            bad += 1
            continue
        parsed = parser.parse(source, str(f))
        if parsed.guideline is None or not parsed.complete or any(
                d.severity == "error" for d in parsed.diagnostics):
            typer.echo("\n".join(diagnostics.render(d, source) for d in parsed.diagnostics), err=True)
            bad += 1
            continue
        text = formatter.format_guideline(parsed.guideline, source)
        if text == source:
            continue
        changed += 1
        if check_only:
            typer.echo("".join(difflib.unified_diff(source.splitlines(True), text.splitlines(True),
                                                    f"{f} (as written)", f"{f} (formatted)")))
        else:
            f.write_text(text, "utf-8")
            typer.echo(f"formatted {f}", err=True)
    verb = "would reformat" if check_only else "reformatted"
    typer.echo(f"{len(files)} file{'s' * (len(files) != 1)} checked: {verb} {changed}"
               + (f", {bad} with syntax errors" if bad else ""), err=True)
    raise typer.Exit(1 if bad or (check_only and changed) else 0)


class SchemaName(str, Enum):
    case = "case"


@app.command(epilog="\b\nExamples:\n  guidec schema case > case.schema.json\n"
                    "  guidec schema case --library examples/payer-chiropractic\n\n"
                    "The schema is generated from the library's declared facts (`fact` items), "
                    "so the schema, the checker and the case loader always agree.")
def schema(name: SchemaName = typer.Argument(..., help="Which schema: case."),
           library: Optional[list[str]] = typer.Option(
               None, "--library", "-l", help="Guideline folder(s) whose declarations to use "
                                             "(default: the declarations shipped with guidec).")
           ) -> None:
    """Print a JSON Schema (the case-file contract)."""
    facts_schema = _load_library(library).schema if library else None
    typer.echo(json.dumps(casesmod.schema(facts_schema), indent=2))


class Target(str, Enum):
    sql = "sql"


class Dialect(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


@app.command(name="compile",
             epilog="\b\nExamples:\n  guidec compile guidelines/ --to sql --dialect duckdb > review.sql\n"
                    "  guidec compile guidelines/ --to sql --dialect spark -o review.sql\n\n"
                    "The query reads a table named `cases` (--table) with the columns of "
                    "`guidec cases convert` and returns one review record per request.\n\n"
                    + EXIT_CODES)
def compile_(
    paths: list[str] = typer.Argument(..., help="Guideline files or folders (the library)."),
    to: Target = typer.Option(Target.sql, "--to", help="What to compile to: sql."),
    dialect: Dialect = typer.Option(Dialect.duckdb, "--dialect", "-d",
                                    help="SQL dialect: duckdb or spark."),
    table: str = typer.Option("cases", "--table", help="The cases table the query reads."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Compile a guideline library to one SQL query over a cases table."""
    from .compiler.evaluation.sql import generate
    lib = _load_library(paths)
    try:
        text = "".join(s + ";\n" for s in generate.compile_library(lib, dialect.value, table))
    except generate.SqlError as exc:
        raise _fail(str(exc))
    if output is None:
        sys.stdout.write(text)
        return
    _writable(output)
    output.write_text(text, "utf-8")
    typer.echo(f"{dialect.value} SQL for {len(lib.guidelines)} guidelines written to {output}",
               err=True)


cases_app = typer.Typer(help="Case files as tables: convert them to Parquet, generate test cases.",
                        no_args_is_help=True, rich_markup_mode=None,
                        context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(cases_app, name="cases")


@cases_app.command("convert", epilog="\b\nExamples:\n"
                   "  guidec cases convert cases.jsonl -o cases.parquet\n"
                   "  guidec review cases.parquet --library guidelines -o reviews.parquet\n\n"
                   + EXIT_CODES)
def cases_convert(
    case_paths: list[str] = typer.Argument(..., metavar="CASE...",
                                           help="Case files (YAML, JSON, JSON Lines) or folders."),
    output: Path = typer.Option(..., "--output", "-o", help="The Parquet file to write."),
    library: list[str] = typer.Option(["guidelines"], "--library", "-l",
                                      help="The library whose declared facts are the columns."),
) -> None:
    """Read, check and normalize case files into a Parquet cases table (for --engine duckdb
    or spark): one row per case, records as structs, lists as lists of structs."""
    from .compiler.evaluation.sql import duck
    _writable(output)
    lib = _load_library(library)
    cases, problems = _read_cases(case_paths, lib.schema)
    n = duck.convert(cases, output, lib)
    typer.echo(f"{n} case{'s' * (n != 1)} written to {output}", err=True)
    if problems:
        raise _fail(_unread(problems, "read", "written"))


@cases_app.command("generate", epilog="\b\nExamples:\n"
                   "  guidec cases generate 100000 --seed 1 -o cases.jsonl\n"
                   "  guidec cases generate 20 --library examples/payer-chiropractic\n\n"
                   "Every declared fact, often undocumented; the terms, codes and numbers the "
                   "guidelines test; review dates on both sides of their dates. The same seed "
                   "gives the same cases.")
def cases_generate(
    count: int = typer.Argument(..., min=0, help="How many cases."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    library: list[str] = typer.Option(["guidelines"], "--library", "-l"),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Write JSON Lines here, not stdout."),
) -> None:
    """Generate random cases for a library (JSON Lines), for load and differential tests."""
    from .compiler.analysis.casegen import CaseGenerator
    lib = _load_library(library)
    gen = CaseGenerator(lib)
    if output is not None:
        _writable(output)
    out = output.open("wb") if output is not None else sys.stdout.buffer
    try:
        for case in _progress(gen.cases(count, seed), count, count):
            out.write(render.json_line(case))
    finally:
        if output is not None:
            out.close()
        else:
            out.flush()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug in guidec: say so in one line, never a traceback
        typer.echo(f"guidec: internal error: {type(exc).__name__}: {exc}\n"
                   "please report this with the command and input that caused it "
                   "(set GUIDEC_DEBUG=1 for the traceback)", err=True)
        if __import__("os").environ.get("GUIDEC_DEBUG"):
            raise
        sys.exit(3)
