"""Source spans and diagnostics → located, human- and machine-readable messages."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, slots=True)
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

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        }


NO_SPAN = Span("<none>", 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
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


@dataclass
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


def render(diag: Diagnostic, source: str | None) -> str:
    """`file:line:col: error[CODE]: message`, the source line, a caret underline, the hint."""
    lines = [f"{diag.span}: {diag.severity}[{diag.code}]: {diag.message}"]
    if source is not None and diag.span.line > 0:
        text_lines = source.splitlines()
        if diag.span.line <= len(text_lines):
            text = text_lines[diag.span.line - 1]
            width = max(1, (diag.span.end_column - diag.span.column)
                        if diag.span.end_line == diag.span.line else len(text) - diag.span.column + 1)
            gutter = f"{diag.span.line:>4} | "
            lines.append(gutter + text)
            lines.append(" " * (len(gutter) + diag.span.column - 1) + "^" * max(1, width))
    for message, span in diag.notes:
        lines.append(f"  note: {span}: {message}")
    if diag.witness is not None:
        import json
        lines.append(f"  witness: {json.dumps(diag.witness, default=str)}")
    if diag.hint:
        lines.append(f"  hint: {diag.hint}")
    return "\n".join(lines)
