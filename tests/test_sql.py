"""The SQL backend says what the Python evaluator says: differential tests on DuckDB and
Spark, every guideline file of the project compiled, quoting, and the commands."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import duckdb
import pytest
import sqlglot

from guidec.compiler.analysis.casegen import CaseGenerator
from guidec.compiler.evaluation.library import Library
from guidec.compiler.evaluation.sql import differential, duck, generate
from guidec.dsl.records import replace
from guidec.compiler.model import cases as casesmod
from guidec.compiler.pipeline import compile_file, find_guidelines

from conftest import IMR_CORPUS, ROOT, guidec

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))  # sqlglot parses deep queries back


@pytest.fixture(scope="module")
def lib() -> Library:
    return Library.load([str(ROOT / "guidelines")])


def _generated(lib: Library, n: int, seed: int) -> tuple[list[casesmod.Case], dict[str, dict]]:
    dicts = list(CaseGenerator(lib).cases(n, seed))
    return ([casesmod.from_dict(d, "generated", lib.schema) for d in dicts],
            {d["case_id"]: d for d in dicts})


def _check_same(lib: Library, cases: list[casesmod.Case], engine: object,
                by_id: dict[str, dict] | None = None) -> int:
    path = getattr(engine, "path", False)  # with --path, every step and the values it saw
    python = list(differential.python_records(lib, cases, path=path))
    sql = list(engine.records())  # type: ignore[attr-defined]
    n, bad, report = differential.differences(python, sql, by_id)
    assert bad == 0, f"{bad} of {n} records differ:\n" + "\n".join(report)
    return n


def test_duckdb_decides_100000_generated_cases_as_python_does(lib):
    cases, by_id = _generated(lib, 100_000, seed=2026)
    engine = duck.DuckEngine(lib)
    engine.load_cases(cases)
    n = _check_same(lib, cases, engine, by_id)
    assert n > 150_000  # several requests a case
    # The generator reaches every deciding guideline of the library, and every decision.
    python = list(differential.python_records(lib, cases[:20_000]))
    used = {r["guideline"]["id"] for r in python if r["guideline"]}
    deciding = {c.ir.id for c in lib.guidelines if c.ir and not c.ir.layer}
    assert used == deciding
    assert {r["decision"] for r in python} == {"certified", "modified", "non_certified",
                                                "not_applicable"}
    assert any(r["layers"] for r in python) and any(r["note"] for r in python)


def test_duckdb_decides_the_real_and_example_cases_as_python_does(lib):
    files = sorted(IMR_CORPUS.glob("*.yaml")) + sorted((ROOT / "examples").rglob("*.yaml"))
    cases = []
    for f in files:
        try:
            cases.extend(casesmod.load(f, lib.schema))
        except casesmod.CaseError:
            continue  # not a case file (a guideline's test folder may hold other YAML)
    assert len(cases) > 217
    engine = duck.DuckEngine(lib, path=True)
    engine.load_cases(cases)
    _check_same(lib, cases, engine)


def _all_guideline_files() -> list[Path]:
    return [Path(f) for f in find_guidelines([str(ROOT / "guidelines"), str(ROOT / "examples"),
                                              str(ROOT / "tests" / "cases")])]


def test_every_guideline_file_compiles_and_its_embedded_tests_agree():
    """Each guideline of the project alone as a library, its embedded tests' cases through
    both backends: every construct the files use compiles and means the same."""
    from guidec.compiler.analysis import testing
    compared = tests = 0
    for f in _all_guideline_files():
        c = compile_file(f)
        if not c.ok or c.kind != "guideline" or c.ir is None or not c.ir.tests:
            continue
        one = Library([c])
        cases = [testing._case_for(t, c.path, one.schema) for t in c.ir.tests]
        tests += len(cases)
        for dialect in generate.DIALECTS:  # the text renders and parses back in each dialect
            sqlglot.parse_one(generate.compile_library(one, dialect)[-1], read=dialect)
        engine = duck.DuckEngine(one, path=True)
        engine.load_cases(cases)
        compared += _check_same(one, cases, engine)
    assert tests > 200 and compared >= tests  # every embedded test's case, each request


def test_spark_decides_10000_generated_cases_as_python_does(lib):
    from guidec.compiler.evaluation.sql import spark
    problem = spark.java_problem()
    assert problem is None, problem + " (make test installs it when run as root)"
    cases, by_id = _generated(lib, 10_000, seed=7)
    engine = spark.SparkEngine(lib)
    try:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "cases.parquet"
            duck.convert(cases, table, lib)
            engine.load_parquet(table)
            n = _check_same(lib, cases, engine, by_id)
            # A therapy-only table: the query made for its treatments (no opioid rules, no
            # surgery phase) gives Python's records too.
            therapy = {"physical_therapy", "occupational_therapy", "chiropractic"}
            few = [c for c in cases if c.requests and
                   all(r.get("treatment") in therapy for r in c.requests)]
            duck.convert(few, table, lib)
            engine.load_parquet(table)
            steps = dict(engine.steps)
            assert "a_chosen" not in steps and "mtus.opioids" not in steps["b_chosen"]
            assert _check_same(lib, few, engine, by_id) > len(few)
            # Rows that all choose physical medicine: once the choice is made, the steps
            # after it leave out the therapy guidelines no row chose (as DuckDB's query
            # does), and the records are still Python's.
            chose: dict[str, set[str]] = {}
            for r in differential.python_records(lib, few):
                chose.setdefault(r["case_id"], set()).add(
                    r["guideline"]["id"] if r["guideline"] else "")
            pm = "mtus.chronic_pain.physical_medicine"
            only_pm = [c for c in few if chose[c.case_id] == {pm}]
            duck.convert(only_pm, table, lib)
            engine.load_parquet(table)
            assert _check_same(lib, only_pm, engine, by_id) >= len(only_pm) > 30
            after = " ".join(sql for name, sql in engine.ran if name != "b_chosen")
            assert pm in after and "mtus.postsurgical" not in after
            assert "odg.physical_therapy" not in after
            assert "odg.physical_therapy" in dict(engine.ran)["b_chosen"]
            bad = Path(tmp) / "made-elsewhere.parquet"
            _broken_table(lib, bad)
            with pytest.raises(casesmod.CaseError) as refused:
                engine.load_parquet(bad)
            assert "field `requests[0].id` is missing" in str(refused.value)
            assert "field `history[0].treatment` is missing" in str(refused.value)
            assert "field `requests[0].visits` has value -4" in str(refused.value)
            _badly_worded_table(lib, bad)
            with pytest.raises(casesmod.CaseError) as refused:
                engine.load_parquet(bad)
            for words in WORDS_REFUSED:
                assert words in str(refused.value), (words, str(refused.value))
            _unnamed_term_table(lib, bad)
            engine.load_parquet(bad)
            assert engine.warnings == [f"{bad}: {UNNAMED_WARNING}"]
            # Columns of other types are refused before any row is read, as DuckDB's
            # engine refuses them, each named with the type it has and the one expected.
            _mistyped_table(lib, bad)
            with pytest.raises(casesmod.CaseError) as refused:
                engine.load_parquet(bad)
            assert str(refused.value).startswith(f"{bad}: not a cases table: ")
            for words in MISTYPED["spark"]:
                assert words in str(refused.value), (words, str(refused.value))
    finally:
        engine.stop()
    assert n > 15_000


HOSTILE = r"""guideline hostile.quotes "Quotes ' and \"double\"; DROP TABLE cases; --"
  version "v'1 \\ back"
  source "Doc's \"source\" \\n" pp. 1-2
  applies when request.treatment in {physical_therapy}

