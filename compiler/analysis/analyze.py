"""Decision graph → static findings proved with an SMT solver (z3), each with a witness case.

The guideline's typed conditions are encoded for z3 in three-valued logic: a yes/no fact is
a pair (true?, false?) that are never both set, so "undocumented" is neither; numbers, dates,
terms and codes carry a "documented" flag beside their value. Each list in the case
(history, surgeries, diagnoses) is modelled with up to `entries` symbolic entries, so a
finding of impossibility is proved for cases with that many entries per list; a witness is a
real case. Dates are days; a month counts as 30 days and a year as 365 in the analysis.
Every solver call has a time limit; a check that runs out says so instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import re
from typing import Any, Iterable

import z3

from ...dsl.diagnostics import Diagnostic, Span
from ...dsl.records import field, record
from ..model import facts, ir
from ..pipeline import Compiled
from .kept import kept as _kept, suppressed  # noqa: F401 - suppressed: re-exported

EPOCH = dt.date(1970, 1, 1)
DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


@record(kw_only=False)
class Options:
    entries: int = 2  # symbolic entries per list in the case
    timeout_ms: int = 2000  # per solver call
    budget_ms: int = 30000  # the whole analysis of one file (encoding and every solver call)


class OutOfBudget(Exception):
    """The analysis of one file used up its budget; the findings so far stand."""


class Budget:
    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.deadline = time.monotonic() + ms / 1000

    def left_ms(self) -> int:
        left = int((self.deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise OutOfBudget()
        return left


class Val:
    """A three-valued value: `t`/`f` for yes/no, `d`/`v` (documented, value) otherwise."""

    __slots__ = ("t", "f", "d", "v")

    def __init__(self, t: Any = None, f: Any = None, d: Any = None, v: Any = None) -> None:
        self.t, self.f, self.d, self.v = t, f, d, v

    @property
    def documented(self) -> Any:
        return self.d if self.t is None else z3.Or(self.t, self.f)


def _days(day: dt.date) -> int:
    return (day - EPOCH).days


class Encoder:
    """One shared vocabulary of z3 variables for a set of guidelines (so they can be compared)."""

    def __init__(self, guidelines: list[ir.Guideline], options: Options) -> None:
        self.options = options
        self.constraints: list[Any] = []
        self.vars: dict[str, Val] = {}
        self.soft: list[Any] = []  # "leave undocumented / absent" preferences for small witnesses
        patterns = sorted({c for g in guidelines for vs in g.valuesets.values() for c in vs.codes})
        self.code_classes = patterns + ["(other)"]
        self.schema = guidelines[0].schema if len(guidelines) == 1 else facts.merge(
            g.schema for g in guidelines)
        self.vocab = {cat: sorted(words) for cat, words in self.schema.vocab.items()}
        self.review_date = z3.Int("review_date")
        self.defs: dict[tuple[str, str], Val] = {}
        self.used_review_date = False
        self.budget: Budget | None = None

    # ---------------------------------------------------------------- variables
    def _new(self, name: str, t: facts.Type) -> Val:
        if name in self.vars:
            return self.vars[name]
        if t.kind == "bool":
            val = Val(t=z3.Bool(name + "?yes"), f=z3.Bool(name + "?no"))
            self.constraints.append(z3.Not(z3.And(val.t, val.f)))
            self.soft.append(z3.Not(z3.Or(val.t, val.f)))
        else:
            real = t.kind in {"decimal", "percent"}
            val = Val(d=z3.Bool(name + "?documented"), v=z3.Real(name) if real else z3.Int(name))
            self.soft.append(z3.Not(val.d))
            if t.kind in {"term", "terms"}:
                words = self.vocab.get(t.category or "", [])
                self.constraints.append(z3.And(val.v >= 0, val.v < max(1, len(words))))
            elif t.kind == "code":
                self.constraints.append(z3.And(val.v >= 0, val.v < len(self.code_classes)))
            elif t.kind in {"int", "decimal", "percent"}:
                self.constraints.append(val.v >= 0)
        self.vars[name] = val
        return val

    def fact(self, e: ir.Fact) -> Val:
        if e.record == "":
            self.used_review_date = True
            return Val(d=z3.BoolVal(True), v=self.review_date)
        val = self._new(f"{e.record}.{e.name}", e.type)
        if e.name in facts.REQUIRED_FIELDS.get(e.record, ()):
            self.constraints.append(val.documented)
        return val

    def exists(self, coll: str, i: int) -> Any:
        name = f"{coll}[{i}]"
        if name not in self.vars:
            var = z3.Bool(name + "?exists")
            self.vars[name] = Val(t=var)
            self.soft.append(z3.Not(var))
            if i > 0:  # entries fill from the front: no gaps, fewer symmetric models
                self.constraints.append(z3.Implies(var, self.exists(coll, i - 1)))
        return self.vars[name].t

    def entry_field(self, coll: str, i: int, name: str) -> Val:
        key = f"{coll}[{i}].{name}"
        fresh = key not in self.vars
        val = self._new(key, self.schema.collections[coll][name])
        if fresh and name in facts.REQUIRED_FIELDS.get(coll, ()):
            self.constraints.append(z3.Implies(self.exists(coll, i), val.documented))
        return val

    def term_index(self, category: str | None, word: str) -> int | None:
        words = self.vocab.get(category or "", [])
        return words.index(word) if word in words else None

    def classes_in(self, vs: ir.ValueSet) -> list[int]:
        return [i for i, cls in enumerate(self.code_classes[:-1])
                if any(_pattern_covers(p, cls) for p in vs.codes)]


def _pattern_covers(pattern: str, cls: str) -> bool:
    """Does value-set pattern `pattern` match every code of class `cls` (itself a pattern)?"""
    if pattern.endswith("*"):
        prefix = pattern[:-1].rstrip(".")
        return cls.rstrip("*").rstrip(".").startswith(prefix)
    return pattern == cls


def patterns_overlap(a: str, b: str) -> bool:
    return _pattern_covers(a, b) or _pattern_covers(b, a)


# ---------------------------------------------------------------- expressions
class ExprEncoder:
    """IR expressions of one guideline → three-valued z3 terms."""

    def __init__(self, enc: Encoder, g: ir.Guideline) -> None:
        self.enc, self.g = enc, g
        self.scope: list[tuple[str, int]] = []  # the entries filters are looking at
        self.fresh = itertools.count()
        self.steps = 0

    def bool_(self, e: ir.Expr | None) -> Val:
        if e is None:
            return Val(t=z3.BoolVal(True), f=z3.BoolVal(False))
        return self.expr(e)

    def expr(self, e: ir.Expr) -> Val:
        self.steps += 1
        if self.steps % 256 == 0 and self.enc.budget is not None:
            self.enc.budget.left_ms()  # raises OutOfBudget when the file's time is up
        return getattr(self, "_" + type(e).__name__)(e)  # type: ignore[no-any-return]

    def _Const(self, e: ir.Const) -> Val:
        v = e.value
        if isinstance(v, bool):
            return Val(t=z3.BoolVal(v), f=z3.BoolVal(not v))
        if isinstance(v, int):
            return Val(d=z3.BoolVal(True), v=z3.IntVal(v))
        if isinstance(v, float):
            return Val(d=z3.BoolVal(True), v=z3.RealVal(str(v)))
        if isinstance(v, dt.date):
            return Val(d=z3.BoolVal(True), v=z3.IntVal(_days(v)))
        if isinstance(v, tuple):
            return Val(d=z3.BoolVal(True), v=z3.IntVal(v[0] * DAYS[v[1]]))
        return Val(d=z3.BoolVal(True), v=v)  # a set of terms: resolved by `in`

    def _Fact(self, e: ir.Fact) -> Val:
        return self.enc.fact(e)

    def _EntryField(self, e: ir.EntryField) -> Val:
        coll, i = self.scope[-1]
        return self.enc.entry_field(coll, i, e.name)

    def _DefRef(self, e: ir.DefRef) -> Val:
        # A definition reads the case as a whole (never the entry a filter is looking at), so
        # its term is built once and shared by every use: `d1 = d0 + d0` stays linear.
        key = (self.g.id, e.name)
        if key in self.enc.defs:
            return self.enc.defs[key]
        val = self.expr(self.g.definitions[e.name].expr)
        self.enc.defs[key] = val
        return val

    def _ValueSetRef(self, e: ir.ValueSetRef) -> Val:
        return Val(d=z3.BoolVal(True), v=self.g.valuesets[e.name])

    def _Op(self, e: ir.Op) -> Val:
        op = e.op
        if op == "request_diagnosis_in":  # over-approximated by the case's diagnoses
            code = ir.EntryField(type=facts.CODE, name="code", span=e.span)
            filt = ir.Op(type=facts.BOOL, op="in", args=(code, e.args[0]), span=e.span)
            return self.expr(ir.Aggregate(type=facts.BOOL, kind="any", collection="diagnoses",
                                          field=None, filter=filt, span=e.span))
        if op in {"and", "or"}:
            a, b = self.expr(e.args[0]), self.expr(e.args[1])
            if op == "and":
                return Val(t=z3.And(a.t, b.t), f=z3.Or(a.f, b.f))
            return Val(t=z3.Or(a.t, b.t), f=z3.And(a.f, b.f))
        if op == "not":
            a = self.expr(e.args[0])
            return Val(t=a.f, f=a.t)
        if op in {"documented", "not_documented"}:
            d = self.expr(e.args[0]).documented
            return Val(t=d, f=z3.Not(d)) if op == "documented" else Val(t=z3.Not(d), f=d)
        if op in {"in", "not in"}:
            return self._member(e)
        if op == "within_after":
            dur, anchor = self.expr(e.args[0]), self.expr(e.args[1])
            self.enc.used_review_date = True
            now = self.enc.review_date
            holds = z3.And(anchor.v <= now, now <= anchor.v + dur.v)
            return Val(t=z3.And(anchor.d, holds), f=z3.And(anchor.d, z3.Not(holds)))
        if op == "in_last":
            subject, dur = self.expr(e.args[0]), self.expr(e.args[1])
            self.enc.used_review_date = True
            now = self.enc.review_date
            holds = z3.And(now - dur.v <= subject.v, subject.v <= now)
            return Val(t=z3.And(subject.d, holds), f=z3.And(subject.d, z3.Not(holds)))
        if op == "first":
            vals = [self.expr(a) for a in e.args]
            return _first(vals)
        if op == "if":
            c, a, b = (self.expr(x) for x in e.args)
            if a.t is not None:
                return Val(t=z3.Or(z3.And(c.t, a.t), z3.And(c.f, b.t)),
                           f=z3.Or(z3.And(c.t, a.f), z3.And(c.f, b.f)))
            return Val(d=z3.Or(z3.And(c.t, a.d), z3.And(c.f, b.d)), v=z3.If(c.t, a.v, b.v))
        if op == "same_year":  # over-approximated: within a year of each other
            a, b = (self.expr(x) for x in e.args)
            holds = z3.And(a.v - b.v <= 365, b.v - a.v <= 365)
            both = z3.And(a.d, b.d)
            return Val(t=z3.And(both, holds), f=z3.And(both, z3.Not(holds)))
        if op == "days_between":
            a, b = (self.expr(x) for x in e.args)
            return Val(d=z3.And(a.d, b.d), v=b.v - a.v)
        if op in {"min", "max"}:
            vals = [self.expr(a) for a in e.args]
            best = vals[0].v
            for x in vals[1:]:
                best = z3.If(x.v < best, x.v, best) if op == "min" else z3.If(x.v > best, x.v, best)
            return Val(d=z3.And(*[x.d for x in vals]), v=best)
        if op == "neg":
            a = self.expr(e.args[0])
            return Val(d=a.d, v=-a.v)
        a, b = self.expr(e.args[0]), self.expr(e.args[1])
        if a.t is not None:  # yes/no equality
            same = z3.Or(z3.And(a.t, b.t), z3.And(a.f, b.f))
            both = z3.And(a.documented, b.documented)
            eq = Val(t=z3.And(both, same), f=z3.And(both, z3.Not(same)))
            return eq if op == "==" else Val(t=eq.f, f=eq.t)
        both = z3.And(a.d, b.d)
        cmp = {"==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
               "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}
        if op in cmp:
            holds = cmp[op](a.v, b.v)
            return Val(t=z3.And(both, holds), f=z3.And(both, z3.Not(holds)))
        arith = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
                 "date+": lambda x, y: x + y, "date-": lambda x, y: x - y}
        return Val(d=both, v=arith[op](a.v, b.v))

    def _member(self, e: ir.Op) -> Val:
        left = self.expr(e.args[0])
        right = e.args[1]
        if e.args[0].type.kind == "code":
            vs = self.g.valuesets[right.name]  # type: ignore[attr-defined]
            options = self.enc.classes_in(vs)
        else:
            words: Iterable[str] = (
                right.value if isinstance(right, ir.Const)  # type: ignore[assignment]
                else self.g.valuesets[right.name].terms)  # type: ignore[attr-defined]
            cat = e.args[0].type.category
            options = [i for w in words if (i := self.enc.term_index(cat, w)) is not None]
        # In one order whatever the order of the set (string hashing changes it from process
        # to process): the solver's search, and so the witness it finds, follows this order.
        options = sorted(options)
        hit = z3.Or(*[left.v == i for i in options]) if options else z3.BoolVal(False)
        if e.op == "not in":
            hit = z3.Not(hit)
        return Val(t=z3.And(left.d, hit), f=z3.And(left.d, z3.Not(hit)))

    def _Aggregate(self, e: ir.Aggregate) -> Val:
        coll, k = e.collection, self.enc.options.entries
        picked, fields, unsure = [], [], []
        for i in range(k):
            self.scope.append((coll, i))
            sel = self.enc.exists(coll, i)
            if e.filter is not None:
                f = self.expr(e.filter)
                unsure.append(z3.And(sel, z3.Not(f.t), z3.Not(f.f)))
                sel = z3.And(sel, f.t)
            fields.append(self.enc.entry_field(coll, i, e.field) if e.field else None)
            self.scope.pop()
            picked.append(sel)
        # As in evaluation: an entry whose filter is undocumented makes a count or sum so.
        known = z3.Not(z3.Or(*unsure)) if unsure else z3.BoolVal(True)
        if e.kind == "count":
            return Val(d=known, v=z3.Sum([z3.If(s, 1, 0) for s in picked]))
        if e.kind == "sum":
            return Val(d=known, v=z3.Sum([
                z3.If(z3.And(s, f.d), f.v, 0) for s, f in zip(picked, fields)]))  # type: ignore[union-attr]
        if e.kind == "any" and e.field is None:
            none = z3.And(*[z3.Not(z3.And(self.enc.exists(coll, i), self._filter_maybe(e, i)))
                            for i in range(k)])
            return Val(t=z3.Or(*picked), f=none)
        if e.kind in {"any", "all"}:
            ts = [z3.And(s, f.t) for s, f in zip(picked, fields)]  # type: ignore[union-attr]
            fs = [z3.And(s, f.f) for s, f in zip(picked, fields)]  # type: ignore[union-attr]
            unknown = z3.Or(*[z3.And(s, z3.Not(f.documented)) for s, f in zip(picked, fields)])  # type: ignore[union-attr]
            if e.kind == "any":
                t = z3.Or(*ts)
                return Val(t=t, f=z3.And(z3.Not(t), z3.Not(unknown)))
            f = z3.Or(*fs)
            return Val(t=z3.And(z3.Not(f), z3.Not(unknown)), f=f)
        # latest / earliest
        v = z3.Int(f"{e.kind}#{next(self.fresh)}")
        docs = [z3.And(s, f.d) for s, f in zip(picked, fields)]  # type: ignore[union-attr]
        def better(a: Any, b: Any) -> Any:
            return a >= b if e.kind == "latest" else a <= b
        self.enc.constraints.extend(z3.Implies(d, better(v, f.v)) for d, f in zip(docs, fields))  # type: ignore[union-attr]
        self.enc.constraints.append(z3.Implies(z3.Or(*docs), z3.Or(*[
            z3.And(d, v == f.v) for d, f in zip(docs, fields)])))  # type: ignore[union-attr]
        return Val(d=z3.Or(*docs), v=v)

    def _filter_maybe(self, e: ir.Aggregate, i: int) -> Any:
        """The entry could match: its filter is true or undocumented (not known false)."""
        if e.filter is None:
            return z3.BoolVal(True)
        self.scope.append((e.collection, i))
        f = self.expr(e.filter)
        self.scope.pop()
        return z3.Not(f.f)


def _first(vals: list[Val]) -> Val:
    if vals[0].t is not None:
        t, f = vals[-1].t, vals[-1].f
        for x in reversed(vals[:-1]):
            t = z3.Or(x.t, z3.And(z3.Not(x.documented), t))
            f = z3.Or(x.f, z3.And(z3.Not(x.documented), f))
        return Val(t=t, f=f)
    d, v = vals[-1].d, vals[-1].v
    for x in reversed(vals[:-1]):
        d, v = z3.Or(x.d, d), z3.If(x.d, x.v, v)
    return Val(d=d, v=v)


# ---------------------------------------------------------------- checks
@record(frozen=False, kw_only=False, slots=False)
class _Model:
    """One guideline encoded: applicability and, per rule, whether it takes effect."""

    g: ir.Guideline
    applies: Any
    in_force: Any
    guard: dict[str, Any] = field(default_factory=dict)
    active: dict[str, Any] = field(default_factory=dict)


def _encode(enc: Encoder, g: ir.Guideline) -> _Model:
    ex = ExprEncoder(enc, g)
    applies = ex.bool_(g.applies).t if g.applies is not None else z3.BoolVal(False)
    lo = _days(g.effective_from) if g.effective_from else None
    hi = _days(g.effective_until) if g.effective_until else None
    in_force = z3.And(*(([enc.review_date >= lo] if lo is not None else [])
                        + ([enc.review_date <= hi] if hi is not None else [])))
    enc.used_review_date = enc.used_review_date or lo is not None or hi is not None
    m = _Model(g, applies, in_force)
    for r in g.rules:
        m.guard[r.name] = ex.bool_(r.when).t
    for r in g.rules:
        overriders = [o.name for o in g.rules if r.name in o.overrides]
        m.active[r.name] = z3.And(m.guard[r.name], *[z3.Not(m.guard[o]) for o in overriders])
    return m


class Analyzer:
    def __init__(self, options: Options = Options()) -> None:
        self.options = options

    def _solve(self, enc: Encoder, goal: Any, witness: bool = True) -> tuple[str, Any]:
        """sat / unsat / unknown, and a small model when sat."""
        opt = z3.Optimize()
        limit = self.options.timeout_ms
        if enc.budget is not None:
            limit = min(limit, enc.budget.left_ms())
        opt.set("timeout", limit)
        opt.add(*enc.constraints)
        opt.add(goal)
        if witness:
            for s in enc.soft:
                opt.add_soft(s)
        result = opt.check()
        if result == z3.sat:
            return "sat", opt.model()
        return ("unsat" if result == z3.unsat else "unknown"), None

    def check(self, compiled: Compiled) -> list[Diagnostic]:
        g = compiled.ir
        assert g is not None and compiled.ok
        out: list[Diagnostic] = list(valueset_overlaps(g))
        enc = Encoder([g], self.options)
        enc.budget = Budget(self.options.budget_ms)
        try:
            m = _encode(enc, g)
            base = z3.And(m.applies, m.in_force)
            by_name = {r.name: r for r in g.rules}
            for r in g.rules:
                out.extend(self._never_applies(enc, m, base, r, by_name))
            out.extend(self._conflicts(enc, m, base, g))
            out.extend(self._redundant(enc, m, base, g))
            out.extend(self._gap(enc, m, base, g))
        except OutOfBudget:
            out.append(Diagnostic(
                "N001", "note", f"the analysis of this guideline stopped at its budget of "
                f"{self.options.budget_ms / 1000:g} s; the checks it did not reach are not "
                "reported", g.span, "simplify the definitions and conditions, or raise "
                "--analysis-budget"))
        return out

    def _gave_up(self, what: str, span: Span) -> Diagnostic:
        return Diagnostic("N001", "note", f"the check for {what} gave up after "
                          f"{self.options.timeout_ms / 1000:g} s", span,
                          "simplify the conditions, or raise --analysis-timeout")

    def _never_applies(self, enc: Encoder, m: _Model, base: Any, r: ir.Rule,
                       by_name: dict[str, ir.Rule]) -> list[Diagnostic]:
        status, _ = self._solve(enc, z3.And(base, m.active[r.name]), witness=False)
        if status == "sat":
            return []
        if status == "unknown":
            return [self._gave_up(f"whether {r.name} can apply", r.span)]
        overriders = [o for o in m.g.rules if r.name in o.overrides]
        alone, _ = self._solve(enc, z3.And(base, m.guard[r.name]), witness=False)
        if overriders and alone == "sat":
            names = ", ".join(f"'{o.name}'" for o in overriders)
            return [Diagnostic(
                "W402", "warning", f"{r.kind} '{r.name}' never takes effect: {names} "
                f"override{'s' if len(overriders) == 1 else ''} it whenever it applies",
                r.span, "narrow the exception's `when`, or remove the rule it shadows",
                notes=tuple((f"'{o.name}' overrides it here", o.span) for o in overriders))]
        return [Diagnostic(
            "W401", "warning", f"{r.kind} '{r.name}' can never apply: its `when` contradicts "
            "the guideline's applicability or itself", r.span,
            f"proved for cases with up to {self.options.entries} entries in each list",
            notes=(("the guideline applies when ...", m.g.span),))]

    def _conflicts(self, enc: Encoder, m: _Model, base: Any, g: ir.Guideline) -> list[Diagnostic]:
        limits = [r for r in g.rules if r.kind in {"limit", "trial"} and r.allow
                  and r.allow.amount is not None]
        out = []
        for a, b in itertools.combinations(limits, 2):
            if a.allow.amount == b.allow.amount or a.name in b.overrides or b.name in a.overrides:  # type: ignore[union-attr]
                continue
            status, model = self._solve(enc, z3.And(base, m.active[a.name], m.active[b.name]))
            if status == "unknown":
                out.append(self._gave_up(f"conflicts between {a.name} and {b.name}", b.span))
            elif status == "sat":
                out.append(Diagnostic(
                    "W410", "warning", f"conflicting limits: '{a.name}' ({a.allow}) and "
                    f"'{b.name}' ({b.allow}) both apply to the same facts", b.span,
                    f"say which governs with `overrides {a.name}` (or the reverse), or make "
                    "their `when` exclusive",
                    notes=((f"'{a.name}' [{a.citation}]", a.span),
                           (f"'{b.name}' [{b.citation}]", b.span)),
                    witness=witness(enc, model)))
        return out

    def _redundant(self, enc: Encoder, m: _Model, base: Any, g: ir.Guideline) -> list[Diagnostic]:
        out = []
        for a, b in itertools.permutations(g.rules, 2):
            if a.kind != b.kind or a.kind not in {"require", "limit"}:
                continue
            same = (a.must == b.must) if a.kind == "require" else (
                a.allow == b.allow and a.counting == b.counting)
            if not same:
                continue
            status, _ = self._solve(enc, z3.And(base, m.active[a.name],
                                                z3.Not(m.active[b.name])), witness=False)
            if status == "unsat" and (g.rules.index(a) > g.rules.index(b) or z3.is_true(
                    z3.simplify(m.active[a.name] == m.active[b.name]))):
                out.append(Diagnostic(
                    "W403", "warning", f"{a.kind} '{a.name}' adds nothing: '{b.name}' makes the "
                    "same check whenever it applies", a.span, f"remove '{a.name}'",
                    notes=((f"'{b.name}' is here", b.span),)))
        return out

    def _gap(self, enc: Encoder, m: _Model, base: Any, g: ir.Guideline) -> list[Diagnostic]:
        if not g.rules or g.layer:  # a layer that no rule limits leaves the decision as it is
            return []
        none = z3.And(base, *[z3.Not(m.active[r.name]) for r in g.rules])
        status, model = self._solve(enc, none)
        if status == "unknown":
            return [self._gave_up("gaps", g.span)]
        if status == "unsat":
            return []
        return [Diagnostic(
            "W420", "warning", "gap: for some requests the guideline applies to, no rule applies, "
            "so they would be certified with nothing checked", g.span,
            "add a rule (or a limit without `when`) that covers these facts, or narrow "
            "`applies when`", witness=witness(enc, model))]

    def check_library(self, compiled: list[Compiled]) -> list[Diagnostic]:
        """Guidelines whose applicability overlaps, in force together, at equal precedence."""
        gs = [c.ir for c in compiled if c.ok and c.ir is not None]
        enc = Encoder(gs, self.options)
        models = {g.id: _encode(enc, g) for g in gs}
        out = []
        for a, b in itertools.combinations(gs, 2):
            if a.precedence != b.precedence or a.layer or b.layer:  # layers apply beside others
                continue
            sa, sb = dict(a.scope), dict(b.scope)
            if any(k in sb and sb[k] != v for k, v in sa.items()):
                continue  # scoped to different payers or jurisdictions: never both apply
            ma, mb = models[a.id], models[b.id]
            status, model = self._solve(enc, z3.And(ma.applies, ma.in_force, mb.applies,
                                                    mb.in_force))
            if status == "sat":
                out.append(Diagnostic(
                    "W440", "warning", f"guidelines '{a.id}' and '{b.id}' both apply to the same "
                    f"request at the same precedence ({a.precedence})", b.span,
                    "declare `precedence` so that one governs, or make `applies when` exclusive",
                    notes=((f"'{a.id}' applies when ...", a.span),),
                    witness=witness(enc, model)))
            elif status == "unknown":
                out.append(self._gave_up(f"overlap of {a.id} and {b.id}", b.span))
        return out


def valueset_overlaps(g: ir.Guideline) -> list[Diagnostic]:
    """Value sets whose ICD-10 patterns overlap, within one set or between two sets."""
    out = []
    sets = [vs for vs in g.valuesets.values() if vs.codes]
    for vs in sets:
        for a, b in itertools.combinations(vs.codes, 2):
            if patterns_overlap(a, b):
                out.append(Diagnostic("W431", "warning", f"value set '{vs.name}' lists "
                                      f"overlapping codes {a} and {b}", vs.span,
                                      "keep the broader pattern only",
                                      witness={"diagnoses": [_example_code(a, b)]}))
    for x, y in itertools.combinations(sets, 2):
        pairs = [(a, b) for a in x.codes for b in y.codes if patterns_overlap(a, b)]
        if pairs:
            a, b = pairs[0]
            out.append(Diagnostic("W430", "warning", f"value sets '{x.name}' and '{y.name}' "
                                  f"overlap ({a} and {b})", y.span,
                                  "a code in both sets makes both groups' rules apply; "
                                  "split the codes, or say which rule governs with `overrides`",
                                  notes=((f"'{x.name}' is here", x.span),),
                                  witness={"diagnoses": [_example_code(a, b)]}))
    return out


def _example_code(a: str, b: str) -> str:
    """A code matched by both patterns: the more specific one, with its star dropped."""
    narrow = a if len(a.rstrip("*")) >= len(b.rstrip("*")) else b
    return narrow.rstrip("*").rstrip(".")


# ---------------------------------------------------------------- witnesses
def witness(enc: Encoder, model: Any) -> dict[str, Any]:
    """The model as the smallest case facts, in the shape of a case file."""
    case: dict[str, Any] = {}
    if enc.used_review_date:
        case["review_date"] = _show_date(model.eval(enc.review_date, model_completion=True))
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    for name, val in sorted(enc.vars.items()):
        m = re.fullmatch(r"(\w+)\[(\d+)\]\.(\w+)", name)
        if m:
            coll, i, fld = m.group(1), int(m.group(2)), m.group(3)
            if z3.is_true(model.eval(enc.exists(coll, i), model_completion=True)):
                shown = _show(enc, model, val, enc.schema.collections[coll][fld])
                if shown is not _MISSING:
                    entries.setdefault((coll, i), {})[fld] = shown
            continue
        if "[" in name or "." not in name:
            if re.fullmatch(r"\w+\[\d+\]", name) and z3.is_true(
                    model.eval(val.t, model_completion=True)):
                coll, index = name[:-1].split("[")
                entries.setdefault((coll, int(index)), {})
            continue
        record, fld = name.split(".", 1)
        shown = _show(enc, model, val, enc.schema.records[record][fld])
        if shown is not _MISSING:
            target = case.setdefault("requests", [{"id": "1"}])[0] if record == "request" \
                else case.setdefault(record, {})
            target[fld] = shown
    for (coll, _i), fields in sorted(entries.items()):
        if coll == "diagnoses":
            case.setdefault("diagnoses", []).append(fields.get("code", "(any code)"))
        else:
            case.setdefault(coll, []).append(fields)
    return case


_MISSING = object()


def _show(enc: Encoder, model: Any, val: Val, t: facts.Type) -> Any:
    if val.t is not None:
        if z3.is_true(model.eval(val.t, model_completion=True)):
            return True
        if z3.is_true(model.eval(val.f, model_completion=True)):
            return False
        return _MISSING
    if not z3.is_true(model.eval(val.d, model_completion=True)):
        return _MISSING
    number = model.eval(val.v, model_completion=True)
    if t.kind in {"decimal", "percent"}:
        return float(number.as_fraction()) if hasattr(number, "as_fraction") else str(number)
    n = number.as_long()
    if t.kind in {"term", "terms"}:
        words = enc.vocab.get(t.category or "", [])
        return words[n] if 0 <= n < len(words) else n
    if t.kind == "code":
        cls = enc.code_classes[n] if 0 <= n < len(enc.code_classes) else "(other)"
        return cls.rstrip("*").rstrip(".") if cls != "(other)" else "Z99.89"
    if t.kind == "date":
        return _show_date(model.eval(val.v, model_completion=True))
    return n


def _show_date(value: Any) -> str:
    return (EPOCH + dt.timedelta(days=value.as_long())).isoformat()


def _fresh_context() -> None:
    """Each analysis in a solver context of its own: z3's answers (which witness it finds)
    depend on every term the context has seen, so an analysis that shared the context with
    whatever ran before it could show another witness depending on which other files were
    analysed first in the process, or came from guidec's cache instead."""
    z3.z3._main_ctx = None  # main_ctx() makes a new one on next use


