"""Case files (YAML, JSON, JSON Lines) → validated, normalized `Case` objects; the JSON Schema."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from ...dsl.diagnostics import did_you_mean, inert
from ...dsl.files import FileProblem, decode, max_file_bytes, read_text
from ...dsl.records import field, record
from . import facts

# The case model (casemodel, and msgspec beneath it) is loaded when a case is first read or
# validated: a check whose tests' cases are all in the cache never loads it.

# Limits for hostile case files (README, "Bad input").
MAX_NESTING = 64  # lists and mappings inside one another
MAX_VALUES = 1_000_000  # values in one case once YAML aliases are expanded


class CaseError(Exception):
    """A case file that does not follow the contract; the message names the field and value."""


@record(frozen=False, kw_only=False)
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
    warnings: list[str] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)  # from history[].visit_dates
    jurisdiction: str | None = None  # matched against a guideline's `scope jurisdiction`
    payer: str | None = None  # matched against a guideline's `scope payer`


def schema(s: facts.Schema | None = None) -> dict[str, Any]:
    """The JSON Schema of one case (draft 2020-12), generated from the case model, which is
    itself generated from the declared facts."""
    from . import casemodel
    return casemodel.json_schema(s or facts.standard())


@functools.lru_cache(maxsize=16)
def _validator(s: facts.Schema) -> Any:
    """A JSON Schema validator that lists every problem of a case the model refused."""
    import jsonschema  # only for a case that fails: valid cases never import it

    base = jsonschema.validators.validator_for(schema(s))
    # 2.0 is not a whole number of visits: integers are ints, never floats with no fraction.
    strict = base.TYPE_CHECKER.redefine(
        "integer", lambda checker, x: isinstance(x, int) and not isinstance(x, bool))
    cls = jsonschema.validators.extend(base, type_checker=strict)
    return cls(schema(s), format_checker=base.FORMAT_CHECKER)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def _shape(data: Any, source: str) -> None:
    """Refuse values nested deeper than MAX_NESTING, or more than MAX_VALUES once expanded
    (YAML aliases repeat shared values: a few lines can stand for billions), without recursion."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    while stack:
        value, depth, done = stack.pop()
        if not isinstance(value, (dict, list)):
            continue
        key = id(value)
        if done:
            children = value.values() if isinstance(value, dict) else value
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            sizes[key] = total
            if total > MAX_VALUES:
                raise CaseError(f"{source}: the case holds more than {MAX_VALUES:,} values once "
                                "YAML aliases are expanded; aliases that repeat aliases are "
                                "refused")
            continue
        if depth > MAX_NESTING:
            raise CaseError(f"{source}: too deeply nested (limit {MAX_NESTING} levels of lists "
                            "and mappings)")
        if key in sizes:
            continue
        stack.append((value, depth, True))
        for c in (value.values() if isinstance(value, dict) else value):
            if isinstance(c, (dict, list)) and id(c) not in sizes:
                stack.append((c, depth + 1, False))


def _where(path: Any) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(the case)"


def from_dict(data: Any, source: str = "<case>", schema: facts.Schema | None = None,
              json_text: str | bytes | None = None) -> Case:
    """Validate one case against the contract and the declared facts, and normalize it.
    `json_text` is the JSON the data was decoded from, if so: its values are plain JSON, and
    it cannot nest deeper than it has brackets."""
    s = schema or facts.standard()
    if not isinstance(data, dict):
        raise CaseError(f"{source}: a case must be a mapping of fields, not {type(data).__name__}")
    if json_text is None:
        _shape(data, source)
        data = _jsonable(data)
    elif _brackets(json_text) > MAX_NESTING:
        _shape(data, source)
    problem = _validate()(data, s)
    if problem is not None:
        _refuse(data, source, s, problem)
    return _normalize(data, source, s)


def _brackets(text: str | bytes) -> int:
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")


