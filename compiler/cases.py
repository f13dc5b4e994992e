"""Case files (YAML, JSON, JSON Lines) → validated, normalized `Case` objects; the JSON Schema."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

from ..dsl.diagnostics import did_you_mean
from . import facts


class CaseError(Exception):
    """A case file that does not follow the contract; the message names the field and value."""


@dataclass(slots=True)
class Case:
    case_id: str
    review_date: dt.date
    patient: dict[str, Any]
    injury: dict[str, Any]
    diagnoses: list[dict[str, Any]]
    surgeries: list[dict[str, Any]]
    history: list[dict[str, Any]]
    findings: dict[str, Any]
    requests: list[dict[str, Any]]
    expected: list[dict[str, Any]] = field(default_factory=list)
    notes: str | None = None
    source: str = ""


_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_NDATE = {"anyOf": [_DATE, {"type": "null"}]}
_INT = {"type": "integer", "minimum": 0}
_RANGE = {"anyOf": [_INT, {"type": "object", "properties": {"min": _INT, "max": _INT},
                           "required": ["max"], "additionalProperties": False}]}
_TERM = {"type": ["string", "null"], "pattern": "^[a-z][a-z0-9_]*$"}
_BOOL = {"type": ["boolean", "null"]}
_DECISION = {"enum": ["certified", "modified", "non_certified"]}


def _fact_schema(types: dict[str, facts.Type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, t in types.items():
        out[name] = {"bool": _BOOL, "int": {"anyOf": [_INT, {"type": "null"}]}, "date": _NDATE,
                     "term": _TERM, "code": {"type": "string"}}.get(t.kind, {})
    return out


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of one case (draft 2020-12)."""
    request_props = _fact_schema(facts.REQUEST)
    request_props.update({
        "id": {"type": ["string", "integer"]},
        "item": {"type": "string", "description": "the item as the provider wrote it"},
        "visits": _RANGE, "sessions": _RANGE, "days": _RANGE,
        "frequency": {"type": "object", "properties": {"per_week": _RANGE, "weeks": _RANGE},
                      "additionalProperties": False},
        "levels": {"anyOf": [_INT, {"type": "array", "items": {"type": "string"}}]},
        "ur_decision": _DECISION,
    })
    request_props.pop("per_week")
    request_props.pop("weeks")
    history_props = _fact_schema(facts.COLLECTIONS["history"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://guidec.dev/schema/case.json",
        "title": "guidec case file",
        "description": "The facts of one utilization review: patient, diagnoses, history, "
                       "findings and the requested items. Missing facts are undocumented.",
        "type": "object",
        "required": ["case_id", "review_date", "requests"],
        "properties": {
            "case_id": {"type": "string", "minLength": 1},
            "review_date": _DATE,
            "patient": {"type": "object", "properties": {
                "age": {"anyOf": [_INT, {"type": "null"}]}, "sex": _TERM}},
            "injury": {"type": "object", "properties": {
                "date": _NDATE, "body_regions": {"type": "array", "items": _TERM}}},
            "diagnoses": {"type": "array", "items": {"anyOf": [
                {"type": "string"},
                {"type": "object", "required": ["code"], "properties": {
                    "code": {"type": "string"}, "text": {"type": "string"}}}]}},
            "surgeries": {"type": "array", "items": {
                "type": "object", "required": ["procedure"],
                "properties": _fact_schema(facts.COLLECTIONS["surgeries"])}},
            "history": {"type": "array", "items": {"type": "object", "required": ["treatment"],
                                                   "properties": history_props}},
            "findings": {"type": "object", "properties": _fact_schema(facts.FINDINGS),
                         "additionalProperties": {"type": ["boolean", "integer", "null"]}},
            "requests": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["id", "treatment"],
                "properties": request_props}},
            "expected": {"type": "array", "items": {"type": "object", "required": ["request",
                                                                                   "decision"],
                "properties": {"request": {"type": ["string", "integer"]},
                               "decision": _DECISION, "certified": {"type": ["integer", "null"]},
                               "outcome": {"enum": ["upheld", "overturned", None]},
                               "guideline": {"type": ["string", "null"]},
                               "reasons": {"type": ["array", "null"],
                                           "items": {"type": "string"}}}}},
            "notes": {"type": "string"},
            "source": {"type": "string"},
        },
    }


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    cls = jsonschema.validators.validator_for(schema())
    return cls(schema(), format_checker=cls.FORMAT_CHECKER)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return value


def _where(path: Any) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(the case)"


def from_dict(data: Any, source: str = "<case>") -> Case:
    """Validate one case against the contract and normalize it for evaluation."""
    if not isinstance(data, dict):
        raise CaseError(f"{source}: a case must be a mapping of fields, not {type(data).__name__}")
    data = _jsonable(data)
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        field_name = _where(e.path)
        if e.validator == "required":
            raise CaseError(f"{source}: {field_name}: {e.message}")
        raise CaseError(f"{source}: field `{field_name}` has value {json.dumps(e.instance)}: "
                        f"{_short(e)}")
    return _normalize(data, source)


