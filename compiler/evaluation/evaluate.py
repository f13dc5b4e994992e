"""Decision graph + case facts → determination and trace.

The graph is compiled once into closures over resolved fact accessors (no lookups by name
per case), then run for each request. Undocumented facts are the value `UNDOCUMENTED` and
follow three-valued (Kleene) logic: they never raise.
"""

from __future__ import annotations

import calendar
import datetime as dt
import operator
import re
from typing import TYPE_CHECKING, Any, Callable

from ...dsl.records import field, record
from ..model import facts
from ..model import graph as graphmod
from ..model import ir
from ..model.cases import Case

if TYPE_CHECKING:
    import networkx as nx


class _Undocumented:
    __slots__ = ()

    def __repr__(self) -> str:
        return "undocumented"

    def __bool__(self) -> bool:
        raise TypeError("undocumented has no truth value; compare with `is`")


UNDOCUMENTED: Any = _Undocumented()
U = UNDOCUMENTED
_UNSET: Any = object()


class Ctx:
    """What one evaluation looks at: the case, one request, and the definitions' values."""

    __slots__ = ("case", "req", "findings", "today", "defs", "entry")

    def __init__(self, case: Case, req: dict[str, Any]) -> None:
        self.case = case
        self.req = req
        self.findings = case.findings
        self.today = case.review_date
        self.defs: list[Any] = []
        self.entry: dict[str, Any] = {}


Fn = Callable[[Ctx], Any]


@record(frozen=False, kw_only=False)
class Reason:
    rule: str
    kind: str  # fail | partial
    text: str
    citation: str
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "text": self.text,
                "citation": self.citation}


@record(frozen=False, kw_only=False)
class Step:
    node: str
    outcome: str  # applies | does not apply | pass | fail | partial | not applicable | overridden
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "outcome": self.outcome,
                "values": {k: _jsonable(v) for k, v in self.values.items()}}


class Determination:
    """The decision for one request, every reason, and the path taken through the graph.

    The path is kept as raw (node, outcome, values) tuples while evaluating, and turned
    into `Step` objects only when someone reads it: most bulk runs never do.
    """

    __slots__ = ("guideline", "case_id", "request", "decision", "requested", "certified",
                 "reasons", "trace")

    def __init__(self, guideline: str, case_id: str, request: str, decision: str,
                 requested: int | None, certified: int | None, reasons: list[Reason],
                 trace: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.guideline = guideline
        self.case_id = case_id
        self.request = request
        self.decision = decision  # certified | modified | non_certified | not_applicable
        self.requested = requested
        self.certified = certified
        self.reasons = reasons
        self.trace = trace

    @property
    def path(self) -> list[Step]:
        return [Step(node, outcome, values) for node, outcome, values in self.trace]


def _jsonable(v: Any) -> Any:
    if v is U:
        return None
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, frozenset):
        return sorted(v)
    return v


# ---------------------------------------------------------------- expressions
def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def shift(day: dt.date, duration: tuple[int, str], sign: int = 1) -> dt.date:
    """`day` moved by a duration; a window that runs past the calendar (year 1 or 9999)
    ends at the calendar's edge, which no recorded date can pass."""
    amount, unit = duration
    try:
        if unit == "month":
            return _add_months(day, sign * amount)
        if unit == "year":
            return _add_months(day, sign * 12 * amount)
        return day + dt.timedelta(days=sign * amount * (7 if unit == "week" else 1))
    except (OverflowError, ValueError):
        return dt.date.max if sign * amount > 0 else dt.date.min


def _hit(x: Any, members: Any) -> bool:
    """A term is in the set; a set of terms (`request.tests`) has one of them."""
    if isinstance(x, frozenset):
        return not x.isdisjoint(members)
    return x in members


def _and(a: Fn, b: Fn) -> Fn:
    def f(c: Ctx) -> Any:
        x = a(c)
        if x is False:
            return False
        y = b(c)
        if y is False:
            return False
        return U if (x is U or y is U) else True
    return f


