"""Seeded random cases for a library: every declared fact, often undocumented, with the
terms, codes and numbers the library's guidelines test, and review dates on both sides of
each guideline's dates. For differential tests of the backends and for load runs
(`guidec cases generate`).

The cases are case-file dicts (the case contract), so they go through the same reading and
normalizing as any case file.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Iterator

from ..evaluation.library import Library, _treatments
from ..model import facts, ir
from ..model.graph import walk

_NUMBERS = (0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 14, 16, 18, 20, 24, 26, 30, 40, 60, 90, 120)
_SKIP_REQUEST = {"id", "visits", "per_week", "weeks", "ur_decision", "ur_certified",
                 "diagnoses", "levels", "quantity", "sessions", "days"}


class CaseGenerator:
    """What a library reads, gathered once; then `case(rng, n)` makes case n."""

    def __init__(self, library: Library) -> None:
        self.schema = library.schema
        gs = [c.ir for c in library.guidelines if c.ir is not None]
        treatments: set[str] = set()
        numbers: set[int] = set(_NUMBERS)
        codes: set[str] = set()
        days: set[dt.date] = set()
        for g in gs:
            bound = _treatments(g.applies)
            treatments |= bound or set()
            for d in (g.effective_from, g.effective_until):
                if d is not None:
                    days |= {d - dt.timedelta(days=1), d, d + dt.timedelta(days=1)}
            for vs in g.valuesets.values():
                for code in vs.codes:
                    codes.add(code[:-1].rstrip(".") + ".9" if code.endswith("*") else code)
                    if code.endswith("*"):
                        codes.add(code[:-1].rstrip("."))
            for e in _expressions(g):
                for node in walk(e):
                    if isinstance(node, ir.Const) and type(node.value) is int:
                        numbers |= {max(0, node.value - 1), node.value, node.value + 1}
            for r in g.rules:
                for q in (r.allow, r.extend):
                    if q is not None and q.amount is not None:
                        numbers |= {max(0, q.amount - 1), q.amount, q.amount + 1}
        self.treatments = sorted(treatments & self.schema.vocab.get("treatment", frozenset())) \
            or sorted(self.schema.vocab.get("treatment", ()))
        self.numbers = sorted(numbers)
        self.codes = sorted(codes) + ["Z99.89", "M54.5", "S13.4XXA"]
        self.edges = sorted(days)
        self.procedures = sorted(self.schema.vocab.get("procedure", ()))

    # ---- values
    def _value(self, t: facts.Type, rng: random.Random, today: dt.date) -> Any:
        k = t.kind
        if k == "bool":
            return rng.random() < 0.5
        if k in {"int", "duration"}:
            return rng.choice(self.numbers)
        if k in {"decimal", "percent"}:
            return rng.choice([0, 10, 25, 30, 49.5, 50, 60, 75, 80, 100])
        if k == "date":
            return (today - dt.timedelta(days=rng.choice([0, 1, 7, 13, 14, 15, 28, 30, 45, 60,
                                                          84, 90, 120, 180, 365, 366, 730,
                                                          rng.randrange(0, 1500)]))).isoformat()
        if k == "term":
            vocab = sorted(self.schema.vocab.get(t.category or "", ()))
            return rng.choice(vocab) if vocab else None
        if k == "terms":
            vocab = sorted(self.schema.vocab.get(t.category or "", ()))
            return rng.sample(vocab, min(len(vocab), rng.choice([0, 1, 1, 2, 3]))) if vocab \
                else None
        if k == "code":
            return rng.choice(self.codes)
        return None

    def _record(self, types: dict[str, facts.Type], rng: random.Random, today: dt.date,
                p: float, skip: set[str] = set()) -> dict[str, Any]:
        out = {}
        for name, t in sorted(types.items()):
            if name in skip or rng.random() > p:
                continue
            v = self._value(t, rng, today)
            if v is not None:
                out[name] = v
        return out

    def _review_date(self, rng: random.Random) -> dt.date:
        if self.edges and rng.random() < 0.15:
            return rng.choice(self.edges)
        return dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 12))

    def case(self, rng: random.Random, n: int) -> dict[str, Any]:
        s = self.schema
        today = self._review_date(rng)
        treatment = rng.choice(self.treatments)
        region_types = s.records.get("request", {})
        history = []
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            h = self._record(s.collections.get("history", {}), rng, today, 0.45)
            h["treatment"] = treatment if rng.random() < 0.6 else rng.choice(self.treatments)
            if rng.random() < 0.1:
                h["visit_dates"] = sorted(
                    (today - dt.timedelta(days=rng.randrange(0, 200))).isoformat()
                    for _ in range(rng.randrange(0, 6)))
                h.pop("visits", None)
            history.append(h)
        surgeries = []
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            e = self._record(s.collections.get("surgeries", {}), rng, today, 0.5)
            e["procedure"] = rng.choice(self.procedures) if self.procedures else "surgery"
            surgeries.append(e)
        requests = []
        for i in range(rng.choice([1, 1, 1, 2, 3])):
            t = treatment if i == 0 else rng.choice(self.treatments)
            if i > 0 and rng.random() < 0.3 and facts.LINKED_TREATMENT in self.treatments:
                t = facts.LINKED_TREATMENT
            r = self._record(region_types, rng, today, 0.4, _SKIP_REQUEST)
            r.update({"id": str(i + 1), "treatment": t})
            self._quantities(r, rng)
            if rng.random() < 0.2:
                r["diagnoses"] = rng.sample(self.codes, rng.choice([1, 2]))
            if rng.random() < 0.25:
                r["ur_decision"] = rng.choice(["certified", "modified", "non_certified"])
                if r["ur_decision"] == "modified" and rng.random() < 0.8:
                    r["ur_certified"] = rng.choice([1, 2, 3, 4, 6])
            requests.append(r)
        self._link(requests, rng)
        case: dict[str, Any] = {
            "case_id": f"gen-{n}", "review_date": today.isoformat(), "requests": requests,
            "findings": self._record(s.records.get("findings", {}), rng, today, 0.5),
            "patient": self._record(s.records.get("patient", {}), rng, today, 0.6),
            "injury": self._record(s.records.get("injury", {}), rng, today, 0.6),
            "diagnoses": rng.sample(self.codes, rng.choice([0, 1, 1, 2, 3])),
            "history": history, "surgeries": surgeries,
        }
        if rng.random() < 0.05:
            case["jurisdiction"] = rng.choice(["CA", "TX"])
        return case

    def _quantities(self, r: dict[str, Any], rng: random.Random) -> None:
        """Quantities as a provider writes them: visits, a frequency, a range, or none."""
        form = rng.random()
        if form < 0.45:
            r["visits"] = rng.choice(self.numbers[:14])
        elif form < 0.65:
            r["frequency"] = {"per_week": rng.choice([1, 2, 3, 4]),
                              "weeks": rng.choice([1, 2, 3, 4, 6, 8])}
        elif form < 0.72:
            low = rng.choice([2, 4, 6])
            r["visits"] = {"min": low, "max": low + rng.choice([2, 4, 6])}
        elif form < 0.8:
            r["visits"] = rng.choice(self.numbers[:14])
            r["frequency"] = {"per_week": rng.choice([2, 3]), "weeks": rng.choice([2, 4, 6])}
        if rng.random() < 0.3:
            r["quantity"] = rng.choice([10, 30, 60, 90, 120, 180])
        if rng.random() < 0.1:
            r["levels"] = rng.choice([1, 2, 3])

    def _link(self, requests: list[dict[str, Any]], rng: random.Random) -> None:
        """Items that belong to a surgery requested in the same case."""
        surgery = [r for r in requests if r["treatment"] == facts.LINKED_TREATMENT]
        if not surgery or not self.procedures:
            return
        for r in surgery:
            r.setdefault(facts.LINKED_PROCEDURES, rng.sample(self.procedures, 1))
        for r in requests:
            if r["treatment"] != facts.LINKED_TREATMENT and rng.random() < 0.6:
                procs = surgery[0].get(facts.LINKED_PROCEDURES) or self.procedures[:1]
                r["associated_procedure"] = rng.choice(list(procs) or self.procedures)
                r.pop("associated_procedure_certified", None)

    def cases(self, n: int, seed: int) -> Iterator[dict[str, Any]]:
        rng = random.Random(seed)
        for i in range(n):
            yield self.case(rng, i)


def _expressions(g: ir.Guideline) -> Iterator[ir.Expr]:
    if g.applies is not None:
        yield g.applies
    for d in g.definitions.values():
        yield d.expr
    for r in g.rules:
        for e in (r.when, r.must, r.extend_if, r.counting):
            if e is not None:
                yield e
        if r.allow is not None and r.allow.amount_expr is not None:
            yield r.allow.amount_expr