define done "visits' done" = sum history[treatment in {physical_therapy}].visits

limit cap "A cap with 'quotes'"
  allow 6 visits
  counting done
  partial "it's {remaining} of {requested} -- '); DROP TABLE cases; -- \\ é {done}"
  otherwise "done: {done}; %s $1 '' \" \\"
  cite p. 1

test "cut"
  given {case_id: h, review_date: 2016-01-01,
         history: [{treatment: physical_therapy, visits: 2}],
         requests: [{id: "1", treatment: physical_therapy, visits: 10}]}
  expect modified 4 because cap

test "none left"
  given {case_id: h2, review_date: 2016-01-01,
         history: [{treatment: physical_therapy, visits: 8}],
         requests: [{id: "1", treatment: physical_therapy, visits: 10}]}
  expect non_certified because cap
"""


def test_author_text_enters_sql_only_as_quoted_literals(tmp_path):
    gl = tmp_path / "hostile.gl"
    gl.write_text(HOSTILE)
    c = compile_file(gl)
    assert c.ok, c.render_diagnostics()
    one = Library([c])
    for dialect in generate.DIALECTS:
        *declared, text = generate.compile_library(one, dialect)
        tree = sqlglot.parse_one(text, read=dialect)  # one statement, whatever the text says
        assert isinstance(tree, sqlglot.exp.Select)
        assert len(declared) == (dialect == "duckdb")
    # DuckDB's type of the library's words holds the author's titles and citations as they
    # are written, each one value: declared, nothing else is made or dropped.
    import duckdb
    con = duckdb.connect()
    con.execute(generate.compile_library(one, "duckdb")[0])
    (name,) = con.execute("SELECT type_name FROM duckdb_types() WHERE type_name LIKE "
                          "'guidec_words_%'").fetchone()
    words = con.execute(f"SELECT enum_range(NULL::{name})").fetchone()[0]
    assert "Quotes ' and \"double\"; DROP TABLE cases; --" in words
    assert "v'1 \\ back" in words and "A1" in words and "cap" in words
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] == 0
    from guidec.compiler.analysis import testing
    cases = [testing._case_for(t, c.path, one.schema) for t in c.ir.tests]
    engine = duck.DuckEngine(one)
    engine.load_cases(cases)
    records = list(engine.records())
    python = list(differential.python_records(one, cases))
    assert [r["reasons"][0]["text"] for r in records] == \
        [r["reasons"][0]["text"] for r in python]
    assert "'); DROP TABLE cases; -- \\ é 2." in records[0]["reasons"][0]["text"]
    assert engine.con.execute("SELECT count(*) FROM cases").fetchone()[0] == 2  # still there


def test_cli_compile_prints_a_query_for_each_dialect(tmp_path):
    for dialect in ("duckdb", "spark"):
        r = guidec("compile", "guidelines", "--to", "sql", "--dialect", dialect)
        assert r.returncode == 0, r.stderr
        tree = sqlglot.parse_one(r.stdout.rstrip().rstrip(";"), read=dialect)
        names = {t.name for t in tree.find_all(sqlglot.exp.Table)}
        assert "cases" in names
    out = tmp_path / "q.sql"
    r = guidec("compile", "guidelines", "--dialect", "duckdb", "--table", "claims", "-o", str(out))
    assert r.returncode == 0 and "claims" in out.read_text()


def test_cli_reviews_parquet_on_duckdb_as_the_python_engine_does(tmp_path, lib):
    gen = tmp_path / "gen.jsonl"
    table = tmp_path / "cases.parquet"
    out = tmp_path / "reviews.parquet"
    assert guidec("cases", "generate", "300", "--seed", "5", "-o", str(gen)).returncode == 0
    r = guidec("cases", "convert", str(gen), "-o", str(table))
    assert r.returncode == 0 and "300 cases written" in r.stderr, r.stderr
    r = guidec("review", str(table), "--library", "guidelines", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "engine duckdb" in r.stderr
    sql = _parquet_records(out)
    python = [json.loads(line) for line in guidec(
        "review", str(gen), "--library", "guidelines", "--format", "jsonl").stdout.splitlines()]
    n, bad, report = differential.differences(python, sql)
    assert n == len(python) > 300 and bad == 0, report
    # JSON Lines to stdout from the same engine, case files in
    lines = guidec("review", str(gen), "--library", "guidelines", "--engine", "duckdb").stdout
    assert [json.loads(x)["decision"] for x in lines.splitlines()] == \
        [r["decision"] for r in python]


def _parquet_records(path: Path) -> list[dict]:
    con = duckdb.connect()
    cur = con.execute(f"SELECT * FROM read_parquet({sqlglot.exp.Literal.string(str(path)).sql('duckdb')})")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def test_cli_sql_engine_errors_are_clear(tmp_path):
    r = guidec("review", "examples/imr-seed-pt-cervical.yaml", "--engine", "duckdb",
               "--format", "text")
    assert r.returncode == 2 and "letters come from --engine python" in r.stderr
    r = guidec("review", "examples/imr-seed-pt-cervical.yaml", "--engine", "duckdb", "--as-of",
               "2016-01-01")
    assert r.returncode == 2 and "--as-of works with --engine python only" in r.stderr
    bad = tmp_path / "bad.parquet"
    duckdb.connect().execute(f"COPY (SELECT 1 AS case_no, 'x' AS case_id) TO '{bad}' "
                             "(FORMAT parquet)")
    r = guidec("review", str(bad))
    assert r.returncode == 1
    assert "not a cases table" in r.stderr and "column `review_date` is missing" in r.stderr
    assert "guidec cases convert" in r.stderr and "Traceback" not in r.stderr
    r = guidec("review", str(bad), "--engine", "python")
    assert r.returncode == 2 and "Parquet is read by the SQL engines" in r.stderr


def _broken_table(lib: Library, path: Path) -> None:
    """A cases table made elsewhere than `guidec cases convert`, breaking the contract in
    four rows: a case with no request, a request with no id, an entry of history with no
    treatment, a request for a negative number of visits."""
    from guidec.compiler.evaluation.sql import table
    cases, _ = _generated(lib, 40, seed=3)
    lay = table.layout(lib.schema)
    rows = [table.row(c, n, lay) for n, c in enumerate(cases)]
    with_history = next(r for r in rows[3:] if r["history"])
    with_history["history"][0]["treatment"] = None
    rows[1]["requests"] = []
    rows[2]["requests"][0]["id"] = None
    rows[-1]["requests"][0]["visits"] = -4
    lines = path.with_suffix(".jsonl")
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    duck._read_rows(duckdb.connect(), str(lines), lay).write_parquet(str(path))


def _badly_worded_table(lib: Library, path: Path) -> None:
    """A cases table made elsewhere whose words break the contract in five rows: a term not
    in snake_case (in a list's entry, and in a record's list of terms), a diagnosis code not
    as guidec writes it, UR's decision not one of the three, a request id given twice."""
    from guidec.compiler.evaluation.sql import table
    cases, _ = _generated(lib, 40, seed=5)
    lay = table.layout(lib.schema)
    rows = [table.row(c, n, lay) for n, c in enumerate(cases)]
    with_history = next(n for n, r in enumerate(rows) if r["history"] and n > 12)
    rows[with_history]["history"][0]["treatment"] = "Physical_Therapy"
    rows[2]["diagnoses"] = [{"code": " m54.12"}]
    rows[4]["requests"][0]["ur_decision"] = "approved"
    rows[6]["requests"].append(dict(rows[6]["requests"][0]))
    rows[8]["findings"]["current_medications"] = ["gabapentin", "Gabapentin 300mg"]
    lines = path.with_suffix(".jsonl")
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    duck._read_rows(duckdb.connect(), str(lines), lay).write_parquet(str(path))


