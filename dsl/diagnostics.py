"""Source spans and diagnostics → located, human- and machine-readable messages."""

from __future__ import annotations

import difflib
import re
from typing import Iterable, Literal

from .records import field, record

Severity = Literal["error", "warning", "note"]


@record(kw_only=False)
class Span:
    """A range of source text: 1-based lines and columns, 0-based offsets."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __reduce__(self) -> tuple[type, tuple[str, int, int, int, int, int, int]]:
        # Pickled as its constructor's arguments: read back without dataclasses' generic
        # `__setstate__`, which looks up the fields again for each of a library's spans.
        return (Span, (self.file, self.line, self.column, self.end_line, self.end_column,
                       self.start, self.end))

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        }


NO_SPAN = Span("<none>", 0, 0, 0, 0)


@record(kw_only=False)
class Diagnostic:
    """One finding. Codes are stable (E1xx syntax, E2xx names, E3xx types, W… warnings)."""

    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None
    notes: tuple[tuple[str, Span], ...] = ()
    witness: dict[str, object] | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "location": self.span.to_json(),
            "notes": [{"message": m, "location": s.to_json()} for m, s in self.notes],
        }
        if self.witness is not None:
            out["witness"] = self.witness
        return out


@record(frozen=False, kw_only=False, slots=False)
class Sink:
    """Collects diagnostics from every pass; nothing raises on the first error."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, span: Span, hint: str | None = None,
              notes: tuple[tuple[str, Span], ...] = ()) -> None:
        self.items.append(Diagnostic(code, "error", message, span, hint, notes))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None,
                notes: tuple[tuple[str, Span], ...] = ()) -> None:
        self.items.append(Diagnostic(code, "warning", message, span, hint, notes))

    def extend(self, items: Iterable[Diagnostic]) -> None:
        self.items.extend(items)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.span.file, d.span.line, d.span.column, d.code))


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate as a hint, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


# Characters that would act on a terminal or reorder text rather than show as themselves.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_ACTIVE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + _BIDI + "]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def inert(text: str) -> str:
    """User text made safe to print: control characters, line breaks and bidi overrides are
    shown as escapes (\\n, \\x1b, \\u202e) so they neither act on a terminal nor start a
    new line of a letter."""
    if not _ACTIVE.search(text):
        return text
    return _ACTIVE.sub(lambda m: _NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"
                                        if ord(m.group()) > 0xff else f"\\x{ord(m.group()):02x}"),
                       text)


EXCERPT = 100  # characters of a source line shown around a diagnostic


def render(diag: Diagnostic, source: str | None) -> str:
    """`file:line:col: error[CODE]: message`, the source line, a caret underline, the hint."""
    lines = [f"{inert(str(diag.span))}: {diag.severity}[{diag.code}]: {inert(diag.message)}"]
    if source is not None and diag.span.line > 0:
        text_lines = source.split("\n")  # lines as the parser counts them
        if diag.span.line <= len(text_lines):
            text = text_lines[diag.span.line - 1].rstrip("\r")
            width = max(1, (diag.span.end_column - diag.span.column)
                        if diag.span.end_line == diag.span.line else len(text) - diag.span.column + 1)
            column = diag.span.column
            if len(text) > EXCERPT:  # a window around the column, marked with ellipses
                start = max(0, min(column - 1 - EXCERPT // 3, len(text) - EXCERPT))
                text = ("..." if start else "") + text[start:start + EXCERPT] + (
                    "..." if start + EXCERPT < len(text) else "")
                column = column - start + (3 if start else 0)
                width = min(width, EXCERPT)
            # Tabs and other active characters become one visible mark each, so the caret lines up.
            text = _ACTIVE.sub(lambda m: " " if m.group() == "\t" else "?", text)
            gutter = f"{diag.span.line:>4} | "
            lines.append(gutter + text)
            lines.append(" " * (len(gutter) + column - 1) + "^" * max(1, width))
    for message, span in diag.notes:
        lines.append(f"  note: {span}: {inert(message)}")
    if diag.witness is not None:
        import json
        lines.append(f"  witness: {json.dumps(diag.witness, default=str)}")
    if diag.hint:
        lines.append(f"  hint: {inert(diag.hint)}")
    return "\n".join(lines)
