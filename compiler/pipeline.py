""".gl file → compiled guideline: the passes in order (parse, check, build graph, compile).

Passes, in order; each takes what the one before gives and reports into one sink:
  1. parse   (dsl.parser)    source → AST; syntax errors stop the file here
  2. check   (compiler.check) AST → IR; names, types, units, value sets, clauses, tests
  3. graph   (compiler.graph) IR → the decision graph's plan (only when check found no
             errors); the networkx graph itself is built where it is read (pictures, coverage)
  4. compile (compiler.evaluate) plan → closures, on first use
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..dsl.diagnostics import Diagnostic, render
from .model import facts, graph, ir
from . import diskcache
from .evaluation.evaluate import Evaluator

# The declared facts every guideline of a library sees are kept once in the cache, not once a
# guideline: a library read from the cache holds one schema, not one for each guideline.
diskcache.share(facts.Schema)

if TYPE_CHECKING:
    import networkx as nx


class Compiled:
    """A compiled guideline (or declarations file): its diagnostics, its checked model, and
    for a guideline without errors the plan its evaluation follows. The decision graph
    (networkx) is built from the model where it is read (pictures, coverage) and is not
    kept in the cache: a review or a check loads neither the parser (a cached file) nor the
    graph library."""

    def __init__(self, path: str, source: str, diagnostics: list[Diagnostic],
                 ir: ir.Guideline | None = None, plan: graph.Plan | None = None,
                 kind: str = "guideline") -> None:
        self.path = path
        self.source = source
        self.diagnostics = diagnostics
        self.ir = ir
        self.kind = kind  # or "declarations" (a facts.gl: no rules, no graph)
        self.plan = plan
        self._graph: nx.MultiDiGraph | None = None
        self._evaluator: Evaluator | None = None

    def __repr__(self) -> str:
        return f"Compiled({self.path!r}, kind={self.kind!r}, ok={self.ok})"

    @property
    def graph(self) -> nx.MultiDiGraph | None:
        """The decision graph (None for a file with errors), built on first use."""
        if self._graph is None and self.plan is not None:
            self._graph = graph.build(self.plan.guideline)
        return self._graph

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_graph": None, "_evaluator": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def ok(self) -> bool:
        if self.kind == "declarations":
            return not any(d.severity == "error" for d in self.diagnostics)
        return self.plan is not None and not any(d.severity == "error"
                                                 for d in self.diagnostics)

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:
            assert self.plan is not None, "a guideline with errors cannot be evaluated"
            self._evaluator = Evaluator(self.plan)
        return self._evaluator

    def render_diagnostics(self) -> str:
        return "\n".join(render(d, self.source) for d in self.diagnostics)


def compile_source(source: str, path: str = "<string>") -> Compiled:
    try:
        return _compile_source(source, path)
    except RecursionError:  # the parser's nesting limit should make this unreachable
        from ..dsl import parser
        from ..dsl.diagnostics import Span
        d = Diagnostic("E104", "error", f"this guideline is too deeply nested to compile "
                       f"(limit {parser.MAX_DEPTH} levels)", Span(path, 1, 1, 1, 2),
                       "split deep expressions into named definitions (`define`)")
        return Compiled(path, source, [d])


def _compile_source(source: str, path: str) -> Compiled:
    from ..dsl import ast, parser  # a guideline compiled from the cache needs no parser
    from ..dsl.diagnostics import Sink
    from .model import check, facts

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
    return Compiled(path, source, sink.sorted(), model, graph.plan_of(model))


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


def _cached(path: str, source: str) -> Compiled:
    """Compiled once per process, and kept between runs (diskcache), under a key of the file's
    text and path and the text of every declarations file it sees: a declarations file
    edited while a process runs is seen by its next compile."""
    try:
        parts = diskcache.key_parts(path, source)
    except OSError:
        return compile_source(source, path)
    return _compiled_for(tuple(parts), path, source)


@functools.lru_cache(maxsize=256)
def _compiled_for(parts: tuple[bytes, ...], path: str, source: str) -> Compiled:
    return diskcache.memo("compiled", parts, lambda: compile_source(source, path),
                          lambda x: isinstance(x, Compiled))


from ..dsl.files import find_guidelines as find_guidelines  # noqa: E402  (re-exported)
