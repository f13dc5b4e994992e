"""A folder of cases with real decisions + a library → agreement table and rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..dsl.records import record
from .model.cases import Case
from .evaluation.library import Library


@record(frozen=False, kw_only=False)
class Row:
    case_id: str
    request: str
    treatment: str
    expected: str
    expected_certified: int | None
    actual: str
    certified: int | None
    guideline: str
    file: str
    reasons: tuple[str, ...]  # guidec's reason texts
    ur_decision: str | None = None
    expected_reasons: tuple[str, ...] = ()

    @property
    def agree(self) -> bool:
        return self.expected == self.actual

    @property
    def quantity_agrees(self) -> bool | None:
        """None where the letter gives no quantity; else whether the quantities match."""
        if self.expected_certified is None or not self.agree:
            return None
        return self.expected_certified == self.certified

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "request": self.request, "treatment": self.treatment,
                "expected": self.expected, "expected_certified": self.expected_certified,
                "actual": self.actual, "certified": self.certified, "agree": self.agree,
                "quantity_agrees": self.quantity_agrees, "guideline": self.guideline,
                "file": self.file, "ur_decision": self.ur_decision,
                "expected_reasons": list(self.expected_reasons),
                "reasons": list(self.reasons)}


def case_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in {".yaml", ".yml", ".json"})


def rows_for(library: Library, case: Case, file: str) -> Iterator[Row]:
    expected = {str(e["request"]): e for e in case.expected}
    for review in library.review(case):
        exp = expected.get(review.request["id"])
        if exp is None:
            continue
        g = review.guideline
        yield Row(case.case_id, review.request["id"], review.request.get("treatment", ""),
                  exp["decision"],
                  exp.get("certified") if isinstance(exp.get("certified"), int) else None,
                  review.decision, review.certified,
                  g.ir.id if g is not None and g.ir is not None else "(none)", file,
                  tuple(r.text for r in review.determination.reasons),
                  review.request.get("ur_decision"), tuple(exp.get("reasons") or ()))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _tally(rows: list[Row]) -> dict[str, Any]:
    agree = sum(r.agree for r in rows)
    return {"requests": len(rows), "agree": agree, "agreement": _rate(agree, len(rows))}


def summary(rows: list[Row]) -> dict[str, Any]:
    """Agreement, and what it should be read against: the "uphold UR as decided" baseline,
    agreement by the reviewer's decision (overturned items apart), by treatment, and how many
    requests a guideline of the library decided at all."""
    agree = sum(r.agree for r in rows)
    qty = [r.quantity_agrees for r in rows if r.quantity_agrees is not None]
    with_ur = [r for r in rows if r.ur_decision is not None]
    baseline = sum(r.ur_decision == r.expected for r in with_ur)
    decided = [r for r in rows if r.guideline != "(none)"]
    overturned = [r for r in with_ur if r.ur_decision != r.expected]
    by_expected = {d: _tally([r for r in rows if r.expected == d])
                   for d in ("certified", "modified", "non_certified")}
    by_treatment = {t: _tally([r for r in rows if r.treatment == t])
                    for t in sorted({r.treatment for r in rows})}
    return {"requests": len(rows), "agree": agree, "agreement": _rate(agree, len(rows)),
            "quantity_checked": len(qty), "quantity_agree": sum(qty),
            "uphold_ur_baseline": {"requests": len(with_ur), "agree": baseline,
                                   "agreement": _rate(baseline, len(with_ur))},
            "overturned": _tally(overturned),
            "decided_by_a_guideline": {**_tally(decided),
                                       "share": _rate(len(decided), len(rows))},
            "by_expected": by_expected, "by_treatment": by_treatment}
