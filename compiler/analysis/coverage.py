"""Decision graph + the traces of a guideline's tests → which nodes and edges they exercised.

A rule node counts as covered when some test made it take effect (pass, fail or cut the
quantity), not merely looked at its `when`; the applicability node when some test applied;
an outcome when some test reached it. A flow edge counts when a test went along it; a
verdict edge (rule → non-certified or modified) when the rule failed or cut in a test.
"""

from __future__ import annotations

from typing import Any

from ...dsl.diagnostics import Diagnostic
from ...dsl.records import field, record
from ..pipeline import Compiled
from .testing import TestResult

COUNTED_EDGES = {"flow", "verdict"}
EFFECT = {"pass", "fail", "partial", "applies"}


@record(frozen=False, kw_only=False, slots=False)
class Coverage:
    path: str
    nodes: set[str] = field(default_factory=set)
    edges: set[tuple[str, str]] = field(default_factory=set)
    covered_nodes: set[str] = field(default_factory=set)
    covered_edges: set[tuple[str, str]] = field(default_factory=set)

    @property
    def percent(self) -> float:
        total = len(self.nodes) + len(self.edges)
        done = len(self.covered_nodes) + len(self.covered_edges)
        return 100.0 * done / total if total else 100.0

    def to_json(self) -> dict[str, Any]:
        return {"file": self.path, "nodes": len(self.nodes),
                "nodes_covered": len(self.covered_nodes), "edges": len(self.edges),
                "edges_covered": len(self.covered_edges), "percent": round(self.percent, 1),
                "uncovered_nodes": sorted(self.nodes - self.covered_nodes),
                "uncovered_edges": [f"{u} -> {v}" for u, v in
                                    sorted(self.edges - self.covered_edges)]}


def measure(compiled: Compiled, results: list[TestResult]) -> Coverage:
    graph = compiled.graph
    assert graph is not None
    cov = Coverage(compiled.path)
    cov.nodes = {n for n, k in graph.nodes(data="kind") if k not in {"definition", "valueset"}}
    cov.edges = {(u, v) for u, v, k in graph.edges(data="kind") if k in COUNTED_EDGES}
    for r in results:
        if r.determination is None:
            continue
        trace = r.determination.trace
        for node, outcome, _ in trace:
            if outcome in EFFECT or node.startswith("outcome:"):
                cov.covered_nodes.add(node)
            if outcome == "does not apply":
                cov.covered_nodes.add(node)
                cov.covered_edges.add((node, "outcome:not_applicable"))
                cov.covered_nodes.add("outcome:not_applicable")
            if outcome == "fail":
                cov.covered_edges.add((node, "outcome:non_certified"))
            if outcome == "partial":
                cov.covered_edges.add((node, "outcome:modified"))
        nodes = [t[0] for t in trace]
        for u, v in zip(nodes, nodes[1:]):
            if (u, v) in cov.edges:
                cov.covered_edges.add((u, v))
        if r.determination.decision == "certified" and len(nodes) >= 2:
            cov.covered_edges.add((nodes[-2], "outcome:certified"))
    cov.covered_edges &= cov.edges
    cov.covered_nodes &= cov.nodes
    return cov


def uncovered_rules(compiled: Compiled, cov: Coverage) -> list[Diagnostic]:
    graph = compiled.graph
    assert graph is not None
    out = []
    for node in sorted(cov.nodes - cov.covered_nodes):
        attrs = graph.nodes[node]
        if not node.startswith("rule:"):
            continue
        out.append(Diagnostic("C001", "note", f"no test makes {attrs['kind']} "
                              f"'{node.split(':', 1)[1]}' take effect", attrs["span"],
                              "add a test whose facts make its `when` hold"))
    return out