def _mistyped_table(lib: Library, path: Path) -> None:
    """A cases table made elsewhere whose review date is text, and whose requests (giving
    only their id, treatment and visits) hold the visits as text."""
    from guidec.compiler.evaluation.sql import table
    cases, _ = _generated(lib, 40, seed=3)
    lay = table.layout(lib.schema)
    rows = [table.row(c, n, lay) for n, c in enumerate(cases)]
    lines = path.with_suffix(".jsonl")
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    con = duckdb.connect()
    duck._read_rows(con, str(lines), lay).create("t")
    where = sqlglot.exp.Literal.string(str(path)).sql("duckdb")
    con.execute("COPY (SELECT * REPLACE (CAST(review_date AS VARCHAR) AS review_date, "
                "list_transform(requests, lambda r: {'id': r.id, 'treatment': r.treatment, "
                f"'visits': CAST(r.visits AS VARCHAR)}}) AS requests) FROM t) TO {where} "
                "(FORMAT parquet)")


MISTYPED = {"duckdb": ["column `review_date` has type VARCHAR; expected DATE",
                       "field `requests[].visits` has type VARCHAR; expected BIGINT"],
            "spark": ["column `review_date` has type STRING; expected DATE",
                      "field `requests[].visits` has type STRING; expected BIGINT"]}