def _refuse(data: dict[str, Any], source: str, s: facts.Schema, first: str) -> None:
    """Every problem of a case the model refused, in one run, a line each (the first twenty),
    each naming the case where it has an id (a file or JSON Lines may hold many)."""
    case_id = data.get("case_id")
    if isinstance(case_id, str) and case_id:
        source = f"{source} ({inert(case_id[:60])})"
    errors = sorted(_validator(s).iter_errors(data), key=lambda e: [str(p) for p in e.path])
    lines: list[str] = []
    seen: set[str] = set()
    for e in errors[:20]:
        field_name = _where(e.path)
        if field_name in seen:  # one line a field (a bad date breaks its pattern and format)
            continue
        seen.add(field_name)
        if e.validator == "required":
            lines.append(f"{source}: {field_name}: {e.message}")
        else:
            lines.append(f"{source}: field `{field_name}` has value {_show(e.instance)}: "
                         f"{_short(e)}")
    if len(errors) > 20:
        lines.append(f"{source}: ... and {len(errors) - 20} more problems")
    if not lines:  # the schema and the model agree (tests/fuzz checks it); never silent
        message, _, where = first.partition(" - at `$")
        lines.append(f"{source}: field `{where.rstrip('`').lstrip('.') or '(the case)'}`: "
                     f"{message}")
    raise CaseError("\n".join(lines))


def _show(value: Any) -> str:
    """A value for a message: JSON, control characters escaped, long values cut."""
    import json
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


_WANT = {"string": "text", "integer": "a whole number", "number": "a number",
         "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null"}


def _short(e: Any) -> str:
    """What a field should have held, in a reader's words."""
    if e.validator == "anyOf":
        # A value of the right type that broke a rule of its branch says which rule.
        near = [c for c in e.context or () if c.validator != "type" and not c.relative_path]
        if near:
            return _short(near[0])
    if e.validator in {"anyOf", "type"}:
        types = e.schema.get("type") or [t for s in e.schema.get("anyOf", [])
                                         for t in ([s["type"]] if isinstance(s.get("type"), str)
                                                   else s.get("type", []))]
        types = [types] if isinstance(types, str) else types
        return "expected " + " or ".join(dict.fromkeys(_WANT.get(t, t) for t in types))
    if e.validator == "pattern":
        if "{4}" in e.validator_value:
            return "expected a date YYYY-MM-DD"
        return "expected a term in snake_case (lowercase letters, digits and _)"
    if e.validator == "format":
        return "not a date on the calendar (YYYY-MM-DD)"
    if e.validator == "minimum":
        return f"expected a number of at least {e.validator_value}"
    if e.validator == "enum":
        return "expected one of " + ", ".join(str(v) for v in e.validator_value if v is not None)
    if e.validator == "additionalProperties":
        return f"expected only the keys {', '.join(sorted(e.schema.get('properties', {})))}"
    if e.validator == "required":
        missing = [k for k in e.validator_value if k not in (e.instance or {})]
        return "missing " + ", ".join(f"`{k}`" for k in missing)
    if e.validator in {"minItems", "minLength"}:
        return "expected at least one item" if e.validator == "minItems" else "expected text"
    return e.message  # type: ignore[no-any-return]


def _term(value: Any, category: str, where: str, source: str,
          warnings: list[str] | None = None, schema: facts.Schema | None = None) -> Any:
    """A vocabulary term. An unknown term is a warning (naming the closest known term), and
    the record is still reviewed: a term no guideline names simply matches no rule."""
    if value is None:
        return None
    known = (schema or facts.standard()).vocab.get(category, frozenset())
    if value not in known:
        hint = did_you_mean(value, known)
        message = (f"{source}: field `{where}` has unknown {category} {_show(value)}"
                   + (f"; {hint}" if hint else "") + "; no guideline names it")
        if warnings is None:
            raise CaseError(message)
        warnings.append(message)
    return value


def _date(value: Any, where: str = "", source: str = "") -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except (ValueError, TypeError):
        raise CaseError(f"{source}: field `{where}` has value {_show(value)}: not a date on "
                        "the calendar (YYYY-MM-DD)") from None


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# A declared field normalizing reads: its kind (date, term, terms), its category, and the
# category's vocabulary.
_Reader = tuple[str, str, frozenset[str]]


@functools.lru_cache(maxsize=16)
def _special(schema: facts.Schema) -> dict[str, dict[str, _Reader]]:
    """Per record or list: the declared fields normalizing reads (dates, terms), by name."""
    out: dict[str, dict[str, _Reader]] = {}
    for group in (schema.records, schema.collections):
        for name, types in group.items():
            out[name] = {k: (t.kind, t.category or "",
                             schema.vocab.get(t.category or "", frozenset()))
                         for k, t in types.items()
                         if t.kind == "date" or (t.kind in {"term", "terms"} and t.category)}
    return out


