"""The analysis's findings kept by the logic they were proved from, and the comments that
acknowledge them. Nothing here loads the solver.

The solver reads a guideline's logic: its conditions, limits, exceptions, definitions, value
sets, dates, scope and the declared facts, with the rules' names and citations that its
messages quote. It does not read the embedded tests, the reason sentences, comments or where
things stand in the file. So the findings are kept in guidec's cache under a digest of the
logic alone (`logic`), with every location in them written as the place in the model it
points at: after an edit to a test, a reason's words or a comment, or lines moved, the
findings are read back with the locations of the edited file, and z3 is not even imported.
The findings across a library's guidelines are kept the same way, under the digests of all
their logics. Which findings may be kept (none that depend on the clock) is the caller's rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, Callable

from ...dsl import records
from ...dsl.diagnostics import Diagnostic, Span
from ..model import ir
from ..model.facts import Schema

# Fields the analysis never reads: what a guideline says when a rule fails, and its tests.
_UNREAD = {ir.Rule: frozenset({"otherwise", "undocumented", "partial"}),
           ir.Guideline: frozenset({"tests"})}

Path = tuple[Any, ...]


class Logic:
    """A guideline's logic: a digest of what the analysis reads, and where each location
    of the model is (the path to it from the guideline, through fields and positions)."""

    def __init__(self, g: ir.Guideline) -> None:
        self.spans: dict[Path, Span] = {}
        self.paths: dict[Span, Path] = {}
        # The declared facts enter the digest as their own digest (the same in every process
        # for the same declarations). Their places are in the declarations files, which an
        # edit to this file does not move: findings may point there as they are.
        self.declared = frozenset(s for s in g.schema.origins.values() if s.file != g.path)
        text = repr(self._canon(g, ()))
        self.digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    def _canon(self, x: Any, path: Path) -> Any:
        if isinstance(x, Schema):
            return ("schema", x.digest())
        if isinstance(x, Span):
            self.spans[path] = x
            self.paths.setdefault(x, path)
            return "@"
        if x is None or isinstance(x, (str, int, float, bool, dt.date)):
            return x
        if records.is_record(x):
            skip = _UNREAD.get(type(x), frozenset())
            return (type(x).__name__, tuple(
                (f.name, self._canon(getattr(x, f.name), (*path, f.name)))
                for f in records.fields(x) if f.name not in skip))
        if isinstance(x, dict):
            return ("dict", tuple((self._canon(k, (*path, "key", i)),
                                   self._canon(v, (*path, i)))
                                  for i, (k, v) in enumerate(x.items())))
        if isinstance(x, (tuple, list)):
            return tuple(self._canon(v, (*path, i)) for i, v in enumerate(x))
        if isinstance(x, (frozenset, set)):  # no positions inside: sets hold terms and codes
            return ("set", tuple(sorted(repr(self._canon(v, (*path, "in"))) for v in x)))
        return ("other", type(x).__name__, repr(x))



def anchored(logics: list[Logic], found: list[Diagnostic]) -> list[Diagnostic] | None:
    """The findings with each location written as the place in a model it points at (the
    model's position in `logics`, then the path in it), or left as it is where it points into
    the declarations; None when one points anywhere else (such findings are not kept)."""
    where: dict[Span, Path] = {}
    declared: set[Span] = set()
    for i, logic in enumerate(logics):
        declared |= logic.declared
        for span, path in logic.paths.items():
            where.setdefault(span, (i, *path))

    def anchor(s: Span) -> Any:
        return s if s in declared else _Anchor(where[s])
    try:
        return [_relocate(d, anchor) for d in found]
    except KeyError:
        return None


def located(kept: list[Diagnostic], logic_of: Callable[[int], Logic | None],
            ) -> list[Diagnostic] | None:
    """Kept findings with the locations of the models as they are now (`logic_of(i)`: the
    logic of the i-th, made only for the models the findings point into); None when one
    points at a place the model no longer has."""
    logics: dict[int, Logic | None] = {}

    def place(a: Any) -> Any:
        if not isinstance(a, _Anchor):
            return a
        i, *path = a.path
        if i not in logics:
            logics[i] = logic_of(i)
        logic = logics[i]
        if logic is None:
            raise KeyError(i)
        return logic.spans[tuple(path)]
    try:
        return [_relocate(d, place) for d in kept]
    except (KeyError, AttributeError, TypeError, ValueError):
        return None


@records.record(kw_only=False)
class _Anchor:
    path: Path


def _relocate(d: Diagnostic, where: Callable[[Any], Any]) -> Diagnostic:
    return records.replace(d, span=where(d.span),
                               notes=tuple((m, where(s)) for m, s in d.notes))


_IGNORE = re.compile(r"guidec:\s*ignore\s+([A-Z]\d+(?:\s*,\s*[A-Z]\d+)*)")


def suppressed(diag: Diagnostic, source: str) -> bool:
    """`# guidec: ignore W410 -- why` in the comment lines just above the finding's line."""
    lines = source.splitlines()
    i = diag.span.line - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#"):
        m = _IGNORE.search(lines[i])
        if m and diag.code in re.split(r"\s*,\s*", m.group(1)):
            return True
        i -= 1
    return False


def kept(found: list[tuple[Diagnostic, str]]) -> tuple[list[Diagnostic], int]:
    """The findings no comment acknowledges; and how many one does."""
    out = [d for d, src in found if not suppressed(d, src)]
    return out, len(found) - len(out)