def _or(a: Fn, b: Fn) -> Fn:
    def f(c: Ctx) -> Any:
        x = a(c)
        if x is True:
            return True
        y = b(c)
        if y is True:
            return True
        return U if (x is U or y is U) else False
    return f


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge, "+": operator.add, "-": operator.sub,
    "*": operator.mul,
    "date+": lambda x, y: shift(x, y), "date-": lambda x, y: shift(x, y, -1),
}


class Compiler:
    """IR expressions → closures, with value sets turned into fast matchers."""

    def __init__(self, g: ir.Guideline) -> None:
        self.g = g
        self.def_index = {name: i for i, name in enumerate(g.definitions)}
        self.entry_mode = False
        self.def_fns: list[Fn] = []
        self.def_fns.extend(self.expr(d.expr) for d in g.definitions.values())

    def expr(self, e: ir.Expr) -> Fn:
        method: Callable[[Any], Fn] = getattr(self, "_" + type(e).__name__)
        return method(e)

    def _Const(self, e: ir.Const) -> Fn:
        v = e.value
        return lambda c: v

    def _Fact(self, e: ir.Fact) -> Fn:
        name = e.name
        if e.record == "":
            return lambda c: c.today
        if e.record == "request":
            return lambda c: c.req.get(name, U)
        if e.record == "findings":
            return lambda c: c.findings.get(name, U)
        if e.record == "patient":
            return lambda c: c.case.patient.get(name, U)
        return lambda c: c.case.injury.get(name, U)

    def _EntryField(self, e: ir.EntryField) -> Fn:
        name = e.name
        if self.entry_mode:  # inside a filter that reads only the entry: the entry is the arg
            return lambda entry: entry.get(name, U)  # type: ignore[attr-defined]
        return lambda c: c.entry.get(name, U)

    def _DefRef(self, e: ir.DefRef) -> Fn:
        i = self.def_index[e.name]
        fns = self.def_fns

        def ref(c: Ctx) -> Any:
            v = c.defs[i]
            if v is _UNSET:  # definitions are computed on first use, once per request
                v = c.defs[i] = fns[i](c)
            return v
        return ref

    def _ValueSetRef(self, e: ir.ValueSetRef) -> Fn:
        vs = self.g.valuesets[e.name]
        if vs.terms:
            terms = frozenset(vs.terms)
            return lambda c: terms
        exact = frozenset(x for x in vs.codes if not x.endswith("*"))
        prefixes = tuple(x[:-1].rstrip(".") for x in vs.codes if x.endswith("*"))
        return lambda c: (exact, prefixes)

    def _Op(self, e: ir.Op) -> Fn:
        if e.op == "request_diagnosis_in":
            return self._request_diagnosis(e)
        args = [self.expr(a) for a in e.args]
        op = e.op
        if op == "and":
            return _and(*args)
        if op == "or":
            return _or(*args)
        if op == "not":
            a = args[0]

            def not_(c: Ctx) -> Any:
                x = a(c)
                return U if x is U else not x
            return not_
        if op == "neg":
            a = args[0]

            def neg(c: Ctx) -> Any:
                x = a(c)
                return U if x is U else -x
            return neg
        if op == "documented":
            a = args[0]
            return lambda c: a(c) is not U
        if op == "not_documented":
            a = args[0]
            return lambda c: a(c) is U
        if op in {"in", "not in"}:
            return self._member(e, args[0], args[1], op == "not in")
        if op == "within_after":
            return self._within_after(args[0], args[1])
        if op == "in_last":
            return self._in_last(args[0], args[1])
        if op == "first":
            def first(c: Ctx) -> Any:
                for a in args:
                    v = a(c)
                    if v is not U:
                        return v
                return U
            return first
        if op == "if":
            cond, then, otherwise = args

            def if_then_else(c: Ctx) -> Any:
                v = cond(c)
                return then(c) if v is True else otherwise(c) if v is False else U
            return if_then_else
        if op == "same_year":
            a, b = args

            def same_year(c: Ctx) -> Any:
                x, y = a(c), b(c)
                return U if x is U or y is U else x.year == y.year
            return same_year
        if op == "days_between":
            a, b = args

            def days_between(c: Ctx) -> Any:
                x, y = a(c), b(c)
                return U if x is U or y is U else (y - x).days
            return days_between
        if op in {"min", "max"}:
            pick = min if op == "min" else max
            return lambda c: (lambda vs: U if any(v is U for v in vs) else pick(vs))(
                [a(c) for a in args])
        fn2, a, b = _BINARY[op], args[0], args[1]
        if isinstance(e.args[1], ir.Const):  # the common `x > 0`: no call for the constant
            k = e.args[1].value

            def binary_const(c: Ctx) -> Any:
                x = a(c)
                return U if x is U else fn2(x, k)
            return binary_const

        def binary(c: Ctx) -> Any:
            x = a(c)
            if x is U:
                return U
            y = b(c)
            return U if y is U else fn2(x, y)
        return binary

    def _request_diagnosis(self, e: ir.Op) -> Fn:
        exact, prefixes = self.expr(e.args[0])(None)  # type: ignore[arg-type]  # constant

        def request_diagnosis_in(c: Ctx) -> Any:
            codes = c.req.get("diagnoses")
            if codes is None:  # the request names none: it treats the case's diagnoses
                codes = [d["code"] for d in c.case.diagnoses]
            return any(code in exact or code.startswith(prefixes) for code in codes)
        return request_diagnosis_in

    def _member(self, e: ir.Op, a: Fn, b: Fn, negate: bool) -> Fn:
        if e.args[0].type.kind == "code":
            exact, prefixes = b(None)  # type: ignore[arg-type]  # value sets are constant
            if isinstance(e.args[0], ir.EntryField) and self.entry_mode:
                cname = e.args[0].name

                def code_in_entry(entry: dict[str, Any]) -> Any:
                    code = entry.get(cname, U)
                    if code is U:
                        return U
                    return (code in exact or code.startswith(prefixes)) != negate
                return code_in_entry  # type: ignore[return-value]
            if isinstance(e.args[0], ir.EntryField):
                name = e.args[0].name

                def entry_code_in(c: Ctx) -> Any:
                    code = c.entry.get(name, U)
                    if code is U:
                        return U
                    return (code in exact or code.startswith(prefixes)) != negate
                return entry_code_in

            def code_in(c: Ctx) -> Any:
                code = a(c)
                if code is U:
                    return U
                exact, prefixes = b(c)
                hit = code in exact or code.startswith(prefixes)
                return hit != negate
            return code_in

        if isinstance(e.args[1], ir.Const) or (isinstance(e.args[1], ir.ValueSetRef)):
            members = b(None)  # type: ignore[arg-type]
            if e.args[0].type.kind != "terms":  # one term: plain membership
                if isinstance(e.args[0], ir.EntryField) and self.entry_mode:
                    tname = e.args[0].name

                    def entry_term_in(entry: dict[str, Any]) -> Any:
                        x = entry.get(tname, U)
                        return U if x is U else (x in members) != negate
                    return entry_term_in  # type: ignore[return-value]

                def one_term_in(c: Ctx) -> Any:
                    x = a(c)
                    return U if x is U else (x in members) != negate
                return one_term_in
            if isinstance(e.args[0], ir.EntryField) and self.entry_mode:
                fname = e.args[0].name

                def entry_field_in(entry: dict[str, Any]) -> Any:
                    x = entry.get(fname, U)
                    return U if x is U else _hit(x, members) != negate
                return entry_field_in  # type: ignore[return-value]
            if isinstance(e.args[0], ir.EntryField):
                name = e.args[0].name

                def field_in(c: Ctx) -> Any:
                    x = c.entry.get(name, U)
                    return U if x is U else _hit(x, members) != negate
                return field_in

            def term_in_const(c: Ctx) -> Any:
                x = a(c)
                return U if x is U else _hit(x, members) != negate
            return term_in_const

        def term_in(c: Ctx) -> Any:
            x = a(c)
            if x is U:
                return U
            return (x in b(c)) != negate
        return term_in

    def _within_after(self, d: Fn, anchor: Fn) -> Fn:
        def f(c: Ctx) -> Any:
            start = anchor(c)
            if start is U:
                return U
            return start <= c.today <= shift(start, d(c))
        return f

    def _in_last(self, subject: Fn, d: Fn) -> Fn:
        def f(c: Ctx) -> Any:
            day = subject(c)
            if day is U:
                return U
            return shift(c.today, d(c), -1) <= day <= c.today
        return f

    def _Aggregate(self, e: ir.Aggregate) -> Fn:
        """An aggregate is a way to select entries (and to ask whether any match) + a reduction."""
        coll = e.collection
        select: Callable[[Ctx], list[dict[str, Any]]]
        exists: Fn
        total: Callable[[Ctx, str], int] | None = None
        if e.filter is None:
            select = lambda c: getattr(c.case, coll)  # noqa: E731
            exists = lambda c: bool(getattr(c.case, coll))  # noqa: E731
        elif not self.entry_mode and _entry_only(e.filter):
            # The filter reads only the entry: compile it as a function of the entry dict,
            # so the loops need no context juggling.
            self.entry_mode = True
            pred = self.expr(e.filter)
            self.entry_mode = False
            select, exists, total = _entry_selectors(coll, pred)  # type: ignore[arg-type]
        else:
            select, exists = _context_selectors(coll, self.expr(e.filter))
        return _reduce(e.kind, e.field, select, exists, total)


