"""AST → checked model (IR) plus diagnostics: names, types, units, value sets, clauses, tests."""

from __future__ import annotations

import re
from typing import Callable

from ...dsl import ast
from ...dsl.diagnostics import Sink, Span, did_you_mean
from ...dsl.records import field, record
from . import facts, ir
from .facts import BOOL, DATE, DURATION, INT, Type

CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4}\*?|\.\*|\*)?$")
PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
LIMIT_PLACEHOLDERS = {"prior", "requested", "cap", "remaining", "per_week", "weeks"}

# Which clauses each rule kind takes, and which it must have.
CLAUSES = {
    "require": {"when", "must", "otherwise", "undocumented", "overrides", "cite"},
    "limit": {"when", "allow", "counting", "otherwise", "undocumented", "partial", "overrides",
              "cite"},
    "trial": {"when", "allow", "extend", "counting", "otherwise", "undocumented", "partial",
              "overrides", "cite"},
    "deny": {"when", "because", "overrides", "cite"},
}
SCOPE_KEYS = ("jurisdiction", "payer")
REQUIRED = {"require": ("must",), "limit": ("allow",), "trial": ("allow", "extend"),
            "deny": ("when", "because")}


@record(frozen=False, kw_only=False, slots=False)
class _Scope:
    """What a name can mean at one point: the collection entry a filter is looking at."""

    entry: str | None = None