def _short(e: Any) -> str:
    if e.validator in {"anyOf", "type"}:
        want = {"string": "text", "integer": "a whole number", "boolean": "true or false",
                "object": "a mapping", "array": "a list", "null": "null"}
        types = e.schema.get("type") or [t for s in e.schema.get("anyOf", [])
                                         for t in ([s["type"]] if isinstance(s.get("type"), str)
                                                   else s.get("type", []))]
        types = [types] if isinstance(types, str) else types
        return "expected " + " or ".join(dict.fromkeys(want.get(t, t) for t in types))
    if e.validator == "pattern":
        return "expected a snake_case term or a date YYYY-MM-DD"
    if e.validator == "format":
        return "not a valid date (YYYY-MM-DD)"
    return e.message  # type: ignore[no-any-return]


def _term(value: Any, category: str, where: str, source: str) -> Any:
    if value is None:
        return None
    known = facts.vocabulary()[category]
    if value not in known:
        hint = did_you_mean(value, known)
        raise CaseError(f"{source}: field `{where}` has unknown {category} {json.dumps(value)}"
                        + (f"; {hint}" if hint else ""))
    return value


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _top(value: Any) -> Any:
    return value["max"] if isinstance(value, dict) else value


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _normalize(data: dict[str, Any], source: str) -> Case:
    src = f"{source} ({data['case_id']})"
    injury = dict(data.get("injury") or {})
    injury["date"] = _date(injury.get("date"))
    regions = [_term(r, "body_region", f"injury.body_regions[{i}]", src)
               for i, r in enumerate(injury.get("body_regions") or [])]
    injury["body_regions"] = frozenset(r for r in regions if r)
    patient = dict(data.get("patient") or {})
    _term(patient.get("sex"), "sex", "patient.sex", src)
    diagnoses = [{"code": (d if isinstance(d, str) else d["code"]).strip().upper()}
                 for d in data.get("diagnoses") or []]
    surgeries = []
    for i, s in enumerate(data.get("surgeries") or []):
        s = dict(s)
        _term(s.get("procedure"), "procedure", f"surgeries[{i}].procedure", src)
        _term(s.get("body_region"), "body_region", f"surgeries[{i}].body_region", src)
        s["date"] = _date(s.get("date"))
        surgeries.append(_clean(s))
    history = []
    for i, h in enumerate(data.get("history") or []):
        h = dict(h)
        _term(h.get("treatment"), "treatment", f"history[{i}].treatment", src)
        _term(h.get("body_region"), "body_region", f"history[{i}].body_region", src)
        h["start"], h["end"] = _date(h.get("start")), _date(h.get("end"))
        history.append(_clean(h))
    requests = [_request(r, i, src) for i, r in enumerate(data["requests"])]
    ids = [r["id"] for r in requests]
    if len(set(ids)) != len(ids):
        raise CaseError(f"{src}: field `requests` has a repeated request id")
    return Case(
        case_id=data["case_id"], review_date=dt.date.fromisoformat(data["review_date"]),
        patient=_clean(patient), injury=_clean(injury), diagnoses=diagnoses,
        surgeries=surgeries, history=history, findings=_clean(dict(data.get("findings") or {})),
        requests=requests, expected=list(data.get("expected") or []), notes=data.get("notes"),
        source=source,
    )


def _request(r: dict[str, Any], i: int, src: str) -> dict[str, Any]:
    out = dict(r)
    out["id"] = str(r["id"])
    for key, category in (("treatment", "treatment"), ("body_region", "body_region"),
                          ("approach", "approach"), ("phase", "phase"), ("drug", "drug")):
        _term(r.get(key), category, f"requests[{i}].{key}", src)
    freq = r.get("frequency") or {}
    out["per_week"], out["weeks"] = _top(freq.get("per_week")), _top(freq.get("weeks"))
    visits = _top(r.get("visits"))
    if visits is None and out["per_week"] is not None and out["weeks"] is not None:
        visits = out["per_week"] * out["weeks"]
    if visits is None:
        visits = _top(r.get("sessions")) if r.get("sessions") is not None else _top(r.get("days"))
    out["visits"] = visits
    out["sessions"], out["days"] = _top(r.get("sessions")), _top(r.get("days"))
    if isinstance(r.get("levels"), list):
        out["levels"] = len(r["levels"])
    out.pop("frequency", None)
    return _clean(out)


def load(path: str | Path) -> list[Case]:
    """All cases in a file: YAML or JSON (one case, or a list), or JSON Lines (one per line)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise CaseError(f"{path}: cannot read the case file ({exc.strerror})") from None
    if p.suffix == ".jsonl":
        return list(iter_jsonl(text, str(path)))
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CaseError(f"{path}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: "
                        f"{str(exc).splitlines()[0]}") from None
    items = data if isinstance(data, list) else [data]
    return [from_dict(item, str(path)) for item in items]


def iter_jsonl(text: str, source: str) -> Iterator[Case]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaseError(f"{source}:{n}: not valid JSON: {exc.msg}") from None
        yield from_dict(data, f"{source}:{n}")
