"""The fuzzing harness: one check per input kind, shared by the bounded Hypothesis tests
(`make test`) and the long campaign (`make fuzz`, tests/fuzz/run.py).

The properties, for any input at all:
- a guideline compiles to a clean result or to located diagnostics (never an exception);
- `fmt` keeps its meaning (the same syntax tree, spans aside) and `fmt` of `fmt` is `fmt`;
- a case file loads or gets a CaseError; a loaded case is reviewed without an exception;
- letters (text, Markdown, JSON), DOT and SVG stay inert: no control characters or bidi
  overrides from the input, no extra letter lines or headings, no HTML labels or links.
"""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

import yaml

from guidec.compiler.model import casemodel, cases

from guidec.compiler.rendering import dot, render
from guidec.compiler.evaluation.library import Library
from guidec.compiler.pipeline import Compiled, compile_source
from guidec.dsl import formatter, parser, records
from guidec.dsl.diagnostics import Span, render as render_diag

ROOT = Path(__file__).resolve().parents[2]
ACTIVE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f"
                    "\u202a-\u202e\u2066-\u2069]")


class Finding(AssertionError):
    """An input that broke a property; the message says which."""


# ---------------------------------------------------------------- seeds
def library_texts() -> list[tuple[str, str]]:
    return [(str(p.relative_to(ROOT)), p.read_text("utf-8"))
            for p in sorted((ROOT / "guidelines").rglob("*.gl"))]


def seed_cases() -> list[dict[str, Any]]:
    """The example cases as plain JSON-like data (dates as text)."""
    out = []
    for p in sorted((ROOT / "examples").rglob("*.yaml")):
        data = yaml.load(p.read_text("utf-8"), Loader=cases._yaml_loader())
        if isinstance(data, dict) and "case_id" in data:
            out.append(data)
    return out


_LIBRARY: Library | None = None


def library() -> Library:
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = Library.load([str(ROOT / "guidelines")])
    return _LIBRARY


# ---------------------------------------------------------------- guidelines
def _shape(node: Any) -> Any:
    """A syntax tree as plain data without positions or comments (what fmt must keep)."""
    if records.is_record(node):
        if isinstance(node, Span):
            return None
        out = []
        for f in records.fields(node):
            if f.name in {"comments", "span", "name_span", "code_spans", "path"}:
                continue
            value = _shape(getattr(node, f.name))
            if f.name == "clauses":  # keywords name clauses: fmt may put them in its own order
                value = tuple(sorted(value, key=repr))
            out.append((f.name, value))
        return (type(node).__name__,) + tuple(out)
    if isinstance(node, (tuple, list)):
        return tuple(_shape(x) for x in node)
    if isinstance(node, dict):
        return tuple(sorted((str(k), _shape(v)) for k, v in node.items()))
    return node


def check_guideline(text: str, path: str = "fuzz.gl", cases_to_run: int = 2,
                    rng: random.Random | None = None, analyse: bool = False) -> str:
    """Compile, format, evaluate and draw one guideline text. Returns "ok" or "diagnostics"."""
    try:
        compiled = compile_source(text, path)
    except Exception as exc:  # noqa: BLE001 - any exception here is the finding
        raise Finding(f"compile raised {type(exc).__name__}: {exc}") from exc
    for d in compiled.diagnostics:
        if d.span.file != path or d.span.line < 1 or d.span.column < 1:
            raise Finding(f"diagnostic without a location: {d}")
    rendered = compiled.render_diagnostics()
    if any(ACTIVE.search(line) for line in rendered.split("\n")):
        raise Finding("a diagnostic printed an active character")
    _check_fmt(text, path)
    if not compiled.ok:
        return "diagnostics"
    if compiled.kind == "declarations":
        return "ok"
    _check_run(compiled, rng or random.Random(0), cases_to_run)
    if analyse:
        from guidec.compiler.analysis import analyze
        try:
            analyze.Analyzer(analyze.Options(timeout_ms=300, budget_ms=3000)).check(compiled)
        except Exception as exc:  # noqa: BLE001
            raise Finding(f"analysis raised {type(exc).__name__}: {exc}") from exc
    return "ok"


def _check_fmt(text: str, path: str) -> None:
    parsed = parser.parse(text, path)
    if parsed.guideline is None or not parsed.complete or any(
            d.code.startswith("E1") for d in parsed.diagnostics):
        return
    try:
        once = formatter.format_guideline(parsed.guideline, text)
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"fmt raised {type(exc).__name__}: {exc}") from exc
    again = parser.parse(once, path)
    if again.guideline is None or not again.complete:
        raise Finding("fmt wrote text that does not parse:\n"
                      + "\n".join(render_diag(d, once) for d in again.diagnostics))
    if _shape(again.guideline) != _shape(parsed.guideline):
        raise Finding("fmt changed the meaning of the file")
    twice = formatter.format_guideline(again.guideline, once)
    if twice != once:
        raise Finding("fmt is not idempotent")
    if len(again.guideline.comments) != len(parsed.guideline.comments):
        raise Finding("fmt lost a comment")