def _entry_selectors(coll: str, pred: Callable[[dict[str, Any]], Any]
                     ) -> tuple[Callable[[Ctx], list[dict[str, Any]]], Fn,
                                Callable[[Ctx, str], int]]:
    """Selection, `any`, and a fused sum (the hot `sum history[...].visits`) for entry filters."""
    def select(c: Ctx) -> Any:
        out = []
        for x in getattr(c.case, coll):
            v = pred(x)
            if v is True:
                out.append(x)
            elif v is U:  # an entry that may or may not count: the result is undocumented
                return U
        return out

    def exists(c: Ctx) -> Any:
        unknown = False
        for x in getattr(c.case, coll):
            v = pred(x)
            if v is True:
                return True
            if v is U:
                unknown = True
        return U if unknown else False

    def total(c: Ctx, fname: str) -> Any:
        n = 0
        for x in getattr(c.case, coll):
            v = pred(x)
            if v is True:
                n += x.get(fname, 0)
            elif v is U:
                return U
        return n
    return select, exists, total


def _context_selectors(coll: str, filt: Fn) -> tuple[Callable[[Ctx], list[dict[str, Any]]], Fn]:
    """For filters that also read the case: each entry is set as the context's entry in turn."""
    def verdicts(c: Ctx) -> list[tuple[dict[str, Any], Any]]:
        saved, out = c.entry, []
        for entry in getattr(c.case, coll):
            c.entry = entry
            out.append((entry, filt(c)))
        c.entry = saved
        return out

    def select(c: Ctx) -> Any:
        vs = verdicts(c)
        if any(v is U for _, v in vs):  # an entry that may or may not count
            return U
        return [x for x, v in vs if v is True]

    def exists(c: Ctx) -> Any:
        vs = [v for _, v in verdicts(c)]
        return True if True in vs else (U if U in vs else False)
    return select, exists


