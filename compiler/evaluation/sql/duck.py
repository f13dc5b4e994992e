"""The DuckDB engine: a library's query run on embedded DuckDB over case files or Parquet.

Case files (YAML, JSON, JSON Lines) are read, checked and normalized by guidec's own case
readers and handed to DuckDB as JSON Lines rows of the cases table (`table.py`); a Parquet
file is read by DuckDB itself and must have the cases table's columns. Records are written
by DuckDB (JSON Lines or Parquet) or fetched as Python dicts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Iterable, Iterator

import msgspec
from sqlglot import exp

from ...model.cases import Case, CaseError
from ..library import Library
from . import table
from .generate import (LibrarySql, cached, chosen_key, contract_checks, contract_found,
                       contract_message, contract_problems, contract_profile, unknown_terms)

# DuckDB's memory when none is given: at most this, and at most half the machine's. Beyond it
# the query's sort spills to a temporary folder (removed afterwards), so a table of any size is
# reviewed in bounded memory, in one query.
MEMORY_LIMIT = 3 << 30

RECORD_FIELDS = ("case_id", "request", "treatment", "decision", "requested", "certified",
                 "certified_visits", "unit", "outcome", "x12_action", "guideline_decision",
                 "guideline_certified", "note", "guideline", "as_of", "layers", "reasons")


# The rows asked first which guidelines they choose (`DuckEngine._chosen`).
CHOICE_SAMPLE = 65_536


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - a dependency of guidec
        raise CaseError("the DuckDB engine needs the duckdb package: pip install duckdb") \
            from exc
    return duckdb


def duck_types(lay: table.Layout) -> dict[str, str]:
    """The cases table's columns in DuckDB's spelling."""
    return {k: exp.DataType.build(v, dialect="spark").sql("duckdb")
            for k, v in lay.columns().items()}


class DuckEngine:
    """A library compiled once for DuckDB; run on any number of inputs."""

    def __init__(self, library: Library, threads: int | None = None,
                 memory_limit: str | None = None, path: bool = False) -> None:
        duckdb = _duckdb()
        self.path = path
        self.library = library
        self.lay = table.layout(library.schema)
        self.table = self.lay  # the loaded table's own: its requests may leave fields out
        self._sql: str | None = None  # made for the cases loaded (see `sql`)
        self._treatments: list[str] | None = None  # requested in the cases loaded, if known
        self.warnings: list[str] = []  # of the table loaded: terms no guideline names
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        limit = exp.Literal.string(memory_limit or f"{_default_memory() >> 20}MB").sql("duckdb")
        self.con.execute(f"SET memory_limit = {limit}")
        self._spill = tempfile.mkdtemp(prefix="guidec-duckdb-")
        weakref.finalize(self, shutil.rmtree, self._spill, True)
        spill = exp.Literal.string(self._spill).sql("duckdb")
        self.con.execute(f"SET temp_directory = {spill}")
        self.con.execute("SET preserve_insertion_order = true")
        self.con.execute("SET enable_progress_bar = false")

    @property
    def sql(self) -> str:
        return self.prepare()

    def prepare(self) -> str:
        """The library's query for the cases loaded: only the guidelines that can decide one
        of the treatments they request (a table of physical-therapy requests is not run
        through the opioid rules), and of those, where no surgery is decided first, only the
        ones some row chooses (a first, short pass over the table asks it: the choice alone);
        the same records as the whole library's query."""
        if self._sql is None:
            treatments = self._treatments
            if treatments is None:  # cases loaded from case files: ask the table
                treatments = sorted(t for (t,) in self.con.execute(
                    "SELECT DISTINCT r.treatment FROM (SELECT UNNEST(requests) AS r FROM cases)"
                    " WHERE r.treatment IS NOT NULL").fetchall())
            key = ("duckdb", str(self.path), *treatments, *self.lay.left_out(self.table))
            chosen = self._chosen(treatments, key)
            *declare, self._sql = cached(
                self.library, ("script", *key, *chosen_key(chosen)),
                lambda: LibrarySql(self.library, "duckdb", path=self.path,
                                   treatments=treatments, table=self.table,
                                   chosen=chosen).script("cases"))
            for statement in declare:  # the type of the library's words
                self.con.execute(statement)
        return self._sql

    def _chosen(self, treatments: list[str], key: tuple[str, ...]) -> list[str] | None:
        """The deciding guidelines the rows choose, where asking can leave some out of the
        query (`LibrarySql.choices`); None where it cannot. The table's first rows are asked
        first: where they already choose every guideline (a table of every kind of case),
        the whole table is not asked, and the query is the whole one."""
        every = LibrarySql(self.library, "duckdb", treatments=treatments,
                           table=self.table).choosable
        found: list[str] | None = None
        for first in (CHOICE_SAMPLE, None):
            script = cached(self.library, ("choices", str(first), *key),
                            lambda: LibrarySql(self.library, "duckdb", treatments=treatments,
                                               table=self.table).choices("cases", first))
            if not script:
                return None
            *declare, question = script
            for statement in declare:
                self.con.execute(statement)
            found = sorted(g for (g,) in self.con.execute(question).fetchall() if g is not None)
            if len(found) == len(every):
                return None  # every one is chosen: nothing to leave out
        return found

    # ---- inputs
    def load_cases(self, cases: Iterable[Case]) -> int:
        """Cases (already read and checked) as the `cases` table; returns how many."""
        with _rows_file(cases, self.lay) as (path, n):
            rel = _read_rows(self.con, path, self.lay)
            self.con.execute("DROP TABLE IF EXISTS cases")
            rel.create("cases")
        self._sql = self._treatments = None
        self.table = self.lay
        return n

    def load_parquet(self, path: str | Path) -> int:
        """A Parquet file of the cases table as the `cases` table (as a view: DuckDB reads it
        as the query runs). Its columns are checked against the table's, and its rows against
        what the case contract requires (`contract_problems`)."""
        want = duck_types(self.lay)
        rel = self.con.read_parquet(str(path))
        types = dict(zip(rel.columns, rel.types))
        have = {k: str(t) for k, t in types.items()}
        problems = []
        fields: list[str] | None = None  # the requests' fields, where some are left out
        for name, t in want.items():
            if name not in have:
                problems.append(f"column `{name}` is missing (expected {t})")
            elif _norm(have[name]) != _norm(t):
                if name == "requests":  # it may leave fields out
                    fields = _request_fields(types[name], self.lay, problems)
                if name != "requests" or fields is None:
                    problems.append(f"column `{name}` has type {have[name]}; expected {t}")
        if problems:
            raise CaseError(table.refusal(path, problems))
        # The rows are numbered in the file's order: `case_no` is that number, so the
        # records come back in the order of the file's rows (as a case file's lines do),
        # whatever numbers the file's own column holds.
        self.table = self.lay if fields is None else self.lay.with_requests(fields)
        source = exp.Literal.string(str(path)).sql("duckdb")
        self.con.execute("DROP VIEW IF EXISTS cases")
        self.con.execute("CREATE VIEW cases AS SELECT * EXCLUDE (file_row_number) REPLACE "
                         f"(file_row_number AS case_no) FROM read_parquet({source}, "
                         "file_row_number = true)")
        checks = contract_checks(self.table, kept_by_statistics(self.con, source))
        broken, wrong, distinct = contract_found(
            checks, self.con.execute(contract_profile(checks, "duckdb")).fetchone())
        if broken:
            found = self.con.execute(contract_problems(self.table, "duckdb", checks=broken,
                                                       words=wrong)).fetchall()
            raise CaseError(contract_message(str(path), found))
        self._sql = None
        self._treatments = distinct.get("requests.treatment")
        self.warnings = unknown_terms(self.library.schema, distinct, str(path))
        (count,) = self.con.execute("SELECT count(*) FROM cases").fetchone()
        return int(count)

    # ---- outputs
    def records(self) -> Iterator[dict[str, Any]]:
        """The review records, in input order, as dicts (the JSON records' fields)."""
        cur = self.con.execute(self.sql)
        names = [d[0] for d in cur.description]
        while True:
            chunk = cur.fetchmany(10_000)
            if not chunk:
                return
            for row in chunk:
                yield tidy(dict(zip(names, row)), self.path)

    def write(self, out: str | Path, fmt: str) -> int:
        """Write every record to `out` as JSON Lines or Parquet, in one query; returns how
        many. Memory stays within the engine's limit: past it, DuckDB's sort back into input
        order spills to the engine's temporary folder."""
        return self._copy(out, fmt)

    def _copy(self, out: str | Path, fmt: str) -> int:
        fields = ", ".join(exp.to_identifier(f, quoted=True).sql("duckdb")
                           for f in (*RECORD_FIELDS, *(("path",) if self.path else ())))
        target = exp.Literal.string(str(out)).sql("duckdb")
        options = "FORMAT parquet" if fmt == "parquet" else "FORMAT json"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW reviews AS {self.sql}")
        done = self.con.execute(f"COPY (SELECT {fields} FROM reviews) TO {target} ({options})")
        n: int = done.fetchone()[0]  # COPY answers with the number of rows written
        return n