def _unnamed_term_table(lib: Library, path: Path) -> None:
    """A cases table whose history holds, in three rows, a term in snake_case that no
    guideline names (`physio_therapy`): a warning, not a refusal."""
    from guidec.compiler.evaluation.sql import table
    cases, _ = _generated(lib, 40, seed=5)
    lay = table.layout(lib.schema)
    rows = [table.row(c, n, lay) for n, c in enumerate(cases)]
    for r in [r for r in rows if r["history"]][:3]:
        r["history"][0]["treatment"] = "physio_therapy"
    lines = path.with_suffix(".jsonl")
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    duck._read_rows(duckdb.connect(), str(lines), lay).write_parquet(str(path))


UNNAMED_WARNING = ("field `history[].treatment` has unknown treatment \"physio_therapy\"; did "
                   "you mean 'physical_therapy'?; no guideline names it")


WORDS_REFUSED = [
    "case_no 2 (gen-", "field `diagnoses[0].code` has value \" m54.12\": expected a diagnosis "
    "code as guidec writes it",
    "case_no 4 (gen-", "field `requests[0].ur_decision` has value \"approved\": expected one "
    "of certified, modified, non_certified",
    "case_no 6 (gen-", "field `requests` has a repeated request id",
    "case_no 8 (gen-", "field `findings.current_medications` has value \"Gabapentin 300mg\": "
    "expected a term in snake_case", "field `history[0].treatment` has value \"Physical_Therapy\": expected "
    "a term in snake_case"]


def test_a_table_whose_columns_have_other_types_is_refused_naming_each(tmp_path, lib):
    bad = tmp_path / "mistyped.parquet"
    _mistyped_table(lib, bad)
    with pytest.raises(casesmod.CaseError) as refused:
        duck.DuckEngine(lib).load_parquet(bad)
    assert str(refused.value).startswith(f"{bad}: not a cases table: ")
    assert "guidec cases convert" in str(refused.value)
    for words in MISTYPED["duckdb"]:
        assert words in str(refused.value), (words, str(refused.value))


