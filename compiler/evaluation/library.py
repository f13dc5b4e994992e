"""A folder of guidelines + a case → for each request, the guideline that governs it and why."""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any, Iterable

from ...dsl.records import record, replace
from ..model import facts, ir
from ..model.cases import Case
from .evaluate import _UNSET, Ctx, Determination
from ...dsl.files import find_guidelines
from ..pipeline import Compiled, compile_file


class LibraryError(Exception):
    """A library that does not compile; the message holds every located diagnostic."""


@record(frozen=False, kw_only=False)
class Review:
    """One request's review: the chosen guideline (or none), why, and the determination.

    `determination` is what the guideline says. `decision` and `certified` are the review's
    result: the same, except for a request disputed after utilization review (the case gives
    `ur_decision`), which independent review upholds or overturns as submitted (see `settle`).
    """

    case: Case
    request: dict[str, Any]
    guideline: Compiled | None
    choice: str
    determination: Determination
    as_of: dt.date
    decision: str = ""
    certified: int | None = None
    note: str | None = None
    layers: tuple[str, ...] = ()  # the layer guidelines that also applied (a statutory cap)

    def __post_init__(self) -> None:
        self.decision, self.certified, self.note = settle(self.determination, self.request)


def settle(det: Determination, request: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """The decision on a disputed request: IMR upholds or overturns UR; it does not re-trim.

    A request UR non-certified is certified only if the guideline supports all of it. A request
    UR modified keeps the part UR certified; the disputed rest is certified only if the
    guideline supports the whole request.
    """
    ur = request.get("ur_decision")
    if ur is None or det.decision in {"certified", "not_applicable"}:
        return det.decision, det.certified, None
    if ur == "modified":
        done = request.get("ur_certified")
        return ("modified", done,
                f"Utilization review already certified {done if done is not None else 'part'} "
                "of this request; the guideline does not support the rest.")
    if det.decision == "modified":
        return ("non_certified", 0,
                f"The guideline supports {det.certified} of the {det.requested} requested; the "
                "review decides the request as submitted and cannot certify a part of it.")
    return det.decision, det.certified, None


def _applicable(guidelines: list[Compiled], case: Case, request: dict[str, Any],
                ctx: Ctx | None = None) -> list[tuple[Compiled, list[Any]]]:
    """The guidelines whose `applies when` holds for the request, each with its definitions'
    values as far as that condition computed them (its evaluation goes on from them).
    `ctx`: the request's, if made (its definitions' values are replaced)."""
    if ctx is None:
        ctx = Ctx(case, request)
    out = []
    for g in guidelines:
        ev = g.evaluator
        defs = ctx.defs = [_UNSET] * ev.n_defs  # definitions compute on first use
        if ev.applies(ctx) is True:
            out.append((g, defs))
    return out


def _treatments(e: ir.Expr | None) -> frozenset[str] | None:
    """The treatments a guideline can apply to, read from its `applies when`: a conjunct
    `request.treatment in {...}` bounds them (an undocumented or other treatment never makes
    the condition true). None when the condition does not bound them."""
    if not isinstance(e, ir.Op):
        return None
    if (e.op == "in" and isinstance(e.args[0], ir.Fact) and e.args[0].record == "request"
            and e.args[0].name == "treatment" and isinstance(e.args[1], ir.Const)
            and isinstance(e.args[1].value, frozenset)):
        return e.args[1].value
    if e.op == "and":
        bounds = [b for b in map(_treatments, e.args) if b is not None]
        return frozenset.intersection(*bounds) if bounds else None
    return None


def _certified(rv: Review) -> bool:
    return rv.decision in {"certified", "modified"}


def _with_surgeries(case: Case, surgeries: list[Review]) -> Case:
    """The case with the surgeries requested in it as `surgeries` entries whose status is
    their decision in this review (entries the case already gives keep their own status)."""
    given = {s.get("procedure") for s in case.surgeries}
    added = [{"procedure": p, "status": "certified" if _certified(rv) else "non_certified",
              "body_region": rv.request.get("body_region")}
             for rv in surgeries for p in sorted(rv.request.get(facts.LINKED_PROCEDURES) or ())
             if p not in given]
    added = [{k: v for k, v in s.items() if v is not None} for s in added]
    return replace(case, surgeries=list(case.surgeries) + added) if added else case


def _associated(request: dict[str, Any], surgeries: Iterable[Review]) -> dict[str, Any]:
    """`associated_procedure_certified` for an item whose surgery is requested in the same
    case, where the case does not say it."""
    proc = request.get("associated_procedure")
    if proc is None or request.get("associated_procedure_certified") is not None:
        return {}
    for rv in surgeries:
        if proc in (rv.request.get(facts.LINKED_PROCEDURES) or ()):
            return {"associated_procedure_certified": _certified(rv)}
    return {}


def _together_words(request: dict[str, Any], surgeries: Iterable[Review]) -> str:
    """For an item that belongs to a surgery (post-operative, or preparing for one)."""
    if not (request.get("postoperative") or request.get("associated_procedure")):
        return ""
    decided = [f"request {rv.request['id']} ({', '.join(sorted(rv.request.get(facts.LINKED_PROCEDURES) or ('surgery',)))}, "
               f"{rv.decision.replace('_', '-')})" for rv in surgeries]
    return "; decided together with the surgery in this review: " + "; ".join(decided)


_RANK = {"certified": 0, "modified": 1, "non_certified": 2}


def _beside(det: Determination, layer: Determination) -> tuple[Determination, str]:
    """The decision of a guideline with a layer that applies beside it (a statute's cap): the
    stricter of the two, the smaller quantity, and the reasons that bind. Also the words for
    the letter on whether the layer changed the decision."""
    if layer.decision not in _RANK or layer.decision == "certified":
        return det, " and does not limit this request"
    if layer.decision == "non_certified":
        if det.decision == "non_certified":  # the letter keeps the deciding guideline's reasons
            return det, " and would not allow this request either"
        out = Determination(det.guideline, det.case_id, det.request, "non_certified",
                            det.requested, 0, layer.reasons, det.trace)
        return out, " and does not allow this request"
    # The layer allows part of the request.
    if det.decision == "non_certified":
        return det, ""
    mine = det.certified if det.decision == "modified" else det.requested
    theirs = layer.certified
    if theirs is None or (mine is not None and mine < theirs):
        return det, " and does not limit this request further"
    if mine == theirs and det.decision == "modified":
        reasons = det.reasons + layer.reasons
    else:
        reasons = layer.reasons
    out = Determination(det.guideline, det.case_id, det.request, "modified", det.requested,
                        theirs, reasons, det.trace)
    return out, f" and limits this request to {theirs}"


def _tie_words(chosen: Compiled, others: list[Compiled]) -> str:
    """Why the chosen guideline won over the others that also apply, in words."""
    gi = chosen.ir
    assert gi is not None
    lower = [g.ir.id for g in others if g.ir and g.ir.precedence < gi.precedence]
    tied = [g.ir for g in others if g.ir and g.ir.precedence == gi.precedence]
    parts = []
    if lower:
        parts.append(f"chosen by precedence {gi.precedence} over {', '.join(lower)}")
    for t in tied:
        if (gi.effective_from or dt.date.min) > (t.effective_from or dt.date.min):
            parts.append(f"chosen over {t.id} (equal precedence {gi.precedence}) because it is "
                         f"in force from the later date ({gi.effective_from} against "
                         f"{t.effective_from or 'no start date'})")
        else:
            parts.append(f"chosen over {t.id} (equal precedence {gi.precedence}, in force from "
                         f"the same date) only by the alphabetical order of their ids: give "
                         f"one a higher precedence to decide")
    return "; ".join(parts)


class Library:
    def __init__(self, guidelines: list[Compiled]) -> None:
        self.guidelines = guidelines
        self._schema: facts.Schema | None = None
        # Which guidelines can apply to a treatment, so a request is tried only against them.
        self._bounds = [_treatments(g.ir.applies if g.ir else None) for g in guidelines]
        self._by_treatment: dict[Any, list[Compiled]] = {}
        self._choices: dict[Any, tuple[Compiled, str, str]] = {}
        self._in_force_memo: dict[Any, tuple[list[Compiled], list[Compiled], list[Compiled]]] = {}
        # The days on which some guideline comes into or goes out of force: between two of
        # them, the same guidelines are in force, so the memos above are kept per such span
        # (an epoch) rather than per day (a bulk run sees thousands of review dates).
        self._bounds_of_force = sorted({d for g in guidelines if g.ir is not None for d in (
            g.ir.effective_from,
            g.ir.effective_until + dt.timedelta(days=1) if g.ir.effective_until
            and g.ir.effective_until < dt.date.max else None) if d is not None})
        # The highest precedence of a deciding guideline: a lower one says why it decides.
        self._top = max((g.ir.precedence for g in guidelines if g.ir and not g.ir.layer),
                        default=0)

    def candidates(self, treatment: Any) -> list[Compiled]:
        """The guidelines that may apply to a request for this treatment, in library order."""
        found = self._by_treatment.get(treatment)
        if found is None:
            found = [g for g, b in zip(self.guidelines, self._bounds)
                     if b is None or treatment in b]
            if isinstance(treatment, str) or treatment is None:
                self._by_treatment[treatment] = found
        return found

    @property
    def schema(self) -> facts.Schema:
        """Every fact and term the library's guidelines may read: what a case is checked by."""
        if self._schema is None:
            self._schema = facts.merge(c.ir.schema for c in self.guidelines if c.ir is not None)
        return self._schema

    @classmethod
    def load(cls, paths: list[str]) -> "Library":
        files = find_guidelines(paths)
        if not files:
            raise LibraryError(f"no .gl guideline files found in {', '.join(paths)}")
        compiled = [compile_file(f) for f in files]
        broken = [c for c in compiled if not c.ok]
        if broken:
            raise LibraryError("\n".join(c.render_diagnostics() for c in broken))
        guidelines = [c for c in compiled if c.kind == "guideline"]
        if not guidelines:
            raise LibraryError(f"no guidelines in {', '.join(paths)} (only declarations)")
        return cls(guidelines)

    def _none_in_force(self, case: Case, request: dict[str, Any], day: dt.date,
                       whose: dict[str, str | None]) -> str:
        """Why no guideline decides: none addresses the request, or those that do are not in
        force on the date (the library does not hold the text in force then)."""
        treatment = request.get("treatment")
        out_of_force = [g for g in self.candidates(treatment) if g.ir is not None
                        and not g.ir.in_force(day) and g.ir.in_scope(whose)]
        other_dates = [f"{g.ir.id} ({g.ir.effective_from or 'the start'} to "  # type: ignore[union-attr]
                       f"{g.ir.effective_until or 'now'})"  # type: ignore[union-attr]
                       for g, _ in _applicable(out_of_force, case, request)]
        if other_dates:
            return (f"no guideline in force in the library for this date: {day} is outside "
                    f"the dates of {', '.join(other_dates)}, which address {treatment} "
                    "requests; the text in force on that date is not in the library")
        return f"no guideline in the library applies to a {treatment} request in force on {day}"

    @staticmethod
    def _choose(applicable: list[Compiled], request: dict[str, Any]) -> tuple[Compiled, str, str]:
        """The guideline that decides among those that apply, and why, in words: the words
        before and after the review date (which they name)."""
        # Highest precedence first; at equal precedence the one in force from the later date
        # (the newer text), then the guideline id, so the choice never depends on file order.
        applicable = sorted(applicable, key=lambda g: (
            -g.ir.precedence,  # type: ignore[union-attr]
            -(g.ir.effective_from or dt.date.min).toordinal(),  # type: ignore[union-attr]
            g.ir.id))  # type: ignore[union-attr]
        chosen = applicable[0]
        assert chosen.ir is not None
        gi = chosen.ir
        until = f" until {gi.effective_until}" if gi.effective_until else ""
        since = f" from {gi.effective_from}" if gi.effective_from else ""
        head = (f"applies to this {request.get('treatment')} request; version "
                f"{gi.version or 'unversioned'} is in force{since}{until}, which covers ")
        why = ""
        if gi.scope:
            why += "; scoped to " + " and ".join(f"{k} {v}" for k, v in gi.scope)
        if len(applicable) > 1:
            why += "; " + _tie_words(chosen, applicable[1:])
        return chosen, head, why

    def _in_force(self, treatment: Any, day: dt.date, epoch: int, jurisdiction: str | None,
                  payer: str | None
                  ) -> tuple[list[Compiled], list[Compiled], list[Compiled]]:
        """The guidelines in force for this treatment, day (in `epoch`) and case (memoized per
        epoch: a bulk run sees few distinct ones): all of them, those that may decide, and
        the layers."""
        key = (treatment, epoch, jurisdiction, payer)
        found = self._in_force_memo.get(key)
        if found is None:
            if len(self._in_force_memo) > 20_000:
                self._in_force_memo.clear()
            whose = {"jurisdiction": jurisdiction, "payer": payer}
            in_force = [g for g in self.candidates(treatment) if g.ir is not None
                        and g.ir.in_force(day) and g.ir.in_scope(whose)]
            found = self._in_force_memo[key] = (
                in_force, [g for g in in_force if not g.ir.layer],  # type: ignore[union-attr]
                [g for g in in_force if g.ir.layer])  # type: ignore[union-attr]
        return found

    def _tier_words(self, chosen: Compiled, in_force: list[Compiled],
                    applicable: list[Compiled], request: dict[str, Any]) -> str:
        """Why a lower tier decides (ODG where the MTUS is silent): the higher tiers in force
        that address the treatment but not this request, or that none addresses it."""
        gi = chosen.ir
        assert gi is not None
        if gi.precedence >= self._top:
            return ""
        higher = [g.ir.id for g in in_force if g.ir and not g.ir.layer
                  and g.ir.precedence > gi.precedence and g not in applicable]
        if higher:
            return (f"; the higher-precedence {', '.join(higher)} address "
                    f"{request.get('treatment')} requests but not this one")
        return (f"; no guideline of higher precedence in the library addresses "
                f"{request.get('treatment')} requests (the MTUS is silent), so this lower tier "
                f"(precedence {gi.precedence}) decides")

    def review(self, case: Case, as_of: dt.date | None = None) -> list[Review]:
        """Every request of the case, in its order. A surgery requested in the same case is
        decided first, and the items that depend on it are decided with its decision."""
        linked = [r for r in case.requests if r.get("treatment") == facts.LINKED_TREATMENT]
        if not linked or len(case.requests) == 1:
            return [self.review_request(case, r, as_of) for r in case.requests]
        first = {r["id"]: self.review_request(case, r, as_of) for r in linked}
        together = _with_surgeries(case, list(first.values()))
        out = []
        for r in case.requests:
            if r["id"] in first:
                out.append(first[r["id"]])
                continue
            rv = self.review_request(together, dict(r, **_associated(r, first.values())), as_of)
            rv.request = r
            words = _together_words(r, first.values())
            if words and rv.guideline is not None:
                rv.choice += words
            out.append(rv)
        return out

    def review_request(self, case: Case, request: dict[str, Any],
                       as_of: dt.date | None = None) -> Review:
        day = as_of or case.review_date
        if as_of is not None:
            case = replace(case, review_date=as_of)
        treatment = request.get("treatment")
        # Which span of dates with the same guidelines in force holds the day.
        epoch = bisect.bisect_right(self._bounds_of_force, day)
        in_force, deciders, layers = self._in_force(treatment, day, epoch, case.jurisdiction,
                                                    case.payer)
        ctx = Ctx(case, request)
        found_defs = _applicable(deciders, case, request, ctx)
        if not found_defs:
            det = Determination("", case.case_id, request["id"], "not_applicable",
                                request.get("visits"), None, [], [])
            why = self._none_in_force(case, request, day, {"jurisdiction": case.jurisdiction,
                                                           "payer": case.payer})
            return Review(case, request, None, why, det, day)
        # The choice depends on the guidelines that apply and those in force (the same for the
        # whole epoch of the review date), not on the day itself, which its words only name.
        key = (*[id(g) for g, _ in found_defs], treatment, epoch, case.jurisdiction, case.payer)
        found = self._choices.get(key)
        if found is None:
            if len(self._choices) > 20_000:  # keep the memo small, whatever the input
                self._choices.clear()
            applicable = [g for g, _ in found_defs]
            chosen, head, tail = self._choose(applicable, request)
            found = self._choices[key] = (chosen, head, tail + self._tier_words(
                chosen, in_force, applicable, request))
        chosen, head, tail = found
        why = f"{head}{day}{tail}"
        for g, defs in found_defs:
            if g is chosen:
                break
        det = chosen.evaluator.evaluate(case, request, defs)
        applied: list[str] = []
        for layer, defs in _applicable(layers, case, request, ctx) if layers else ():
            det, words = _beside(det, layer.evaluator.evaluate(case, request, defs))
            applied.append(layer.ir.id)  # type: ignore[union-attr]
            why += f"; {layer.ir.title} ({layer.ir.id}) applies beside it{words}"  # type: ignore[union-attr]
        return Review(case, request, chosen, why, det, day, layers=tuple(applied))