def _typed(record: dict[str, Any], special: dict[str, _Reader], where: str, src: str,
           warns: list[str], schema: facts.Schema, index: int | None = None) -> dict[str, Any]:
    """A record's declared dates parsed and its declared terms checked against the vocabulary
    (an unknown term is a warning); undeclared fields are carried along unread, and fields
    with no value (null) are left out: they are undocumented. The record is a fresh one,
    decoded for this case: it is read in place where it has no nulls. `where` names it in
    messages (`history`, with `index` 2: `history[2]`)."""
    out = _clean(record) if None in record.values() else record
    if not special:
        return out
    emptied = False
    for key in out:  # values are replaced in place; no key is added or removed
        reader = special.get(key)
        if reader is None:
            continue
        kind, category, known = reader
        value = out[key]
        if kind == "term":
            if value not in known:
                _term(value, category, _place(where, index, key), src, warns, schema)
        elif kind == "date":
            value = out[key] = _date(value, _place(where, index, key), src)
            emptied = emptied or value is None
        elif isinstance(value, list):
            # An entry may be a mapping naming its term under the category ({drug: ...}).
            value = [v.get(category) if isinstance(v, dict) else v for v in value]
            for i, v in enumerate(value):
                if v is not None and v not in known:
                    _term(v, category, f"{_place(where, index, key)}[{i}]", src, warns, schema)
            out[key] = frozenset(v for v in value if v)
    return _clean(out) if emptied else out


def _place(where: str, index: int | None, key: str) -> str:
    """A field's place for a message: `history[2].visits`."""
    return f"{where}.{key}" if index is None else f"{where}[{index}].{key}"


_NO_READER: dict[str, _Reader] = {}


def _normalize(data: dict[str, Any], source: str, schema: facts.Schema) -> Case:
    src = f"{source} ({data['case_id']})"
    warns: list[str] = []
    review_date = _date(data["review_date"], "review_date", src)
    special = _special(schema)
    none = _NO_READER
    get = data.get
    injury = _typed(get("injury") or {}, special.get("injury", none), "injury", src, warns,
                    schema)
    patient = _typed(get("patient") or {}, special.get("patient", none), "patient", src, warns,
                     schema)
    findings = _typed(get("findings") or {}, special.get("findings", none), "findings", src,
                      warns, schema)
    diagnoses = [{"code": (d if isinstance(d, str) else d["code"]).strip().upper()}
                 for d in get("diagnoses") or ()]
    types = special.get("surgeries", none)
    surgeries = [_typed(entry, types, "surgeries", src, warns, schema, i)
                 for i, entry in enumerate(get("surgeries") or ())]
    types = special.get("history", none)
    history = [_typed(entry, types, "history", src, warns, schema, i)
               for i, entry in enumerate(get("history") or ())]
    visits = []  # each dated visit of each course, for rules that count visits in a window
    for i, h in enumerate(history):
        if "visit_dates" not in h:
            continue
        h = history[i] = dict(h)
        dates = h.pop("visit_dates", None)
        if not isinstance(dates, list):
            continue
        for j, day in enumerate(dates):
            visits.append(_clean({"treatment": h.get("treatment"),
                                  "body_region": h.get("body_region"),
                                  "date": _date(day, f"history[{i}].visit_dates[{j}]", src)}))
        h.setdefault("visits", len(dates))
    types = special.get("request", none)
    requests = [_request(r, i, src, warns, schema, types) for i, r in enumerate(data["requests"])]
    if len(requests) > 1 and len({r["id"] for r in requests}) != len(requests):
        raise CaseError(f"{src}: field `requests` has a repeated request id")
    # In the order of Case's fields (positional: a case is made for every line of a batch).
    return Case(data["case_id"], review_date, patient, injury,  # type: ignore[arg-type]
                diagnoses, surgeries, history, findings, requests,
                list(get("expected") or ()), get("notes"), source, warns, visits,
                get("jurisdiction"), get("payer"))


def _request(r: dict[str, Any], i: int, src: str, warns: list[str],
             schema: facts.Schema, special: dict[str, _Reader]) -> dict[str, Any]:
    out = dict(r)
    out["id"] = str(r["id"])
    freq = out.pop("frequency", None)
    if freq:
        for name in ("per_week", "weeks"):
            value = freq.get(name)
            if value is not None:
                out[name] = value["max"] if isinstance(value, dict) else value
    for name in ("visits", "sessions", "days"):
        value = out.get(name)
        if isinstance(value, dict):
            out[name] = value["max"]
    if out.get("visits") is None:
        if out.get("per_week") is not None and out.get("weeks") is not None:
            out["visits"] = out["per_week"] * out["weeks"]
        elif out.get("sessions") is not None:
            out["visits"] = out["sessions"]
        elif out.get("days") is not None:
            out["visits"] = out["days"]
    if isinstance(r.get("levels"), list):
        out["levels"] = len(r["levels"])
    if isinstance(r.get("diagnoses"), list):
        out["diagnoses"] = [(d if isinstance(d, str) else d["code"]).strip().upper()
                            for d in r["diagnoses"]]
    if isinstance(out.get("ur_certified"), dict):
        out["ur_certified_detail"] = out.pop("ur_certified")
    return _typed(out, special, "requests", src, warns, schema, i)


