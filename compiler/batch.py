"""Many cases at once: the input cut into units (a case file, or a run of JSON Lines), each
unit reviewed by a worker process, the results given back in input order.

One unit is reviewed the same way in a worker as in this process (`work`), so the output of
`--jobs 4` is the output of `--jobs 1`, byte for byte. A bad case or line is a note of its unit,
reported in order; every other case is still reviewed.
"""

from __future__ import annotations

import collections
import datetime as dt
import gc
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..dsl.diagnostics import inert
from ..dsl.records import field, record
from .model import cases
from .rendering import render
from .model.cases import Case, CaseError
from .evaluation.library import Library, Review

# Below this many cases, starting workers costs more than it saves.
MIN_PARALLEL = 64
# Allocations between two runs of the collector's youngest generation, during a run
# (Python's default is 700: a case allocates hundreds of containers).
GC_THRESHOLD = 20_000


@record(kw_only=False)
class Job:
    """What to make of each case: `review` records in a format, or `corpus` rows."""

    kind: str  # review | corpus
    library: tuple[str, ...]  # where a worker that starts afresh loads the library from
    format: str = "jsonl"  # review: jsonl | json | text | markdown
    as_of: dt.date | None = None
    path: bool = False  # review records: the steps through the graph
    keep: bool = False  # keep the Review objects (this process only: an HTML report)


@record(frozen=False, kw_only=False)
class Unit:
    """A case file, or a run of JSON Lines (byte offsets; the worker reads them itself)."""

    file: str
    run: tuple[int, int, int] | None = None  # JSON Lines: start, end, first line number
    problem: CaseError | None = None  # the file cannot be read


@record(frozen=False, kw_only=False)
class Done:
    """What one unit gave: per case, its output; the notes for stderr, in order."""

    out: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cases: int = 0
    problems: int = 0
    reviews: list[Review] = field(default_factory=list)


def units(files: Iterable[Path], chunk: int) -> Iterator[Unit]:
    """The units of some case files: each YAML/JSON file, and runs of `chunk` JSON Lines."""
    for f in files:
        if f.suffix != ".jsonl":
            yield Unit(str(f))
            continue
        for run in cases.jsonl_runs(f, chunk):
            if isinstance(run, CaseError):
                yield Unit(str(f), problem=run)
            else:
                yield Unit(str(f), run=run)


_STATE: tuple[Library, Job] | None = None  # the library and job of this process


def _init(job: Job) -> None:
    """A worker started afresh (no fork): load the library itself."""
    global _STATE
    _STATE = (Library.load(list(job.library)), job)


def work(unit: Unit) -> Done:
    """Review one unit with this process's library and job."""
    assert _STATE is not None
    lib, job = _STATE
    done = Done()
    found: list[Case | CaseError] = []
    if unit.problem is not None:
        found = [unit.problem]
    elif unit.run is None:
        try:
            found = list(cases.load(unit.file, lib.schema))
        except CaseError as exc:
            found = [exc]
    else:
        found = list(cases.iter_jsonl_file(unit.file, lib.schema, *unit.run))
    for item in found:
        if isinstance(item, CaseError):
            done.problems += 1
            done.notes.extend(f"error: {inert(x)}" for x in str(item).split("\n"))
            continue
        done.cases += 1
        if item.warnings:
            done.notes.extend(f"warning: {inert(w)}" for w in item.warnings)
        done.out.append(_per_case(lib, job, item, unit.file, done))
    return done


def _per_case(lib: Library, job: Job, case: Case, file: str, done: Done) -> Any:
    if job.kind == "corpus":
        from . import corpus
        return list(corpus.rows_for(lib, case, file))
    reviews = lib.review(case, job.as_of)
    if job.keep:
        done.reviews.extend(reviews)
    if job.format == "jsonl":
        if len(reviews) == 1:  # most cases: one request
            return render.json_line(render.to_json(reviews[0], job.path))
        return b"".join(render.json_line(render.to_json(r, job.path)) for r in reviews)
    if job.format == "json":
        return [render.to_json(r, job.path) for r in reviews]
    return render.markdown(reviews) if job.format == "markdown" else render.text(reviews)


class Runner:
    """Units in, `Done`s out in input order, on `jobs` processes (this one when jobs is 1).

    Use as a context manager: the workers start on entering, before any thread of the caller's
    (a progress bar) does, and stop on leaving. At most a few units per worker are in flight,
    so a file of any length is read as the work goes, not at once."""

    def __init__(self, lib: Library, job: Job, jobs: int) -> None:
        self.lib, self.job, self.jobs = lib, job, max(1, jobs)
        self._pool: Any = None
        self._threshold = gc.get_threshold()

    def __enter__(self) -> "Runner":
        global _STATE
        _STATE = (self.lib, self.job)
        # The library (and all else loaded so far) lives for the whole run: the cyclic
        # collector need not walk it again and again while the cases come and go (and forked
        # workers share its pages rather than copy them as the collector touches them). A
        # case's objects are freed by reference counting; the collector runs less often.
        gc.freeze()
        self._threshold = gc.get_threshold()
        gc.set_threshold(max(self._threshold[0], GC_THRESHOLD), *self._threshold[1:])
        if self.jobs > 1:
            import multiprocessing  # here: a run of one job never loads it (about 5 ms)
            if "fork" in multiprocessing.get_all_start_methods():
                # Workers inherit the compiled library: nothing is compiled again.
                self._pool = multiprocessing.get_context("fork").Pool(self.jobs)
            else:
                self._pool = multiprocessing.get_context("spawn").Pool(
                    self.jobs, initializer=_init, initargs=(self.job,))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate() if exc[0] is not None else self._pool.close()
            self._pool.join()
            self._pool = None
        gc.set_threshold(*self._threshold)
        gc.unfreeze()

    def results(self, todo: Iterable[Unit]) -> Iterator[Done]:
        if self._pool is None:
            for unit in todo:
                yield work(unit)
            return
        window: collections.deque[Any] = collections.deque()
        for unit in todo:
            window.append(self._pool.apply_async(work, (unit,)))
            if len(window) >= 3 * self.jobs:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chunk_size(total: int | None, jobs: int) -> int:
    """JSON Lines per unit: enough to keep a worker busy, few enough to share out evenly."""
    if not total:
        return 1000
    return max(16, min(1000, total // (4 * jobs) or 16))
