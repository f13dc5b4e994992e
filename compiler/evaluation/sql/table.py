"""The cases table: the case contract as one row a case, for the SQL engines.

Scalars are columns; `patient`, `injury` and `findings` are structs; `diagnoses`, `history`,
`surgeries`, `visits` and `requests` are lists of structs. Every declared fact is a field, so
an undocumented fact is NULL. The rows are cases as guidec reads them (`cases.py`
normalizes): a range is its maximum, `frequency` is `per_week` and `weeks`, the visits a
course lists by date are the `visits` list, a set of terms is a sorted list of its terms.
`guidec cases convert` writes this table as Parquet from case files.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Collection, Mapping

from ....dsl.records import field, record
from ...model import facts
from ...model.cases import Case

# A declared kind → the column type (Spark's spelling; sqlglot renders it per dialect).
_TYPES = {"bool": "BOOLEAN", "int": "BIGINT", "duration": "BIGINT", "date": "DATE",
          "decimal": "DOUBLE", "percent": "DOUBLE", "term": "STRING", "terms": "ARRAY<STRING>",
          "code": "STRING", "text": "STRING"}

# The fields every request of a cases table gives (its id and the case contract's required
# fields); a table may leave out any other field of its requests (none of its requests
# documents it), which is then read as undocumented.
REQUEST_REQUIRED = ("id", *sorted(facts.REQUIRED_FIELDS["request"]))


def request_problems(have: Mapping[str, str], want: Mapping[str, str],
                     same: Callable[[str, str], bool]) -> list[str]:
    """What is wrong with a `requests` column whose entries have the fields `have` (name →
    type, as the engine spells it) where the contract's are `want` (spelled the same way):
    a field of another type (`same` compares two), one the contract does not know, one every
    request gives left out. Other fields may be left out (undocumented in every request)."""
    problems = []
    for k, v in have.items():
        if k not in want:
            problems.append(f"column `requests` has the field `{k}`, which no guideline "
                            "declares and the case contract does not know")
        elif not same(v, want[k]):
            problems.append(f"field `requests[].{k}` has type {v}; expected {want[k]}")
    return problems + [f"column `requests` lacks the field `{k}`, which every request gives"
                       for k in REQUEST_REQUIRED if k not in have]


def refusal(path: object, problems: list[str]) -> str:
    """The words refusing a Parquet file that is not a cases table (its first problems)."""
    return (f"{path}: not a cases table: " + "; ".join(problems[:5]) +
            ("" if len(problems) <= 5 else f"; and {len(problems) - 5} more") +
            " (write one with `guidec cases convert FILE -o cases.parquet`)")


# Fields of a request that the case contract has beside the declared facts.
_REQUEST_EXTRA = {"id": "STRING", "diagnoses": "ARRAY<STRING>", "quantity": "DOUBLE",
                  "visits": "BIGINT", "per_week": "BIGINT", "weeks": "BIGINT",
                  "levels": "BIGINT", "ur_certified": "BIGINT", "ur_decision": "STRING"}


def sql_type(t: facts.Type) -> str | None:
    """The column type of a declared fact; None for kinds a case does not carry."""
    return _TYPES.get(t.kind)


@record(kw_only=False)
class Layout:
    """The fields of each record and list entry of the cases table, with their types."""

    records: dict[str, dict[str, str]]  # request, findings, patient, injury
    collections: dict[str, dict[str, str]]  # diagnoses, history, surgeries, visits
    # Per record or list: its fields whose values are words of the contract, by kind: "term"
    # (snake_case), "terms" (a list of them), "code" (a diagnosis code as guidec writes it).
    words: dict[str, dict[str, str]] = field(default_factory=dict)

    def with_requests(self, fields: Collection[str]) -> "Layout":
        """The layout of a table whose requests give only these of their fields (in this
        layout's order): the others are undocumented in every row."""
        keep = {k: t for k, t in self.records["request"].items() if k in fields}
        words = {**self.words, "request": {k: kind for k, kind in
                                           self.words.get("request", {}).items() if k in fields}}
        return Layout({**self.records, "request": keep}, self.collections, words)

    def left_out(self, table: "Layout") -> tuple[str, ...]:
        """The request fields a table's layout leaves out of this one (for cache keys)."""
        return tuple(f"-{k}" for k in self.records["request"] if k not in
                     table.records["request"])

    def struct(self, fields: dict[str, str]) -> str:
        return "STRUCT<" + ", ".join(f"`{k}`: {v}" for k, v in fields.items()) + ">"

    def columns(self) -> dict[str, str]:
        """Column name → type, in table order."""
        out = {"case_no": "BIGINT", "case_id": "STRING", "review_date": "DATE",
               "jurisdiction": "STRING", "payer": "STRING"}
        for name in ("patient", "injury", "findings"):
            out[name] = self.struct(self.records[name])
        for name in ("diagnoses", "history", "surgeries", "visits"):
            out[name] = f"ARRAY<{self.struct(self.collections[name])}>"
        out["requests"] = f"ARRAY<{self.struct(self.records['request'])}>"
        return out


def layout(schema: facts.Schema) -> Layout:
    def fields(types: dict[str, facts.Type]) -> dict[str, str]:
        out = {}
        for name, t in sorted(types.items()):
            st = sql_type(t)
            if st is not None:
                out[name] = st
        return out

    records = {name: fields(schema.records.get(name, {}))
               for name in ("request", "findings", "patient", "injury")}
    records["request"] = {**records["request"], **_REQUEST_EXTRA}
    collections = {name: fields(schema.collections.get(name, {}))
                   for name in ("history", "surgeries")}
    collections["diagnoses"] = {"code": "STRING"}
    collections["visits"] = {"date": "DATE", "treatment": "STRING", "body_region": "STRING"}
    for name, required in facts.REQUIRED_FIELDS.items():  # the contract's required fields
        target = records.get(name) if name == "request" else collections.get(name)
        if target is not None:
            for f in required:
                target.setdefault(f, "STRING")
    words = {name: {k: t.kind for k, t in sorted(types.items())
                    if t.kind in {"term", "terms", "code"} and k in (records.get(name) or
                                                                   collections.get(name) or {})}
             for group in (schema.records, schema.collections) for name, types in group.items()}
    words["diagnoses"] = {"code": "code"}
    words["request"] = {**words.get("request", {}), "diagnoses": "codes"}
    return Layout(records, collections, words)


def _value(v: Any, kind: str) -> Any:
    if v is None:
        return None
    if kind == "DATE":
        return v.isoformat() if isinstance(v, dt.date) else None
    if kind == "ARRAY<STRING>":
        return sorted(str(x) for x in v) if isinstance(v, (list, tuple, frozenset, set)) else None
    if kind == "BOOLEAN":
        return v if isinstance(v, bool) else None
    if kind in {"BIGINT"}:
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    if kind == "DOUBLE":
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return v if isinstance(v, str) else None


def _record(d: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    return {name: _value(d.get(name), kind) for name, kind in fields.items()}


def row(case: Case, case_no: int, lay: Layout) -> dict[str, Any]:
    """One case (as read and normalized) → its row of the cases table, JSON-ready."""
    return {
        "case_no": case_no, "case_id": case.case_id,
        "review_date": case.review_date.isoformat(),
        "jurisdiction": case.jurisdiction, "payer": case.payer,
        "patient": _record(case.patient, lay.records["patient"]),
        "injury": _record(case.injury, lay.records["injury"]),
        "findings": _record(case.findings, lay.records["findings"]),
        "diagnoses": [_record(x, lay.collections["diagnoses"]) for x in case.diagnoses],
        "history": [_record(x, lay.collections["history"]) for x in case.history],
        "surgeries": [_record(x, lay.collections["surgeries"]) for x in case.surgeries],
        "visits": [_record(x, lay.collections["visits"]) for x in case.visits],
        "requests": [_record(r, lay.records["request"]) for r in case.requests],
    }