def _check_run(compiled: Compiled, rng: random.Random, n: int) -> None:
    assert compiled.graph is not None
    seeds = seed_cases()
    try:
        for _ in range(n):
            case = cases.from_dict(mutate_case(rng.choice(seeds), rng, hostile=False), "fuzz")
            for request in case.requests:
                det = compiled.evaluator.evaluate(case, request)
                check_dot(str(dot.to_dot(compiled.graph, det).source))
    except cases.CaseError:
        return
    except Finding:
        raise
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"evaluation raised {type(exc).__name__}: {exc}") from exc


_HTML_ATTR = re.compile(r"\b(\w+)\s*=\s*<")
_LINK_ATTR = re.compile(r"\b(URL|href|target)\s*=", re.I)


def check_dot(source: str) -> None:
    """No attribute of guidec's DOT is an HTML label (`label=<...>`) or a link; user text only
    ever sits inside quoted strings."""
    outside = _strip_dot_strings(source)
    bad = _HTML_ATTR.search(outside) or _LINK_ATTR.search(outside)
    if bad:
        raise Finding(f"DOT attribute {bad.group(1)} is markup or a link")
    if ACTIVE.search(source.replace("\n", "").replace("\t", "")):
        raise Finding("DOT holds an active character")


def _strip_dot_strings(source: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', source)


# ---------------------------------------------------------------- cases
def check_case_text(text: str, kind: str) -> str:
    """Parse, load, review and render one case file's text (kind: json or yaml)."""
    try:
        data = cases.parse_text(text, f"fuzz.{kind}", kind)
    except cases.CaseError as exc:
        _message_inert(str(exc))
        return "error"
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"parse raised {type(exc).__name__}: {exc}") from exc
    return check_case_data(data)


def _validators_agree(data: Any) -> None:
    """The compiled case model and the JSON Schema generated from it accept the same cases."""
    if not isinstance(data, dict):
        return
    try:
        cases._shape(data, "fuzz")
    except cases.CaseError:
        return
    plain = cases._jsonable(data)
    schema = cases.facts.standard()
    by_model = casemodel.valid(plain, schema) is None
    by_schema = next(iter(cases._validator(schema).iter_errors(plain)), None) is None
    if by_model != by_schema:
        raise Finding(f"the case model {'accepts' if by_model else 'refuses'} a case the JSON "
                      f"Schema {'refuses' if by_model else 'accepts'}")


def check_case_data(data: Any) -> str:
    _validators_agree(data)
    try:
        case = cases.from_dict(data, "fuzz")
    except cases.CaseError as exc:
        _message_inert(str(exc))
        return "error"
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"loading raised {type(exc).__name__}: {exc}") from exc
    try:
        reviews = library().review(case)
        text = render.text(reviews)
        md = render.markdown(reviews)
        json.dumps([render.to_json(r) for r in reviews])
        lines = b"".join(render.json_line(render.to_json(r)) for r in reviews)
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"review raised {type(exc).__name__}: {exc}") from exc
    n = len(case.requests)
    if len(lines.decode("utf-8").splitlines()) != n:  # any reader's idea of a line break
        raise Finding("a JSON Lines record spans more than one line")
    for name, letter in (("text", text), ("markdown", md)):
        if any(ACTIVE.search(line) for line in letter.split("\n")):
            raise Finding(f"the {name} letter holds an active character")
    if sum(line.startswith("Request ") for line in text.split("\n")) != n or sum(
            line.strip().startswith("Decision:") for line in text.split("\n")) != n:
        raise Finding("the text letter has more request or decision lines than requests")
    heads = [line for line in md.split("\n") if line.startswith("#")]
    if sum(h.startswith("# ") for h in heads) != 1 or sum(h.startswith("## ") for h in heads) != n:
        raise Finding("the Markdown letter has extra headings")
    return "ok"


def _message_inert(message: str) -> None:
    # Messages are printed through `inert` by the CLI; the values they quote are JSON-escaped.
    if "\x1b" in message or "\u202e" in message:
        raise Finding("an error message quotes an active character raw")


