"""Compiled guideline + its embedded tests → pass/fail results with located messages."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

from ...dsl.diagnostics import Span
from ...dsl.records import record
from .. import diskcache
from ..model import ir
from ..model.cases import Case, CaseError, from_dict, load, load_text, read_case_text
from ..model.facts import Schema
from ..evaluation.evaluate import Determination
from ..pipeline import Compiled


@record(frozen=False, kw_only=False)
class TestResult:
    guideline: str
    title: str
    passed: bool
    message: str
    span: Span
    determination: Determination | None = None

    def to_json(self) -> dict[str, object]:
        return {"guideline": self.guideline, "test": self.title, "passed": self.passed,
                "message": self.message, "location": self.span.to_json()}


def case_path(test: ir.Test, guideline_path: str) -> Path:
    """The case file a test names (`case "..."`), found beside the guideline."""
    assert test.case_file is not None
    return (Path(guideline_path).parent / test.case_file).resolve()


def case_files(compiled: Compiled) -> list[Path]:
    """The case files the guideline's tests read: what their results depend on besides it."""
    if compiled.ir is None:
        return []
    return [case_path(t, compiled.path) for t in compiled.ir.tests if t.case_file is not None]


def _case_for(test: ir.Test, guideline_path: str, schema: Schema) -> Case:
    if test.given is not None:
        given, source = test.given, f"{guideline_path}:{test.span.line} (given)"
        return _validated([b"given", diskcache.text(source), pickle.dumps(given, protocol=5)],
                     schema, lambda: [from_dict(given, source, schema)])[0]
    assert test.case_file is not None
    path = case_path(test, guideline_path)
    if path.suffix == ".jsonl":
        return load(path, schema)[0]
    text = read_case_text(path)
    return _validated([b"file", diskcache.text(str(path)), diskcache.text(text)], schema,
                 lambda: load_text(text, path, schema))[0]


def _validated(parts: list[bytes], schema: Schema, validate: Callable[[], list[Case]]) -> list[Case]:
    """A test's cases, validated: kept in guidec's cache under their text (a case file's, or
    the data of `given`), where they are written and the declared facts. Checking a guideline
    just edited then does not validate its tests' cases again, nor load the YAML reader and
    the case model to do it. Cases that do not follow the contract are not kept."""
    return diskcache.memo("case", [*parts, schema.digest()], validate,
                          lambda x: isinstance(x, list) and all(isinstance(c, Case) for c in x))


def run_test(compiled: Compiled, test: ir.Test) -> TestResult:
    assert compiled.ir is not None
    gid = compiled.ir.id
    try:
        case = _case_for(test, compiled.path, compiled.ir.schema)
    except CaseError as exc:
        return TestResult(gid, test.title, False, f"the test's case is broken: {exc}", test.span)
    requests = [r for r in case.requests if test.request_id in (None, r["id"])]
    if not requests:
        return TestResult(gid, test.title, False,
                          f"the case has no request with id {test.request_id!r}", test.span)
    det = compiled.evaluator.evaluate(case, requests[0])
    problems = []
    want = test.decision or "not_applicable"
    if det.decision != want:
        problems.append(f"expected {want}, got {det.decision}")
    if test.quantity is not None and det.certified != test.quantity:
        problems.append(f"expected {test.quantity} certified, got {det.certified}")
    got_reasons = tuple(r.rule for r in det.reasons)
    if test.reasons is not None and set(got_reasons) != set(test.reasons):
        problems.append(f"expected reasons from {', '.join(test.reasons)}; "
                        f"got {', '.join(got_reasons) or 'none'}")
    if test.reasons is None and test.decision == "certified" and got_reasons:
        problems.append(f"expected no reasons, got {', '.join(got_reasons)}")
    return TestResult(gid, test.title, not problems, "; ".join(problems) or "ok", test.span, det)


def run_tests(compiled: Compiled) -> list[TestResult]:
    if compiled.ir is None or not compiled.ok:
        return []
    return [run_test(compiled, t) for t in compiled.ir.tests]
