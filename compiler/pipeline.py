""".gl file → compiled guideline: the passes in order (parse, check, build graph, compile).

Passes, in order; each takes what the one before gives and reports into one sink:
  1. parse   (dsl.parser)    source → AST; syntax errors stop the file here
  2. check   (compiler.check) AST → IR; names, types, units, value sets, clauses, tests
  3. graph   (compiler.graph) IR → decision graph (only when check found no errors)
  4. compile (compiler.evaluate) graph → closures, on first use
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import networkx as nx

from ..dsl import parser
from ..dsl.diagnostics import Diagnostic, Sink, render
from ..dsl import ast
from .model import check, facts, graph, ir
from . import diskcache
from .evaluation.evaluate import Evaluator


@dataclass
class Compiled:
    path: str
    source: str
    diagnostics: list[Diagnostic]
    ir: ir.Guideline | None = None
    graph: nx.MultiDiGraph | None = None
    _evaluator: Evaluator | None = field(default=None, repr=False)

    kind: str = "guideline"  # or "declarations" (a facts.gl: no rules, no graph)

    @property
    def ok(self) -> bool:
        if self.kind == "declarations":
            return not any(d.severity == "error" for d in self.diagnostics)
        return self.graph is not None and not any(d.severity == "error"
                                                  for d in self.diagnostics)

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:
            assert self.graph is not None, "a guideline with errors cannot be evaluated"
            self._evaluator = Evaluator(self.graph)
        return self._evaluator

    def render_diagnostics(self) -> str:
        return "\n".join(render(d, self.source) for d in self.diagnostics)


def compile_source(source: str, path: str = "<string>") -> Compiled:
    try:
        return _compile_source(source, path)
    except RecursionError:  # the parser's nesting limit should make this unreachable
        from ..dsl.diagnostics import Span
        d = Diagnostic("E104", "error", f"this guideline is too deeply nested to compile "
                       f"(limit {parser.MAX_DEPTH} levels)", Span(path, 1, 1, 1, 2),
                       "split deep expressions into named definitions (`define`)")
        return Compiled(path, source, [d])


def _compile_source(source: str, path: str) -> Compiled:
    sink = Sink()
    parsed = parser.parse(source, path)
    sink.extend(parsed.diagnostics)
    if parsed.guideline is None:
        return Compiled(path, source, sink.sorted())
    g = parsed.guideline
    shared, _ = facts.declarations_for(path)
    own = [i for i in g.items if isinstance(i, (ast.FactDecl, ast.Vocabulary))]
    if g.header.kind == "declarations":
        own_file = _same_file(path)
        shared = [d for d in shared if not own_file(d.span.file)]
    schema, problems = facts.build([*shared, *own])
    sink.extend(d for d in problems if d.span.file == path)
    if g.header.kind == "declarations":
        for item in g.items:
            if not isinstance(item, (ast.FactDecl, ast.Vocabulary)):
                sink.error("E215", "a declarations file holds only `fact` and `vocabulary` "
                           "items", item.span, "put rules, definitions and tests in a guideline")
        return Compiled(path, source, sink.sorted(), kind="declarations")
    model = check.check(g, sink, partial=not parsed.complete, lost=parsed.lost_names,
                        schema=schema)
    if sink.has_errors:
        return Compiled(path, source, sink.sorted(), model)
    return Compiled(path, source, sink.sorted(), model, graph.build(model))


def _same_file(path: str) -> "Callable[[str], bool]":
    try:
        target = Path(path).resolve()
    except OSError:
        return lambda other: other == path

    def same(other: str) -> bool:
        try:
            return Path(other).resolve() == target
        except OSError:
            return False
    return same


def compile_file(path: str | Path) -> Compiled:
    from ..dsl.diagnostics import Span
    from ..dsl.files import FileProblem, read_text
    p = Path(path)
    try:
        source = read_text(p)
    except FileProblem as exc:
        code = "E105" if "over the limit" in str(exc) else "E001"
        message = str(exc).split(": ", 1)[1] if str(exc).startswith(str(p)) else str(exc)
        d = Diagnostic(code, "error", message, Span(str(p), 1, 1, 1, 1))
        return Compiled(str(p), "", [d])
    return _cached(str(p), source)


def compile_text(path: str, source: str) -> Compiled:
    """The file's text (already read) compiled: from this process's or the disk's cache."""
    return _cached(path, source)


@functools.lru_cache(maxsize=256)
def _cached(path: str, source: str) -> Compiled:
    """Compiled once per process, and kept between runs (diskcache) under a key of the file's
    text and path and the text of every declarations file it sees."""
    try:
        parts = diskcache.key_parts(path, source)
    except OSError:
        return compile_source(source, path)
    return diskcache.memo("compiled", parts, lambda: compile_source(source, path),
                          lambda x: isinstance(x, Compiled))


from ..dsl.files import find_guidelines as find_guidelines  # noqa: E402  (re-exported)