def test_a_table_that_breaks_the_case_contract_is_refused_naming_rows_and_fields(tmp_path,
                                                                                  lib):
    bad = tmp_path / "made-elsewhere.parquet"
    _broken_table(lib, bad)
    r = guidec("review", str(bad), "-o", str(tmp_path / "out.parquet"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "not a valid cases table" in r.stderr
    assert "case_no 1 (" in r.stderr and "field `requests` is missing" in r.stderr
    assert "case_no 2 (" in r.stderr and "field `requests[0].id` is missing" in r.stderr
    assert "field `history[0].treatment` is missing" in r.stderr
    assert "case_no 39 (" in r.stderr and \
        "field `requests[0].visits` has value -4: expected a number of at least 0" in r.stderr
    assert not (tmp_path / "out.parquet").exists()  # nothing decided
    # Words: each distinct term and code is checked by the case model's pattern; the rows
    # that hold a wrong one are named.
    worded = tmp_path / "worded.parquet"
    _badly_worded_table(lib, worded)
    r = guidec("review", str(worded), "-o", str(tmp_path / "out.parquet"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    for words in WORDS_REFUSED:
        assert words in r.stderr, (words, r.stderr)
    assert not (tmp_path / "out.parquet").exists()
    # A term in snake_case that no guideline names is a warning, as in the Python engine, and
    # the table is reviewed: once a term and field, not once a row.
    _unnamed_term_table(lib, tmp_path / "odd.parquet")
    r = guidec("review", str(tmp_path / "odd.parquet"), "-o", str(tmp_path / "odd-out.parquet"))
    assert r.returncode == 0, r.stderr
    warned = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert warned == [f"warning: {tmp_path / 'odd.parquet'}: {UNNAMED_WARNING}"], r.stderr
    # Every value tested in SQL by the pattern (as where a field holds over a thousand wrong
    # values) names the same rows and fields.
    from guidec.compiler.evaluation.sql import table
    con = duckdb.connect()
    con.execute(f"CREATE VIEW cases AS SELECT * FROM read_parquet('{worded}')")
    rows = con.execute(generate.contract_problems(table.layout(lib.schema), "duckdb")).fetchall()
    named = [(n, field) for n, _, field, _, _ in rows]
    assert named == [(2, "diagnoses[0].code"), (4, "requests[0].ur_decision"), (6, "requests"),
                     (8, "findings.current_medications"),
                     (rows[4][0], "history[0].treatment")], rows


def test_a_dated_course_with_an_unnamed_term_is_warned_of_once_as_the_python_engine_does(
        tmp_path):
    # A course with visit dates gives the table's `visits` list one entry a visit, each with
    # the course's treatment: the term no guideline names is warned of once, at the course.
    case = tmp_path / "dated.yaml"
    case.write_text("case_id: dated\nreview_date: 2016-05-01\nhistory:\n"
                    "  - {treatment: physio_therapy, visits: 2,\n"
                    "     visit_dates: [2016-03-01, 2016-03-08]}\n"
                    "requests: [{id: 1, treatment: physical_therapy, visits: 6}]\n", "utf-8")
    python = guidec("review", str(case), "--format", "jsonl")
    assert python.returncode == 0, python.stderr
    said = [x for x in python.stderr.splitlines() if x.startswith("warning:")]
    assert len(said) == 1 and "field `history[0].treatment` has unknown treatment " \
        "\"physio_therapy\"" in said[0], python.stderr
    table = tmp_path / "dated.parquet"
    assert guidec("cases", "convert", str(case), "-o", str(table)).returncode == 0
    r = guidec("review", str(table), "-o", str(tmp_path / "dated-out.parquet"))
    assert r.returncode == 0, r.stderr
    warned = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert warned == [f"warning: {table}: field `history[].treatment` has unknown treatment "
                      "\"physio_therapy\"; did you mean 'physical_therapy'?; no guideline "
                      "names it"], r.stderr


def test_a_table_is_reviewed_in_bounded_memory_with_the_same_output(tmp_path, lib):
    # One query however large the table: DuckDB keeps to the engine's memory limit and its
    # sort back into input order spills to a temporary folder of the engine's own, removed
    # when the engine goes. A tight limit changes nothing in the output.
    cases, _ = _generated(lib, 3_000, seed=11)
    table = tmp_path / "cases.parquet"
    duck.convert(cases, table, lib)
    outs = {}
    for limit in (None, "200MB"):
        engine = duck.DuckEngine(lib, memory_limit=limit)
        engine.load_parquet(table)
        (setting,) = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()
        if limit:
            assert setting.replace(" ", "").upper().startswith(("190", "200")), setting
        spill = Path(engine.con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        assert spill.is_dir() and spill.name.startswith("guidec-duckdb-")
        for fmt in ("parquet", "jsonl"):
            out = tmp_path / f"out-{limit}.{fmt}"
            assert engine.write(out, fmt) > 3_000
            outs[limit, fmt] = out
        del engine
        import gc
        gc.collect()
        assert not spill.exists()
    assert outs["200MB", "jsonl"].read_bytes() == outs[None, "jsonl"].read_bytes()
    assert _parquet_records(outs["200MB", "parquet"]) == _parquet_records(outs[None, "parquet"])


SCOPED = """guideline payer.{name}.pt "PT for {name}"
  version "1"
  effective {start}
  source "{name} policy" p. 1
  applies when request.treatment in {{physical_therapy}}
  {scope}

limit cap "{cap} visits"
  allow {cap} visits
  cite p. 1
"""


def test_the_choice_by_scope_date_and_precedence_is_the_same_in_sql(tmp_path):
    """Payers' guidelines scoped to them, and two unscoped ones of equal precedence told
    apart by the date they are in force from: the SQL choice is the library's."""
    for name, scope, start, cap in (("acme", 'scope payer "Acme Health"', "2010-01-01", 6),
                                    ("bolt", 'scope payer "Bolt Mutual"', "2010-01-01", 10),
                                    ("old", "", "2009-01-01", 12),
                                    ("new", "", "2012-06-01", 8)):
        (tmp_path / f"{name}.gl").write_text(SCOPED.format(name=name, scope=scope,
                                                           start=start, cap=cap))
    lib = Library.load([str(tmp_path)])
    dicts = list(CaseGenerator(lib).cases(3_000, 9))
    for i, d in enumerate(dicts):
        d["payer"] = ("Acme Health", "Bolt Mutual", None)[i % 3]
        if d["payer"] is None:
            del d["payer"]
    cases = [casesmod.from_dict(d, "generated", lib.schema) for d in dicts]
    engine = duck.DuckEngine(lib)
    engine.load_cases(cases)
    _check_same(lib, cases, engine, {d["case_id"]: d for d in dicts})
    chosen = {r["guideline"]["id"] for r in differential.python_records(lib, cases)
              if r["guideline"]}
    assert chosen == {"payer.acme.pt", "payer.bolt.pt", "payer.old.pt", "payer.new.pt"}


def test_cli_path_from_duckdb_is_the_python_engines(tmp_path):
    args = ("review", "examples/imr-seed-pt-cervical.yaml", "--library", "guidelines", "--path")
    [py] = [json.loads(x) for x in guidec(*args, "--format", "jsonl").stdout.splitlines()]
    [sq] = [json.loads(x) for x in guidec(*args, "--engine", "duckdb").stdout.splitlines()]
    assert sq["path"] == py["path"]
    assert [s["node"] for s in sq["path"]][:2] == ["applies", "rule:general_course"]
    assert sq["path"][-1] == {"node": "outcome:non_certified", "outcome": "non_certified",
                              "values": {"certified": 0}}


def test_a_table_of_a_few_treatments_runs_only_the_guidelines_that_can_decide_them(tmp_path, lib):
    every, by_id = _generated(lib, 8_000, seed=5)
    therapy = {"physical_therapy", "occupational_therapy", "chiropractic"}
    few = [c for c in every if c.requests and
           all(r.get("treatment") in therapy for r in c.requests)]
    assert len(few) > 300
    engine = duck.DuckEngine(lib)
    engine.load_cases(few)
    sql = engine.sql
    # The opioid rules cannot decide a therapy request; no surgery is requested, so none is
    # decided first: both are left out of the query, and the records are still Python's.
    assert "mtus.chronic_pain.physical_medicine" in sql and "ca.labor_code.visit_cap" in sql
    assert "mtus.opioids" not in sql and '"a_chosen"' not in sql
    _check_same(lib, few, engine, by_id)
    # A surgery requested beside them brings the surgery guidelines and the linking back.
    linked = [c for c in every if any(r.get("treatment") == "surgery" for r in c.requests)]
    assert linked
    engine.load_cases(few + linked[:50])
    assert '"a_chosen"' in engine.sql and "mtus.clinical_topics.surgery" in engine.sql
    _check_same(lib, few + linked[:50], engine, by_id)
    # A table whose first cases request only therapy and later ones every other treatment:
    # the query is made for the whole table.
    others = [c for c in every if c not in few][:400]
    table = tmp_path / "cases.parquet"
    duck.convert(few[:300] + others, table, lib)
    out = tmp_path / "out.jsonl"
    runs = duck.DuckEngine(lib)
    runs.load_parquet(table)
    runs.write(out, "jsonl")
    got = [json.loads(line) for line in out.read_text().splitlines()]
    n, bad, report = differential.differences(
        differential.python_records(lib, few[:300] + others), got, by_id)
    assert bad == 0 and n > 700, "\n".join(report)


def test_guidelines_no_row_chooses_are_left_out_of_the_query_with_the_same_records(
        lib, monkeypatch):
    # Where no surgery is decided first, a short pass asks the table which deciding
    # guidelines its rows choose (its first rows, then, unless they choose every one, the
    # whole table); the others are left out of the query (each of their columns would cost
    # every row something). The records stay the Python engine's.
    monkeypatch.setattr(duck, "CHOICE_SAMPLE", 20)
    every, by_id = _generated(lib, 20_000, seed=33)
    therapy = {"physical_therapy", "occupational_therapy"}
    few = [c for c in every if c.requests and
           all(r.get("treatment") in therapy for r in c.requests)]
    chose: dict[str, set[str]] = {}
    for r in differential.python_records(lib, few):
        chose.setdefault(r["case_id"], set()).add(r["guideline"]["id"] if r["guideline"]
                                                  else "")
    pm, post, odg = "mtus.chronic_pain.physical_medicine", "mtus.postsurgical", \
        "odg.physical_therapy"
    only_pm = [c for c in few if chose[c.case_id] == {pm}]
    with_post = [c for c in few if post in chose[c.case_id]]
    with_odg = [c for c in few if odg in chose[c.case_id]]
    assert len(only_pm) > 100 and with_post and with_odg
    engine = duck.DuckEngine(lib)
    for table, used, unused in (
            (only_pm, {pm}, {post, odg}),
            # the first rows choose one; the whole table asked finds the other
            (only_pm + with_post[:20], {pm, post}, {odg}),
            # the first rows choose every one: the whole query, the table not asked again
            (with_post[:3] + with_odg[:3] + only_pm, {pm, post, odg}, set())):
        engine.load_cases(table)
        sql = engine.sql
        assert all(f"'{g}'" in sql for g in used)
        assert not any(f"'{g}'" in sql for g in unused)
        assert "ca.labor_code.visit_cap" in sql  # a layer applies beside whichever decides
        _check_same(lib, table, engine, by_id)
    # Reviewed before any of them was in force, no row is decided: none is in the query,
    # which keeps the rows' order without a sort, and every record says so.
    early = [replace(c, review_date=dt.date(2001, 1, 1)) for c in only_pm]
    engine.load_cases(early)
    assert not any(f"'{g}'" in engine.sql for g in (pm, post, odg))
    assert "ORDER BY" not in engine.sql
    assert _check_same(lib, early, engine, by_id) > 100
    assert {r["decision"] for r in engine.records()} == {"not_applicable"}


def _rows_in_order(con: duckdb.DuckDBPyConnection, path: Path, column: str) -> list[tuple]:
    where = sqlglot.exp.Literal.string(str(path)).sql("duckdb")
    return con.execute(f"SELECT {column} FROM read_parquet({where})").fetchall()


def test_records_come_in_the_order_of_the_files_rows_whatever_its_case_numbers(tmp_path, lib):
    # A table exported from elsewhere: its rows in no particular order of `case_no`. The
    # records follow the file's rows (as a case file's lines), on several threads, both where
    # a few guidelines decide every row in one pass (no sort) and where a surgery requested
    # in a case is decided first and linked back (a join, then a sort).
    every, by_id = _generated(lib, 3_000, seed=21)
    therapy = {"physical_therapy", "occupational_therapy", "chiropractic"}
    few = [c for c in every if c.requests and
           all(r.get("treatment") in therapy for r in c.requests)]
    con = duckdb.connect()
    con.execute("SET threads = 1")
    for name, chosen, copies in (("therapy", few, 800), ("every", every, 1)):
        base, table = tmp_path / f"{name}-base.parquet", tmp_path / f"{name}.parquet"
        duck.convert(chosen, base, lib)
        # Many copies of each case (enough rows for many row groups and threads), written in
        # an order of their own, their case numbers running down where the rows run up.
        src = sqlglot.exp.Literal.string(str(base)).sql("duckdb")
        dst = sqlglot.exp.Literal.string(str(table)).sql("duckdb")
        con.execute(
            f"COPY (SELECT * REPLACE (1000000000 - (case_no * {copies} + k) AS case_no, "
            f"case_id || '-' || k AS case_id) FROM read_parquet({src}), range({copies}) AS t(k) "
            f"ORDER BY hash(case_id || '-' || k)) TO {dst} (FORMAT parquet, ROW_GROUP_SIZE 8192)")
        engine = duck.DuckEngine(lib, threads=4)
        n = engine.load_parquet(table)
        assert ("ORDER BY" in engine.sql) is (name == "every")
        out = tmp_path / f"{name}-reviews.parquet"
        engine.write(out, "parquet")
        want = con.execute(f"SELECT case_id, r.id FROM (SELECT case_id, UNNEST(requests) AS r "
                           f"FROM read_parquet({dst}))").fetchall()
        assert n == len(chosen) * copies and len(want) > (100_000 if copies > 1 else 3_000)
        assert _rows_in_order(con, out, "case_id, request") == want
    # The same records as the Python engine's, reviewing the cases in the file's order.
    order = [cid.rsplit("-", 1)[0] for (cid,) in _rows_in_order(
        con, tmp_path / "every.parquet", "case_id")]
    by_case = {c.case_id: c for c in every}
    python = differential.python_records(lib, [by_case[cid] for cid in order])
    sql = [dict(r, case_id=r["case_id"].rsplit("-", 1)[0])
           for r in _parquet_records(tmp_path / "every-reviews.parquet")]
    n, bad, report = differential.differences(python, sql, by_id)
    assert bad == 0 and n > 3_000, report


def test_spark_leaves_out_of_its_profile_what_a_local_tables_statistics_show(tmp_path, lib):
    # Spark's contract check reads the statistics of a table on this machine's disk, a file
    # or a folder of part files, as DuckDB's does; a table elsewhere is profiled in full.
    from guidec.compiler.evaluation.sql import spark, table
    cases, _ = _generated(lib, 60, seed=11)
    lay = table.layout(lib.schema)
    rows = [table.row(c, n, lay) for n, c in enumerate(cases)]
    for r in rows[:30]:  # every age given in the first part; one missing in the second
        r["patient"] = {**(r["patient"] or {"sex": None}), "age": 40}
    rows[45]["patient"] = {**(rows[45]["patient"] or {"sex": None}), "age": None}
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, chunk in enumerate((rows[:30], rows[30:])):
        lines = tmp_path / f"part-{i}.jsonl"
        lines.write_text("".join(json.dumps(r) + "\n" for r in chunk), "utf-8")
        duck._read_rows(duckdb.connect(), str(lines), lay).write_parquet(
            str(parts / f"part-{i}.snappy.parquet"))
    one = parts / "part-0.snappy.parquet"
    kept = spark._statistics(one)
    assert kept is not None and {"missing"} <= kept["case_id"]
    assert generate.contract_checks(lay, kept) == generate.contract_checks(
        lay, duck.kept_by_statistics(duckdb.connect(), f"'{one}'"))
    assert len(generate.contract_checks(lay, kept)) < len(generate.contract_checks(lay))
    # A folder: a field is left out only where every part's statistics allow it. The second
    # part has a case with no patient age where the first has none missing.
    both = spark._statistics(parts)
    assert both is not None
    assert "missing" in kept["patient.age"] and "missing" not in both["patient.age"]
    assert spark._statistics("s3a://bucket/cases.parquet") is None
    assert spark._statistics(tmp_path / "absent.parquet") is None


def test_duckdb_records_carry_the_librarys_words_as_one_enum_and_write_them_as_text(
        tmp_path, lib):
    """The words every record repeats (decisions, outcomes, the guideline, rule names and
    citations, layers) are one ENUM type on DuckDB: none of them falls back to text in the
    query (which would be correct, and slower). The Parquet written holds plain text."""
    cases, _ = _generated(lib, 300, seed=11)
    engine = duck.DuckEngine(lib)
    engine.load_cases(cases)
    types = dict((name, t) for name, t, *_ in engine.con.execute(
        f"DESCRIBE {engine.prepare()}").fetchall())
    word = types["decision"]
    assert word.startswith("ENUM(") and "'non_certified'" in word and "'A3'" in word
    for name in ("guideline_decision", "outcome", "x12_action", "unit"):
        assert types[name] == word, name
    assert types["layers"] == f"{word}[]"
    assert types["guideline"] == f"STRUCT(id {word}, title {word}, \"version\" {word}, " \
                                 f"citation {word}, file {word})"
    assert types["reasons"] == f"STRUCT(\"rule\" {word}, kind {word}, \"text\" VARCHAR, " \
                               f"citation {word})[]"
    out = tmp_path / "reviews.parquet"
    assert engine.write(out, "parquet") > 300
    written = dict(engine.con.execute(
        "SELECT name, converted_type FROM parquet_schema(?)", [str(out)]).fetchall())
    assert written["decision"] == written["x12_action"] == written["rule"] == "UTF8"
    assert engine.con.execute("SELECT count(*) FROM read_parquet(?) WHERE decision = "
                              "'non_certified'", [str(out)]).fetchone()[0] > 0


def test_a_table_whose_requests_leave_out_fields_no_request_documents_is_reviewed_the_same(
        tmp_path, lib):
    """`guidec cases convert` writes the request fields some request documents (a therapy
    table carries none of the forty-odd fields of drug, imaging or equipment requests), and
    both engines review such a table as the Python engine reviews the cases. A table made
    elsewhere may leave fields out too, but not `id` or `treatment`, and not add or retype
    one."""
    from guidec.compiler.evaluation.sql import table
    cases, by_id = _generated(lib, 3_000, seed=17)
    # Therapy requests as a clinic writes them: what, where, how many, UR's answer.
    said = {"id", "treatment", "body_region", "visits", "frequency", "ur_decision",
            "ur_certified"}
    slim = {k: dict(d, requests=[{f: v for f, v in r.items() if f in said}
                                  for r in d["requests"]])
            for k, d in by_id.items() if d.get("requests") and all(
                r.get("treatment") in {"physical_therapy", "occupational_therapy"}
                for r in d["requests"])}
    therapy = [casesmod.from_dict(d, "generated", lib.schema) for d in slim.values()]
    assert len(therapy) > 50
    path = tmp_path / "therapy.parquet"
    assert duck.convert(therapy, path, lib) == len(therapy)
    con = duckdb.connect()
    kept = [d[0] for d in con.execute("SELECT unnest(requests[1]) FROM read_parquet(?) LIMIT 0",
                                      [str(path)]).description]
    contract = table.layout(lib.schema).records["request"]
    assert {"id", "treatment", "visits"} <= set(kept) and len(kept) < len(contract) - 20
    engine = duck.DuckEngine(lib)
    engine.load_parquet(path)
    assert _check_same(lib, therapy, engine, slim) >= len(therapy)
    # The whole generated set too (surgeries, drugs, equipment: most fields documented).
    everything = tmp_path / "all.parquet"
    duck.convert(cases, everything, lib)
    engine.load_parquet(everything)
    assert _check_same(lib, cases, engine, by_id) > len(cases)

    def narrowed(name: str, fields: str) -> Path:
        out = tmp_path / name
        con.execute(f"COPY (SELECT * REPLACE (list_transform(requests, lambda r: struct_pack("
                    f"{fields})) AS requests) FROM read_parquet('{path}')) TO '{out}' "
                    "(FORMAT parquet)")
        return out

    for table_path, words in [
            (narrowed("no-id.parquet", "treatment := r.treatment, visits := r.visits"),
             "column `requests` lacks the field `id`, which every request gives"),
            (narrowed("odd.parquet", "id := r.id, treatment := r.treatment, vists := r.visits"),
             "column `requests` has the field `vists`, which no guideline declares"),
            (narrowed("typed.parquet", "id := r.id, treatment := r.treatment, "
                      "visits := CAST(r.visits AS VARCHAR)"),
             "field `requests[].visits` has type VARCHAR; expected BIGINT")]:
        with pytest.raises(casesmod.CaseError) as refused:
            duck.DuckEngine(lib).load_parquet(table_path)
        assert "not a cases table" in str(refused.value) and words in str(refused.value)