def _reduce(kind: str, fname: str | None, select: Callable[[Ctx], list[dict[str, Any]]],
            exists: Fn, total: Callable[[Ctx, str], int] | None = None) -> Fn:
    # An entry whose filter is undocumented (a course with no date, for a window) may or may
    # not count: the result is undocumented, never a silent drop of that entry.
    if kind == "count":
        return lambda c: (lambda xs: U if xs is U else len(xs))(select(c))
    if kind == "sum":
        assert fname is not None
        if total is not None:
            return lambda c: total(c, fname)
        return lambda c: (lambda xs: U if xs is U else sum(x.get(fname, 0) for x in xs))(
            select(c))
    if kind in {"latest", "earliest"}:
        pick = max if kind == "latest" else min

        def extreme(c: Ctx) -> Any:
            xs = select(c)
            if xs is U:
                return U
            vals = [x[fname] for x in xs if fname in x]
            return pick(vals) if vals else U
        return extreme
    if fname is None:  # any: does any entry match? undocumented if one might
        return exists
    want = kind == "any"

    def quantify(c: Ctx) -> Any:
        xs = select(c)
        if xs is U:
            return U
        vals = [x.get(fname, U) for x in xs]
        if want in vals:
            return want
        return U if (U in vals or (want is False and not vals)) and vals else (not want)
    return quantify


