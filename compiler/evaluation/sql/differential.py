"""The Python evaluator against an SQL engine, record by record: one semantics.

Compared for each request: the decision, the quantities (requested, certified, the
guideline's own), the guideline chosen, the UR outcome, the X12 action, the settle note, the
layers applied, and the reasons (rule, kind, text and citation, in order).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from ...model.cases import Case
from ...rendering import render
from ..library import Library

COMPARED = ("case_id", "request", "treatment", "decision", "requested", "certified",
            "guideline_decision", "guideline_certified", "unit", "outcome", "x12_action",
            "note", "layers")


def python_records(lib: Library, cases: Iterable[Case],
                   path: bool = False) -> Iterator[dict[str, Any]]:
    """The Python engine's records, as its JSON output reads them back."""
    for case in cases:
        for rv in lib.review(case):
            rec = render.to_json(rv, path=path)
            yield json.loads(render.json_line(rec)) if path else rec


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, (int, float)) and not isinstance(x, bool) and \
            isinstance(y, (int, float)) and not isinstance(y, bool):
        return float(x) == float(y)
    return bool(x == y)


def _reasons(rec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(r["rule"], r["kind"], r["text"], r["citation"]) for r in rec.get("reasons") or []]


def difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field → (python, sql) for each field the two records disagree on."""
    out = {k: (a.get(k), b.get(k)) for k in COMPARED if not _same(a.get(k), b.get(k))}
    ga = (a.get("guideline") or {}).get("id")
    gb = (b.get("guideline") or {}).get("id")
    if ga != gb:
        out["guideline"] = (ga, gb)
    if _reasons(a) != _reasons(b):
        out["reasons"] = (_reasons(a), _reasons(b))
    if "path" in a and "path" in b and a["path"] != b["path"]:
        out["path"] = (a["path"], b["path"])
    return out


def differences(python: Iterable[dict[str, Any]], sql: Iterable[dict[str, Any]],
                cases: dict[str, Any] | None = None, limit: int = 5) -> tuple[int, int, list[str]]:
    """(records compared, records that differ, a report of the first `limit`, each with the
    case it came from when `cases` maps case ids to case dicts)."""
    n = bad = 0
    report: list[str] = []
    sql_list = list(sql)
    py_list = list(python)
    if len(py_list) != len(sql_list):
        report.append(f"{len(py_list)} records from Python, {len(sql_list)} from SQL")
        bad += abs(len(py_list) - len(sql_list))
    for a, b in zip(py_list, sql_list):
        n += 1
        d = difference(a, b)
        if not d:
            continue
        bad += 1
        if len(report) < limit:
            case = (cases or {}).get(str(a.get("case_id")))
            report.append(f"case {a.get('case_id')} request {a.get('request')}: " +
                          "; ".join(f"{k}: python {x!r}, sql {y!r}" for k, (x, y) in d.items()) +
                          (f"\n  the case: {json.dumps(case, default=str)}" if case else ""))
    return n, bad, report
