"""Checked guidelines → one SQL query over the cases table, built as a sqlglot syntax tree.

The Python evaluator (`evaluate.py`) is the reference; this backend says the same thing in
SQL. Undocumented facts are NULL, and the language's three-valued logic is SQL's: `and`,
`or`, `not` and comparisons need no translation. Where the language is stricter than SQL
(an aggregate over entries one of which may or may not count is undocumented, `min` of an
undocumented number is undocumented, a reason shows "an undocumented number of"), the
generator spells it out.

Nothing the author or a case writes is pasted into SQL text: the query is a syntax tree;
skeletons are fixed strings of this module with placeholders, and every name, term, code and
sentence enters the tree as an identifier or a literal that sqlglot quotes for the dialect.

The query, for a library:
  rows      one row per request (case columns + `request`, `case_no`, `request_no`)
  stage A   the surgery requests, chosen and decided
  link      per case, what stage A decided (the surgeries requested in the same case)
  stage B   every other request, with `surgeries` and `associated_procedure_certified`
            completed from the link, chosen and decided
  result    A and B, with the layers applied beside, settled against UR, as records.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping, Sequence

import sqlglot
from sqlglot import exp

from ....dsl.diagnostics import did_you_mean, inert
from ....dsl.records import field, record
from ...model import facts, ir
from ...model.casemodel import DECISIONS, TERM_PATTERN
from ...model.graph import walk
from ...pipeline import Compiled
from ..evaluate import sentences
from ..library import Library, _treatments
from .table import REQUEST_REQUIRED, Layout, layout

DIALECTS = ("duckdb", "spark")
UNDOCUMENTED_TEXT = "an undocumented number of"


class SqlError(Exception):
    """A construct the SQL backend cannot express: names the construct, the dialect and
    where the guideline uses it."""


# ---------------------------------------------------------------- building blocks
@functools.lru_cache(maxsize=None)
def _skeleton(text: str, read: str) -> exp.Expression:
    tree: Any = sqlglot.parse_one(text, read=read)
    return tree  # type: ignore[no-any-return]


def T(text: str, read: str = "spark", **nodes: exp.Expression) -> exp.Expression:
    """A fixed skeleton of this module (Spark's SQL unless `read` says) with its `:name`
    placeholders replaced by trees."""
    def fill(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in nodes:
            return nodes[node.name].copy()
        return node
    return _skeleton(text, read).copy().transform(fill)


def lit(v: Any) -> exp.Expression:
    if v is None:
        return exp.Null()
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, int):
        return exp.Literal.number(v) if v >= 0 else exp.Neg(this=exp.Literal.number(-v))
    if isinstance(v, float):
        return exp.Literal.number(repr(v)) if v >= 0 else exp.Neg(this=exp.Literal.number(repr(-v)))
    if isinstance(v, dt.date):
        return T("CAST(:s AS DATE)", s=exp.Literal.string(v.isoformat()))
    return exp.Literal.string(str(v))


def col(name: str) -> exp.Expression:
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def field_of(base: exp.Expression, name: str) -> exp.Expression:
    return exp.Dot(this=base, expression=exp.to_identifier(name, quoted=True))


def struct(fields: Iterable[tuple[str, exp.Expression]]) -> exp.Expression:
    return exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(k, quoted=True),
                                                  expression=v) for k, v in fields])


def typed_null(type_text: str) -> exp.Expression:
    return exp.Cast(this=exp.Null(), to=exp.DataType.build(type_text, dialect="spark"))


def and_(*xs: exp.Expression) -> exp.Expression:
    out = xs[0]
    for x in xs[1:]:
        out = exp.And(this=exp.Paren(this=out), expression=exp.Paren(this=x))
    return out


def or_(*xs: exp.Expression) -> exp.Expression:
    out = xs[0]
    for x in xs[1:]:
        out = exp.Or(this=exp.Paren(this=out), expression=exp.Paren(this=x))
    return out


def case(*whens: tuple[exp.Expression, exp.Expression],
         default: exp.Expression | None = None) -> exp.Expression:
    c = exp.Case(ifs=[exp.If(this=w, true=t) for w, t in whens])
    if default is not None:
        c.set("default", default)
    return c


def is_true(x: exp.Expression) -> exp.Expression:
    return T("COALESCE(:x, FALSE)", x=exp.Paren(this=x))


def array(items: Sequence[exp.Expression]) -> exp.Expression:
    return exp.Array(expressions=list(items))


def concat(parts: Sequence[exp.Expression], dialect: str = "spark") -> exp.Expression:
    """Text made of parts, none of them NULL (each value shown is COALESCEd): DuckDB joins
    them in one call, where a chain of `||` would make each partial text."""
    if not parts:
        return exp.Literal.string("")
    if dialect == "duckdb":
        return exp.Anonymous(this="CONCAT", expressions=list(parts))
    return exp.Concat(expressions=list(parts), safe=True, coalesce=False)


# ---------------------------------------------------------------- showing values
def show(x: exp.Expression, kind: str) -> exp.Expression:
    """A value as a reason shows it (Python's `_show`): numbers as digits, dates as ISO,
    yes/no as True/False, a set of terms as a sorted list; undocumented as words."""
    text: exp.Expression
    if kind in {"int", "duration"}:
        text = exp.Cast(this=x, to=exp.DataType.build("STRING"))
    elif kind in {"decimal", "percent", "number"}:
        text = T("CASE WHEN :x = FLOOR(:x) AND ABS(:x) < 1e15 THEN CAST(CAST(:x AS BIGINT) AS "
                 "STRING) ELSE CAST(:x AS STRING) END", x=x)
    elif kind == "bool":
        text = T("CASE WHEN :x THEN 'True' WHEN NOT :x THEN 'False' END", x=x)
    elif kind == "date":
        text = exp.TimeToStr(this=x, format=exp.Literal.string("%Y-%m-%d"))
    elif kind == "terms":
        text = T("CONCAT('[', ARRAY_JOIN(TRANSFORM(ARRAY_SORT(:x), t -> CONCAT('''', t, '''')), "
                 "', '), ']')", x=x)
    else:
        text = x
    return T("COALESCE(:t, :u)", t=text, u=exp.Literal.string(UNDOCUMENTED_TEXT))


def some(coll: exp.Expression, lam: exp.Expression, dialect: str) -> exp.Expression:
    """Does the lambda hold (TRUE, not undocumented) for some entry of the list? DuckDB asks
    the list of its answers, without a filtered copy of the entries (structs)."""
    if dialect == "duckdb":
        return T("ARRAY_CONTAINS(TRANSFORM(:c, :l), TRUE)", c=coll, l=lam)
    return T("SIZE(FILTER(:c, :l)) > 0", c=coll, l=lam)


# ---------------------------------------------------------------- expressions
@record(frozen=False, kw_only=False, slots=False)
class Scope:
    """Where an expression is read: the row's columns, and the entries of the aggregates
    it sits in (innermost last)."""

    entries: list[str] = field(default_factory=list)


_COLLECTIONS = ("diagnoses", "history", "surgeries", "visits")


class Expressions:
    """IR expressions of one guideline → SQL trees over one row of requests."""

    def __init__(self, g: ir.Guideline, dialect: str, lay: Layout,
                 columns: dict[str, str] | None = None) -> None:
        self.g = g
        self.dialect = dialect
        self.lay = lay
        # Definitions already computed as columns of the row (name → column); the others
        # are compiled in place.
        self.columns = columns if columns is not None else {}
        self._defs: dict[str, exp.Expression] = {}
        self._busy: set[str] = set()

    def fail(self, what: str, e: ir.Expr | None = None) -> SqlError:
        where = f"{self.g.path}:{e.span.line}:{e.span.column}: " if e is not None and e.span.line \
            else f"{self.g.path}: "
        return SqlError(f"{where}error: {what} cannot be compiled to SQL for {self.dialect}")

    def expr(self, e: ir.Expr, s: Scope | None = None) -> exp.Expression:
        s = s or Scope()
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise self.fail(f"the construct {type(e).__name__}", e)
        out: exp.Expression = method(e, s)
        return out

    def definition(self, name: str, s: Scope) -> exp.Expression:
        if name in self.columns:
            return col(self.columns[name])
        if s.entries:  # inside an aggregate: compiled in place (it may read the entry)
            return self.expr(self.g.definitions[name].expr, s)
        found = self._defs.get(name)
        if found is None:
            if name in self._busy:
                raise self.fail(f"the definition `{name}`, which refers to itself")
            self._busy.add(name)
            found = self._defs[name] = exp.Paren(this=self.expr(self.g.definitions[name].expr,
                                                                  Scope()))
            self._busy.discard(name)
        return found.copy()

    # ---- leaves
    def _Const(self, e: ir.Const, s: Scope) -> exp.Expression:
        v = e.value
        if isinstance(v, frozenset):
            return array([lit(x) for x in sorted(v)])
        if isinstance(v, tuple):
            raise self.fail("a duration outside a date computation", e)
        return lit(v)

    def _Fact(self, e: ir.Fact, s: Scope) -> exp.Expression:
        if e.record == "":
            return col("review_date")
        return field_of(col(e.record), e.name)

    def _EntryField(self, e: ir.EntryField, s: Scope) -> exp.Expression:
        if not s.entries:
            raise self.fail(f"the entry field `{e.name}` outside a filter", e)
        return field_of(col(s.entries[-1]), e.name)

    def _DefRef(self, e: ir.DefRef, s: Scope) -> exp.Expression:
        return self.definition(e.name, s)

    def _ValueSetRef(self, e: ir.ValueSetRef, s: Scope) -> exp.Expression:
        vs = self.g.valuesets[e.name]
        if vs.terms:
            return array([lit(x) for x in sorted(vs.terms)])
        raise self.fail(f"the code value set `{e.name}` outside `in`", e)

    # ---- operators
    def _Op(self, e: ir.Op, s: Scope) -> exp.Expression:
        op = e.op
        if op == "request_diagnosis_in":
            return self._request_diagnosis(e, s)
        if op in {"in", "not in"}:
            hit = self._member(e, s)
            return T("NOT (:x)", x=hit) if op == "not in" else hit
        if op in {"within_after", "in_last"}:
            today = col("review_date")
            if op == "within_after":
                d, anchor = e.args
                x = self.expr(anchor, s)
                return T("CASE WHEN :a IS NULL THEN NULL ELSE :a <= :t AND :t <= :end END",
                         a=x, t=today, end=self.shift(x, d))
            subject, d = e.args
            x = self.expr(subject, s)
            return T("CASE WHEN :a IS NULL THEN NULL ELSE :start <= :a AND :a <= :t END",
                     a=x, t=today, start=self.shift(today, d, -1))
        if op in {"date+", "date-"}:
            return self.shift(self.expr(e.args[0], s), e.args[1], 1 if op == "date+" else -1)
        args = [self.expr(a, s) for a in e.args]
        if op == "and":
            return exp.Paren(this=and_(*args))
        if op == "or":
            return exp.Paren(this=or_(*args))
        if op == "not":
            return T("NOT (:x)", x=args[0])
        if op == "neg":
            return T("-(:x)", x=args[0])
        if op == "documented":
            return T("(:x) IS NOT NULL", x=args[0])
        if op == "not_documented":
            return T("(:x) IS NULL", x=args[0])
        if op == "first":
            return exp.Coalesce(this=args[0], expressions=args[1:])
        if op == "if":
            return T("CASE WHEN :c THEN :a WHEN NOT (:c) THEN :b END", c=args[0], a=args[1],
                     b=args[2])
        if op == "same_year":
            return T("YEAR(:a) = YEAR(:b)", a=args[0], b=args[1])
        if op == "days_between":
            return T("DATEDIFF(:b, :a)", a=args[0], b=args[1])
        if op in {"min", "max"}:
            pick = exp.Least if op == "min" else exp.Greatest
            any_null = or_(*[T("(:x) IS NULL", x=a) for a in args])
            return case((any_null, exp.Null()), default=pick(this=args[0],
                                                              expressions=args[1:]))
        binary = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT,
                  ">=": exp.GTE, "+": exp.Add, "-": exp.Sub, "*": exp.Mul}.get(op)
        if binary is None or len(args) != 2:
            raise self.fail(f"the operator `{op}`", e)
        return exp.Paren(this=binary(this=exp.Paren(this=args[0]),
                                     expression=exp.Paren(this=args[1])))

    def shift(self, day: exp.Expression, d: ir.Expr, sign: int = 1) -> exp.Expression:
        """`day` moved by a constant duration; months clamp to the month's last day."""
        if not (isinstance(d, ir.Const) and isinstance(d.value, tuple)):
            raise self.fail("a duration that is not a constant", d)
        amount, unit = d.value
        n = sign * amount
        if unit in {"month", "year"}:
            months = n * (12 if unit == "year" else 1)
            return exp.Cast(this=exp.AddMonths(this=day, expression=lit(months)),
                            to=exp.DataType.build("DATE"))
        days = n * (7 if unit == "week" else 1)
        return exp.Cast(this=exp.DateAdd(this=day, expression=lit(days),
                                         unit=exp.Var(this="DAY")),
                        to=exp.DataType.build("DATE"))

    def _codes(self, x: exp.Expression, vs: ir.ValueSet) -> exp.Expression:
        """A code in a value set: one of its codes, or under one of its prefixes (`M54.*`)."""
        exact = sorted(c for c in vs.codes if not c.endswith("*"))
        prefixes = sorted({c[:-1].rstrip(".") for c in vs.codes if c.endswith("*")})
        tests: list[exp.Expression] = []
        if exact:
            tests.append(exp.In(this=x.copy(), expressions=[lit(c) for c in exact]))
        tests.extend(exp.StartsWith(this=x.copy(), expression=lit(p)) for p in prefixes)
        if not tests:
            return T("CASE WHEN :x IS NULL THEN NULL ELSE FALSE END", x=x)
        return exp.Paren(this=or_(*tests))

    def _member(self, e: ir.Op, s: Scope) -> exp.Expression:
        left, right = e.args
        x = self.expr(left, s)
        if left.type.kind == "code":
            if not isinstance(right, ir.ValueSetRef):
                raise self.fail("a code tested against something other than a value set", e)
            return self._codes(x, self.g.valuesets[right.name])
        if isinstance(right, (ir.Const, ir.ValueSetRef)):
            if isinstance(right, ir.Const):
                members = right.value
            else:
                members = self.g.valuesets[right.name].terms
            if not isinstance(members, (frozenset, tuple)):
                raise self.fail("`in` with a right side that is not a set", e)
            items = [lit(m) for m in sorted(members)]
            if left.type.kind == "terms":  # a set of terms has one of them
                if not items:
                    return T("CASE WHEN :x IS NULL THEN NULL ELSE FALSE END", x=x)
                name = "LIST_HAS_ANY" if self.dialect == "duckdb" else "ARRAYS_OVERLAP"
                return exp.Anonymous(this=name, expressions=[x, array(items)])
            if not items:
                return T("CASE WHEN :x IS NULL THEN NULL ELSE FALSE END", x=x)
            return exp.In(this=x, expressions=items)
        return exp.ArrayContains(this=self.expr(right, s), expression=x)

    def _request_diagnosis(self, e: ir.Op, s: Scope) -> exp.Expression:
        vs_ref = e.args[0]
        if not isinstance(vs_ref, ir.ValueSetRef):
            raise self.fail("a request diagnosis tested against something other than a value "
                            "set", e)
        var = f"_d{len(s.entries)}"
        hit = self._codes(col(var), self.g.valuesets[vs_ref.name])
        codes = T("COALESCE(:own, TRANSFORM(:all, d -> d.code))",
                  own=field_of(col("request"), "diagnoses"), all=col("diagnoses"))
        return self._some(codes, exp.Lambda(this=hit,
                                            expressions=[exp.to_identifier(var, quoted=True)]))

    def _some(self, coll: exp.Expression, lam: exp.Expression) -> exp.Expression:
        return some(coll, lam, self.dialect)

    def _Aggregate(self, e: ir.Aggregate, s: Scope) -> exp.Expression:
        if e.collection not in _COLLECTIONS:
            raise self.fail(f"an aggregate over `{e.collection}`", e)
        coll = col(e.collection)
        var = f"_e{len(s.entries)}"
        inner = Scope(entries=[*s.entries, var])
        ident = exp.to_identifier(var, quoted=True)

        def lam(body: exp.Expression) -> exp.Expression:
            return exp.Lambda(this=body, expressions=[ident.copy()])

        fname = e.field
        fld = (lambda: field_of(col(var), fname)) if fname else None  # noqa: E731
        pred: exp.Expression | None = None
        if e.filter is None:
            selected, unknown = coll, None
        else:
            pred = self.expr(e.filter, inner)
            selected = exp.ArrayFilter(this=coll, expression=lam(pred))
            # Whether the filter is undocumented for some entry: not asked where it reads
            # only what the contract requires every entry to give (`treatment in {...}`).
            unknown = None if _certain(e.filter, e.collection) else \
                self._some(coll, lam(T("(:p) IS NULL", p=pred)))

        def both(body: exp.Expression) -> exp.Expression:
            """The body, for the entries the filter selects (TRUE only where both are)."""
            return body if pred is None else T("(:p) AND (:b)", p=pred.copy(), b=body)

        def guarded(value: exp.Expression) -> exp.Expression:
            if unknown is None:
                return value
            return case((unknown, exp.Null()), default=value)

        kind = e.kind
        if kind == "count":
            if self.dialect == "duckdb" and pred is not None:  # no filtered copy
                return guarded(T("LIST_COUNT(LIST_TRANSFORM(:c, :l))", read="duckdb", c=coll,
                                 l=lam(T("CASE WHEN :p THEN 1 END", p=pred.copy()))))
            return guarded(T("SIZE(:x)", x=selected))
        if kind == "sum":
            assert fld is not None
            ftype = self._entry_type(e)
            zero = exp.Cast(this=lit(0), to=exp.DataType.build(ftype))
            acc = exp.to_identifier("_acc", quoted=True)
            step = exp.Lambda(this=T(":a + COALESCE(:f, :z)", a=exp.Column(this=acc.copy()),
                                     f=fld(), z=zero),
                              expressions=[acc.copy(), ident.copy()])
            if self.dialect == "duckdb":  # a list sum runs faster than a reduce there
                each = T("COALESCE(:f, :z)", f=fld(), z=zero)
                if pred is not None:  # the entries the filter leaves out count 0: no copy
                    each = T("CASE WHEN :p THEN :v ELSE :z END", p=pred.copy(), v=each,
                             z=zero.copy())
                total = T("COALESCE(LIST_SUM(TRANSFORM(:x, :l)), :z)", read="duckdb",
                          x=coll, l=lam(each), z=zero)
                return guarded(total)
            return guarded(exp.Reduce(this=selected, initial=zero.copy(), merge=step))
        if kind in {"latest", "earliest"}:
            assert fld is not None
            pick = exp.ArrayMax if kind == "latest" else exp.ArrayMin
            return guarded(pick(this=exp.Transform(this=selected, expression=lam(fld()))))
        if fld is None:  # any entry matches? undocumented if one might
            if pred is None:
                return T("SIZE(:x) > 0", x=coll)
            found = self._some(coll, lam(pred.copy()))
            if unknown is None:
                return found
            return case((found, exp.true()), (unknown, exp.Null()), default=exp.false())
        want = kind == "any"
        hits = self._some(coll, lam(both(T(":f = :w", f=fld(), w=exp.Boolean(this=want)))))
        gaps = self._some(coll, lam(both(T(":f IS NULL", f=fld()))))
        return guarded(case((hits, exp.Boolean(this=want)), (gaps, exp.Null()),
                            default=exp.Boolean(this=not want)))

    def _entry_type(self, e: ir.Aggregate) -> str:
        t = self.lay.collections.get(e.collection, {}).get(e.field or "")
        return t or "BIGINT"


def _certain(e: ir.Expr, collection: str, known: tuple[ir.Expr, ...] = ()) -> bool:
    """Is `e`, read for an entry of `collection`, documented whatever the case holds? Only
    what the contract requires (an entry's required fields, the request's treatment, the
    review date), constants, tests of whether something is documented, and what `known`
    holds, joined by and/or/not/in. In `x is not documented or ...` the rest is read with `x`
    documented (were it not, the whole is true), and in `x is documented and ...` likewise
    (the whole would be false). Comparisons and sums of such are documented too. Anything
    else may be undocumented (the answer is conservative)."""
    if any(e == k for k in known):
        return True
    if isinstance(e, (ir.Const, ir.ValueSetRef)):
        return True
    if isinstance(e, ir.EntryField):
        return e.name in facts.REQUIRED_FIELDS.get(collection, ())
    if isinstance(e, ir.Fact):
        return e.record == "" or e.name in facts.REQUIRED_FIELDS.get(e.record, ())
    if not isinstance(e, ir.Op):
        return False
    if e.op in {"documented", "not_documented"}:
        return True
    guard = {"or": "not_documented", "and": "documented"}.get(e.op)
    if guard is not None:
        known = known + tuple(a.args[0] for a in e.args
                              if isinstance(a, ir.Op) and a.op == guard)
    return e.op in _NULL_ONLY_FROM_ARGS and all(_certain(a, collection, known) for a in e.args)


# Operators whose SQL is NULL only where an argument is.
_NULL_ONLY_FROM_ARGS = {"and", "or", "not", "in", "not in", "==", "!=", "<", "<=", ">", ">=",
                        "+", "-", "*", "neg"}


# ---------------------------------------------------------------- one guideline
_DETERMINATION = ["decision", "certified", "requested", "reasons"]
REASON_TYPE = "ARRAY<STRUCT<`rule`: STRING, `kind`: STRING, `text`: STRING, `citation`: STRING>>"
PATH_TYPE = "ARRAY<STRUCT<`node`: STRING, `outcome`: STRING, `values`: STRING>>"
# The words a record is made of whatever the case: what a rule, a guideline and the review
# decide, and the codes the records carry.
_FIXED_WORDS = ("pass", "fail", "partial", "not_applicable", *DECISIONS, "upheld",
                "overturned", "A1", "A3", "A6", "visits")


class Words:
    """The library's own words, which every record repeats: outcomes and decisions, the
    guidelines' ids, titles, versions, citations and files, the rules' names and citations.
    On DuckDB they are one ENUM type, declared before the query (`declare`): a column of
    them is a column of small integers, compared as integers and written to Parquet as a
    dictionary the engine already has, where text would be hashed value by value. The
    records read back as the same text. Elsewhere (Spark) they are plain text."""

    def __init__(self, dialect: str, guidelines: Iterable[Compiled] = ()) -> None:
        values = set(_FIXED_WORDS)
        for c in guidelines:
            g = c.ir
            if g is None:
                continue
            values.update(v for v in (g.id, g.title, g.version, g.citation, c.path, g.unit)
                          if isinstance(v, str))
            for r in g.rules:
                values.update(v for v in (r.name, r.citation) if isinstance(v, str))
        # Sorted: DuckDB orders an ENUM's values as declared, so they order as the text does.
        self.values = tuple(sorted(values)) if dialect == "duckdb" else ()
        digest = hashlib.sha256("\0".join(self.values).encode()).hexdigest()[:16]
        self.name = f"guidec_words_{digest}" if self.values else ""

    def type(self) -> exp.DataType:
        if not self.name:
            return exp.DataType.build("STRING")
        return exp.DataType.build(self.name, dialect="duckdb", udt=True)

    def lit(self, v: str | None) -> exp.Expression:
        """One of the words as a value of the type (NULL: a typed NULL)."""
        if v is None:
            return exp.Cast(this=exp.Null(), to=self.type())
        if v not in self.values:
            return exp.Literal.string(v)  # text, as on Spark: the same records, slower
        return exp.Cast(this=exp.Literal.string(v), to=self.type())

    def reasons_type(self) -> exp.DataType:
        if not self.name:
            return exp.DataType.build(REASON_TYPE, dialect="spark")
        w = self.name
        return exp.DataType.build(f'STRUCT("rule" {w}, "kind" {w}, "text" VARCHAR, '
                                  f'"citation" {w})[]', dialect="duckdb", udt=True)

    def layers_type(self) -> exp.DataType:
        if not self.name:
            return exp.DataType.build("ARRAY<STRING>", dialect="spark")
        return exp.DataType.build(f"{self.name}[]", dialect="duckdb", udt=True)

    def declare(self) -> list[str]:
        """The statements to run before the query (none on Spark)."""
        if not self.name:
            return []
        values = ", ".join(exp.Literal.string(v).sql("duckdb") for v in self.values)
        return [f"CREATE TEMP TYPE IF NOT EXISTS {self.name} AS ENUM ({values})"]


@record(frozen=False, kw_only=False, slots=False)
class _RuleCols:
    """The column names one rule's values are kept in, stage to stage."""

    i: int
    rule: ir.Rule
    prefix: str = "g"

    def c(self, what: str) -> str:
        return f"{self.prefix}r{self.i}_{what}"


class GuidelineSql:
    """One guideline's decision for each row of a relation, as a chain of SELECTs each
    adding columns (a rule's guard, its values, its outcome, then the decision)."""

    def __init__(self, g: ir.Guideline, dialect: str, lay: Layout, prefix: str = "g",
                 path: bool = False, words: Words | None = None) -> None:
        self.g = g
        self.dialect = dialect
        self.w = words or Words("spark")  # no declared type: plain text
        self.lay = lay
        self.p = prefix
        self.path = path  # also each step taken through the graph (`--path`)
        self.x = Expressions(g, dialect, lay, columns={})  # rules read definitions' columns
        self.xi = Expressions(g, dialect, lay)  # `applies when`, read before any column
        self.rules = [_RuleCols(i, r, prefix) for i, r in enumerate(g.rules)]
        self.qfield = g.quantity_field
        self.qtype = lay.records["request"].get(self.qfield, "BIGINT")

    def n(self, what: str) -> str:
        """The name of one of this guideline's columns (`g_decision`, `l_decision`)."""
        return f"{self.p}_{what}"

    def cv(self, rc: _RuleCols, what: str) -> exp.Expression:
        """A limit's column as later stages read it: the constant itself where the rule
        makes it one (a limit that is not a trial is never exhausted; a cap written as a
        number; no window), so the engine folds away the branches that cannot be taken."""
        r = rc.rule
        allow = r.allow
        assert allow is not None
        if r.kind != "trial" and what == "exhausted":
            return exp.false()
        if r.kind != "trial" and what == "extension":
            return exp.Null()
        if r.kind != "trial" and what == "cap" and allow.amount_expr is None:
            return lit(allow.amount)
        if what == "spread" and allow.over_weeks is None:
            return exp.false()
        return col(rc.c(what))

    def _limits(self) -> Iterator[tuple[_RuleCols, ir.Quantity]]:
        """The limit and trial rules, with what they allow."""
        for rc in self.rules:
            if rc.rule.kind in {"limit", "trial"}:
                assert rc.rule.allow is not None
                yield rc, rc.rule.allow

    def _branches(self, rc: _RuleCols) -> tuple[exp.Expression, exp.Expression, exp.Expression]:
        """The ways a limit fails before it counts (Python's `limit`, in order): what was
        already done is undocumented; the cap computed from the case is undocumented; a
        trial is complete and its extension is not shown."""
        allow = rc.rule.allow
        assert allow is not None
        prior_u = T(":p IS NULL", p=col(rc.c("prior")))
        cap_u = T(":c IS NULL", c=col(rc.c("cap0"))) if allow.amount_expr is not None \
            else exp.false()
        ext_no = T(":x AND NOT COALESCE(:e, FALSE)", x=self.cv(rc, "exhausted"),
                   e=self.cv(rc, "extension"))
        return prior_u, cap_u, ext_no

    def applies(self) -> exp.Expression:
        """Whether the guideline decides (or, for a layer, applies to) the row's request:
        in force on the review date, in scope, and its `applies when` is true."""
        g = self.g
        tests: list[exp.Expression] = []
        today = col("review_date")
        if g.effective_from:
            tests.append(T(":t >= :d", t=today, d=lit(g.effective_from)))
        if g.effective_until:
            tests.append(T(":t <= :d", t=today, d=lit(g.effective_until)))
        for key, value in g.scope:
            tests.append(is_true(T(":c = :v", c=col(key), v=lit(value))))
        tests.append(is_true(self.xi.expr(g.applies) if g.applies is not None
                             else exp.false()))
        return exp.Paren(this=and_(*tests))

    # ---- stage 1: guards and the raw values each rule reads
    def _stage1(self) -> list[tuple[str, exp.Expression]]:
        out: list[tuple[str, exp.Expression]] = []
        requested = field_of(col("request"), self.qfield)
        out.append((self.n("requested"), requested))
        for rc in self.rules:
            r = rc.rule
            out.append((rc.c("guard"), self.x.expr(r.when) if r.when else exp.true()))
            if r.kind == "require":
                out.append((rc.c("must"), self.x.expr(r.must) if r.must else exp.true()))
            elif r.kind in {"limit", "trial"}:
                allow = r.allow
                assert allow is not None
                prior = self.x.expr(r.counting) if r.counting else lit(0)
                out.append((rc.c("prior"), prior))
                if allow.amount_expr is not None:
                    out.append((rc.c("cap0"), self.x.expr(allow.amount_expr)))
                if r.kind == "trial" and r.extend_if is not None:
                    out.append((rc.c("ext"), self.x.expr(r.extend_if)))
        return out

    # ---- stage 2: a limit's cap after a trial's extension, and what it allows
    def _stage2(self) -> list[tuple[str, exp.Expression]]:
        out: list[tuple[str, exp.Expression]] = []
        for rc, allow in self._limits():
            r = rc.rule
            prior = col(rc.c("prior"))
            cap0 = col(rc.c("cap0")) if allow.amount_expr is not None else lit(allow.amount)
            if r.kind == "trial":
                ext = col(rc.c("ext")) if r.extend_if is not None else exp.Null()
                exhausted = T("(:cap) IS NOT NULL AND :p >= :cap", cap=cap0, p=prior) \
                    if not (allow.amount_expr is None and allow.amount is None) else exp.false()
                out.append((rc.c("exhausted"), is_true(exhausted)))
                out.append((rc.c("extension"), case((col(rc.c("exhausted")), ext),
                                                    default=exp.Null())))
                extended = lit(r.extend.amount if r.extend else None)
                cap = case((col(rc.c("exhausted")), extended), default=cap0)
            else:
                out.append((rc.c("exhausted"), exp.false()))
                out.append((rc.c("extension"), exp.Null()))
                cap = cap0
            out.append((rc.c("cap"), cap))
        return out

    def _stage3(self) -> list[tuple[str, exp.Expression]]:
        out: list[tuple[str, exp.Expression]] = []
        pw, wk = field_of(col("request"), "per_week"), field_of(col("request"), "weeks")
        for rc, allow in self._limits():
            allowance = T(":cap - :p", cap=self.cv(rc, "cap"), p=col(rc.c("prior")))
            if allow.per_week is not None:
                by_rate = T(":n * :w", n=lit(allow.per_week), w=wk)
                cut = and_(T(":pw IS NOT NULL AND :wk IS NOT NULL", pw=pw, wk=wk),
                           T(":pw > :n", pw=pw, n=lit(allow.per_week)))
                allowance = case((cut, case((T(":a IS NULL", a=allowance), by_rate),
                                            default=exp.Least(this=allowance,
                                                              expressions=[by_rate]))),
                                 default=allowance)
            out.append((rc.c("al0"), allowance))
        return out

    def _stage4(self) -> list[tuple[str, exp.Expression]]:
        out: list[tuple[str, exp.Expression]] = []
        pw, wk = field_of(col("request"), "per_week"), field_of(col("request"), "weeks")
        for rc, allow in self._limits():
            al0 = col(rc.c("al0"))
            if allow.over_weeks is not None:
                spread = T(":a IS NOT NULL AND :pw IS NOT NULL AND :wk IS NOT NULL AND :wk > :w",
                           a=al0, pw=pw, wk=wk, w=lit(allow.over_weeks))
                out.append((rc.c("spread"), is_true(spread)))
                allowance = case((col(rc.c("spread")),
                                  exp.Least(this=al0, expressions=[
                                      T(":pw * :w", pw=pw, w=lit(allow.over_weeks))])),
                                 default=al0)
            else:
                out.append((rc.c("spread"), exp.false()))
                allowance = al0
            out.append((rc.c("al"), allowance))
        return out

    # ---- stage 5: each rule's outcome (NULL: not applicable or overridden), what it allows
    def _stage5(self) -> list[tuple[str, exp.Expression]]:
        out: list[tuple[str, exp.Expression]] = []
        names = {rc.rule.name: rc for rc in self.rules}
        requested = col(self.n("requested"))
        for rc in self.rules:
            r = rc.rule
            overriders = [names[o.rule.name] for o in self.rules if r.name in o.rule.overrides]
            active = is_true(col(rc.c("guard")))
            if overriders:
                hidden = or_(*[is_true(col(o.c("guard"))) for o in overriders])
                active = and_(active, T("NOT (:h)", h=hidden))
            fail, partial, ok = (self.w.lit(x) for x in ("fail", "partial", "pass"))
            if r.kind == "require":
                outcome = case((is_true(col(rc.c("must"))), ok), default=fail)
                allowed: exp.Expression = exp.Null()
            elif r.kind == "deny":
                outcome, allowed = fail, exp.Null()
            else:
                allow = r.allow
                assert allow is not None
                prior_u, cap_u, ext_no = self._branches(rc)
                al = col(rc.c("al"))
                outcome = case((prior_u, fail), (cap_u, fail), (ext_no, fail),
                               (T(":a IS NULL", a=al), ok), (T(":a <= 0", a=al), fail),
                               (T(":q IS NULL OR :a < :q", q=requested, a=al), partial),
                               default=ok)
                allowed = case((prior_u, lit(0)), (cap_u, lit(0)), (ext_no, lit(0)),
                               (T(":a <= 0", a=al), lit(0)), default=al)
            out.append((rc.c("out"), case((active, outcome), default=exp.Null())))
            out.append((rc.c("allowed"), allowed))
        return out

    # ---- stage 6: the decision of the guideline
    def _stage6(self) -> list[tuple[str, exp.Expression]]:
        failed = or_(*[T(":o = 'fail'", o=col(rc.c("out"))) for rc in self.rules]) \
            if self.rules else exp.false()
        partials = [T("CASE WHEN :o = 'partial' THEN :a END", o=col(rc.c("out")),
                      a=col(rc.c("allowed"))) for rc in self.rules
                    if rc.rule.kind in {"limit", "trial"}]
        # The smallest of what the partial limits allow (NULLs skipped: ARRAY_MIN).
        allowance = exp.Null() if not partials else partials[0] if len(partials) == 1 \
            else exp.ArrayMin(this=array(partials))
        return [(self.n("failed"), is_true(failed)), (self.n("allowance"), allowance)]

    def _stage7(self) -> list[tuple[str, exp.Expression]]:
        failed, allowance = col(self.n("failed")), col(self.n("allowance"))
        decision = case((failed, self.w.lit("non_certified")),
                        (T(":a IS NOT NULL", a=allowance), self.w.lit("modified")),
                        default=self.w.lit("certified"))
        certified = case((failed, exp.Cast(this=lit(0), to=exp.DataType.build(self.qtype))),
                         (T(":a IS NOT NULL", a=allowance), allowance),
                         default=col(self.n("requested")))
        # Whether the letter keeps each rule's reason.
        keeps = []
        for rc in self.rules:
            o = col(rc.c("out"))
            keep = case((failed, T(":o = 'fail'", o=o)),
                        (T(":a IS NOT NULL", a=allowance),
                         T(":o = 'partial' AND :al = :a", o=o, al=col(rc.c("allowed")),
                           a=allowance)),
                        default=exp.false())
            keeps.append((rc.c("keep"), T("COALESCE(:k, FALSE)", k=keep)))
        return [(self.n("decision"), decision), (self.n("certified"), certified), *keeps]

    def _stage8(self) -> list[tuple[str, exp.Expression]]:
        """How many reasons the letter keeps, and the text of each kept one (written only
        for the rules it keeps)."""
        count: exp.Expression = lit(0)
        for rc in self.rules:
            count = exp.Add(this=count, expression=exp.Cast(
                this=col(rc.c("keep")), to=exp.DataType.build("INT")))
        return [(self.n("kept"), count),
                *[(rc.c("text"), case((col(rc.c("keep")), self._text(rc)), default=exp.Null()))
                  for rc in self.rules]]

    def _stage9(self) -> list[tuple[str, exp.Expression]]:
        """The reasons as a list, in the rules' order. Most letters keep one or two: the first
        and the last kept are picked out as single values; only a longer list is built from
        one entry per rule, filtered (the costlier way in the engines)."""
        none = exp.Cast(this=exp.Array(expressions=[]), to=self.w.reasons_type())
        if not self.rules:
            return [(self.n("reasons"), none)]
        entries = [(col(rc.c("keep")),
                    T("STRUCT(:r AS rule, :o AS kind, :t AS text, :c AS citation)",
                      r=self.w.lit(rc.rule.name), o=col(rc.c("out")), t=col(rc.c("text")),
                      c=self.w.lit(rc.rule.citation)))
                   for rc in self.rules]
        first = case(*[(k, e.copy()) for k, e in entries])
        last = case(*[(k, e.copy()) for k, e in reversed(entries)])
        every = T("FILTER(:r, x -> x IS NOT NULL)",
                  r=array([case((k, e.copy()), default=exp.Null()) for k, e in entries]))
        n = col(self.n("kept"))
        reasons = case((T(":n = 0", n=n), none), (T(":n = 1", n=n), array([first])),
                       (T(":n = 2", n=n), array([first.copy(), last])), default=every)
        return [(self.n("reasons"), reasons)]

    # ---- the path through the graph (Python's `Determination.trace`)
    def _json(self, fields: list[tuple[str, exp.Expression]]) -> exp.Expression:
        """A JSON object of these fields, nulls kept (the values a step saw)."""
        if not fields:
            return exp.Literal.string("{}")
        s = struct(fields)
        if self.dialect == "spark":
            return T("TO_JSON(:s, MAP('ignoreNullFields', 'false'))", s=s)
        return exp.Cast(this=exp.Anonymous(this="TO_JSON", expressions=[s]),
                        to=exp.DataType.build("STRING"))

    def _step_values(self, rc: _RuleCols) -> exp.Expression:
        r = rc.rule
        if r.kind == "deny":
            return self._json([])
        if r.kind == "require":
            fields = [("must", col(rc.c("must")))]
            for node in walk(r.must) if r.must is not None else ():
                if isinstance(node, (ir.Fact, ir.DefRef)) and node.type.kind in facts.NUMERIC:
                    label = f"{node.record}.{node.name}" if isinstance(node, ir.Fact) \
                        else node.name
                    if all(label != k for k, _ in fields[1:]) and len(fields) < 4:
                        fields.append((label, self.x.expr(node)))
            return self._json(fields)
        allow = r.allow
        assert allow is not None
        prior, req = col(rc.c("prior")), col(self.n("requested"))
        counts = r.counting is not None
        prior_u, cap_u, ext_no = self._branches(rc)
        head = [("prior", prior), ("requested", req)] if counts else [("requested", req)]
        main = list(head)
        pw, wk = field_of(col("request"), "per_week"), field_of(col("request"), "weeks")
        al = col(rc.c("al"))
        remaining = case((T(":a <= 0", a=al), lit(0)), default=al)
        variants = []
        for extended in (False, True) if r.kind == "trial" else (False,):
            fields = list(main) + ([("extension", self.cv(rc, "extension"))] if extended else [])
            fields.append(("cap", self.cv(rc, "cap")))
            if allow.per_week is not None:
                fields += [("per_week", pw), ("weeks", wk)]
            variants.append((extended, fields))
        whens = [(prior_u, self._json([("prior", exp.Null()), ("requested", req)])),
                 (cap_u, self._json([("requested", req), ("cap", exp.Null())])),
                 (ext_no, self._json(head + [("extension", self.cv(rc, "extension"))]))]
        for extended, fields in variants:
            spread_fields = fields + [("remaining", remaining)]
            if allow.over_weeks is not None and allow.per_week is None:
                with_weeks = fields + [("weeks", wk), ("remaining", remaining)]
                body = case((self.cv(rc, "spread"), self._json(with_weeks)),
                            default=self._json(spread_fields))
            else:
                body = self._json(spread_fields)
            whens.append((self.cv(rc, "exhausted") if extended else T("NOT :x",
                                                                   x=self.cv(rc, "exhausted")),
                          body))
        return case(*whens)

    def _path(self) -> exp.Expression:
        names = {rc.rule.name: rc for rc in self.rules}
        steps = [T("STRUCT('applies' AS node, 'applies' AS outcome, '{}' AS `values`)")]
        for rc in self.rules:
            r = rc.rule
            guard = col(rc.c("guard"))
            overriders = [names[o.rule.name] for o in self.rules if r.name in o.rule.overrides]
            hidden = or_(*[is_true(col(o.c("guard"))) for o in overriders]) if overriders \
                else exp.false()
            outcome = case((T("NOT COALESCE(:g, FALSE)", g=guard),
                            exp.Literal.string("not applicable")),
                           (hidden, exp.Literal.string("overridden")),
                           default=col(rc.c("out")))
            values = case((T("NOT COALESCE(:g, FALSE)", g=guard),
                           self._json([("when", guard)])),
                          (hidden, exp.Literal.string("{}")),
                          default=self._step_values(rc))
            steps.append(T("STRUCT(:n AS node, :o AS outcome, :v AS `values`)",
                           n=lit(f"rule:{r.name}"), o=outcome, v=values))
        decision = col(self.n("decision"))
        steps.append(T("STRUCT(CONCAT('outcome:', :d) AS node, :d AS outcome, :v AS `values`)",
                       d=decision, v=self._json([("certified", col(self.n("certified")))])))
        return array(steps)

    # ---- reason texts
    def _values(self, rc: _RuleCols) -> dict[str, exp.Expression]:
        """Placeholder → its text, as the rule's values give it (Python's `values` dict):
        a value absent from the branch taken shows as undocumented."""
        r = rc.rule
        u = exp.Literal.string(UNDOCUMENTED_TEXT)
        if r.kind == "require":
            return {"must": show(col(rc.c("must")), "bool")}
        if r.kind == "deny":
            return {}
        allow = r.allow
        assert allow is not None
        qkind = "number" if self.qtype == "DOUBLE" else "int"
        prior_u, cap_u, ext_no = self._branches(rc)
        main = T("NOT (:a) AND NOT (:b) AND NOT (:c)", a=prior_u, b=cap_u, c=ext_no)
        pw, wk = field_of(col("request"), "per_week"), field_of(col("request"), "weeks")
        al = col(rc.c("al"))
        remaining = case((T(":a <= 0", a=al), lit(0)), default=al)
        values = {
            "requested": show(col(self.n("requested")), qkind),
            "prior": show(col(rc.c("prior")), "int") if r.counting is not None else u,
            "cap": case((main, T("COALESCE(:t, 'None')",
                                 t=exp.Cast(this=self.cv(rc, "cap"),
                                            to=exp.DataType.build("STRING")))), default=u),
            "extension": case((T(":x AND NOT (:a) AND NOT (:b)", x=self.cv(rc, "exhausted"),
                                 a=prior_u, b=cap_u), show(self.cv(rc, "extension"), "bool")),
                              default=u),
            "remaining": case((main, T("COALESCE(:t, 'None')",
                                       t=exp.Cast(this=remaining,
                                                  to=exp.DataType.build("STRING")))),
                              default=u),
            "per_week": case((main, show(pw, "int")), default=u) if allow.per_week is not None
            else u,
            "weeks": case((and_(main, self.cv(rc, "spread") if allow.per_week is None
                                else exp.true()), show(wk, "int")), default=u),
        }
        return values

    def _fill(self, rc: _RuleCols, parts: list[str | tuple[str]]) -> exp.Expression:
        values = self._values(rc)
        pieces: list[exp.Expression] = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(exp.Literal.string(part))
                continue
            name = part[0]
            if name in self.g.definitions:
                d = self.g.definitions[name]
                pieces.append(show(self.x.definition(name, Scope()), d.expr.type.kind))
            else:
                pieces.append(values.get(name, exp.Literal.string(UNDOCUMENTED_TEXT)).copy())
        return concat(pieces, self.dialect)

    def _text(self, rc: _RuleCols) -> exp.Expression:
        r = rc.rule
        texts = sentences(r, self.g)
        o = col(rc.c("out"))
        whens: list[tuple[exp.Expression, exp.Expression]] = []
        if r.kind == "require":
            whens.append((T(":o = 'fail' AND :m IS NULL", o=o, m=col(rc.c("must"))),
                          self._fill(rc, texts["undocumented"])))
        elif r.kind in {"limit", "trial"}:
            prior_u, cap_u, _ = self._branches(rc)
            ext_u = T(":x AND :e IS NULL AND NOT (:a) AND NOT (:b)", x=self.cv(rc, "exhausted"),
                      e=self.cv(rc, "extension"), a=prior_u, b=cap_u)
            whens += [(T(":o = 'fail' AND :u", o=o, u=ext_u),
                       self._fill(rc, texts["undocumented"])),
                      (T(":o = 'fail' AND NOT (:a) AND :b", o=o, a=prior_u, b=cap_u),
                       self._fill(rc, texts["cap_undocumented"])),
                      (T(":o = 'fail' AND :a", o=o, a=prior_u),
                       self._fill(rc, texts["prior_undocumented"])),
                      (T(":o = 'partial' AND :q IS NULL", o=o, q=col(self.n("requested"))),
                       self._fill(rc, texts["quantity_undocumented"]))]
        whens += [(T(":o = 'fail'", o=o), self._fill(rc, texts["fail"])),
                  (T(":o = 'partial'", o=o), self._fill(rc, texts["partial"]))]
        return case(*whens, default=exp.Null())

    def stages(self) -> list[list[tuple[str, exp.Expression]]]:
        """The guideline's columns, stage by stage: each stage reads only earlier ones."""
        # Each definition once a row, as a column, in the order they depend on each other.
        stages = []
        for names in _def_layers(self.g):
            stages.append([(f"{self.p}d_{name}", self.x.expr(self.g.definitions[name].expr))
                           for name in names])
            self.x.columns.update({name: f"{self.p}d_{name}" for name in names})
        stages += [self._stage1(), self._stage2(), self._stage3(), self._stage4(),
                   self._stage5(), self._stage6(), self._stage7(), self._stage8(),
                   self._stage9()]
        if self.path:
            stages.append([(self.n("path"), self._path())])
        return stages

    def decide(self, source: exp.Expression, keep: Sequence[str],
               only: exp.Expression | None = None) -> exp.Select:
        """A SELECT of `keep` columns of `source` and the guideline's decision of each row;
        with `only`, each column is computed for the rows where `only` holds, NULL for the
        others (DuckDB evaluates a CASE's branch for its rows alone)."""
        stages = self.stages()
        if only is not None:
            stages = [[(name, case((only, value), default=exp.Null())) for name, value in st]
                      for st in stages]
        q = _chain(source, stages)
        final = exp.select(*[col(k) for k in keep],
                           *[col(self.n(k)) for k in _DETERMINATION],
                           *([col(self.n("path"))] if self.path else [])).from_(
            exp.Subquery(this=q, alias=exp.TableAlias(this=exp.to_identifier("s", quoted=True))), copy=False)
        return final


def _chain(source: exp.Expression, stages: list[list[tuple[str, exp.Expression]]]) -> exp.Expression:
    """`source` with each stage's columns added by a SELECT of its own, in order."""
    q = source
    for i, cols in enumerate(stages):
        if not cols:
            continue
        sel = exp.select(exp.Star()).from_(exp.Subquery(this=q, alias=exp.TableAlias(
            this=exp.to_identifier(f"s{i}", quoted=True))), copy=False)
        for name, value in cols:
            sel = sel.select(exp.alias_(value, name, quoted=True), append=True, copy=False)
        q = sel
    return q


# DuckDB would inline a CTE into each of its readers: the choice is made once and kept, for
# each guideline's branch reads it.
_MATERIALIZED = {"a_chosen": True, "b_chosen": True}
# Up to this many deciding guidelines are decided in one pass (`LibrarySql._fused`) rather than
# as a union of branches: a table of a few treatments (the query is made for them).
FUSE_MAX = 8


def _def_layers(g: ir.Guideline) -> list[list[str]]:
    """The definitions in layers: each reads only definitions of earlier layers."""
    deps = {name: {n.name for n in walk(d.expr) if isinstance(n, ir.DefRef)} - {name}
            for name, d in g.definitions.items()}
    layers: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(deps):
        ready = [n for n in deps if n not in done and deps[n] <= done]
        if not ready:  # a cycle (the checker refuses one): leave the rest compiled in place
            break
        layers.append(ready)
        done |= set(ready)
    return layers


# ---------------------------------------------------------------- the library
ROW_COLUMNS = ["case_no", "request_no", "case_id", "review_date", "jurisdiction", "payer",
               "request", "patient", "injury", "findings", "diagnoses", "history", "surgeries",
               "visits"]


def _admits_any(c: Compiled, treatments: frozenset[str]) -> bool:
    """Whether the guideline's `applies when` can hold for one of these treatments."""
    bound = _treatments(c.ir.applies if c.ir else None)
    return bound is None or bool(bound & treatments)


def _order(gs: Iterable[Compiled]) -> list[Compiled]:
    """Deciding guidelines in the order the library chooses among them."""
    return sorted(gs, key=lambda c: (-c.ir.precedence,  # type: ignore[union-attr]
                                     -(c.ir.effective_from or dt.date.min).toordinal(),  # type: ignore[union-attr]
                                     c.ir.id))  # type: ignore[union-attr]


def _subq(q: exp.Expression, alias: str) -> exp.Subquery:
    return exp.Subquery(this=q, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))


class LibrarySql:
    """The whole library as one query over a cases table (a table name or a subquery)."""

    def __init__(self, library: Library, dialect: str = "duckdb", path: bool = False,
                 treatments: Iterable[str] | None = None, table: Layout | None = None,
                 chosen: Iterable[str] | None = None) -> None:
        """`treatments`: the treatments the cases table requests, when known. A guideline
        whose `applies when` admits none of them decides no row (and a layer applies to
        none): it is left out of the query, which then gives the same records, faster.
        `table`: the cases table's own layout, where its requests leave fields out
        (`Layout.with_requests`); by default, every field. `chosen`: the ids of the deciding
        guidelines some row of the table chooses, as the query of `choices` finds them
        (with these `treatments`): the others decide no row and are left out too."""
        if dialect not in DIALECTS:
            raise SqlError(f"unknown SQL dialect {dialect!r}: choose one of "
                           f"{', '.join(DIALECTS)}")
        self.library = library
        self.dialect = dialect
        self.lay = layout(library.schema)
        self.table = table or self.lay
        present = None if treatments is None else frozenset(treatments)
        self.present = present
        self.inline: set[str] = set()  # choices read once (fused): not kept
        gs = [c for c in library.guidelines if c.ir is not None and
              (present is None or _admits_any(c, present))]
        picked = None if chosen is None else frozenset(chosen)
        if picked is not None and not self._one_phase:
            raise SqlError("the guidelines the rows choose are known only where no surgery "
                           "is decided first (see `choices`)")
        self.deciders = _order(c for c in gs if not c.ir.layer and  # type: ignore[union-attr]
                               (picked is None or c.ir.id in picked))  # type: ignore[union-attr]
        self.layers = [c for c in gs if c.ir.layer]  # type: ignore[union-attr]
        self.path = path  # records carry each step taken through the graph
        self.words = Words(dialect, [*self.deciders, *self.layers])
        # The deciding guidelines' SQL (a layer's is made where it is applied, `beside`).
        self.sql = {id(c): GuidelineSql(c.ir, dialect, self.lay, path=path,  # type: ignore[arg-type]
                                        words=self.words)
                    for c in self.deciders}

    # ---- the rows
    def rows(self, cases: exp.Expression) -> exp.Expression:
        """One row per request: the case's columns, the request, its position."""
        if self.dialect == "duckdb":
            inner = T("SELECT c.*, UNNEST(c.requests) AS request, GENERATE_SUBSCRIPTS(c.requests,"
                      " 1) AS request_no FROM :cases AS c", read="duckdb", cases=cases)
        else:
            inner = T("SELECT c.*, r.request_no, r.request FROM :cases AS c "
                      "LATERAL VIEW POSEXPLODE(c.requests) r AS request_no, request",
                      cases=cases)
        cols: list[Any] = [col(k) for k in ROW_COLUMNS]
        have, full = self.table.records["request"], self.lay.records["request"]
        if have.keys() != full.keys():
            # The table's requests leave fields out: each request is given them back,
            # undocumented, in the layout's order, so the query reads every field as ever
            # (a struct of the fields it has, not a copy of them: costs next to nothing).
            every = struct((k, field_of(col("request"), k) if k in have else typed_null(t))
                           for k, t in full.items())
            cols[ROW_COLUMNS.index("request")] = exp.alias_(every, "request", quoted=True)
        return exp.select(*cols).from_(_subq(inner, "x"), copy=False)

    def choose(self, rows: exp.Expression, which: list[Compiled]) -> exp.Select:
        w = self.words
        whens = [(self.sql[id(c)].applies(), w.lit(c.ir.id)) for c in which]  # type: ignore[union-attr]
        gid = case(*whens, default=w.lit(None)) if whens else w.lit(None)
        return exp.select(exp.Star(), exp.alias_(gid, "gid", quoted=True)).from_(
            _subq(rows, "r"), copy=False)

    @property
    def _one_phase(self) -> bool:
        """Is no surgery decided first (the table requests none)? Every row is then decided
        in one phase, by the guidelines of `_rest`."""
        return self.present is not None and facts.LINKED_TREATMENT not in self.present

    def _rest(self) -> list[Compiled]:
        """The deciding guidelines that can decide a request other than a surgery (every
        request, where no surgery is decided first)."""
        return [c for c in self.deciders if self._admits(c, False)]

    @property
    def choosable(self) -> list[str]:
        """The ids of the deciding guidelines whose choice by the rows `choices` can ask,
        where no surgery is decided first (otherwise none: the choice of the rows linked to
        a surgery depends on its decision), and only where there are two or more (else
        there is nothing to leave out)."""
        rest = [c.ir.id for c in self._rest()] if self._one_phase else []  # type: ignore[union-attr]
        return rest if len(rest) >= 2 else []

    def choices(self, cases: str = "cases", first: int | None = None) -> list[str]:
        """The statements of a query for the deciding guidelines the rows of `cases` choose
        (`gid`, one row each; NULL for rows none decides), of its `first` rows if given: a
        guideline no row chooses can be left out of the library's query (`chosen`), which
        then gives the same records with less work a row (each of its columns costs every
        row something, though computed only for the rows that chose it). Empty where there
        is nothing to ask (`choosable`)."""
        if not self.choosable:
            return []
        source: exp.Expression = exp.to_table(cases)
        if first is not None:
            source = exp.Subquery(this=exp.select(exp.Star()).from_(source, copy=False)
                                  .limit(int(first)))
        chosen = self.choose(self.rows(source), self._rest())
        q = exp.select(col("gid")).distinct().from_(_subq(chosen, "c"), copy=False)
        return [*self.words.declare(), q.sql(dialect=self.dialect, identify=True)]

    def decide(self, chosen: str, which: list[Compiled]) -> exp.Expression:
        """Each row of the table `chosen` decided by its chosen guideline (none: not
        applicable)."""
        if self._fuses(which):
            return self._fused(chosen, which)
        keep = [*ROW_COLUMNS, "gid"]
        rows_of = exp.to_table(chosen)
        dbl = exp.DataType.build("DOUBLE")
        out: exp.Expression = exp.select(
            *[col(k) for k in keep],
            exp.alias_(self.words.lit("not_applicable"), "g_decision", quoted=True),
            exp.alias_(exp.Cast(this=exp.Null(), to=dbl.copy()), "g_certified", quoted=True),
            exp.alias_(exp.Cast(this=field_of(col("request"), "visits"), to=dbl.copy()),
                       "g_requested", quoted=True),
            exp.alias_(exp.Cast(this=exp.Array(expressions=[]), to=self.words.reasons_type()),
                       "g_reasons", quoted=True),
            *([exp.alias_(exp.Cast(this=exp.Array(expressions=[]),
                                   to=exp.DataType.build(PATH_TYPE, dialect="spark")),
                          "g_path", quoted=True)] if self.path else [])
        ).from_(rows_of.copy(), copy=False).where(T("gid IS NULL"), copy=False)
        for c in which:
            rows = exp.select(exp.Star()).from_(rows_of.copy(), copy=False).where(
                T("gid = :g", g=lit(c.ir.id)), copy=False)  # type: ignore[union-attr]
            part = self.sql[id(c)].decide(rows, keep)
            typed = exp.select(
                *[col(k) for k in keep], col("g_decision"),
                exp.alias_(exp.Cast(this=col("g_certified"), to=dbl.copy()), "g_certified",
                           quoted=True),
                exp.alias_(exp.Cast(this=col("g_requested"), to=dbl.copy()), "g_requested",
                           quoted=True),
                col("g_reasons"), *([col("g_path")] if self.path else [])).from_(
                    _subq(part, "p"), copy=False)
            out = exp.union(out, typed, distinct=False, copy=False)
        return out

    def _fuses(self, which: list[Compiled]) -> bool:
        """Are these guidelines decided in one pass (`_fused`)?"""
        return self.dialect == "duckdb" and 0 < len(which) <= FUSE_MAX

    def _fused(self, chosen: str, which: list[Compiled]) -> exp.Expression:
        """`decide` in one pass for a few guidelines: every guideline's stages side by side,
        each column computed only for the rows that chose its guideline (DuckDB evaluates a
        CASE's branch for its rows alone). The choice is then read once, not kept for each
        guideline's branch and read again by each. Nothing here splits or joins the rows,
        so they stay in the table's order."""
        self.inline.add(chosen)
        keep = [*ROW_COLUMNS, "gid"]
        dbl = exp.DataType.build("DOUBLE")
        parts = [GuidelineSql(c.ir, self.dialect, self.lay, prefix=f"g{k}",  # type: ignore[arg-type]
                              path=self.path, words=self.words) for k, c in enumerate(which)]
        gno = case(*[(T("gid = :g", g=lit(c.ir.id)), lit(k))  # type: ignore[union-attr]
                     for k, c in enumerate(which)], default=exp.Null())
        q: exp.Expression = exp.select(exp.Star(), exp.alias_(gno, "gno", quoted=True)).from_(
            exp.to_table(chosen), copy=False)
        every = [p.stages() for p in parts]
        levels = []
        for level in range(max(len(st) for st in every)):
            levels.append([(name, case((T("gno = :k", k=lit(k)), value), default=exp.Null()))
                           for k, st in enumerate(every) if level < len(st)
                           for name, value in st[level]])
        q = _chain(q, levels)

        def pick(what: str, default: exp.Expression, to: exp.DataType | None = None
                 ) -> exp.Expression:
            def typed(x: exp.Expression) -> exp.Expression:
                return exp.Cast(this=x, to=to.copy()) if to is not None else x
            return case(*[(T("gno = :k", k=lit(k)), typed(col(p.n(what))))
                          for k, p in enumerate(parts)], default=default)

        reasons = exp.Cast(this=exp.Array(expressions=[]), to=self.words.reasons_type())
        cols = [*[col(k) for k in keep],
                exp.alias_(pick("decision", self.words.lit("not_applicable")), "g_decision",
                           quoted=True),
                exp.alias_(pick("certified", exp.Cast(this=exp.Null(), to=dbl.copy()), dbl),
                           "g_certified", quoted=True),
                exp.alias_(pick("requested", exp.Cast(this=field_of(col("request"), "visits"),
                                                      to=dbl.copy()), dbl),
                           "g_requested", quoted=True),
                exp.alias_(pick("reasons", reasons), "g_reasons", quoted=True)]
        if self.path:
            empty = exp.Cast(this=exp.Array(expressions=[]),
                             to=exp.DataType.build(PATH_TYPE, dialect="spark"))
            cols.append(exp.alias_(pick("path", empty), "g_path", quoted=True))
        return exp.select(*cols).from_(_subq(q, "f"), copy=False)

    def beside(self, decided: exp.Expression) -> exp.Expression:
        """The layers (a statute's cap) applied beside the deciding guideline, in library
        order: the stricter stands (`library._beside`)."""
        keep = [*ROW_COLUMNS, "gid", "g_decision", "g_certified", "g_requested", "g_reasons",
                *(["g_path"] if self.path else []), "layers"]
        q: exp.Expression = exp.select(exp.Star(), exp.alias_(
            exp.Cast(this=exp.Array(expressions=[]), to=self.words.layers_type()),
            "layers", quoted=True)).from_(_subq(decided, "d"), copy=False)
        for n, layer in enumerate(self.layers):
            gs = GuidelineSql(layer.ir, self.dialect, self.lay, prefix="l",  # type: ignore[arg-type]
                              words=self.words)
            applies = and_(T("gid IS NOT NULL"), gs.applies())
            flagged = exp.select(exp.Star(), exp.alias_(applies, "l_applies", quoted=True)).from_(
                _subq(q, f"q{n}"), copy=False)
            # The layer's columns only where it applies: a table whose injuries predate the
            # statute (or are undated) costs nothing more.
            decided_too = gs.decide(flagged, [*keep, "l_applies"],
                                    only=col("l_applies") if self.dialect == "duckdb" else None)
            mine = T("SELECT *, l_decision = 'modified' AND l_certified IS NOT NULL AND "
                     "NOT COALESCE(mine < l_certified, FALSE) AS cut FROM (SELECT *, CASE WHEN "
                     "g_decision = 'modified' THEN g_certified ELSE g_requested END AS mine "
                     "FROM :src) AS b1", src=_subq(decided_too, f"l{n}"))
            same = "NOT l_applies OR l_decision = 'certified'"
            new = {
                "g_decision": T(f"CASE WHEN {same} THEN g_decision WHEN l_decision = "
                                "'non_certified' THEN :no WHEN g_decision = "
                                "'non_certified' THEN g_decision WHEN cut THEN :part "
                                "ELSE g_decision END", no=self.words.lit("non_certified"),
                                part=self.words.lit("modified")),
                "g_certified": T(f"CASE WHEN {same} THEN g_certified WHEN l_decision = "
                                 "'non_certified' THEN CASE WHEN g_decision = 'non_certified' "
                                 "THEN g_certified ELSE 0 END WHEN g_decision = 'non_certified' "
                                 "THEN g_certified WHEN cut THEN CAST(l_certified AS DOUBLE) "
                                 "ELSE g_certified END"),
                "g_reasons": T(f"CASE WHEN {same} THEN g_reasons WHEN l_decision = "
                               "'non_certified' THEN CASE WHEN g_decision = 'non_certified' "
                               "THEN g_reasons ELSE l_reasons END WHEN g_decision = "
                               "'non_certified' THEN g_reasons WHEN cut AND mine = l_certified "
                               "AND g_decision = 'modified' THEN CONCAT(g_reasons, l_reasons) "
                               "WHEN cut THEN l_reasons ELSE g_reasons END"),
                "layers": T("CASE WHEN l_applies THEN CONCAT(layers, ARRAY(:id)) ELSE layers "
                            "END", id=self.words.lit(layer.ir.id)),  # type: ignore[union-attr]
            }
            q = exp.select(*[exp.alias_(new[k], k, quoted=True) if k in new else col(k)
                             for k in keep]).from_(_subq(mine, f"k{n}"), copy=False)
        return q

    def _admits(self, c: Compiled, surgery: bool) -> bool:
        bound = _treatments(c.ir.applies if c.ir else None)
        if bound is None:
            return True
        return (facts.LINKED_TREATMENT in bound) if surgery else \
            bool(bound - {facts.LINKED_TREATMENT})

    def _linked(self, rows: exp.Expression, first: exp.Expression) -> exp.Expression:
        """The requests that are not surgeries, with the case's surgeries completed by the
        surgeries requested in it and `associated_procedure_certified` by their decisions
        (`library._with_surgeries`, `library._associated`)."""
        sfields = self.lay.collections["surgeries"]
        rfields = self.lay.records["request"]
        link = T(
            "SELECT case_no, ARRAY_SORT(COLLECT_LIST(STRUCT(request_no AS n, "
            "request.procedures AS procedures, request.body_region AS body_region, "
            "decision IN ('certified', 'modified') AS ok))) AS link FROM :first "
            "GROUP BY case_no", first=_subq(first, "f0"))

        def entry(sfield: str) -> exp.Expression:
            if sfield == "procedure":
                return col("_p")
            if sfield == "status":
                return T("CASE WHEN s.ok THEN 'certified' ELSE 'non_certified' END")
            if sfield == "body_region":
                return T("s.body_region")
            return typed_null(sfields[sfield])  # noqa: B023

        added_entry = struct((k, entry(k)) for k in sfields)
        added = T("FLATTEN(TRANSFORM(COALESCE(l.link, ARRAY()), s -> TRANSFORM(FILTER("
                  "COALESCE(s.procedures, ARRAY()), _p -> NOT ARRAY_CONTAINS(TRANSFORM("
                  "r.surgeries, x -> x.procedure), _p)), _p -> :entry)))", entry=added_entry)
        found = T("FILTER(COALESCE(l.link, ARRAY()), s -> ARRAY_CONTAINS(COALESCE(s.procedures,"
                  " ARRAY()), r.request.associated_procedure))")
        apc = T("CASE WHEN r.request.associated_procedure IS NULL OR "
                "r.request.associated_procedure_certified IS NOT NULL THEN "
                "r.request.associated_procedure_certified WHEN SIZE(:f) > 0 THEN "
                "ELEMENT_AT(:f, 1).ok END", f=found)
        request = struct((k, apc if k == "associated_procedure_certified"
                          else field_of(T("r.request"), k)) for k in rfields)
        cols: list[Any] = []
        for k in ROW_COLUMNS:
            if k == "surgeries":
                cols.append(exp.alias_(T("CONCAT(r.surgeries, :a)", a=added), k, quoted=True))
            elif k == "request":
                cols.append(exp.alias_(request, k, quoted=True))
            else:
                cols.append(exp.alias_(field_of(T("r"), k), k, quoted=True))
        others = exp.select(exp.Star()).from_(_subq(rows, "o"), copy=False).where(
            T("request.treatment IS NULL OR request.treatment <> :t",
              t=lit(facts.LINKED_TREATMENT)), copy=False)
        return exp.select(*cols).from_(_subq(others, "r"), copy=False).join(
            _subq(link, "l"), on=T("l.case_no = r.case_no"), join_type="LEFT", copy=False)

    def query(self, cases: exp.Expression | str = "cases") -> exp.Expression:
        """The library's reviews of every request of `cases`, one record a request."""
        source = exp.to_table(cases) if isinstance(cases, str) else cases
        surgery = [c for c in self.deciders if self._admits(c, True)]
        rest = self._rest()
        first_rows = exp.select(exp.Star()).from_(exp.to_table("rows"), copy=False).where(
            T("request.treatment = :t", t=lit(facts.LINKED_TREATMENT)), copy=False)
        if self._one_phase:
            # No surgery is requested in the table: no request is decided first, none is
            # linked to one (`_linked` would give every row back unchanged).
            # Decided in one pass (`_fused`), the rows are projections of the table's rows
            # in their order: DuckDB keeps that order (`preserve_insertion_order`, which
            # the engine sets), so no sort is needed to give the records back in it.
            out: Any = self.records(exp.select(exp.Star()).from_(exp.to_table("b_done"),
                                                                 copy=False),
                                    sort=bool(rest) and not self._fuses(rest))
            only = [("rows", self.rows(source)),
                    ("b_chosen", self.choose(exp.select(exp.Star()).from_(
                        exp.to_table("rows"), copy=False), rest)),
                    ("b_done", self.settle(self.beside(self.decide("b_chosen", rest))))]
            return self._with(out, only)
        ctes = [
            ("rows", self.rows(source)),
            ("a_chosen", self.choose(first_rows, surgery)),
            ("a_done", self.settle(self.beside(self.decide("a_chosen", surgery)))),
            ("b_rows", self._linked(exp.select(exp.Star()).from_(exp.to_table("rows"), copy=False),
                                    exp.select(exp.Star()).from_(exp.to_table("a_done"), copy=False))),
            ("b_chosen", self.choose(exp.select(exp.Star()).from_(exp.to_table("b_rows"), copy=False),
                                     rest)),
            ("b_done", self.settle(self.beside(self.decide("b_chosen", rest)))),
        ]
        both = exp.union(exp.select(exp.Star()).from_(exp.to_table("a_done"), copy=False),
                         exp.select(exp.Star()).from_(exp.to_table("b_done"), copy=False), distinct=False,
                         copy=False)
        return self._with(self.records(both), ctes)

    def _with(self, out: Any, ctes: list[tuple[str, exp.Expression]]) -> exp.Expression:
        for name, q in ctes:
            keep = _MATERIALIZED.get(name) if name not in self.inline else None
            out = out.with_(exp.to_identifier(name, quoted=True), as_=q, copy=False,
                            materialized=keep if self.dialect == "duckdb" else None)
        return out  # type: ignore[no-any-return]

    def settle(self, q: exp.Expression) -> exp.Expression:
        """library.settle: a request disputed after UR is upheld or overturned as submitted."""
        return T(
            "SELECT *, CASE WHEN ur IS NULL OR g_decision IN ('certified', 'not_applicable') "
            " THEN g_decision WHEN ur = 'modified' THEN :part"
            " WHEN g_decision = 'modified' THEN :no ELSE g_decision END AS decision,"
            " CASE WHEN ur IS NULL OR g_decision IN ('certified', 'not_applicable')"
            " THEN g_certified WHEN ur = 'modified' THEN CAST(request.ur_certified AS DOUBLE)"
            " WHEN g_decision = 'modified' THEN 0 ELSE g_certified END AS certified,"
            " CASE WHEN ur IS NULL OR g_decision IN ('certified', 'not_applicable') THEN NULL"
            " WHEN ur = 'modified' THEN CONCAT('Utilization review already certified ',"
            "  COALESCE(CAST(request.ur_certified AS STRING), 'part'),"
            "  ' of this request; the guideline does not support the rest.')"
            " WHEN g_decision = 'modified' THEN CONCAT('The guideline supports ', :cert,"
            "  ' of the ', :req, ' requested; the review decides the request as submitted and"
            " cannot certify a part of it.') END AS note"
            " FROM (SELECT *, request.ur_decision AS ur FROM :q) AS s1",
            q=_subq(q, "sq"), cert=_py_number(col("g_certified")),
            req=_py_number(col("g_requested")), part=self.words.lit("modified"),
            no=self.words.lit("non_certified"))

    def records(self, q: exp.Expression, sort: bool = True) -> exp.Expression:
        """The review records (the fields of the Python engine's JSON records but the
        prose: item, choice, rationale), in input order: sorted back into it by case and
        request number, unless `q` keeps the table's order (`sort=False`)."""
        deciders = sorted(self.deciders, key=lambda c: c.ir.id)  # type: ignore[union-attr]

        w = self.words

        def per_guideline(value: Any) -> exp.Expression:
            whens = [(T("gid = :g", g=lit(c.ir.id)), w.lit(value(c))) for c in deciders]  # type: ignore[union-attr]
            return case(*whens, default=w.lit(None)) if whens else w.lit(None)

        guideline = T("CASE WHEN gid IS NULL THEN NULL ELSE STRUCT(gid AS id, :title AS title,"
                      " :version AS version, :citation AS citation, :file AS file) END",
                      title=per_guideline(lambda c: c.ir.title),
                      version=per_guideline(lambda c: c.ir.version),
                      citation=per_guideline(lambda c: c.ir.citation),
                      file=per_guideline(lambda c: c.path))
        unit = T("COALESCE(:u, :visits)", u=per_guideline(lambda c: c.ir.unit or None),
                 visits=w.lit("visits"))
        return T(
            "SELECT case_id, request.id AS request, request.treatment AS treatment, decision,"
            " g_requested AS requested, certified, certified AS certified_visits, :unit AS unit,"
            " CASE WHEN ur IS NULL OR decision = 'not_applicable' THEN NULL"
            "  WHEN ur = 'certified' THEN CASE WHEN decision = 'certified' THEN :upheld"
            "   ELSE :overturned END"
            "  WHEN decision = 'certified' THEN :overturned ELSE :upheld END AS outcome,"
            " CASE decision WHEN 'certified' THEN :a1 WHEN 'modified' THEN :a6"
            "  WHEN 'non_certified' THEN :a3 END AS x12_action,"
            " g_decision AS guideline_decision, g_certified AS guideline_certified, note,"
            " :guideline AS guideline, DATE_FORMAT(review_date, 'yyyy-MM-dd') AS as_of,"
            " layers, g_reasons AS reasons, :path, case_no, request_no"
            " FROM :q" + (" ORDER BY case_no, request_no" if sort else ""),
            unit=unit, guideline=guideline, q=_subq(q, "all"), upheld=w.lit("upheld"),
            overturned=w.lit("overturned"), a1=w.lit("A1"), a6=w.lit("A6"), a3=w.lit("A3"),
            path=_as(col("g_path") if self.path else typed_null(PATH_TYPE), "path"))

    def steps(self, cases: str = "cases") -> list[tuple[str, str]]:
        """The query as named steps (its CTEs, then the final SELECT), for engines that
        should keep each step rather than compute it for each reader."""
        q = self.query(cases)
        with_: Any = q.args.get("with_") or q.args.get("with")
        out = [(cte.alias, cte.this.sql(dialect=self.dialect, identify=True))
               for cte in with_.expressions]
        q.set("with_" if "with_" in q.args else "with", None)
        out.append(("reviews", q.sql(dialect=self.dialect, identify=True)))
        return out

    def render(self, cases: str = "cases", pretty: bool = False) -> str:
        return self.query(cases).sql(dialect=self.dialect, identify=True, pretty=pretty)

    def script(self, cases: str = "cases", pretty: bool = False) -> list[str]:
        """The statements to run, in order: the declarations the query needs (DuckDB's type
        of the library's words), then the query."""
        return [*self.words.declare(), self.render(cases, pretty=pretty)]


# The rows a refusal of a cases table names, at most.
CONTRACT_ROWS = 5


# What a row of the cases table may break, as `contract_problems` names it; each with the
# words of the refusal (after "field `x`"), as the Python engine's messages for a case file say.
_BROKEN = {
    "missing": "is missing (null or empty), which the case contract requires",
    "negative": "expected a number of at least 0",
    "term": "expected a term in snake_case (lowercase letters, digits and _)",
    "code": "expected a diagnosis code as guidec writes it: capitals, no spaces around it "
            "(M54.12)",
    "decision": f"expected one of {', '.join(DECISIONS)}",
    "repeated": "has a repeated request id",
}
# Beyond this many wrong values in a field, its rows are tested by the pattern instead.
_MOST_WORDS = 1000
# The lists of the cases table, with the record each entry is.
_LISTS = {"requests": "request", "diagnoses": "diagnoses", "history": "history",
          "surgeries": "surgeries", "visits": "visits"}


@record(kw_only=False)
class Check:
    """One thing a field of the cases table must keep: `column.name` (`history.visits`) is
    `why`-free (a key of `_BROKEN`); `many`: the field is itself a list (of terms or codes)."""

    column: str
    name: str
    why: str
    many: bool = False

    @property
    def key(self) -> str:
        return f"{self.column}.{self.name}" if self.name else self.column


def contract_checks(lay: Layout, kept: Mapping[str, Collection[str]] | None = None
                    ) -> list[Check]:
    """Everything the review relies on in a cases table: a case id, a review date and at
    least one request; each request's id (none repeated in a case) and treatment; each
    entry's required fields (an entry of `history` its treatment, and so on); every whole
    number (a count, a duration, an age) at least 0; every term in snake_case, every
    diagnosis code as guidec writes it (capitals, trimmed) and UR's decision one of the
    three. `kept`: per field, what the table's statistics show it keeps (`missing` where no
    value is null; the rest where no value is present, `negative` where the least is at
    least 0): those checks are left out."""
    kept = kept or {}
    out = [Check("case_id", "", "missing"), Check("review_date", "", "missing"),
           Check("requests", "", "missing"), Check("requests", "", "repeated")]
    for column in ("patient", "injury", "findings", *_LISTS):
        record = _LISTS.get(column, column)
        fields = lay.records[record] if record in lay.records else lay.collections[record]
        required = set(REQUEST_REQUIRED) if record == "request" \
            else facts.REQUIRED_FIELDS.get(record, set()) if column in _LISTS else set()
        out += [Check(column, name, "missing") for name in sorted(required)]
        out += [Check(column, name, "negative") for name, t in fields.items()
                if t == "BIGINT" or name == "quantity"]
        for name, kind in lay.words.get(record, {}).items():
            why = "decision" if (record, name) == ("request", "ur_decision") else \
                "term" if kind in {"term", "terms"} else "code"
            out.append(Check(column, name, why, kind in {"terms", "codes"}))
    return [c for c in out if not c.name or c.why not in kept.get(c.key, ())]


def contract_profile(checks: Sequence[Check], dialect: str, cases: str = "cases") -> str:
    """One query, one row: for each check, what the table holds there (a pass a list, and
    one over the rows): how many are missing or repeated, the least number, a field's
    distinct terms or codes. `contract_found` reads it; only what it finds wrong is then
    looked for row by row (`contract_problems`), so a table that keeps the contract is read
    once, and each distinct term is checked once, by the case model's own pattern."""
    by_column: dict[str, list[exp.Expression]] = {}
    for c in _profile_order(checks):
        column = _profile_part(c)
        f = field_of(T("_e") if column else col(c.column), c.name) if c.name else None
        if f is None and column:  # `requests` itself, read in the pass over its entries
            agg = T("SUM(CASE WHEN :t THEN 1 ELSE 0 END)", t=col(f"_{c.why}"))
        elif f is None:  # the row's own fields
            agg = T("SUM(CASE WHEN :t THEN 1 ELSE 0 END)", t=_row_test(c))
        elif c.why == "missing" and column == "requests":  # not the entry added for none
            agg = T("SUM(CASE WHEN NOT _missing AND :f IS NULL THEN 1 ELSE 0 END)", f=f)
        elif c.why == "missing":
            agg = T("SUM(CASE WHEN :f IS NULL THEN 1 ELSE 0 END)", f=f)
        elif c.why == "negative":
            agg = T("MIN(:f)", f=f)
        else:
            agg = T("ARRAY_AGG(DISTINCT :f)", f=f)
        by_column.setdefault(column, []).append(agg)
    parts: list[exp.Expression] = []
    for column, aggs in by_column.items():
        one = exp.select(*aggs)
        if column == "requests":
            # Read once: the entries, and beside each the tests of the row's own list (a row
            # whose list is missing or empty gives one entry, NULL, so that it is counted).
            # The row's tests are made before its entries are taken apart, not for each.
            whys = ["missing", *(c.why for c in checks
                                 if c.column == column and not c.name and c.why != "missing")]
            rows = exp.select(
                exp.alias_(T("CASE WHEN SIZE(requests) > 0 THEN requests ELSE ARRAY(NULL) END"),
                           "_l", quoted=True),
                *[exp.alias_(_row_test(Check(column, "", why)), f"_{why}", quoted=True)
                  for why in whys]).from_(exp.to_table(cases))
            one = one.from_(_subq(exp.select(
                exp.alias_(exp.Explode(this=col("_l")), "_e", quoted=True),
                *[col(f"_{why}") for why in whys]).from_(_subq(rows, "r")), "u"))
        elif column:
            one = one.from_(_subq(exp.select(exp.alias_(exp.Explode(this=col(column)), "_e",
                                                          quoted=True)).from_(
                exp.to_table(cases)), "u"))
        else:
            one = one.from_(exp.to_table(cases))
        parts.append(_subq(one, f"w{len(parts)}"))
    q = exp.select("*").from_(parts[0])
    for p in parts[1:]:
        q = q.join(p, join_type="CROSS")
    return q.sql(dialect=dialect, identify=True)


def unknown_terms(schema: Any, distinct: Mapping[str, Sequence[str]], path: str) -> list[str]:
    """Warnings for the terms of a table that no guideline names (from the profile's
    distinct values, `contract_found`), one a term and field, as the Python engine warns of
    each case that holds one: such a term matches no rule, and the rows are still reviewed."""
    out = []
    for key, values in distinct.items():
        column, name = key.split(".", 1)
        record = _LISTS.get(column, column)
        types = schema.records.get(record) or schema.collections.get(record) or {}
        t = types.get(name)
        if t is None or t.kind not in {"term", "terms"} or not t.category:
            continue
        known = schema.vocab.get(t.category, frozenset())
        where = f"{column}[].{name}" if column in _LISTS else key
        # `visits` repeats each dated course's terms (from `history[].visit_dates`): a term
        # warned of in `history` is not warned of again.
        warned = frozenset(distinct.get(f"history.{name}", ())) if column == "visits" else ()
        for v in values:
            if v not in known and v not in warned:
                hint = did_you_mean(v, known)
                out.append(f"{path}: field `{where}` has unknown {t.category} "
                           f"{inert(json.dumps(v, ensure_ascii=True)[:80])}"
                           + (f"; {hint}" if hint else "") + "; no guideline names it")
    return out


def _row_test(c: Check) -> exp.Expression:
    """The test that a row breaks a check of its own fields (`Check.name` empty)."""
    if c.why == "repeated":  # the ids compared only where there are two (a CASE, not AND)
        return T("CASE WHEN SIZE(requests) > 1 THEN SIZE(ARRAY_DISTINCT(TRANSFORM(requests, "
                 "_x -> _x.id))) < SIZE(requests) ELSE FALSE END")
    return T({"case_id": "case_id IS NULL OR case_id = ''",
              "review_date": "review_date IS NULL",
              "requests": "requests IS NULL OR SIZE(requests) = 0"}[c.column])


def _profile_part(c: Check) -> str:
    """Which part of `contract_profile` reads a check: a list's pass (its name), or the pass
    over the rows (""). `requests` is read once: its own tests (missing, repeated ids) are
    made in the pass over its entries."""
    return c.column if c.column in _LISTS and (c.name or c.column == "requests") else ""


def _profile_order(checks: Sequence[Check]) -> list[Check]:
    """The checks in the order of `contract_profile`'s columns: part by part, in the order
    each part first comes."""
    parts = list(dict.fromkeys(map(_profile_part, checks)))
    return sorted(checks, key=lambda c: parts.index(_profile_part(c)))


def contract_found(checks: Sequence[Check], row: Sequence[Any]
                   ) -> tuple[list[Check], dict[str, list[str]], dict[str, list[str]]]:
    """From `contract_profile`'s row: the checks some row breaks; per field of terms or
    codes, its distinct values that are wrong (looked for as they are); and all its distinct
    values (`requests.treatment`: the treatments requested)."""
    import re
    term = re.compile(TERM_PATTERN)
    broken: list[Check] = []
    wrong: dict[str, list[str]] = {}
    distinct: dict[str, list[str]] = {}
    for c, value in zip(_profile_order(checks), row):
        if c.why in {"missing", "repeated"}:
            if value:
                broken.append(c)
        elif c.why == "negative":
            if value is not None and value < 0:
                broken.append(c)
        else:
            values = distinct[c.key] = sorted({
                v for x in value or () for v in (x if c.many and isinstance(x, list) else [x])
                if v is not None})
            bad = [v for v in values if
                   (c.why == "term" and not term.search(v)) or
                   (c.why == "code" and v != v.strip().upper()) or
                   (c.why == "decision" and v not in DECISIONS)]
            if bad:
                broken.append(c)
                wrong[c.key] = bad
    return broken, wrong, distinct


def contract_problems(lay: Layout, dialect: str, cases: str = "cases",
                      most: int = CONTRACT_ROWS, checks: Sequence[Check] | None = None,
                      words: Mapping[str, Sequence[str]] | None = None) -> str:
    """A query for the first rows of a cases table (at most `most`, by case_no) that break
    the case contract (`contract_checks`): a table written by `guidec cases convert` keeps
    all of it; a table made elsewhere may not, and the review refuses it rather than decide
    on what the Python engine would have refused or read otherwise. Columns: case_no,
    case_id, field (`history[0].visits`), value (as text, NULL where the field is missing),
    why (a key of `_BROKEN`). `checks`: only these (by default, all); `words`: per field of
    terms or codes, its wrong values (`contract_found`): those are looked for, rather than
    each value tested by the pattern."""
    checks = contract_checks(lay) if checks is None else checks

    def of(test: exp.Expression, var: str = "_x") -> exp.Expression:
        return exp.Lambda(this=test.copy(), expressions=[exp.to_identifier(var, quoted=True)])

    def found(field: exp.Expression, value: exp.Expression, why: str) -> exp.Expression:
        return struct([("field", field), ("value", value), ("why", lit(why))])

    def text(x: exp.Expression) -> exp.Expression:
        return exp.Cast(this=x, to=exp.DataType.build("STRING"))

    def test(c: Check, at: exp.Expression) -> tuple[exp.Expression, exp.Expression | None]:
        """The test that a record or entry (`at`) breaks a check; its value as text (None:
        missing)."""
        f = field_of(at.copy(), c.name)
        if c.why == "missing":
            return T("(:f) IS NULL", f=f), None
        if c.why == "negative":
            return T(":f < 0", f=f), text(f)
        wrong = (words or {}).get(c.key)
        bad: exp.Expression
        if wrong and len(wrong) <= _MOST_WORDS:
            bad = exp.In(this=col("_w"), expressions=[lit(v) for v in wrong])
        elif c.why == "decision":
            bad = exp.Not(this=exp.In(this=col("_w"), expressions=[lit(v) for v in DECISIONS]))
        elif c.why == "term":
            bad = T("NOT (_w RLIKE :p)", p=lit(TERM_PATTERN))
        else:
            bad = T("_w <> UPPER(TRIM(_w))")
        if c.many:  # shown: the first wrong entry of the list
            return some(f, of(bad, "_w"), dialect), T("ELEMENT_AT(FILTER(:f, :l), 1)", f=f,
                                                       l=of(bad, "_w"))
        return bad.transform(lambda n: f.copy() if isinstance(n, exp.Column)
                             and n.name == "_w" else n), text(f)

    firsts: list[exp.Expression] = [
        case((_row_test(c), found(lit(c.column), typed_null("STRING"), c.why)))
        for c in checks if not c.name and c.why == "missing"]
    for column in ("patient", "injury", "findings"):
        for c in checks:
            if c.column == column and c.name:
                t, value = test(c, col(column))
                firsts.append(case((t, found(lit(c.key), value or typed_null("STRING"),
                                             c.why))))
    for column in _LISTS:
        mine = [c for c in checks if c.column == column and c.name]
        if not mine:
            continue
        # One pass over a list for every row; which entry and field, for the rows found.
        tests = [(c, *test(c, col("_x"))) for c in mine]
        which = []
        for c, t, value in tests:
            at = T("ARRAY_POSITION(TRANSFORM(:c, :l), TRUE)", c=col(column), l=of(t))
            entry = T("ELEMENT_AT(:c, CAST(:i AS INT))", c=col(column), i=at.copy())
            shown = typed_null("STRING") if value is None else value.transform(
                lambda n: entry.copy() if isinstance(n, exp.Column) and n.name == "_x" else n)
            where = T("CONCAT(:c, '[', CAST(:i - 1 AS STRING), '].', :n)", c=lit(column),
                      i=at, n=lit(c.name))
            which.append(case((some(col(column), of(t), dialect), found(where, shown, c.why))))
        detail = which[0] if len(which) == 1 else exp.Coalesce(this=which[0],
                                                               expressions=which[1:])
        firsts.append(case((some(col(column), of(or_(*[t for _, t, _ in tests])), dialect),
                            detail)))
    firsts += [case((_row_test(c), found(lit(c.column), typed_null("STRING"), c.why)))
               for c in checks if not c.name and c.why != "missing"]
    if not firsts:
        firsts.append(typed_null("STRUCT<field: STRING, value: STRING, why: STRING>"))
    problem = firsts[0] if len(firsts) == 1 else exp.Coalesce(this=firsts[0],
                                                              expressions=firsts[1:])
    rows = exp.select(col("case_no"), col("case_id"), exp.alias_(problem, "p", quoted=True)
                      ).from_(exp.to_table(cases), copy=False)
    q = exp.select(col("case_no"), col("case_id"), T("p.field"), T("p.value"), T("p.why")
                   ).from_(_subq(rows, "r"), copy=False).where(
                       T("p IS NOT NULL"), copy=False).order_by(
                           col("case_no"), copy=False).limit(most, copy=False)
    return q.sql(dialect=dialect, identify=True)


def contract_message(path: str, found: Sequence[tuple[Any, ...]],
                     most: int = CONTRACT_ROWS) -> str:
    """The refusal of a cases table, from the rows `contract_problems` found."""
    lines = []
    for n, case_id, name, value, why in found:
        if why in {"missing", "repeated"}:
            what = _BROKEN[why]
        else:
            shown = value if why == "negative" else json.dumps(value, ensure_ascii=True)
            what = f"has value {inert(str(shown)[:60])}: {_BROKEN[why]}"
        lines.append(f"{path}: not a valid cases table: case_no {n} "
                     f"({inert(str(case_id)[:60]) if case_id else 'no case_id'}): "
                     f"field `{name}` {what}")
    more = " (the first rows found; there may be more)" if len(found) >= most else ""
    return "\n".join(lines) + more + \
        "\n(`guidec cases convert` writes a cases table from case files, checked)"


def _as(x: exp.Expression, name: str) -> exp.Expression:
    return exp.Alias(this=x, alias=exp.to_identifier(name, quoted=True))


def _py_number(x: exp.Expression) -> exp.Expression:
    """A quantity as Python's f-string writes it: digits, or None."""
    return T("COALESCE(CASE WHEN :x = FLOOR(:x) THEN CAST(CAST(:x AS BIGINT) AS STRING) "
             "ELSE CAST(:x AS STRING) END, 'None')", x=x)


def compile_library(library: Library, dialect: str = "duckdb", cases: str = "cases",
                    pretty: bool = True) -> list[str]:
    """The SQL statements of a library's review for a dialect: on DuckDB, the declaration of
    the library's words, then the query; on Spark, the query (kept in guidec's cache under
    a key of every guideline's text and declarations, like compiled guidelines)."""
    statements: list[str] = cached(library, ("script", dialect, cases, str(pretty)),
                                   lambda: LibrarySql(library, dialect).script(cases,
                                                                                pretty=pretty))
    return statements


def chosen_key(chosen: Sequence[str] | None) -> tuple[str, ...]:
    """The part of a cache key that names the deciding guidelines a query was made for
    (`LibrarySql(chosen=...)`): none where it was made for all (no term holds a ':')."""
    return () if chosen is None else (f"chosen:{','.join(chosen)}",)


def cached(library: Library, what: tuple[str, ...], compute: Callable[[], Any]) -> Any:
    """`compute()` for this library, from the cache when its files are unchanged."""
    from ... import diskcache
    parts = [diskcache.text("\0".join(what))]
    try:
        for c in library.guidelines:
            parts += diskcache.key_parts(c.path, c.source)
    except OSError:
        return compute()
    return diskcache.memo("sql", parts, compute, lambda x: isinstance(x, (str, list)))