def _entry_only(e: ir.Expr) -> bool:
    """Does the expression read nothing but the entry's fields and constants?"""
    from ..model.graph import walk
    return all(isinstance(x, (ir.EntryField, ir.Const, ir.ValueSetRef))
               or (isinstance(x, ir.Op) and x.op not in {"within_after", "in_last"})
               for x in walk(e))  # time windows read the review date from the context


# ---------------------------------------------------------------- rules
Filler = Callable[[dict[str, Any], Ctx], str]


def _show(v: Any) -> str:
    if type(v) is int:
        return str(v)
    return "an undocumented number of" if v is U else str(_jsonable(v))


def sentence(template: ir.Template | None, default: str) -> list[str | tuple[str]]:
    """A reason template (or the default text, with `{name}` placeholders) as a sentence:
    literal parts and ("name",) placeholders, capital first and full stop last. Every
    backend writes reasons from these parts, so their texts are the same."""
    if template is None:
        pieces = re.split(r"\{([a-z_][a-z0-9_]*)\}", default)
        template = tuple(p if i % 2 == 0 else (p,) for i, p in enumerate(pieces) if p)
    parts = list(template)
    if parts and isinstance(parts[0], str):  # a sentence: capital first, full stop last
        parts[0] = parts[0].lstrip()
        parts[0] = parts[0][:1].upper() + parts[0][1:]
    if parts and isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip()
        if not parts[-1].endswith("."):
            parts[-1] += "."
    else:
        parts.append(".")
    return parts


def compile_template(parts: list[str | tuple[str]], def_index: dict[str, int],
                     refs: list[Fn]) -> Filler:
    """A sentence's parts → a function of the rule's values that writes the sentence.

    The parts become one `str.format` pattern (literal text with its braces doubled)
    and a getter per placeholder, so filling it is one C-level call.
    """
    pattern, getters = "", []
    for part in parts:
        if isinstance(part, str):
            pattern += part.replace("{", "{{").replace("}", "}}")
            continue
        pattern += "{}"
        name = part[0]
        if name in def_index:
            getters.append(_def_getter(refs[def_index[name]]))
        else:
            getters.append(_value_getter(name))
    fmt = pattern.format

    def fill(values: dict[str, Any], c: Ctx) -> str:
        return fmt(*[g(values, c) for g in getters])
    return fill