@functools.cache
def _yaml_loader(fast: bool = False) -> Any:
    """Safe YAML with dates kept as text (checked as fields, so `2016-02-30` is a field error)
    and integers limited in length like JSON's. Made (and PyYAML imported) on the first YAML
    case file: JSON Lines and guideline checks never load it. `fast`: the same loader on
    libyaml's parser (PyYAML's C binding, about nine times faster on a case file) where PyYAML
    has it; its values and its resolving of plain scalars are the Python loader's own."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if fast else yaml.SafeLoader

    class Loader(base):  # type: ignore[valid-type, misc]
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def yaml_int(loader: Any, node: Any) -> Any:
        if len(str(node.value)) > 4000:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number of {len(node.value)} digits is too long",
                node.start_mark)
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    Loader.add_constructor("tag:yaml.org,2002:int", yaml_int)
    return Loader


def _yaml(text: str, name: str) -> Any:
    """YAML text → data. A file libyaml reads is read by it; one it refuses is read again by
    the Python loader, whose words and positions every message about a broken case file
    uses (`not valid YAML` at line and column; nesting past the limit located)."""
    import yaml
    try:
        return yaml.load(text, Loader=_yaml_loader(fast=True))  # noqa: S506 - SafeLoader's
    except (yaml.YAMLError, RecursionError, ValueError):
        pass
    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "not valid YAML"
        raise CaseError(f"{name}{where}: not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise CaseError(f"{name}: not valid YAML: {str(exc).splitlines()[0]}") from None


def _position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _at_line(position: str, line: int) -> str:
    """A "line:col" inside one JSON Lines record, as a position in the file."""
    return f"{line}:{position.split(':')[1]}" if line else position


_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|[\[\]{}]')


def _too_deep_at(text: str) -> str:
    """Where bracket nesting first passes MAX_NESTING (strings skipped), as "line:col"."""
    depth = 0
    for m in _BRACKETS.finditer(text):
        ch = m.group()
        if ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return _position(text, m.start())
        elif ch in "]}":
            depth -= 1
    return "1:1"


def parse_text(text: str, name: str, kind: str, line: int = 0) -> Any:
    """JSON or YAML text → plain data, every failure a CaseError with a line and column.
    `line` is the line number of a JSON Lines record (its text is that one line)."""
    import json  # here, not at the top: a check whose tests' cases are kept never needs it
    try:
        if kind == "json":
            import msgspec
            try:
                return msgspec.json.decode(text)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                return json.loads(text)  # Python's reader words the problem (line, column)
        return _yaml(text, name)
    except json.JSONDecodeError as exc:
        where = f"{line}:{exc.colno}" if line else f"{exc.lineno}:{exc.colno}"
        raise CaseError(f"{name}:{where}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise CaseError(f"{name}:{_at_line(_too_deep_at(text), line)}: too deeply nested (limit {MAX_NESTING} "
                        "levels of lists and mappings)") from None
    except ValueError:  # Python's limit on the digits of one integer
        m = re.search(r"\d{4000,}", text)
        where = f":{_at_line(_position(text, m.start()), line)}" if m else ""
        raise CaseError(f"{name}{where}: a number has more than 4,300 digits") from None


def load(path: str | Path, schema: facts.Schema | None = None) -> list[Case]:
    """All cases in a file: YAML or JSON (one case, or a list), or JSON Lines (one per line)."""
    p = Path(path)
    if p.suffix == ".jsonl":
        out = []
        for item in iter_jsonl_file(p, schema):
            if isinstance(item, CaseError):
                raise item
            out.append(item)
        return out
    return load_text(read_case_text(p), p, schema)


def read_case_text(path: Path) -> str:
    """A YAML or JSON case file's text, or a CaseError saying why it cannot be read."""
    try:
        return read_text(path)
    except FileProblem as exc:
        raise CaseError(str(exc)) from None


