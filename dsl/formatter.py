"""AST (+ comments) → canonical .gl text: one layout, comments kept, meaning unchanged."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

from . import ast

WIDTH = 100
INDENT = "  "
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
CODE_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{0,4})?\*?$")
KEYWORDS = {"true", "false", "null"}

# Binding strength: a child weaker than its slot needs parentheses.
PREC = {"cond": 0, "or": 1, "and": 2, "not": 3, "test": 4, "sum": 5, "product": 6, "unary": 7, "atom": 8}
CMP = {"==", "!=", "<", "<=", ">", ">="}


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------- expressions
def _prec(e: ast.Expr) -> int:
    if isinstance(e, ast.Binary):
        if e.op in {"or", "and"}:
            return PREC[e.op]
        if e.op in CMP or e.op in {"in", "not in"}:
            return PREC["test"]
        return PREC["sum"] if e.op in {"+", "-"} else PREC["product"]
    if isinstance(e, ast.Unary):
        return {"not": PREC["not"], "neg": PREC["unary"]}.get(e.op, PREC["test"])
    if isinstance(e, (ast.WithinAfter, ast.InLast, ast.CalendarYear)):
        return PREC["test"]
    if isinstance(e, ast.Cond):
        return PREC["cond"]
    return PREC["atom"]


def _wrap(e: ast.Expr, at_least: int) -> str:
    text = expr(e)
    return f"({text})" if _prec(e) < at_least else text


def _binary(e: ast.Binary) -> str:
    p = _prec(e)
    if e.op in {"or", "and"}:
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if p == PREC["test"]:  # comparisons and `in` are not associative
        return f"{_wrap(e.left, PREC['sum'])} {e.op} {_wrap(e.right, PREC['sum'])}"
    return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"


def _unary(e: ast.Unary) -> str:
    if e.op == "not":
        return f"not {_wrap(e.operand, PREC['not'])}"
    if e.op == "neg":
        return f"-{_wrap(e.operand, PREC['unary'])}"
    suffix = "is documented" if e.op == "documented" else "is not documented"
    return f"{_wrap(e.operand, PREC['sum'])} {suffix}"


def _path(e: ast.Path) -> str:
    head = e.names[0] + (f"[{expr(e.filter)}]" if e.filter is not None else "")
    return ".".join((head, *e.names[1:]))


EXPR: dict[type, Callable[[Any], str]] = {
    ast.IntLit: lambda e: str(e.value),
    ast.NumberLit: lambda e: e.text,
    ast.Group: lambda e: "(" + expr(e.inner) + ")",
    ast.Cond: lambda e: (f"if {expr(e.cond)} then {expr(e.then)} else "
                         f"{expr(e.otherwise)}"),
    ast.CalendarYear: lambda e: (f"{_wrap(e.subject, PREC['sum'])} in calendar year of "
                                 f"{_wrap(e.of, PREC['sum'])}"),
    ast.DateLit: lambda e: e.value.isoformat(),
    ast.BoolLit: lambda e: "true" if e.value else "false",
    ast.Duration: lambda e: f"{e.amount} {e.unit}",
    ast.SetLit: lambda e: "{" + ", ".join(e.terms) + "}",
    ast.Path: _path,
    ast.Unary: _unary,
    ast.Binary: _binary,
    ast.WithinAfter: lambda e: f"within {expr(e.duration)} after {_wrap(e.anchor, PREC['sum'])}",
    ast.InLast: lambda e: f"{_wrap(e.subject, PREC['sum'])} in last {expr(e.duration)}",
    ast.Aggregate: lambda e: f"{e.kind} {_path(e.path)}",
    ast.AnyDiagnosis: lambda e: ("any request diagnosis in " if e.request
                                 else "any diagnosis in ") + e.valueset,
    ast.Call: lambda e: f"{e.func}(" + ", ".join(expr(a) for a in e.args) + ")",
}


def expr(e: ast.Expr) -> str:
    return EXPR[type(e)](e)


def _chain(e: ast.Expr, op: str) -> list[ast.Expr]:
    """`a or b or c` as [a, b, c] (left-nested, as the parser builds it)."""
    if isinstance(e, ast.Binary) and e.op == op:
        return _chain(e.left, op) + [e.right]
    return [e]


def block_expr(e: ast.Expr, indent: str, used: int = 0) -> str:
    """An expression laid out from column len(indent) + used, broken when too long.

    Breaks, in order of preference: before a top-level `or` / `and`; inside the filter of an
    aggregate; between the arguments of a call. Continuation lines indent one step deeper.
    """
    text = expr(e)
    if len(indent) + used + len(text) <= WIDTH:
        return text
    deeper = indent + INDENT
    for op in ("or", "and"):
        parts = _chain(e, op)
        if len(parts) > 1:
            first, *rest = parts
            lines = [_wrap_block(first, PREC[op], indent, used)]
            lines += [f"{op} " + _wrap_block(p, PREC[op] + 1, deeper, len(op) + 1) for p in rest]
            return ("\n" + deeper).join(lines)
    if isinstance(e, ast.Aggregate) and e.path.filter is not None:
        p = e.path
        head = f"{e.kind} {p.names[0]}["
        inner = block_expr(e.path.filter, deeper, 0)
        tail = "]" + "".join("." + n for n in p.names[1:])
        return f"{head}\n{deeper}{inner}\n{indent}{tail}" if "\n" in inner or \
            len(deeper) + len(inner) > WIDTH else f"{head}{inner}{tail}"
    if isinstance(e, ast.Group):
        return "(" + block_expr(e.inner, indent, used + 1) + ")"
    if isinstance(e, ast.Call):
        args = [block_expr(a, deeper, 0) for a in e.args]
        return f"{e.func}(\n" + ",\n".join(deeper + a for a in args) + f"\n{indent})"
    if isinstance(e, ast.Binary) and _prec(e) == PREC["test"]:
        left = _wrap_block(e.left, PREC["sum"], indent, used)
        last = left.split("\n")[-1]
        right = _wrap_block(e.right, PREC["sum"], indent, len(last) + len(e.op) + 2)
        return f"{left} {e.op} {right}"
    return text


def _wrap_block(e: ast.Expr, at_least: int, indent: str, used: int) -> str:
    if _prec(e) < at_least:
        return "(" + block_expr(e, indent, used + 1) + ")"
    return block_expr(e, indent, used)


# ---------------------------------------------------------------- values (test facts)
def value(v: Any, indent: str = "", used: int = 0) -> str:
    """A test fact value laid out from column len(indent) + used."""
    if isinstance(v, dict):
        parts = [(f"{k}: ", x) for k, x in v.items()]
        return _collection("{", "}", parts, indent, used)
    if isinstance(v, list):
        return _collection("[", "]", [("", x) for x in v], indent, used)
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):  # a decimal, written as the parser reads it back
        return repr(v) if "e" not in repr(v) else f"{v:.6f}".rstrip("0")
    if isinstance(v, dt.date):
        return v.isoformat()
    text = str(v)
    if (NAME_RE.match(text) and text not in KEYWORDS) or CODE_RE.match(text):
        return text
    return quote(text)


def _flat(v: Any) -> str:
    return value(v, "", -10_000)  # laid out with unlimited width


def _collection(open_: str, close: str, parts: list[tuple[str, Any]], indent: str,
                used: int) -> str:
    one_line = open_ + ", ".join(k + _flat(x) for k, x in parts) + close
    if len(indent) + used + len(one_line) <= WIDTH:
        return one_line
    if len(parts) == 1 and not parts[0][0]:  # a list of one item hugs it: [{...}]
        return open_ + value(parts[0][1], indent, used + 1) + close
    inner = indent + INDENT
    body = ",\n".join(inner + k + value(x, inner, len(k)) for k, x in parts)
    return open_ + "\n" + body + "\n" + indent + close


# ---------------------------------------------------------------- declarations
def pages(p: ast.Pages) -> str:
    return str(p)


def citation(c: ast.Citation) -> str:
    if c.section is not None:
        return (quote(c.document) + " " if c.document is not None else "") + f"§ {c.section}"
    if c.document is None:
        return pages(c.pages) if c.pages else ""
    return quote(c.document) + (f" {pages(c.pages)}" if c.pages else "")


def cite(citations: tuple[ast.Citation, ...]) -> str:
    return "cite " + "; ".join(citation(c) for c in citations)


def quantity(q: ast.Quantity) -> str:
    rate = (f"at most {q.per_week} {q.rate_unit} per {q.rate_per}"
            if q.per_week is not None else None)
    if q.amount_expr is not None:
        amount = expr(q.amount_expr)
    elif q.amount is None:
        return rate or ""
    else:
        amount = str(q.amount)
    text = f"{amount} {q.unit}" + (f" over {q.over} {q.over_unit}" if q.over is not None else "")
    return text + (f", {rate}" if rate else "")


def header(h: ast.Header) -> list[str]:
    if h.kind == "declarations":
        return [f"declarations {h.id} {quote(h.title)}"]
    lines = [f"guideline {h.id} {quote(h.title)}"]
    if h.version is not None:
        lines.append(f"{INDENT}version {quote(h.version)}")
    if h.effective_from is not None:
        until = f" until {h.effective_until.isoformat()}" if h.effective_until else ""
        lines.append(f"{INDENT}effective {h.effective_from.isoformat()}{until}")
    if h.source is not None:
        src = f" {pages(h.source_pages)}" if h.source_pages else ""
        lines.append(f"{INDENT}source {quote(h.source)}{src}")
    if h.applies is not None:
        lines.append(f"{INDENT}applies when {block_expr(h.applies, INDENT, len('applies when '))}")
    if h.precedence:
        lines.append(f"{INDENT}precedence {h.precedence}")
    if h.unit != "visits":
        lines.append(f"{INDENT}counts {h.unit}")
    if h.basis is not None:
        lines.append(f"{INDENT}basis {quote(h.basis)}")
    for key, value in h.scope:
        lines.append(f"{INDENT}scope {key} {quote(value)}")
    if h.layer:
        lines.append(f"{INDENT}layer")
    return lines


def _titled(keyword: str, name: str, title: str | None) -> str:
    return f"{keyword} {name}" + (f" {quote(title)}" if title is not None else "")


def valueset(v: ast.ValueSet) -> list[str]:
    head = _titled("valueset", v.name, v.title) + " ="
    # Both parts when a set mixes codes and terms (an error the checker reports): formatting
    # never drops what the author wrote.
    parts = (["icd10 {" + ", ".join(v.codes) + "}"] if v.codes else []) + (
        ["{" + ", ".join(v.terms) + "}"] if v.terms or not v.codes else [])
    body = " + ".join(parts)
    if len(head) + 1 + len(body) <= WIDTH:
        return [f"{head} {body}"]
    return [head] + _wrap_list(body, INDENT, INDENT * 2)


def _wrap_list(text: str, first: str, rest: str) -> list[str]:
    """Break a long `{a, b, c}` list after commas."""
    out, line = [], first
    for i, part in enumerate(text.split(", ")):
        piece = part + ("," if i < text.count(", ") else "")
        if len(line) + len(piece) + 1 > WIDTH and line.strip():
            out.append(line.rstrip())
            line = rest
        line += piece + " "
    out.append(line.rstrip())
    return out


def definition(d: ast.Definition) -> list[str]:
    head = _titled("define", d.name, d.title) + " ="
    if len(head) + 1 + len(expr(d.expr)) <= WIDTH:
        return [f"{head} {expr(d.expr)}"]
    return [head, INDENT + block_expr(d.expr, INDENT)]


def section(s: ast.Section) -> list[str]:
    return [f"section {quote(s.title)}" + (f" {cite(s.citations)}" if s.citations else "")]


CLAUSE_ORDER = ["when", "overrides", "must", "allow", "extend", "counting", "otherwise",
                "undocumented", "partial", "because", "cite"]


def clause(c: ast.Clause) -> str:
    k = c.keyword
    if k in {"when", "must", "counting"}:
        assert c.expr is not None
        return f"{k} {block_expr(c.expr, INDENT, len(k) + 1)}"
    if k == "allow":
        assert c.quantity is not None
        return f"allow {quantity(c.quantity)}"
    if k == "extend":
        assert c.expr is not None
        target = f"to {quantity(c.quantity)} " if c.quantity is not None else ""
        return f"extend {target}if " + block_expr(c.expr, INDENT, len(f"extend {target}if "))
    if k == "overrides":
        return "overrides " + ", ".join(c.names)
    if k == "cite":
        return cite(c.citations)
    assert c.text is not None
    return f"{k} {quote(c.text)}"


def rule(r: ast.Rule) -> list[str]:
    ordered = sorted(r.clauses, key=lambda c: CLAUSE_ORDER.index(c.keyword))
    return [_titled(r.kind, r.name, r.title)] + [INDENT + clause(c) for c in ordered]


def test(t: ast.Test) -> list[str]:
    lines = [f"test {quote(t.title)}"]
    if t.case_file is not None:
        lines.append(f"{INDENT}case {quote(t.case_file)}"
                     + (f" for {quote(t.request_id)}" if t.request_id is not None else ""))
    else:
        lines.append(f"{INDENT}given {value(t.given, INDENT, len('given '))}")
    e = t.expect
    if e.decision is None:
        lines.append(f"{INDENT}expect no decision")
    else:
        text = f"{INDENT}expect {e.decision}"
        text += f" {e.quantity}" if e.quantity is not None else ""
        text += (" because " + ", ".join(e.reasons)) if e.reasons else ""
        lines.append(text)
    return lines


def fact_decl(d: ast.FactDecl) -> list[str]:
    described = f" {quote(d.description)}" if d.description is not None else ""
    return [f"fact {d.name}: {d.type_text}{described}"]


def vocabulary(v: ast.Vocabulary) -> list[str]:
    head = _titled("vocabulary", v.name, v.title) + " = {"
    terms = [t.name + (f" {quote(t.title)}" if t.title is not None else "")
             + (f" codes {quote(', '.join(t.codes))}" if t.codes else "") for t in v.terms]
    one_line = head + ", ".join(terms) + "}"
    if len(one_line) <= WIDTH and not any(t.title is not None or t.codes for t in v.terms):
        return [one_line]
    return [head] + [f"{INDENT}{t}," for t in terms[:-1]] + (
        [f"{INDENT}{terms[-1]}"] if terms else []) + ["}"]


ITEMS: dict[type, Callable[[Any], list[str]]] = {
    ast.ValueSet: valueset, ast.Definition: definition, ast.Section: section,
    ast.Rule: rule, ast.Test: test, ast.FactDecl: fact_decl, ast.Vocabulary: vocabulary,
}


# ---------------------------------------------------------------- file
def format_guideline(g: ast.Guideline, source: str) -> str:
    """The canonical text of a parsed file; comments stay above the item they were in or above."""
    src_lines = source.split("\n")
    comments = list(g.comments)
    blocks: list[tuple[int, int, list[str], bool]] = [
        (g.header.span.line, g.header.span.end_line, header(g.header), False)]
    blocks += [(i.span.line, i.span.end_line, ITEMS[type(i)](i), isinstance(i, ast.FactDecl))
               for i in g.items]
    out: list[str] = []
    previous_fact = False
    for start, _end, lines, is_fact in blocks:
        mine = [c for c in comments if c.line < start] if out or blocks[0][0] == start else []
        comments = [c for c in comments if c not in mine]
        if is_fact and previous_fact and not mine and out and out[-1] == "":
            out.pop()  # fact declarations stay together, a line each
        previous_fact = is_fact
        _emit_comments(out, mine, src_lines)
        out.extend(lines)
        inner = [c for c in comments if c.line <= _end]
        comments = [c for c in comments if c not in inner]
        if inner:  # comments inside an item move to just above it
            at = len(out) - len(lines)
            out[at:at] = [c.text for c in inner]
        out.append("")
    if comments:
        _emit_comments(out, comments, src_lines)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def _emit_comments(out: list[str], comments: list[ast.Comment], src: list[str]) -> None:
    for c in comments:
        out.append(c.text)
        nxt = src[c.line] if c.line < len(src) else ""
        if not nxt.strip():  # a blank line after a comment in the source is kept
            out.append("")