def sentences(rule: ir.Rule, g: ir.Guideline) -> dict[str, list[str | tuple[str]]]:
    """The sentence of each kind of reason a rule can give (fail, partial, undocumented, and
    the limit's cap/prior/quantity undocumented), as parts: shared by every backend."""
    default = {"require": f"{rule.title}: not met",
               "deny": rule.title,
               "limit": f"with {{prior}} already completed, the {{requested}} requested "
                        f"exceed {rule.allow}",
               "trial": f"the trial of {rule.allow} is complete and its extension "
                        "criteria are not documented"}[rule.kind]
    own = rule.undocumented if rule.kind == "limit" and rule.undocumented else None
    out = {"fail": sentence(rule.otherwise, default),
           "partial": sentence(rule.partial, f"only {{remaining}} of the {{requested}}"
                                             f" requested fit within {rule.allow}"),
           "quantity_undocumented": sentence(
               own, f"the request does not say how many {g.unit}; {{remaining}} are certified, "
                    f"the most the guideline allows here ({rule.allow})"),
           "cap_undocumented": sentence(
               own, f"the cap of {rule.title} ({rule.allow}) depends on facts that are not "
                    "documented"),
           "prior_undocumented": sentence(
               None, "the treatment already given cannot be counted: an entry the count "
                     "depends on (its date or details) is not documented")}
    words = described(rule.must, g)
    if rule.undocumented:
        out["undocumented"] = sentence(rule.undocumented, "")
    elif words:  # the declaration's words: "there is no documentation of ..."
        out["undocumented"] = sentence((f"there is no documentation of {words}",), "")
    elif rule.otherwise:
        out["undocumented"] = out["fail"]  # the author's words cover both
    else:
        out["undocumented"] = sentence(None, f"{rule.title}: not documented")
    return out


def described(e: ir.Expr | None, g: ir.Guideline) -> str | None:
    """The declared description of the fact a requirement reads, when it reads one."""
    if isinstance(e, ir.Fact):
        return g.schema.describe(e.record, e.name)
    if isinstance(e, ir.DefRef):
        d = g.definitions.get(e.name)
        return d.title if d is not None and d.title else None
    if isinstance(e, ir.Op) and e.op in {"==", "!=", "<", "<=", ">", ">=", "not"}:
        facts_read = [a for a in e.args if isinstance(a, (ir.Fact, ir.DefRef))]
        if len(facts_read) == 1:  # one fact compared with a constant
            return described(facts_read[0], g)
    return None


def _def_getter(ref: Fn) -> Callable[[dict[str, Any], Ctx], str]:
    return lambda values, c: _show(ref(c))


def _value_getter(name: str) -> Callable[[dict[str, Any], Ctx], str]:
    return lambda values, c: _show(values.get(name, U))


@record(frozen=False, kw_only=False)
class _CompiledRule:
    node: str
    rule: ir.Rule
    when: Fn | None
    run: Callable[[Ctx], tuple[str, dict[str, Any], int | None]]
    overridden_by: tuple[int, ...] = ()
    fillers: dict[str, Filler] = field(default_factory=dict)
    citation: str = ""


