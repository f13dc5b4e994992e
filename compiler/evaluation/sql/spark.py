"""The Spark engine: the library's query (Spark SQL) over a Parquet cases table, on PySpark.

`local[*]` by default; give a master URL (`spark://host:7077`, `yarn`) to run the same query
on a cluster. Case files are first written as a Parquet cases table by DuckDB (`duck.convert`).
Spark writes its output as a folder of part files, as Spark does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from ...model.cases import CaseError
from ..library import Library
from . import table
from .duck import RECORD_FIELDS, kept_by_statistics, tidy
from .generate import (LibrarySql, cached, chosen_key, contract_checks, contract_found,
                       contract_message, contract_problems, contract_profile, unknown_terms)


def java_problem() -> str | None:
    """Why Spark cannot start here, or None: it needs a Java runtime (17 or newer)."""
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return None
    return ("Spark needs a Java runtime and none was found: install one with "
            "`sudo apt-get install default-jre-headless` (or set JAVA_HOME)")


def _statistics(path: str | Path) -> dict[str, set[str]] | None:
    """What a local Parquet table (a file, or a folder of part files) keeps of the contract by
    its row groups' statistics (`duck.kept_by_statistics`); None for a table elsewhere (a
    cluster's storage) or statistics that cannot be read: every field is then profiled."""
    p = Path(path)
    if "://" in str(path) or not p.exists():
        return None
    files = sorted(str(f) for f in p.rglob("*.parquet")) if p.is_dir() else [str(p)]
    if not files:
        return None
    try:
        import duckdb
        from sqlglot import exp
        source = exp.Array(expressions=[exp.Literal.string(f) for f in files]).sql("duckdb")
        return kept_by_statistics(duckdb.connect(), source)
    except Exception:  # noqa: BLE001 - statistics only save work: without them all is tested
        return None


def spelled(t: Any) -> str:
    """A Spark data type spelled as the cases table's columns are (`Layout.columns`)."""
    name = t.typeName()
    if name == "struct":
        return "STRUCT<" + ", ".join(f"`{f.name}`: {spelled(f.dataType)}"
                                     for f in t.fields) + ">"
    if name == "array":
        return f"ARRAY<{spelled(t.elementType)}>"
    return str(t.simpleString()).upper()


def _same(a: str, b: str) -> bool:
    return a.replace(" ", "").upper() == b.replace(" ", "").upper()


def column_problems(schema: Any, lay: table.Layout) -> tuple[list[str], list[str] | None]:
    """What is wrong with a table's columns (Spark's schema of it) against the cases table
    (as DuckDB's engine checks them: each column there, of its type), and the fields of its
    requests where they leave some out (else None)."""
    have = {f.name: f.dataType for f in schema.fields}
    problems: list[str] = []
    fields: list[str] | None = None
    for name, want in lay.columns().items():
        t = have.get(name)
        if t is None:
            problems.append(f"column `{name}` is missing (expected {want})")
        elif _same(spelled(t), want):
            continue
        elif (name == "requests" and t.typeName() == "array"
              and t.elementType.typeName() == "struct"):  # it may leave fields out
            entry = {f.name: spelled(f.dataType) for f in t.elementType.fields}
            problems += table.request_problems(entry, lay.records["request"], _same)
            fields = [k for k in lay.records["request"] if k in entry]
        else:
            problems.append(f"column `{name}` has type {spelled(t)}; expected {want}")
    return problems, fields


# The step of the query that makes the choice of guideline for each row (where no surgery is
# decided first: `LibrarySql.choosable`).
CHOICE_STEP = "b_chosen"