def kept_by_statistics(con: Any, source: str) -> dict[str, set[str]]:
    """What each field of a Parquet cases table is known to keep of the contract from the
    statistics its writer stored with each row group (`generate.contract_problems` leaves
    those tests out): no value missing where none is null; nothing to test where every value
    is null; no number below 0 where each row group's least is at least 0. A field whose
    statistics are absent in any row group is tested row by row. `source`: the path, quoted."""
    leaves: dict[str, list[tuple[Any, Any, Any]]] = {}
    for path, n, nulls, low in con.execute(
            "SELECT path_in_schema, num_values, stats_null_count, "
            f"COALESCE(stats_min_value, stats_min) FROM parquet_metadata({source})").fetchall():
        parts, names = str(path).split(", "), []
        i = 0
        while i < len(parts):  # a list's two levels (`list`, `element`) name no field
            if parts[i] == "list" and i + 1 < len(parts) and parts[i + 1] in {"element", "item"}:
                i += 2
                continue
            names.append(parts[i])
            i += 1
        leaves.setdefault(".".join(names), []).append((n, nulls, low))
    out: dict[str, set[str]] = {}
    for name, groups in leaves.items():
        if any(n is None or nulls is None for n, nulls, _ in groups):
            continue
        kept = out[name] = set()
        if all(nulls == 0 for _, nulls, _ in groups):
            kept.add("missing")
        if all(nulls == n for n, nulls, _ in groups):
            kept.update(("negative", "term", "code", "decision"))
        elif all(nulls == n or _at_least_zero(low) for n, nulls, low in groups):
            kept.add("negative")
    return out