class Evaluator:
    """A guideline's decision graph compiled for evaluation: compile once, evaluate many."""

    def __init__(self, flow: "graphmod.Plan | nx.MultiDiGraph") -> None:
        p = flow if isinstance(flow, graphmod.Plan) else graphmod.plan(flow)
        g: ir.Guideline = p.guideline
        self.guideline = g
        comp = Compiler(g)
        self.def_index = comp.def_index
        self.defs = comp.def_fns
        self.n_defs = len(self.defs)  # the length of a request's list of their values
        self._refs = [comp.expr(ir.DefRef(type=d.expr.type, name=d.name))
                      for d in g.definitions.values()]
        self.applies: Fn = comp.expr(p.applies) if p.applies is not None else (lambda c: False)
        index = {r.name: i for i, (_, r) in enumerate(p.rules)}
        self.rules = [
            _CompiledRule(node=n, rule=r, when=comp.expr(r.when) if r.when else None,
                          run=self._compile_rule(r, comp),
                          overridden_by=tuple(index[name] for name in over))
            for (n, r), over in zip(p.rules, p.overridden_by)
        ]
        self._whens: list[Fn] = [cr.when or _always for cr in self.rules]
        self._qfield = g.quantity_field  # a property of the guideline: read once here
        # What the per-case loop reads of each rule, as one tuple a rule (locals, not
        # attributes).
        self._steps = [(cr, cr.node, cr.run, cr.overridden_by) for cr in self.rules]
        for cr in self.rules:
            cr.fillers = self._fillers(cr.rule)
            cr.citation = cr.rule.citation

    # ---- rule kinds: each returns (outcome, values, allowance)
    def _compile_rule(self, r: ir.Rule, comp: Compiler) -> Callable[[Ctx], tuple[str, dict[str, Any], int | None]]:
        if r.kind == "require":
            must = comp.expr(r.must) if r.must else (lambda c: True)
            shown = self._shown_numbers(r.must, comp)
            if not shown:
                def require(c: Ctx) -> tuple[str, dict[str, Any], int | None]:
                    v = must(c)
                    return ("pass" if v is True else "fail", {"must": v}, None)
                return require

            def require_numbers(c: Ctx) -> tuple[str, dict[str, Any], int | None]:
                v = must(c)
                values: dict[str, Any] = {"must": v}
                for label, get in shown:  # the numbers the requirement compared, for pictures
                    values[label] = get(c)
                return ("pass" if v is True else "fail", values, None)
            return require_numbers
        if r.kind == "deny":
            return lambda c: ("fail", {}, None)
        counting = comp.expr(r.counting) if r.counting else (lambda c: 0)
        counts = r.counting is not None
        allow = r.allow
        assert allow is not None
        extend_if = comp.expr(r.extend_if) if r.extend_if else None
        extend = r.extend
        qfield = self.guideline.quantity_field

        computed = comp.expr(allow.amount_expr) if allow.amount_expr is not None else None

        def limit(c: Ctx) -> tuple[str, dict[str, Any], int | None]:
            prior = counting(c)
            requested = c.req.get(qfield, U)
            if prior is U:  # what was already done cannot be counted from the records
                return ("fail", {"prior": U, "requested": requested}, 0)
            cap = allow.amount if computed is None else computed(c)
            if cap is U:  # the cap depends on facts the records do not give
                return ("fail", {"requested": requested, "cap": U}, 0)
            values: dict[str, Any] = {"prior": prior, "requested": requested} if counts \
                else {"requested": requested}
            if r.kind == "trial" and cap is not None and prior >= cap:
                ok = extend_if(c) if extend_if else U
                values["extension"] = ok
                if ok is not True:
                    return ("fail", values, 0)
                cap = extend.amount if extend else None
            allowance = None if cap is None else cap - prior
            values["cap"] = cap
            if allow.per_week is not None:
                per_week, weeks = c.req.get("per_week", U), c.req.get("weeks", U)
                values["per_week"], values["weeks"] = per_week, weeks
                if per_week is not U and weeks is not U and per_week > allow.per_week:
                    by_rate = allow.per_week * weeks
                    allowance = by_rate if allowance is None else min(allowance, by_rate)
            if allow.over_weeks is not None and allowance is not None:
                # `over W weeks`: a request spread over more weeks than the course runs is
                # supported for the visits that fall within those W weeks.
                per_week, weeks = c.req.get("per_week", U), c.req.get("weeks", U)
                if per_week is not U and weeks is not U and weeks > allow.over_weeks:
                    values["weeks"] = weeks
                    allowance = min(allowance, per_week * allow.over_weeks)
            values["remaining"] = allowance
            if allowance is None:
                return ("pass", values, None)
            if allowance <= 0:
                values["remaining"] = 0
                return ("fail", values, 0)
            if requested is U or allowance < requested:
                return ("partial", values, allowance)
            return ("pass", values, allowance)
        return limit

    def evaluate(self, case: Case, request: dict[str, Any],
                 applied: list[Any] | None = None) -> Determination:
        """The guideline's determination on one request. `applied`: the definitions' values
        left by a check that the guideline applies (the library's), which then holds."""
        c = Ctx(case, request)
        g = self.guideline
        requested = request.get(self._qfield)
        if applied is not None:
            c.defs = applied
        else:
            c.defs = [_UNSET] * self.n_defs
            applies = self.applies(c)
            if applies is not True:
                return Determination(g.id, case.case_id, request["id"], "not_applicable",
                                     requested, None, [],
                                     [("applies", "does not apply", {"applies": applies})])
        trace: list[tuple[str, str, dict[str, Any]]] = [("applies", "applies", _NONE)]
        guards = [w(c) for w in self._whens]
        found: list[tuple[_CompiledRule, str, dict[str, Any], int | None]] = []
        failed, allowance = False, None
        certified: int | None
        append = trace.append
        for (cr, node, run, overridden_by), guard in zip(self._steps, guards):
            if guard is not True:
                append((node, "not applicable", _WHEN_FALSE if guard is False else _WHEN_U))
                continue
            if overridden_by:
                hidden = False
                for j in overridden_by:
                    if guards[j] is True:
                        hidden = True
                        break
                if hidden:
                    append((node, "overridden", _NONE))
                    continue
            outcome, values, allowed = run(c)
            append((node, outcome, values))
            if outcome == "fail":
                failed = True
                found.append((cr, outcome, values, allowed))
            elif outcome == "partial":
                allowance = allowed if allowance is None or allowed < allowance else allowance  # type: ignore[operator]
                found.append((cr, outcome, values, allowed))
        if failed:
            decision, certified = "non_certified", 0
            kept = [f for f in found if f[1] == "fail"]
        elif allowance is not None:
            # The letter gives the limits that bind: those that cut to the quantity certified.
            decision, certified = "modified", allowance
            kept = [f for f in found if f[3] == allowance]
        else:
            decision, certified, kept = "certified", requested, []
        trace.append((f"outcome:{decision}", decision, {"certified": certified}))
        reasons = [self._reason(cr, kind, values, c) for cr, kind, values, _ in kept]
        return Determination(g.id, case.case_id, request["id"], decision, requested, certified,
                             reasons, trace)

    def _fillers(self, rule: ir.Rule) -> dict[str, Filler]:
        return {kind: compile_template(parts, self.def_index, self._refs)
                for kind, parts in sentences(rule, self.guideline).items()}

    @staticmethod
    def _shown_numbers(e: ir.Expr | None, comp: Compiler) -> list[tuple[str, Fn]]:
        """The numeric facts and definitions a requirement compares (at most three), so a
        picture can show the value it saw rather than only whether the test was met."""
        out: list[tuple[str, Fn]] = []
        for node in graphmod.walk(e) if e is not None else ():
            if isinstance(node, (ir.Fact, ir.DefRef)) and node.type.kind in facts.NUMERIC:
                label = f"{node.record}.{node.name}" if isinstance(node, ir.Fact) else node.name
                if all(label != x for x, _ in out) and len(out) < 3:
                    out.append((label, comp.expr(node)))
        return out

    def _reason(self, cr: "_CompiledRule", kind: str, values: dict[str, Any], c: Ctx) -> Reason:
        rule = cr.rule
        if kind == "fail" and (values.get("must", True) is U or values.get("extension", True) is U):
            kind_text = "undocumented"
        elif kind == "fail" and values.get("cap", 0) is U:
            kind_text = "cap_undocumented"
        elif kind == "fail" and values.get("prior", 0) is U:
            kind_text = "prior_undocumented"
        elif kind == "partial" and values.get("requested", 0) is U:
            kind_text = "quantity_undocumented"
        else:
            kind_text = kind
        return Reason(rule.name, kind, cr.fillers[kind_text](values, c), cr.citation,
                      rule.span.line)


_NONE: dict[str, Any] = {}
_WHEN_FALSE: dict[str, Any] = {"when": False}
_WHEN_U: dict[str, Any] = {"when": U}


def _always(c: Ctx) -> bool:
    return True