def load_text(text: str, path: Path, schema: facts.Schema | None = None) -> list[Case]:
    """The cases in the text of a YAML or JSON case file (`path` names it in messages)."""
    if not text.strip():
        raise CaseError(f"{path}: the case file is empty")
    data = parse_text(text, str(path), "json" if path.suffix == ".json" else "yaml")
    if data is None:
        raise CaseError(f"{path}: the case file is empty")
    items = data if isinstance(data, list) else [data]
    json_text = text if path.suffix == ".json" else None
    return [from_dict(item, str(path), schema, json_text) for item in items]


def iter_jsonl_file(path: Path | str, schema: facts.Schema | None = None, start: int = 0,
                    end: int | None = None, first: int = 1) -> Iterator[Case | CaseError]:
    """JSON Lines from a file of any size, a line at a time; each line within the size limit.
    `start`, `end` and `first` read one run of the file (see `jsonl_lines`)."""
    for n, raw in jsonl_lines(path, start, end, first):
        item = raw if isinstance(raw, CaseError) else from_jsonl_line(raw, str(path), n, schema)
        if item is not None:
            yield item


def jsonl_lines(path: Path | str, start: int = 0, end: int | None = None,
                first: int = 1) -> Iterator[tuple[int, bytes | CaseError]]:
    """Each record line of a JSON Lines file with its line number, as bytes; a line over the
    size limit is its CaseError. Blank lines are skipped. `start` and `end` (byte offsets at
    line starts, from `jsonl_runs`) and `first` (the line number at `start`) read one run."""
    limit = max_file_bytes()
    try:
        fh = open(path, "rb")
    except OSError as exc:
        yield 0, CaseError(f"{path}: cannot read the case file ({exc.strerror})")
        return
    with fh:
        fh.seek(start)
        n = first - 1
        while end is None or fh.tell() < end:
            raw = fh.readline(limit + 1)
            if not raw:
                return
            n += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                yield n, CaseError(f"{path}:{n}: the line is over the size limit of "
                                   f"{limit:,} bytes (set GUIDEC_MAX_FILE_MB to raise it)")
                while raw and not raw.endswith(b"\n"):  # skip the rest of that line
                    raw = fh.readline(limit + 1)
                continue
            if raw.strip():
                yield n, raw


def jsonl_runs(path: Path | str, lines: int) -> Iterator[tuple[int, int, int] | CaseError]:
    """A JSON Lines file cut into runs of `lines` lines: (start, end, first line number), so
    that each run can be read where it is (`jsonl_lines(path, start, end, first)`), by
    another process, without the lines passing through this one."""
    limit = max_file_bytes()
    try:
        fh = open(path, "rb")
    except OSError as exc:
        yield CaseError(f"{path}: cannot read the case file ({exc.strerror})")
        return
    with fh:
        start, first, n = 0, 1, 0
        while True:
            raw = fh.readline(limit + 1)
            if not raw:
                break
            n += 1
            while raw and len(raw) > limit and not raw.endswith(b"\n"):  # an overlong line
                raw = fh.readline(limit + 1)
            if n - first + 1 >= lines:
                end = fh.tell()
                yield start, end, first
                start, first = end, n + 1
        if n >= first:
            yield start, fh.tell(), first


def from_jsonl_line(raw: bytes, source: str, n: int,
                    schema: facts.Schema | None = None) -> Case | CaseError | None:
    """The case on line `n` of a JSON Lines file, the problem with it, or None for a line of
    white space only. Well-formed UTF-8 JSON is read straight from the bytes; anything else
    is read again slowly, so the message can say what and where."""
    try:
        data = _json_decoder()(raw)
    except (ValueError, RecursionError):
        try:
            line = decode(raw[:-1] if raw.endswith(b"\n") else raw, f"{source}:{n}")
        except FileProblem as exc:
            return CaseError(str(exc))
        if not line.strip():
            return None
        try:
            data = parse_text(line, source, "json", n)
        except CaseError as exc:
            return exc
    try:
        return from_dict(data, f"{source}:{n}", schema, raw)
    except CaseError as exc:
        return exc


@functools.cache
def _validate() -> Callable[[Any, facts.Schema], str | None]:
    """The case model's check of one case, loaded with the first case validated."""
    from . import casemodel
    return casemodel.valid


@functools.cache
def _json_decoder() -> Any:
    """msgspec's JSON reader, loaded with the first line read."""
    import msgspec
    return msgspec.json.Decoder().decode
