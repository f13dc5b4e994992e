"""Checked model (IR): names resolved, types known, sugar removed; each node keeps its span."""

from __future__ import annotations

import datetime as dt

from ...dsl.diagnostics import NO_SPAN, Span
from ...dsl.records import field, record
from .facts import Schema, Type


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)




@record
class Expr:
    type: Type
    span: Span = _span()


@record
class Const(Expr):
    value: object  # bool, int, date, frozenset[str], (amount, unit) for durations


@record
class Fact(Expr):
    """A case fact: `record` is request/findings/patient/injury, or '' for top-level facts."""

    record: str
    name: str


@record
class EntryField(Expr):
    """A field of the collection entry a filter is looking at."""

    name: str


@record
class DefRef(Expr):
    name: str


@record
class ValueSetRef(Expr):
    name: str


@record
class Op(Expr):
    op: str
    args: tuple[Expr, ...]


@record
class Aggregate(Expr):
    kind: str
    collection: str
    field: str | None
    filter: Expr | None


@record
class ValueSet:
    name: str
    title: str | None
    codes: tuple[str, ...]
    terms: tuple[str, ...]
    span: Span = _span()

    def describe(self) -> str:
        return self.title or self.name


@record
class Definition:
    name: str
    title: str | None
    expr: Expr
    span: Span = _span()


@record
class Citation:
    document: str
    pages: str | None
    span: Span = _span()

    def __str__(self) -> str:
        return f"{self.document}, {self.pages}" if self.pages else self.document


@record
class Quantity:
    amount: int | None
    unit: str
    over: str | None = None  # "4 weeks", for people
    per_week: int | None = None
    amount_expr: Expr | None = None  # a cap computed from the case
    amount_text: str | None = None  # that expression as the author wrote it
    over_weeks: int | None = None  # the course's span, in whole weeks (`over 4 weeks`)

    def __str__(self) -> str:
        parts = []
        amount = self.amount if self.amount_expr is None else self.amount_text
        if amount is not None:
            parts.append(f"{amount} {self.unit}" + (f" over {self.over}" if self.over else ""))
        if self.per_week is not None:
            parts.append(f"at most {self.per_week} {self.unit} per week")
        return ", ".join(parts)


# A template is text with placeholders: literal parts and ("name",) tuples in order.
Template = tuple[str | tuple[str], ...]


@record
class Rule:
    kind: str  # require limit trial deny
    name: str
    title: str
    section: str | None
    when: Expr | None = None
    must: Expr | None = None
    allow: Quantity | None = None
    extend: Quantity | None = None
    extend_if: Expr | None = None
    counting: Expr | None = None
    otherwise: Template | None = None
    undocumented: Template | None = None
    partial: Template | None = None
    overrides: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = ()
    span: Span = _span()

    @property
    def citation(self) -> str:
        return "; ".join(str(c) for c in self.citations)


@record
class Test:
    title: str
    case_file: str | None
    request_id: str | None
    given: dict[str, object] | None
    decision: str | None
    quantity: int | None
    reasons: tuple[str, ...] | None
    span: Span = _span()


@record
class Guideline:
    id: str
    title: str
    version: str | None
    effective_from: dt.date | None
    effective_until: dt.date | None
    source: str
    source_pages: str | None
    applies: Expr | None
    precedence: int
    unit: str
    valuesets: dict[str, ValueSet]
    definitions: dict[str, Definition]
    rules: tuple[Rule, ...]
    tests: tuple[Test, ...]
    path: str
    span: Span = _span()
    schema: Schema = field(default_factory=Schema, compare=False, repr=False)
    scope: tuple[tuple[str, str], ...] = ()
    layer: bool = False  # applies beside whichever guideline decides, never chosen itself

    def in_scope(self, facts_of_case: dict[str, str | None]) -> bool:
        """Whether a case's jurisdiction and payer are the ones this guideline is scoped to."""
        return all(facts_of_case.get(key) == value for key, value in self.scope)

    @property
    def citation(self) -> str:
        return f"{self.source} {self.source_pages}" if self.source_pages else self.source

    @property
    def quantity_field(self) -> str:
        """The request field a guideline's limits count: tablets for drugs, else visits."""
        return {"tablets": "quantity", "units": "quantity", "levels": "levels"}.get(self.unit,
                                                                                  "visits")

    def in_force(self, day: dt.date) -> bool:
        if self.effective_from and day < self.effective_from:
            return False
        return not (self.effective_until and day > self.effective_until)
