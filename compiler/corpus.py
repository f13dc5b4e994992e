"""A folder of cases with real decisions + a library → agreement table and rate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .cases import Case, load
from .library import Library, Review


@dataclass(slots=True)
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
    review: Review

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
                "file": self.file,
                "reasons": [r.text for r in self.review.determination.reasons]}


def case_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in {".yaml", ".yml", ".json"})


def iter_rows(library: Library, files: list[Path]) -> Iterator[Row]:
    for f in files:
        for case in load(f, library.schema):
            yield from rows_for(library, case, str(f))


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
                  g.ir.id if g is not None and g.ir is not None else "(none)", file, review)


def summary(rows: list[Row]) -> dict[str, Any]:
    agree = sum(r.agree for r in rows)
    qty = [r.quantity_agrees for r in rows if r.quantity_agrees is not None]
    return {"requests": len(rows), "agree": agree,
            "agreement": round(agree / len(rows), 4) if rows else None,
            "quantity_checked": len(qty), "quantity_agree": sum(qty)}
