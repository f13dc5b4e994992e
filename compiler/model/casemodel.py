"""The case contract as typed models (msgspec Structs), generated from the declared facts.

One source of truth: the models validate every case (compiled, in C, a few microseconds a
case), and the JSON Schema that `guidec schema case` prints is generated from the same models.
Where a case fails, `cases.py` lists every problem with that schema, so messages name each
field, its value and what was expected.

Only fields the models name are checked; any other field is carried along unread (findings a
guideline does not declare, a provider's own notes).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType

from . import facts

_WHOLE = Annotated[int, Meta(ge=0)]
# A day on the calendar, written YYYY-MM-DD (so 2016-02-30 and 20160228 are refused).
_DATE = Annotated[dt.date, Meta(extra_json_schema={"pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})]
TERM_PATTERN = "^[a-z][a-z0-9_]*$"  # a vocabulary term (the SQL engines test it too)
_TERM = Annotated[str, Meta(pattern=TERM_PATTERN)]
_DECISION = Literal["certified", "modified", "non_certified"]
DECISIONS: tuple[str, ...] = get_args(_DECISION)  # UR's decisions, as a case gives them


class Range(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """A quantity given as a range ("4-8 visits"): the most requested is `max`."""

    max: _WHOLE
    min: _WHOLE | UnsetType = UNSET


_AMOUNT = _WHOLE | Range


class Frequency(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    per_week: _AMOUNT | UnsetType = UNSET
    weeks: _AMOUNT | UnsetType = UNSET


class CodeEntry(msgspec.Struct, kw_only=True, gc=False):
    code: Any


class Diagnosis(msgspec.Struct, kw_only=True, gc=False):
    code: str
    text: str | UnsetType = UNSET


class Expected(msgspec.Struct, kw_only=True):
    request: str | int
    decision: _DECISION
    certified: float | dict[str, Any] | None = None
    outcome: Literal["upheld", "overturned"] | None = None
    guideline: str | None = None
    reasons: list[str] | None = None


# The type of a declared fact, by its kind; a kind not listed is carried unchecked.
_KINDS: dict[str, Any] = {
    "bool": bool | None, "int": _WHOLE | None, "duration": _WHOLE | None, "date": _DATE | None,
    "decimal": float | None, "percent": float | None, "term": _TERM | None,
    "terms": list[_TERM | None] | UnsetType, "code": str | UnsetType, "text": str | None,
}
_UNSET_DEFAULT = {"terms", "code"}


def _list_of(t: Any) -> Any:
    """list[t] for a type made at run time."""
    return list[t]


def _described(t: Any, words: str | None) -> Any:
    return Annotated[t, Meta(description=words)] if words else t


def _declared(types: dict[str, facts.Type], s: facts.Schema, prefix: str,
              required: frozenset[str] = frozenset()) -> dict[str, tuple[Any, Any]]:
    """Field name → (type, default) for the declared facts of one record or list entry."""
    out: dict[str, tuple[Any, Any]] = {}
    for name, t in types.items():
        kind = _KINDS.get(t.kind, Any)
        if t.kind == "terms" and t.category:
            entry: Any = _entry_of(t.category)
            kind = _list_of(_TERM | entry | None) | UnsetType
        default = UNSET if t.kind in _UNSET_DEFAULT else None
        out[name] = (_described(kind, s.describe(prefix, name)),
                     msgspec.NODEFAULT if name in required else default)
    return out


@functools.lru_cache(maxsize=None)
def _entry_of(category: str) -> Any:
    """An entry of a set of terms given as a mapping that names its term under the category
    (`ingredients: [{drug: lidocaine, strength: "5%"}]` for a set of terms of drug); the other
    keys are carried along unread."""
    return msgspec.defstruct(f"{category.title().replace('_', '')}Entry", [(category, _TERM)],
                             kw_only=True, module=__name__,
                             namespace={"__doc__": f"an entry naming its {category} term"})


def _struct(name: str, fields: dict[str, tuple[Any, Any]], doc: str | None = None) -> Any:
    spec = [(k, t) if d is msgspec.NODEFAULT else (k, t, d) for k, (t, d) in fields.items()]
    spec.sort(key=lambda f: len(f) == 3)  # required fields first
    return msgspec.defstruct(name, spec, kw_only=True, module=__name__, gc=False,
                             namespace={"__doc__": doc} if doc else None)


@functools.lru_cache(maxsize=16)
def model(s: facts.Schema) -> Any:
    """The Struct of one case under these declarations."""
    request = _declared(s.records.get("request", {}), s, "request",
                        frozenset(facts.REQUIRED_FIELDS["request"]))
    for name in ("per_week", "weeks"):  # read from `frequency`
        request.pop(name, None)
    request.update({
        "id": (str | int, msgspec.NODEFAULT),
        "item": (_described(str | UnsetType, "the item as the provider wrote it"), UNSET),
        "visits": (_AMOUNT | None, None), "sessions": (_AMOUNT | None, None),
        "days": (_AMOUNT | None, None),
        "frequency": (Frequency | UnsetType, UNSET),
        "levels": (_WHOLE | list[str] | UnsetType, UNSET),
        "diagnoses": (_described(list[str | CodeEntry] | UnsetType,
                                 "the diagnoses this request treats (ICD-10-CM codes); when "
                                 "absent, the case's diagnoses"), UNSET),
        "ur_decision": (_DECISION | UnsetType, UNSET),
        # Units dispensed (grams of ointment, ml) may be a decimal; visits stay whole numbers.
        "quantity": (Annotated[float, Meta(ge=0)] | None, None),
        # UR may certify part of another quantity ({rental_days: 30}); kept, not counted.
        "ur_certified": (_WHOLE | dict[str, Any] | None, None),
    })
    history = _declared(s.collections.get("history", {}), s, "history[]",
                        frozenset(facts.REQUIRED_FIELDS["history"]))
    history["visit_dates"] = (_described(list[_DATE] | UnsetType,
                                         "the date of each visit of the course, where the "
                                         "records give them (guidelines read them as the list "
                                         "`visits`)"), UNSET)
    surgeries = _declared(s.collections.get("surgeries", {}), s, "surgeries[]",
                          frozenset(facts.REQUIRED_FIELDS["surgeries"]))

    def record(name: str) -> Any:
        return _struct(name.title(), _declared(s.records.get(name, {}), s, name))

    text = str | UnsetType
    return _struct("Case", {
        "case_id": (Annotated[str, Meta(min_length=1)], msgspec.NODEFAULT),
        "review_date": (_DATE, msgspec.NODEFAULT),
        "requests": (Annotated[_list_of(_struct("Request", request)), Meta(min_length=1)],
                     msgspec.NODEFAULT),
        "patient": (record("patient") | UnsetType, UNSET),
        "injury": (record("injury") | UnsetType, UNSET),
        "diagnoses": (list[str | Diagnosis] | UnsetType, UNSET),
        "surgeries": (_list_of(_struct("Surgery", surgeries)) | UnsetType, UNSET),
        "history": (_list_of(_struct("Course", history)) | UnsetType, UNSET),
        # Findings no guideline declares are carried along unread, whatever their shape.
        "findings": (record("findings") | UnsetType, UNSET),
        "expected": (list[Expected] | UnsetType, UNSET),
        "notes": (text, UNSET), "source": (text, UNSET),
        "jurisdiction": (_described(text, "where the claim is decided (matched against a "
                                          "guideline's `scope jurisdiction`)"), UNSET),
        "payer": (_described(text, "who pays (matched against a guideline's `scope payer`)"),
                  UNSET),
    }, "The facts of one utilization review: patient, diagnoses, history, findings and the "
       "requested items. Missing facts are undocumented.")


def valid(data: Any, s: facts.Schema) -> str | None:
    """None when the case follows the contract, else the first problem (msgspec's words)."""
    try:
        msgspec.convert(data, model(s), strict=True)
    except msgspec.ValidationError as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=16)
def json_schema(s: facts.Schema) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) generated from the model, with its parts inlined."""
    raw = msgspec.json.schema(model(s))
    defs = raw.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = dict(defs[node["$ref"].rsplit("/", 1)[1]])
            target.pop("title", None)
            return inline(target)
        out = {k: inline(v) for k, v in node.items()}
        if out.get("default", 0) is None:
            del out["default"]
        # {"anyOf": [{"type": "boolean"}, {"type": "null"}]} reads better as a list of types
        alts = out.get("anyOf")
        if alts and all(set(a) == {"type"} and isinstance(a["type"], str) for a in alts):
            del out["anyOf"]
            out["type"] = [a["type"] for a in alts]
        return out

    body = inline(raw)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://guidec.dev/schema/case.json", "title": "guidec case file", **body}