class SparkEngine:
    def __init__(self, library: Library, master: str = "local[*]",
                 app_name: str = "guidec", path: bool = False) -> None:
        problem = java_problem()
        if problem:
            raise CaseError(problem)
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise CaseError("the Spark engine needs PySpark: pip install 'guidec[spark]'") \
                from exc
        self.path = path
        self.library = library
        self.lay = table.layout(library.schema)
        self.steps: list[tuple[str, str]] = []  # made for the table loaded (load_parquet)
        self.ran: list[tuple[str, str]] = []  # the steps last run (`frame`)
        self.choosable: list[str] = []  # guidelines whose choice the rows make (`frame`)
        self._made: tuple[list[str], table.Layout] = ([], self.lay)
        self.warnings: list[str] = []  # of the table loaded: terms no guideline names
        self.spark = (SparkSession.builder.master(master).appName(app_name)
                      .config("spark.ui.enabled", "false")
                      .config("spark.ui.showConsoleProgress", "false")
                      .config("spark.sql.shuffle.partitions", "8")
                      .config("spark.sql.legacy.sizeOfNull", "false")
                      .config("spark.sql.ansi.enabled", "false")
                      # one query of many nested stages: more rounds of analysis
                      .config("spark.sql.analyzer.maxIterations", "2000")
                      .config("spark.sql.optimizer.maxIterations", "2000")
                      .config("spark.driver.memory", os.environ.get("GUIDEC_SPARK_MEMORY", "2g"))
                      .getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")

    def load_parquet(self, path: str | Path) -> int:
        df = self.spark.read.parquet(str(path))
        df.createOrReplaceTempView("cases")
        # Its columns of their types (as DuckDB's engine checks them); its requests may
        # leave out fields none of them documents (not `table.REQUEST_REQUIRED`): the query
        # gives each request them back, undocumented.
        problems, fields = column_problems(df.schema, self.lay)
        if problems:
            raise CaseError(table.refusal(path, problems))
        lay = self.lay if fields is None else self.lay.with_requests(fields)
        # The contract first (as DuckDB's engine): one pass finds what is broken, and only
        # then are the rows that break it looked for. A table on this machine's disk has its
        # writer's statistics read first (by DuckDB), which leave fields out of that pass.
        checks = contract_checks(lay, _statistics(path))
        broken, wrong, distinct = contract_found(
            checks, tuple(self.spark.sql(contract_profile(checks, "spark")).collect()[0]))
        if broken:
            found = [tuple(row) for row in self.spark.sql(contract_problems(
                lay, "spark", checks=broken, words=wrong)).collect()]
            raise CaseError(contract_message(str(path), found))
        self.warnings = unknown_terms(self.library.schema, distinct, str(path))
        n: int = df.count()
        # The query for the treatments the table requests (as DuckDB's: a guideline that
        # cannot decide one of them is left out). Spark computes a CTE again for each reader
        # and plans a deep query slowly: each step is computed once and checkpointed (its
        # plan cut), then read by the next.
        treatments = distinct["requests.treatment"]
        self._made = (treatments, lay)
        self.steps = self._steps()
        self.choosable = LibrarySql(self.library, "spark", treatments=treatments,
                                    table=lay).choosable
        return n

    def _steps(self, chosen: list[str] | None = None) -> list[tuple[str, str]]:
        """The query's steps for the table loaded; `chosen`: for these deciding guidelines
        only (`LibrarySql`)."""
        treatments, lay = self._made
        key = ("steps", "spark", str(self.path), *treatments, *self.lay.left_out(lay),
               *chosen_key(chosen))
        steps: list[tuple[str, str]] = cached(
            self.library, key, lambda: LibrarySql(self.library, "spark", path=self.path,
                                                  treatments=treatments, table=lay,
                                                  chosen=chosen).steps("cases"))
        return steps

    def frame(self) -> Any:
        """The records, each step of the query computed once. Once the choice is made
        (`b_chosen`), the guidelines no row chose are left out of the steps after it (as
        DuckDB's engine leaves them out of its query): the same records, with less work."""
        cached = []
        steps = self.steps
        k = 0
        while k < len(steps) - 1:
            name, sql = steps[k]
            df = self.spark.sql(sql).localCheckpoint(eager=True)
            df.createOrReplaceTempView(name)
            cached.append(df)
            if name == CHOICE_STEP and self.choosable:
                found = sorted(row[0] for row in self.spark.sql(
                    f"SELECT DISTINCT gid FROM `{CHOICE_STEP}` WHERE gid IS NOT NULL").collect())
                if len(found) < len(self.choosable):
                    fewer = self._steps(found)
                    names = [n for n, _ in fewer]
                    steps = steps[:k + 1] + fewer[names.index(CHOICE_STEP) + 1:]
            k += 1
        self._cached = cached
        self.ran = steps
        return self.spark.sql(steps[-1][1]).select(
            *RECORD_FIELDS, *(("path",) if self.path else ()), "case_no", "request_no")

    def records(self) -> Iterator[dict[str, Any]]:
        for row in self.frame().toLocalIterator():
            yield tidy(row.asDict(recursive=True), self.path)

    def write(self, out: str | Path, fmt: str) -> int:
        df = self.frame().drop("case_no", "request_no")
        writer = df.write.mode("overwrite")
        if fmt == "parquet":
            writer.parquet(str(out))
        else:
            writer.json(str(out))
        n: int = self.spark.read.parquet(str(out)).count() if fmt == "parquet" \
            else self.spark.read.json(str(out)).count()
        return n

    def stop(self) -> None:
        self.spark.stop()