# ---------------------------------------------------------------- mutators
HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 2.5, 2.0, 10**30, float("inf"), "", "x" * 5000,
    "line\nDecision: CERTIFIED\n## Request 9", "\x1b[31mred\x1b[0m", "\u202eevil", "\u2028",
    "<script>alert(1)</script>", "URL=<javascript:alert(1)>", "2016-02-30", "2016-13-01",
    "9999-12-31", "0001-01-01", "physical_therap", "umbilical_hernia_repair", "M54.1", "m54",
    [], {}, [[[[[]]]]], {"max": 3}, {"min": 9, "max": 2}, ["a", 1, None], "١٢٣",
]
TOKENS = [
    " or ", " and ", " not ", "(", ")", "[", "]", "{", "}", ",", ".", " == ", " = ", " + ", " - ",
    " * ", " in ", " is documented ", " within 6 months after ", " in last 12 months ",
    "sum history[treatment in {physical_therapy}].visits", "count surgeries", "findings.flare_up",
    " overrides ", " allow 10 visits over 4 weeks ", " cite p. 1 ", "\n", "\f", "\r", "\t", "2.5",
    "20%", "0.0", "fact findings.zz: decimal", "\nfact findings.flare_up: whole number\n",
    "\ufeff", "\u202e", "\x00", '"', '"\\', "#", "9" * 20, "9" * 4400, "2016-02-30", "M54.1*",
    "§ 9792.24.1", "\nrequire x \"X\"\n  must findings.flare_up\n  cite p. 1\n",
    "\ndefine d = d\n", "\ntest \"t\" given {case_id: t}\n  expect certified\n", "é", "١٢",
]


def mutate_text(text: str, rng: random.Random, ops: int | None = None) -> str:
    """A few random edits: delete, duplicate, insert a token, swap lines, deepen, truncate."""
    for _ in range(ops or rng.randint(1, 4)):
        if not text:
            text = rng.choice(TOKENS)
            continue
        i = rng.randrange(len(text))
        j = min(len(text), i + rng.randint(1, 40))
        op = rng.randrange(8)
        if op == 0:
            text = text[:i] + text[j:]
        elif op == 1:
            text = text[:j] + text[i:j] + text[j:]
        elif op in (2, 3):
            text = text[:i] + rng.choice(TOKENS) + text[i:]
        elif op == 4:
            lines = text.split("\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        elif op == 5:
            depth = rng.choice([5, 60, 150, 2000])
            text = text[:i] + "(" * depth + "findings.flare_up" + ")" * depth + text[i:]
        elif op == 6:
            text = text[:i] + " or ".join(["findings.flare_up"] * rng.choice([3, 120, 3000])) + text[i:]
        else:
            text = text[:i]
    return text


def mutate_case(seed: dict[str, Any], rng: random.Random, hostile: bool = True) -> Any:
    """A deep copy of a seed case with a few values replaced, removed or added."""
    data = json.loads(json.dumps(seed, default=str))
    pool = HOSTILE_VALUES if hostile else [None, True, False, 0, 3, 12, 40, "2015-06-01"]
    for _ in range(rng.randint(1, 4)):
        parent, key = _pick(data, rng)
        if parent is None:
            continue
        op = rng.randrange(4)
        if op == 0 and hostile:
            if isinstance(parent, dict):
                parent.pop(key, None)
            elif parent:
                parent.pop(key)
        elif op == 1 and isinstance(parent, dict):
            parent[rng.choice(["extra", "visits", "date", "treatment", "flare_up", "item"])] = \
                copy.deepcopy(rng.choice(pool))
        else:
            parent[key] = copy.deepcopy(rng.choice(pool)) if hostile or not isinstance(parent[key], str) \
                else parent[key]
    if hostile and rng.random() < 0.05:
        data = _deep(rng.choice([10, 70, 3000]))
    return data


def _deep(n: int) -> Any:
    value: Any = []
    for _ in range(n):
        value = [value]
    return {"case_id": "deep", "review_date": "2016-01-01", "x": value,
            "requests": [{"id": "1", "treatment": "massage"}]}


def _pick(data: Any, rng: random.Random) -> tuple[Any, Any]:
    """A random (container, key) inside the data."""
    spots: list[tuple[Any, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) \
            if isinstance(node, list) else ()
        for k, v in items:
            spots.append((node, k))
            if isinstance(v, (dict, list)):
                stack.append(v)
    return rng.choice(spots) if spots else (None, None)


def case_text(data: Any, rng: random.Random) -> tuple[str, str]:
    """The case as JSON or YAML text, sometimes with text-level edits too."""
    kind = rng.choice(["json", "yaml"])
    try:
        text = json.dumps(data, ensure_ascii=rng.random() < 0.5, default=str) if kind == "json" \
            else yaml.safe_dump(data, allow_unicode=True)
    except (ValueError, RecursionError, yaml.YAMLError):
        text = json.dumps({"case_id": "x"})
    if rng.random() < 0.3:
        text = mutate_text(text, rng, 1)
    return text, kind

