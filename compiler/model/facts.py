"""Declared facts and vocabulary → the schema a guideline is checked against.

This module is the mechanism only: which facts exist, their types, their descriptions and the
vocabulary of terms are declared in the language (`fact` and `vocabulary` items, in a
`declarations` file such as the library's `facts.gl` or in a guideline itself). Nothing here
names a fact of any guideline library.

Which declarations a guideline sees: the standard declarations shipped with guidec (the
library's `facts.gl`, package data), every `facts.gl` in the guideline's folder and the
folders above it, and its own `fact` / `vocabulary` items. Two declarations of one fact that
disagree are an error naming both.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ...dsl.diagnostics import Diagnostic, Span
# Where declarations files are found is read without the model (dsl.files): cache keys need it.
from ...dsl.files import (DECLARATIONS_FILE as DECLARATIONS_FILE,
                          declaration_files as declaration_files,
                          standard_path as standard_path)
from ...dsl.records import field, record

if TYPE_CHECKING:
    from ...dsl import ast


# Each schema's digest, computed once (a schema is not changed once built).
_DIGESTS: "weakref.WeakKeyDictionary[Schema, bytes]" = weakref.WeakKeyDictionary()


@record(kw_only=False)
class Type:
    """A guideline type. `category` names the vocabulary of a term (treatment, body_region...)."""

    kind: str  # bool int decimal percent date duration term terms code valueset collection text
    category: str | None = None

    def __str__(self) -> str:
        words = {
            "bool": "yes/no", "int": "number", "decimal": "decimal number",
            "percent": "percent", "date": "date", "duration": "duration",
            "term": "term", "terms": "set of terms", "code": "ICD-10 code",
            "valueset": "value set", "collection": "list of entries", "text": "text",
        }
        word = words.get(self.kind, self.kind)
        return f"{word} ({self.category})" if self.category and self.kind in {"term", "terms"} else word


BOOL, INT, DATE, DURATION, CODE, TEXT = (Type(k) for k in ("bool", "int", "date", "duration",
                                                           "code", "text"))
NUMERIC = frozenset({"int", "decimal", "percent"})


def base_kind(kind: str) -> str:
    """Numbers of any kind compare and add with each other."""
    return "int" if kind in NUMERIC else kind


def term(category: str) -> Type:
    return Type("term", category)


def terms(category: str) -> Type:
    return Type("terms", category)


# The case contract's shape: which records and lists a case has. Their fields are declared.
RECORD_NAMES = ("request", "findings", "patient", "injury")
COLLECTION_NAMES = ("history", "surgeries", "diagnoses", "visits")
COLLECTION_ALIASES = {"surgery": "surgeries"}
# Fields the case contract requires, so always documented (the analysis relies on it).
REQUIRED_FIELDS = {"history": {"treatment"}, "surgeries": {"procedure"}, "diagnoses": {"code"},
                   "request": {"treatment"}, "visits": {"treatment", "date"}}

# Requests that others in the same review depend on: a surgery request (its `procedures`) is
# reviewed first, and the items that prepare for it or follow it (pre-operative tests, an
# assistant, post-operative equipment) see its decision as the `status` of `surgeries`
# entries and as `associated_procedure_certified` (the case contract's equipment extension).
LINKED_TREATMENT, LINKED_PROCEDURES = "surgery", "procedures"

QUANTITY_UNITS = {"visit", "visits", "session", "sessions", "treatment", "treatments",
                  "injection", "injections", "block", "blocks", "day", "days", "unit", "units",
                  "level", "levels", "tablet", "tablets", "doses"}
TIME_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30,
              "year": 365, "years": 365}

@record(kw_only=False)
class Term:
    name: str
    category: str
    title: str | None
    codes: tuple[str, ...]


@record(frozen=False, kw_only=False, eq=False, slots=False)
class Schema:
    """What a guideline may read, and the words it may use: built from declarations."""

    top: dict[str, Type] = field(default_factory=dict)
    records: dict[str, dict[str, Type]] = field(default_factory=dict)
    collections: dict[str, dict[str, Type]] = field(default_factory=dict)
    vocab: dict[str, frozenset[str]] = field(default_factory=dict)
    terms: dict[tuple[str, str], Term] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    origins: dict[str, Span] = field(default_factory=dict)
    vocab_titles: dict[str, str] = field(default_factory=dict)

    def digest(self) -> bytes:
        """A digest of what the schema holds, the same in every process for the same
        declarations (sets in sorted order): the cache keeps one copy of a schema that many
        guidelines see, under it (`diskcache.share`)."""
        found = _DIGESTS.get(self)
        if found is None:
            content = (self.top, self.records, self.collections,
                       {k: sorted(v) for k, v in self.vocab.items()}, self.terms,
                       self.descriptions, self.origins, self.vocab_titles)
            found = _DIGESTS[self] = hashlib.sha256(
                pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL)).digest()
        return found

    def all_terms(self) -> frozenset[str]:
        return frozenset().union(*self.vocab.values()) if self.vocab else frozenset()

    def vocabulary(self) -> dict[str, frozenset[str]]:
        return self.vocab

    def describe(self, record: str, name: str) -> str | None:
        return self.descriptions.get(f"{record}.{name}" if record else name)

    def type_of(self, path: str) -> Type | None:
        """The declared type of "findings.x", "history[].visits" or "review_date"."""
        if "[]." in path:
            coll, fld = path.split("[].", 1)
            return self.collections.get(coll, {}).get(fld)
        if "." in path:
            rec, fld = path.split(".", 1)
            return self.records.get(rec, {}).get(fld)
        return self.top.get(path)


def _declared_type(d: ast.FactDecl) -> Type:
    return Type(d.kind, d.category)


def _describe_decl(d: ast.FactDecl) -> str:
    return f"{d.name}: {d.type_text}" + (f' "{d.description}"' if d.description else "")


def build(decls: Iterable[ast.FactDecl | ast.Vocabulary]) -> tuple[Schema, list[Diagnostic]]:
    """One schema from declarations in order; disagreements are errors naming both."""
    from ...dsl import ast  # a schema from the cache needs no syntax tree

    schema = Schema()
    seen: dict[str, ast.FactDecl] = {}
    problems: list[Diagnostic] = []
    vocab: dict[str, set[str]] = {}
    for d in decls:
        if isinstance(d, ast.Vocabulary):
            words = vocab.setdefault(d.name, set())
            if d.title:
                schema.vocab_titles.setdefault(d.name, d.title)
            for t in d.terms:
                words.add(t.name)
                key = (d.name, t.name)
                old = schema.terms.get(key)
                codes = tuple(dict.fromkeys((old.codes if old else ()) + t.codes))
                schema.terms[key] = Term(t.name, d.name, (old.title if old else None) or t.title,
                                         codes)
            continue
        name = d.name
        first = seen.get(name)
        if first is not None:
            same_type = (first.kind, first.category) == (d.kind, d.category)
            same_words = not (first.description and d.description
                              and first.description != d.description)
            if not (same_type and same_words):
                problems.append(Diagnostic(
                    "E211", "error", f"fact '{name}' is declared twice and the declarations "
                    f"disagree: {_describe_decl(first)} here, {_describe_decl(d)} at "
                    f"{first.span}", d.span, "keep one declaration, or make them agree",
                    notes=((f"first declared here: {_describe_decl(first)}", first.span),)))
                continue
            if d.description and not first.description:
                seen[name] = d
                schema.descriptions[name] = d.description
            continue
        problem = _place(schema, d)
        if problem is not None:
            problems.append(problem)
            continue
        seen[name] = d
        schema.origins[name] = d.span
        if d.description:
            schema.descriptions[name] = d.description
    schema.vocab = {k: frozenset(v) for k, v in vocab.items()}
    for d in seen.values():
        if d.category is not None and d.category not in schema.vocab:
            problems.append(Diagnostic(
                "E212", "error", f"fact '{d.name}' is a term of vocabulary '{d.category}', "
                "which is not declared", d.span,
                f"declare it: vocabulary {d.category} = {{first_term, second_term}}"))
    return schema, problems


def _place(schema: Schema, d: ast.FactDecl) -> Diagnostic | None:
    p = d.path
    t = _declared_type(d)
    if len(p) == 1 and p[0] not in RECORD_NAMES and p[0] not in COLLECTION_NAMES:
        if d.kind in {"record", "collection"}:
            return None  # a record or a list with no fields yet
        schema.top[p[0]] = t
        return None
    if len(p) == 1:
        (schema.collections if p[0] in COLLECTION_NAMES else schema.records).setdefault(p[0], {})
        return None
    if len(p) == 2 and p[1] != "[]":
        schema.records.setdefault(p[0], {})[p[1]] = t
        return None
    if len(p) == 3 and p[1] == "[]":
        schema.collections.setdefault(p[0], {})[p[2]] = t
        return None
    if len(p) == 2:  # history[] alone: the list itself
        schema.collections.setdefault(p[0], {})
        return None
    return Diagnostic("E213", "error", f"'{d.name}' is too deep to declare", d.span,
                      "facts are `name`, `record.name` or `list[].name`")


# ---------------------------------------------------------------- where declarations live
def _stamp(path: Path) -> tuple[str, int, int]:
    st = os.stat(path)
    return (str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _parse_declarations(stamp: tuple[str, int, int]) -> tuple[tuple[Any, ...], tuple[Diagnostic, ...]]:
    from ...dsl.files import FileProblem, read_text
    from .. import diskcache
    path = stamp[0]
    try:
        text = read_text(path)
    except FileProblem as exc:
        return (), (Diagnostic("E001", "error", str(exc), Span(path, 1, 1, 1, 2)),)
    return diskcache.memo("declarations", [diskcache.text(path), diskcache.text(text)],
                          lambda: _declarations_of(path, text),
                          lambda x: isinstance(x, tuple) and len(x) == 2)


def _declarations_of(path: str, text: str) -> tuple[tuple[Any, ...], tuple[Diagnostic, ...]]:
    from ...dsl import ast, parser
    parsed = parser.parse(text, path)
    diags = tuple(parsed.diagnostics)
    if parsed.guideline is None:
        return (), diags
    g = parsed.guideline
    if g.header.kind != "declarations":
        diags += (Diagnostic("E214", "error", f"{DECLARATIONS_FILE} must be a declarations file",
                             g.header.span, 'start it with `declarations NAME "title"`'),)
    items = tuple(i for i in g.items if isinstance(i, (ast.FactDecl, ast.Vocabulary)))
    return items, diags


def declarations_for(guideline: str | Path | None) -> tuple[list[Any], list[Diagnostic]]:
    """The declarations (in order) a guideline at this path sees, and problems reading them."""
    items: list[Any] = []
    diags: list[Diagnostic] = []
    for f in declaration_files(guideline):
        got, problems = _parse_declarations(_stamp(f))
        items.extend(got)
        diags.extend(problems)
    return items, diags


@functools.lru_cache(maxsize=8)
def _standard_cached(stamp: tuple[str, int, int]) -> Schema:
    items, _ = _parse_declarations(stamp)
    return build(items)[0]


def standard() -> Schema:
    """The standard schema (the shipped declarations), for cases read without a library."""
    return _standard_cached(_stamp(standard_path().resolve()))


def merge(schemas: Iterable[Schema]) -> Schema:
    """A library's schema: every fact and term any of its guidelines may read."""
    out = Schema()
    vocab: dict[str, set[str]] = {}
    for s in schemas:
        out.top.update(s.top)
        for k, v in s.records.items():
            out.records.setdefault(k, {}).update(v)
        for k, v in s.collections.items():
            out.collections.setdefault(k, {}).update(v)
        for k, words in s.vocab.items():
            vocab.setdefault(k, set()).update(words)
        out.terms.update(s.terms)
        out.descriptions.update(s.descriptions)
        out.origins.update(s.origins)
        for k, title in s.vocab_titles.items():
            out.vocab_titles.setdefault(k, title)
    out.vocab = {k: frozenset(v) for k, v in vocab.items()}
    return out