@record(frozen=False, kw_only=False, slots=False)
class Checker:
    guideline: ast.Guideline
    sink: Sink
    partial: bool = False  # items with syntax errors are missing: skip whole-file checks
    lost: frozenset[str] = frozenset()  # names of those items: not reported as unknown
    schema: facts.Schema = field(default_factory=facts.standard)
    defs: dict[str, ir.Definition] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    _checking: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- entry
    def run(self) -> ir.Guideline:
        g = self.guideline
        self.valuesets = self._valuesets(g.valuesets)
        self.def_ast = self._unique(g.definitions, "definition")
        self.rule_names = {r.name for r in g.rules}
        for name in self.def_ast:
            self._definition(name)
        header = g.header
        applies = self._bool(header.applies, _Scope(), "the applicability condition") \
            if header.applies else None
        if header.applies is None:
            self.sink.error("E203", "the guideline does not say which requests it applies to",
                            header.span, "add `applies when request.treatment in {...}`")
        sections = {s.title: s for s in g.sections}
        self._unique(g.rules, "rule")
        rules = tuple(self._rule(r, sections.get(r.section or "")) for r in g.rules)
        self._check_overrides(rules)
        tests = tuple(self._test(t) for t in g.tests)
        if not self.partial:
            self._warn_unused()
        return ir.Guideline(
            id=header.id, title=header.title, version=header.version,
            effective_from=header.effective_from, effective_until=header.effective_until,
            source=header.source or header.title,
            source_pages=str(header.source_pages) if header.source_pages else None,
            applies=applies, precedence=header.precedence, unit=self._unit(header),
            scope=self._scope(header), layer=header.layer,
            valuesets=self.valuesets,
            definitions=dict(self.defs), rules=rules, tests=tests, path=g.path, span=header.span,
            schema=self.schema,
        )

    def _scope(self, header: ast.Header) -> tuple[tuple[str, str], ...]:
        for key, _ in header.scope:
            if key not in SCOPE_KEYS:
                self.sink.error("E216", f"a guideline can be scoped to a jurisdiction or a payer, "
                                f"not '{key}'", header.span,
                                'e.g. `scope jurisdiction "CA"` or `scope payer "Acme Health"`')
        return header.scope

    def _unit(self, header: ast.Header) -> str:
        if header.unit not in facts.QUANTITY_UNITS:
            self.sink.error("E303", f"unknown unit '{header.unit}'", header.span,
                            did_you_mean(header.unit, facts.QUANTITY_UNITS))
        return header.unit

    def _unique(self, items: tuple, what: str) -> dict:  # type: ignore[type-arg]
        seen: dict = {}  # type: ignore[type-arg]
        for item in items:
            if item.name in seen:
                self.sink.error("E204", f"{what} '{item.name}' is defined twice", item.name_span,
                                notes=(("first defined here", seen[item.name].name_span),))
            else:
                seen[item.name] = item
        return seen

    # ---------------------------------------------------------------- value sets
    def _valuesets(self, items: tuple[ast.ValueSet, ...]) -> dict[str, ir.ValueSet]:
        out = {}
        known = self.schema.all_terms()
        for vs in self._unique(items, "value set").values():
            for code, span in zip(vs.codes, vs.code_spans):
                if not CODE_RE.match(code):
                    self.sink.error("E301", f"'{code}' is not an ICD-10-CM code", span,
                                    "codes look like M54.1 or M54.1* (a prefix)")
            for t in vs.terms:
                if t not in known:
                    self.sink.error("E205", f"unknown term '{t}' in value set '{vs.name}'",
                                    vs.span, did_you_mean(t, known))
            if vs.codes and vs.terms:
                self.sink.error("E302", f"value set '{vs.name}' mixes ICD-10 codes and terms",
                                vs.span, "split it into two value sets")
            out[vs.name] = ir.ValueSet(name=vs.name, title=vs.title, codes=vs.codes,
                                       terms=vs.terms, span=vs.span)
        return out

    # ---------------------------------------------------------------- definitions
    def _definition(self, name: str) -> ir.Definition | None:
        if name in self.defs:
            return self.defs[name]
        node = self.def_ast[name]
        if name in self._checking:
            cycle = " → ".join(self._checking[self._checking.index(name):] + [name])
            self.sink.error("E206", f"definition '{name}' refers to itself ({cycle})",
                            node.name_span)
            return None
        self._checking.append(name)
        expr = self._expr(node.expr, _Scope())
        self._checking.pop()
        d = ir.Definition(name=name, title=node.title, expr=expr, span=node.span)
        self.defs[name] = d
        return d

    # ---------------------------------------------------------------- rules
    def _rule(self, rule: ast.Rule, section: ast.Section | None) -> ir.Rule:
        clauses: dict[str, ast.Clause] = {}
        for c in rule.clauses:
            if c.keyword not in CLAUSES[rule.kind]:
                allowed = ", ".join(sorted(CLAUSES[rule.kind]))
                self.sink.error("E401", f"a `{c.keyword}` clause does not belong in a {rule.kind}",
                                c.span, f"a {rule.kind} takes: {allowed}")
            elif c.keyword in clauses:
                self.sink.error("E402", f"`{c.keyword}` is given twice in {rule.kind} '{rule.name}'",
                                c.span, notes=(("first given here", clauses[c.keyword].span),))
            else:
                clauses[c.keyword] = c
        for needed in REQUIRED[rule.kind]:
            if needed not in clauses:
                self.sink.error("E403", f"{rule.kind} '{rule.name}' has no `{needed}` clause",
                                rule.name_span, _CLAUSE_HINTS[needed])
        citations = self._citations(clauses.get("cite"), section)
        if not citations and not self.partial:
            self.sink.error("E404", f"{rule.kind} '{rule.name}' cites no page or section",
                            rule.name_span, "add `cite pp. 98-99` (or cite the section)")
        scope = _Scope()

        def expr(key: str, what: str) -> ir.Expr | None:
            c = clauses.get(key)
            return self._bool(c.expr, scope, what) if c and c.expr else None

        counting = None
        if "counting" in clauses and clauses["counting"].expr is not None:
            counting = self._expect(clauses["counting"].expr, scope, INT, "`counting`")
        extend = clauses.get("extend")
        placeholders = set(self.def_ast) | (LIMIT_PLACEHOLDERS if rule.kind in {"limit", "trial"}
                                            else set())
        return ir.Rule(
            kind=rule.kind, name=rule.name, title=rule.title or rule.name.replace("_", " "),
            section=rule.section, when=expr("when", "`when`"), must=expr("must", "`must`"),
            allow=self._quantity(clauses.get("allow")),
            extend=self._quantity(extend) if extend and extend.quantity else None,
            extend_if=expr("extend", "`extend ... if`"), counting=counting,
            otherwise=self._template(clauses.get("otherwise") or clauses.get("because"),
                                     placeholders),
            undocumented=self._template(clauses.get("undocumented"), placeholders),
            partial=self._template(clauses.get("partial"), placeholders),
            overrides=clauses["overrides"].names if "overrides" in clauses else (),
            citations=citations, span=rule.span,
        )

    def _citations(self, clause: ast.Clause | None, section: ast.Section | None
                   ) -> tuple[ir.Citation, ...]:
        cites = clause.citations if clause else (section.citations if section else ())
        source = self.guideline.header.source or self.guideline.header.title
        return tuple(ir.Citation(document=c.document or source,
                                 pages=str(c.pages) if c.pages else
                                 (f"§ {c.section}" if c.section else None), span=c.span)
                     for c in cites)

    def _quantity(self, clause: ast.Clause | None) -> ir.Quantity | None:
        if clause is None or clause.quantity is None:
            return None
        q = clause.quantity
        unit = q.unit or q.rate_unit or "visits"
        if unit not in facts.QUANTITY_UNITS:
            self.sink.error("E303", f"unknown unit '{unit}'", q.span,
                            did_you_mean(unit, facts.QUANTITY_UNITS))
        for u in (q.over_unit,):
            if u is not None and u not in facts.TIME_UNITS:
                self.sink.error("E303", f"unknown time unit '{u}'", q.span,
                                did_you_mean(u, facts.TIME_UNITS))
        if q.rate_per is not None and q.rate_per not in {"week"}:
            self.sink.error("E303", f"rates are per week, not per '{q.rate_per}'", q.span,
                            "write `at most 3 visits per week`")
        over = f"{q.over} {q.over_unit}" if q.over is not None else None
        over_weeks = None
        if q.over is not None and q.over_unit in facts.TIME_UNITS:
            over_weeks = max(1, q.over * facts.TIME_UNITS[q.over_unit] // 7)
        if q.amount_expr is not None:
            from ...dsl import formatter
            cap = self._expect(q.amount_expr, _Scope(), INT, "a computed cap")
            return ir.Quantity(amount=None, unit=unit, over=over, per_week=q.per_week,
                               amount_expr=cap, amount_text=formatter.expr(q.amount_expr),
                               over_weeks=over_weeks)
        return ir.Quantity(amount=q.amount, unit=unit, over=over, per_week=q.per_week,
                           over_weeks=over_weeks)

    def _template(self, clause: ast.Clause | None, allowed: set[str]) -> ir.Template | None:
        if clause is None or clause.text is None:
            return None
        parts: list[str | tuple[str]] = []
        pos = 0
        for m in PLACEHOLDER_RE.finditer(clause.text):
            parts.append(clause.text[pos:m.start()])
            name = m.group(1)
            if name not in allowed:
                self.sink.error("E207", f"unknown placeholder '{{{name}}}' in reason text",
                                clause.span, did_you_mean(name, allowed)
                                or f"placeholders: {', '.join(sorted(allowed))}")
            else:
                self.used.add(name)
            parts.append((name,))
            pos = m.end()
        parts.append(clause.text[pos:])
        return tuple(p for p in parts if p != "")

    def _check_overrides(self, rules: tuple[ir.Rule, ...]) -> None:
        by_name = {r.name: r for r in rules}
        for r in rules:
            for target in r.overrides:
                if target not in by_name and not self.partial:
                    self.sink.error("E208", f"'{r.name}' overrides unknown rule '{target}'",
                                    r.span, did_you_mean(target, by_name))
                elif target == r.name:
                    self.sink.error("E209", f"rule '{r.name}' overrides itself", r.span)
            if r.when is not None and isinstance(r.when, ir.Const) and r.when.value is False:
                self.sink.warning("W302", f"{r.kind} '{r.name}' can never apply: its `when` is "
                                  "always false", r.when.span)
        for r in rules:
            always = [o for o in rules if r.name in o.overrides and o.when is None]
            if always:
                self.sink.warning("W303", f"{r.kind} '{r.name}' can never apply: '{always[0].name}'"
                                  " overrides it and always applies", r.span,
                                  notes=(("overridden here", always[0].span),))

    # ---------------------------------------------------------------- tests
    def _test(self, test: ast.Test) -> ir.Test:
        exp = test.expect
        for name in exp.reasons or ():
            if name not in self.rule_names and not self.partial:
                self.sink.error("E210", f"the test expects a reason from unknown rule '{name}'",
                                exp.span, did_you_mean(name, self.rule_names))
        if exp.decision == "non_certified" and exp.quantity not in (None, 0):
            self.sink.error("E304", "a non-certification certifies 0", exp.span)
        return ir.Test(title=test.title, case_file=test.case_file, request_id=test.request_id,
                       given=test.given, decision=exp.decision, quantity=exp.quantity,
                       reasons=exp.reasons, span=test.span)

    def _warn_unused(self) -> None:
        for name, d in self.def_ast.items():
            if name not in self.used:
                self.sink.warning("W201", f"definition '{name}' is never used", d.name_span,
                                  "remove it, or use it in a rule")
        for name in self.valuesets:
            if name not in self.used:
                span = next(v.name_span for v in self.guideline.valuesets if v.name == name)
                self.sink.warning("W202", f"value set '{name}' is never used", span,
                                  "remove it, or use it with `any diagnosis in` or `in`")

    # ---------------------------------------------------------------- expressions
    def _bool(self, e: ast.Expr, scope: _Scope, what: str) -> ir.Expr:
        return self._expect(e, scope, BOOL, what)

    def _expect(self, e: ast.Expr, scope: _Scope, want: Type, what: str) -> ir.Expr:
        out = self._expr(e, scope)
        if facts.base_kind(out.type.kind) not in (facts.base_kind(want.kind), "error"):
            self.sink.error("E305", f"{what} must be a {want}, but this is a {out.type}", e.span,
                            _type_hint(want, out.type))
        return out

    def _expr(self, e: ast.Expr, scope: _Scope) -> ir.Expr:
        method: Callable[[ast.Expr, _Scope], ir.Expr] = getattr(self, "_x_" + type(e).__name__)
        return method(e, scope)

    def _error(self, span: Span) -> ir.Expr:
        return ir.Const(type=Type("error"), value=None, span=span)

    def _x_Cond(self, e: ast.Cond, s: _Scope) -> ir.Expr:
        cond = self._bool(e.cond, s, "the condition of `if`")
        a, b = self._expr(e.then, s), self._expr(e.otherwise, s)
        if "error" in (a.type.kind, b.type.kind, cond.type.kind):
            return self._error(e.span)
        if facts.base_kind(a.type.kind) != facts.base_kind(b.type.kind):
            self.sink.error("E305", f"`if` gives a {a.type} or a {b.type}: both branches must "
                            "be of one type", e.span)
            return self._error(e.span)
        kind = a.type if a.type.kind == b.type.kind else Type("decimal")
        return ir.Op(type=kind, op="if", args=(cond, a, b), span=e.span)

    def _x_CalendarYear(self, e: ast.CalendarYear, s: _Scope) -> ir.Expr:
        a = self._expect(e.subject, s, DATE, "`in calendar year of`")
        b = self._expect(e.of, s, DATE, "`in calendar year of`")
        return ir.Op(type=BOOL, op="same_year", args=(a, b), span=e.span)

    def _x_Group(self, e: ast.Group, s: _Scope) -> ir.Expr:
        return self._expr(e.inner, s)

    def _x_NumberLit(self, e: ast.NumberLit, s: _Scope) -> ir.Expr:
        return ir.Const(type=Type("percent" if e.percent else "decimal"), value=e.value,
                        span=e.span)

    def _x_IntLit(self, e: ast.IntLit, s: _Scope) -> ir.Expr:
        return ir.Const(type=INT, value=e.value, span=e.span)

    def _x_DateLit(self, e: ast.DateLit, s: _Scope) -> ir.Expr:
        return ir.Const(type=DATE, value=e.value, span=e.span)

    def _x_BoolLit(self, e: ast.BoolLit, s: _Scope) -> ir.Expr:
        return ir.Const(type=BOOL, value=e.value, span=e.span)

    def _x_Duration(self, e: ast.Duration, s: _Scope) -> ir.Expr:
        if e.unit not in facts.TIME_UNITS:
            self.sink.error("E303", f"unknown time unit '{e.unit}'", e.unit_span,
                            did_you_mean(e.unit, facts.TIME_UNITS) or "use days, weeks, months or years")
            return self._error(e.span)
        return ir.Const(type=DURATION, value=(e.amount, e.unit.rstrip("s")), span=e.span)

    def _x_SetLit(self, e: ast.SetLit, s: _Scope) -> ir.Expr:
        return ir.Const(type=Type("terms"), value=frozenset(e.terms), span=e.span)

    def _x_Path(self, e: ast.Path, s: _Scope) -> ir.Expr:
        first, rest = e.names[0], e.names[1:]
        if s.entry and first in self.schema.collections[s.entry] and not rest and e.filter is None:
            return ir.EntryField(type=self.schema.collections[s.entry][first], name=first, span=e.span)
        if first in self.def_ast and not rest and e.filter is None:
            self.used.add(first)
            d = self._definition(first)
            return ir.DefRef(type=d.expr.type if d else Type("error"), name=first, span=e.span)
        if first in self.valuesets and not rest:
            self.used.add(first)
            vs = self.valuesets[first]
            return ir.ValueSetRef(type=Type("valueset", "codes" if vs.codes else "terms"),
                                  name=first, span=e.span)
        if first in self.schema.top and not rest:
            return ir.Fact(type=self.schema.top[first], record="", name=first, span=e.span)
        if first in self.schema.records and e.filter is None:
            fields = self.schema.records[first]
            if len(rest) != 1 or rest[0] not in fields:
                bad = rest[0] if rest else ""
                self.sink.error("E201", f"'{first}' has no declared fact '{bad}'" if bad
                                else f"'{first}' needs a fact name, e.g. {first}.{next(iter(fields), 'x')}",
                                e.span, _declare_hint(f"{first}.{bad}", did_you_mean(bad, fields))
                                if bad else None)
                return self._error(e.span)
            return ir.Fact(type=fields[rest[0]], record=first, name=rest[0], span=e.span)
        coll = facts.COLLECTION_ALIASES.get(first, first)
        if coll in self.schema.collections:
            self.sink.error("E306", f"'{first}' is a list of entries", e.span,
                            "use sum, count, any, all, latest or earliest, e.g. "
                            f"`count {first}[...]`")
            return self._error(e.span)
        candidates = set(self.def_ast) | set(self.valuesets) | set(self.schema.records) \
            | set(self.schema.top) | set(self.schema.collections)
        if s.entry:
            candidates |= set(self.schema.collections[s.entry])
        hint = did_you_mean(first, candidates)
        if hint is None and first in self.schema.all_terms():
            hint = f"terms are written in braces: `in {{{first}}}`"
        if first not in self.lost:
            self.sink.error("E202", f"unknown name '{first}'", e.span, hint)
        return self._error(e.span)

    def _x_Unary(self, e: ast.Unary, s: _Scope) -> ir.Expr:
        if e.op == "not":
            return ir.Op(type=BOOL, op="not", args=(self._bool(e.operand, s, "`not`"),),
                         span=e.span)
        if e.op == "neg":
            return ir.Op(type=INT, op="neg", args=(self._expect(e.operand, s, INT, "`-`"),),
                         span=e.span)
        arg = self._expr(e.operand, s)
        return ir.Op(type=BOOL, op=e.op, args=(arg,), span=e.span)

    def _x_Binary(self, e: ast.Binary, s: _Scope) -> ir.Expr:
        if e.op in {"and", "or"}:
            args = (self._bool(e.left, s, f"`{e.op}`"), self._bool(e.right, s, f"`{e.op}`"))
            return ir.Op(type=BOOL, op=e.op, args=args, span=e.span)
        left, right = self._expr(e.left, s), self._expr(e.right, s)
        if "error" in (left.type.kind, right.type.kind):
            return self._error(e.span)
        if e.op in {"in", "not in"}:
            return self._membership(e, left, right)
        if e.op in {"==", "!="}:
            if facts.base_kind(left.type.kind) != facts.base_kind(right.type.kind) \
                    or left.type.kind in {"collection", "valueset"}:
                return self._mismatch(e, left.type, right.type)
            return ir.Op(type=BOOL, op=e.op, args=(left, right), span=e.span)
        if e.op in {"<", "<=", ">", ">="}:
            if facts.base_kind(left.type.kind) != facts.base_kind(right.type.kind) \
                    or facts.base_kind(left.type.kind) not in {"int", "date"}:
                return self._mismatch(e, left.type, right.type)
            return ir.Op(type=BOOL, op=e.op, args=(left, right), span=e.span)
        kinds = (left.type.kind, right.type.kind)
        if kinds == ("int", "int"):
            return ir.Op(type=INT, op=e.op, args=(left, right), span=e.span)
        if kinds[0] in facts.NUMERIC and kinds[1] in facts.NUMERIC:
            return ir.Op(type=Type("decimal"), op=e.op, args=(left, right), span=e.span)
        if e.op in {"+", "-"} and kinds == ("date", "duration"):
            return ir.Op(type=DATE, op="date" + e.op, args=(left, right), span=e.span)
        return self._mismatch(e, left.type, right.type)

    def _mismatch(self, e: ast.Binary, a: Type, b: Type) -> ir.Expr:
        self.sink.error("E305", f"cannot use `{e.op}` between a {a} and a {b}", e.span,
                        _type_hint(a, b))
        return self._error(e.span)

    def _membership(self, e: ast.Binary, left: ir.Expr, right: ir.Expr) -> ir.Expr:
        lk, rk = left.type.kind, right.type.kind
        ok = (lk == "code" and right.type == Type("valueset", "codes")) or \
             (lk in {"term", "terms"} and (rk == "terms" or right.type == Type("valueset", "terms")))
        if not ok:
            self.sink.error("E305", f"cannot test whether a {left.type} is in a {right.type}",
                            e.span, "terms go in a set of terms ({a, b}) or a value set of terms;"
                            " codes in a value set of ICD-10 codes")
            return self._error(e.span)
        if lk in {"term", "terms"} and isinstance(right, ir.Const) and left.type.category:
            known = self.schema.vocab.get(left.type.category, frozenset())
            for t in sorted(right.value):  # type: ignore[call-overload]
                if t not in known:
                    self.sink.error("E205", f"unknown {left.type.category} '{t}'", right.span,
                                    did_you_mean(t, known))
        return ir.Op(type=BOOL, op=e.op, args=(left, right), span=e.span)

    def _x_WithinAfter(self, e: ast.WithinAfter, s: _Scope) -> ir.Expr:
        d = self._x_Duration(e.duration, s)
        anchor = self._expect(e.anchor, s, DATE, "`within ... after`")
        return ir.Op(type=BOOL, op="within_after", args=(d, anchor), span=e.span)

    def _x_InLast(self, e: ast.InLast, s: _Scope) -> ir.Expr:
        subject = self._expect(e.subject, s, DATE, "`in last`")
        d = self._x_Duration(e.duration, s)
        return ir.Op(type=BOOL, op="in_last", args=(subject, d), span=e.span)

    def _x_Aggregate(self, e: ast.Aggregate, s: _Scope) -> ir.Expr:
        p = e.path
        coll = facts.COLLECTION_ALIASES.get(p.names[0], p.names[0])
        if coll not in self.schema.collections:
            self.sink.error("E202", f"'{p.names[0]}' is not a list of entries", p.span,
                            did_you_mean(p.names[0], self.schema.collections)
                            or "lists are: " + ", ".join(self.schema.collections))
            return self._error(e.span)
        fields = self.schema.collections[coll]
        filt = self._bool(p.filter, _Scope(entry=coll), "a filter") if p.filter else None
        if len(p.names) > 2:
            self.sink.error("E201", f"entries of '{coll}' have no field '{'.'.join(p.names[1:])}'",
                            p.span)
            return self._error(e.span)
        fname = p.names[1] if len(p.names) == 2 else None
        if fname is not None and fname not in fields:
            self.sink.error("E201", f"entries of '{coll}' have no field '{fname}'", p.span,
                            did_you_mean(fname, fields))
            return self._error(e.span)
        ftype = fields[fname] if fname else None
        want = {"sum": "int", "all": "bool", "latest": "date", "earliest": "date"}.get(e.kind)
        if e.kind == "count" and fname is not None:
            self.sink.error("E305", "`count` counts entries; drop the field name", p.span,
                            f"write `count {p.names[0]}[...]` or `sum {p.names[0]}[...].{fname}`")
            return self._error(e.span)
        if e.kind == "any" and ftype is not None and ftype.kind != "bool":
            want = "bool"
        if want and (ftype is None or ftype.kind != want) and not (
                e.kind in {"latest", "earliest"} and ftype is not None and ftype.kind == "int"):
            what = f"a field of type {ftype}" if ftype else "no field"
            self.sink.error("E305", f"`{e.kind}` needs a field of type {Type(want)}, got {what}",
                            p.span, _AGG_HINTS[e.kind])
            return self._error(e.span)
        rtype = {"sum": INT, "count": INT, "any": BOOL, "all": BOOL}.get(e.kind) or ftype
        assert rtype is not None
        return ir.Aggregate(type=rtype, kind=e.kind, collection=coll, field=fname, filter=filt,
                            span=e.span)

    def _x_AnyDiagnosis(self, e: ast.AnyDiagnosis, s: _Scope) -> ir.Expr:
        vs = self.valuesets.get(e.valueset)
        if vs is None and e.valueset in self.lost:
            return self._error(e.span)
        if vs is None:
            self.sink.error("E202", f"unknown value set '{e.valueset}'", e.name_span,
                            did_you_mean(e.valueset, self.valuesets))
            return self._error(e.span)
        self.used.add(e.valueset)
        if not vs.codes:
            self.sink.error("E305", f"value set '{e.valueset}' holds terms, not ICD-10 codes",
                            e.name_span)
        ref = ir.ValueSetRef(type=Type("valueset", "codes"), name=e.valueset, span=e.name_span)
        if e.request:  # the request's own diagnoses (the case's when it names none)
            return ir.Op(type=BOOL, op="request_diagnosis_in", args=(ref,), span=e.span)
        code = ir.EntryField(type=facts.CODE, name="code", span=e.span)
        filt = ir.Op(type=BOOL, op="in", args=(code, ref), span=e.span)
        return ir.Aggregate(type=BOOL, kind="any", collection="diagnoses", field=None,
                            filter=filt, span=e.span)

    def _x_Call(self, e: ast.Call, s: _Scope) -> ir.Expr:
        args = tuple(self._expr(a, s) for a in e.args)
        kinds = {a.type.kind for a in args}
        if "error" in kinds:
            return self._error(e.span)
        if e.func == "first":  # the first documented value
            if len(kinds) != 1 or len(args) < 2:
                self.sink.error("E305", "`first` takes two or more values of one type", e.span,
                                "e.g. `first(findings.functional_improvement, any history[...]"
                                ".functional_improvement)`")
                return self._error(e.span)
            return ir.Op(type=args[0].type, op="first", args=args, span=e.span)
        if e.func == "days_between":
            if len(args) != 2 or kinds != {"date"}:
                self.sink.error("E305", "`days_between` takes two dates", e.span,
                                "e.g. `days_between(injury.date, review_date)`")
                return self._error(e.span)
            return ir.Op(type=INT, op="days_between", args=args, span=e.span)
        bases = {facts.base_kind(k) for k in kinds}
        if len(bases) != 1 or bases.pop() not in {"int", "date"}:
            self.sink.error("E305", f"`{e.func}` takes numbers or dates of one kind", e.span)
            return self._error(e.span)
        kind = args[0].type if len(kinds) == 1 else Type("decimal")
        return ir.Op(type=kind, op=e.func, args=args, span=e.span)


_CLAUSE_HINTS = {
    "must": "say what must hold: `must findings.home_exercise_program`",
    "allow": "say the cap: `allow 10 visits over 4 weeks`",
    "extend": "say when the trial may go on: `extend to 18 visits if findings.functional_improvement`",
    "when": "say when the rule applies: `when findings.maintenance_care`",
    "because": 'give the reason: `because "maintenance care is not medically necessary"`',
}

_AGG_HINTS = {
    "sum": "sum a number field, e.g. `sum history[...].visits`",
    "all": "`all` takes a yes/no field, e.g. `all history[...].functional_improvement`",
    "any": "`any` takes a yes/no field, or none to ask whether any entry matches",
    "latest": "`latest` takes a date field, e.g. `latest surgeries[...].date`",
    "earliest": "`earliest` takes a date field, e.g. `earliest history[...].start`",
    "count": "`count` counts entries",
}


def _declare_hint(path: str, close: str | None) -> str:
    """How to declare a fact the guideline reads, after 'did you mean' when a name is close."""
    how = (f"declare it in this file or in a facts.gl beside it: `fact {path}: yes/no "
           '"what it means, in words"` (types: yes/no, whole number, decimal, percent, date, '
           "duration, code, text, term of VOCABULARY)")
    return f"{close} If '{path}' is a new fact, {how}" if close else f"'{path}' is not declared: {how}"


def _type_hint(want: Type, got: Type) -> str | None:
    if want.kind == "bool" and got.kind == "int":
        return "compare the number, e.g. `... > 0`"
    if want.kind == "int" and got.kind == "bool":
        return "a yes/no fact cannot be counted; use `count` over entries instead"
    if {want.kind, got.kind} == {"date", "duration"}:
        return "add a duration to a date (`injury.date + 6 months`), or use `within ... after`"
    return None


def check(guideline: ast.Guideline, sink: Sink, partial: bool = False,
          lost: frozenset[str] = frozenset(), schema: facts.Schema | None = None) -> ir.Guideline:
    """Check one parsed guideline, reporting into `sink`; the IR is usable only without errors."""
    return Checker(guideline, sink, partial, lost, schema=schema or facts.standard()).run()
