"""Parse tree → AST node classes: frozen, slotted, keyword-only; spans ignored by equality."""

from __future__ import annotations

import datetime as dt

from .diagnostics import NO_SPAN, Span
from .records import field, record


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)




# ---------------------------------------------------------------- expressions
@record
class Expr:
    span: Span = _span()


@record
class IntLit(Expr):
    value: int


@record
class Group(Expr):
    """`( inner )` as the author wrote it: kept so fmt never drops the author's grouping."""

    inner: Expr


@record
class NumberLit(Expr):
    """`2.5` (a decimal) or `20%` (a percent, the number 20): kept as written for fmt."""

    value: float
    text: str
    percent: bool = False


@record
class DateLit(Expr):
    value: dt.date


@record
class BoolLit(Expr):
    value: bool


@record
class Duration(Expr):
    amount: int
    unit: str
    unit_span: Span = _span()


@record
class SetLit(Expr):
    terms: tuple[str, ...]


@record
class Path(Expr):
    """`a.b.c`, or `history[filter].visits` where the filter applies to the first name."""

    names: tuple[str, ...]
    filter: Expr | None = None


@record
class Unary(Expr):
    op: str  # "not" | "neg" | "documented" | "not_documented"
    operand: Expr


@record
class Binary(Expr):
    op: str  # "and" "or" "==" "!=" "<" "<=" ">" ">=" "in" "not in" "+" "-" "*"
    left: Expr
    right: Expr


@record
class WithinAfter(Expr):
    """`within 6 months after X`: the review date falls in [X, X + 6 months]."""

    duration: Duration
    anchor: Expr


@record
class InLast(Expr):
    """`X in last 12 months`: X falls in [review date - 12 months, review date]."""

    subject: Expr
    duration: Duration


@record
class Aggregate(Expr):
    kind: str  # sum count any all latest earliest
    path: Path


@record
class AnyDiagnosis(Expr):
    valueset: str
    name_span: Span = _span()
    request: bool = False  # `any request diagnosis in`: the diagnoses the request names


@record
class Cond(Expr):
    """`if C then A else B`: A when C is true, B when false, undocumented when C is."""

    cond: Expr
    then: Expr
    otherwise: Expr


@record
class CalendarYear(Expr):
    """`X in calendar year of Y`: two dates in the same calendar year."""

    subject: Expr
    of: Expr


@record
class Call(Expr):
    func: str
    args: tuple[Expr, ...]


# ---------------------------------------------------------------- declarations
@record
class Pages:
    ranges: tuple[tuple[int, int], ...]
    span: Span = _span()

    def __str__(self) -> str:
        parts = [str(a) if a == b else f"{a}-{b}" for a, b in self.ranges]
        single = len(self.ranges) == 1 and self.ranges[0][0] == self.ranges[0][1]
        return ("p. " if single else "pp. ") + ", ".join(parts)


@record
class Citation:
    document: str | None
    pages: Pages | None
    section: str | None = None
    span: Span = _span()


@record
class Header:
    id: str
    title: str
    version: str | None = None
    effective_from: dt.date | None = None
    effective_until: dt.date | None = None
    source: str | None = None
    source_pages: Pages | None = None
    applies: Expr | None = None
    precedence: int = 0
    basis: str | None = None
    unit: str = "visits"
    kind: str = "guideline"  # or "declarations": a file of shared facts and vocabulary
    scope: tuple[tuple[str, str], ...] = ()  # (jurisdiction|payer, value): whose cases it decides
    layer: bool = False  # applies beside whichever guideline decides (a statute's cap)
    span: Span = _span()


@record
class ValueSet:
    name: str
    title: str | None
    codes: tuple[str, ...]
    terms: tuple[str, ...]
    span: Span = _span()
    name_span: Span = _span()
    code_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@record
class Definition:
    name: str
    title: str | None
    expr: Expr
    span: Span = _span()
    name_span: Span = _span()


@record
class Section:
    title: str
    citations: tuple[Citation, ...]
    span: Span = _span()


@record
class Quantity:
    amount: int | None
    unit: str | None
    amount_expr: Expr | None = None  # a cap computed from the case
    over: int | None = None
    over_unit: str | None = None
    per_week: int | None = None
    rate_unit: str | None = None
    rate_per: str | None = None
    span: Span = _span()


@record
class Clause:
    """One keyword clause of a rule: `when`, `must`, `allow`, `cite` ..."""

    keyword: str
    expr: Expr | None = None
    text: str | None = None
    quantity: Quantity | None = None
    names: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = ()
    span: Span = _span()


@record
class Rule:
    kind: str  # require | limit | trial | deny
    name: str
    title: str | None
    clauses: tuple[Clause, ...]
    section: str | None = None
    span: Span = _span()
    name_span: Span = _span()


@record
class Expectation:
    decision: str | None  # None: no applicable guideline
    quantity: int | None
    reasons: tuple[str, ...] | None
    span: Span = _span()


@record
class Test:
    title: str
    case_file: str | None
    request_id: str | None
    given: dict[str, object] | None
    expect: Expectation
    span: Span = _span()


@record
class Comment:
    line: int
    column: int
    text: str


# A declared fact's type as a guideline writes it, by the kind the compiler uses. The parser,
# the formatter and the messages about declarations all read this one table.
TYPE_WORDS = {"bool": "yes/no", "int": "whole number", "decimal": "decimal", "percent": "percent",
              "date": "date", "duration": "duration", "code": "code", "text": "text",
              "record": "record", "collection": "list"}
KIND_OF_WORDS = {word: kind for kind, word in TYPE_WORDS.items()}


@record
class FactDecl:
    """`fact findings.plateau: yes/no "a plateau in progress"`: a fact a guideline may read.
    `path` is ("history", "[]", "visits") for a field of every entry of a list."""

    path: tuple[str, ...]
    kind: str  # bool int decimal percent date duration code text term terms record list
    category: str | None
    description: str | None
    span: Span = _span()

    @property
    def name(self) -> str:
        return ".".join(self.path).replace(".[]", "[]")

    @property
    def type_text(self) -> str:
        """The type as written: `yes/no`, `whole number`, `term of drug` ..."""
        return TYPE_WORDS.get(self.kind) or f"{self.kind} of {self.category}"


@record
class VocabTerm:
    name: str
    title: str | None
    codes: tuple[str, ...]
    span: Span = _span()


@record
class Vocabulary:
    """`vocabulary procedure "Surgical procedures" = {lumbar_fusion "Lumbar fusion" ...}`."""

    name: str
    title: str | None
    terms: tuple[VocabTerm, ...]
    span: Span = _span()
    name_span: Span = _span()


Item = ValueSet | Definition | Section | Rule | Test | FactDecl | Vocabulary


@record
class Guideline:
    header: Header
    valuesets: tuple[ValueSet, ...]
    definitions: tuple[Definition, ...]
    sections: tuple[Section, ...]
    rules: tuple[Rule, ...]
    tests: tuple[Test, ...]
    facts: tuple[FactDecl, ...] = ()
    vocabularies: tuple[Vocabulary, ...] = ()
    items: tuple[Item, ...] = field(default=(), compare=False)  # every item, in source order
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    path: str = field(default="", compare=False)