def file_findings(c: Compiled, options: Options = Options()) -> list[Diagnostic]:
    """Findings for one compiled guideline, before the comments that acknowledge some."""
    if not (c.ok and c.kind == "guideline"):
        return []
    _fresh_context()
    return Analyzer(options).check(c)


def analyze_file(c: Compiled, options: Options = Options()) -> tuple[list[Diagnostic], int]:
    """Findings for one compiled guideline; and how many a comment suppressed."""
    return _kept([(d, c.source) for d in file_findings(c, options)])


def analyze_library(compiled: Iterable[Compiled], options: Options = Options()
                    ) -> tuple[list[Diagnostic], int]:
    """Findings across the compiled guidelines (overlaps); and how many a comment suppressed."""
    items = [c for c in compiled if c.ok and c.kind == "guideline"]
    sources = {c.path: c.source for c in items}
    return _kept([(d, sources.get(d.span.file, "")) for d in library_findings(items, options)])


def library_findings(compiled: Iterable[Compiled], options: Options = Options()
                     ) -> list[Diagnostic]:
    """Findings across the compiled guidelines (overlaps), acknowledged or not."""
    items = [c for c in compiled if c.ok and c.kind == "guideline"]
    if len(items) < 2:
        return []
    _fresh_context()
    return Analyzer(options).check_library(items)


def analyze(compiled: Iterable[Compiled], options: Options = Options()
            ) -> tuple[list[Diagnostic], int]:
    """Findings for each compiled file and across them; and how many a comment suppressed."""
    compiled = list(compiled)
    found: list[Diagnostic] = []
    hidden = 0
    for part in [*(analyze_file(c, options) for c in compiled),
                 analyze_library(compiled, options)]:
        found += part[0]
        hidden += part[1]
    return found, hidden