def _at_least_zero(text: Any) -> bool:
    try:
        return text is not None and float(text) >= 0
    except (TypeError, ValueError):
        return False


def _default_memory() -> int:
    try:
        machine = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on a POSIX system
        return MEMORY_LIMIT
    return min(MEMORY_LIMIT, machine // 2)


def tidy(rec: dict[str, Any], path: bool) -> dict[str, Any]:
    """A record as the Python engine writes it: no row numbers, and the values each step of
    the path saw as an object (SQL carries them as JSON text)."""
    rec.pop("case_no", None)
    rec.pop("request_no", None)
    steps = rec.pop("path", None)
    if path:
        rec["path"] = [{"node": s["node"], "outcome": s["outcome"],
                        "values": json.loads(s["values"])} for s in steps or ()]
    return rec


def _request_fields(t: Any, lay: table.Layout, problems: list[str]) -> list[str] | None:
    """The fields of a `requests` column that leaves some of the contract's out (a list
    of structs, each field it has of its type, those every request gives among them);
    None if it is not such a column. What is wrong is added to `problems`."""
    entry = t.children[0][1] if t.id == "list" and t.children else None
    if entry is None or entry.id != "struct":
        return None
    want = {k: exp.DataType.build(v, dialect="spark").sql("duckdb")
            for k, v in lay.records["request"].items()}
    have = {k: str(v) for k, v in entry.children}
    problems += table.request_problems(have, want, lambda a, b: _norm(a) == _norm(b))
    return [k for k in want if k in have]


def _norm(t: str) -> str:
    return t.replace('"', "").replace(" ", "").upper().replace("VARCHAR", "TEXT")


def convert(cases: Iterable[Case], out: str | Path, library: Library) -> int:
    """Case files → a Parquet file of the cases table (for `--engine duckdb|spark`). Its
    requests keep the fields some request documents, with `id` and `treatment`: a table of
    therapy requests does not carry the fields of opioid or imaging requests (about forty),
    which every query would read and find empty."""
    lay = table.layout(library.schema)
    con = _duckdb().connect()
    with _rows_file(cases, lay) as (path, n):
        _read_rows(con, path, lay).create_view("converted")
        names = list(lay.records["request"])
        quoted = {k: exp.to_identifier(k, quoted=True).sql("duckdb") for k in names}
        found = con.execute("SELECT " + ", ".join(f"count(r.{quoted[k]})" for k in names) +
                            " FROM (SELECT UNNEST(requests) AS r FROM converted)").fetchone()
        keep = [k for k, seen in zip(names, found) if seen or k in table.REQUEST_REQUIRED]
        rows = "SELECT * FROM converted" if len(keep) == len(names) else (
            "SELECT * REPLACE (list_transform(requests, lambda r: struct_pack(" +
            ", ".join(f"{quoted[k]} := r.{quoted[k]}" for k in keep) + ")) AS requests) "
            "FROM converted")
        target = exp.Literal.string(str(out)).sql("duckdb")
        con.execute(f"COPY ({rows}) TO {target} (FORMAT parquet)")
    return n


@contextlib.contextmanager
def _rows_file(cases: Iterable[Case], lay: table.Layout) -> Iterator[tuple[str, int]]:
    """The cases as rows of the cases table, in a JSON Lines file DuckDB reads with the
    table's types (removed afterwards); and how many."""
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        n = 0
        encode = msgspec.json.Encoder().encode
        with os.fdopen(fd, "wb") as f:
            for case in cases:
                f.write(encode(table.row(case, n, lay)) + b"\n")
                n += 1
        yield path, n
    finally:
        os.unlink(path)


def _read_rows(con: Any, path: str, lay: table.Layout) -> Any:
    return con.read_json(path, format="newline_delimited", columns=duck_types(lay))
