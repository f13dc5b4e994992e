"""Checked model (IR) → decision graph: a networkx.MultiDiGraph of typed nodes and labelled edges.

Edges are keyed by their kind, so a rule that overrides the next rule in the file keeps both its
"flow" edge and its "overrides" edge to it (one must never replace the other).

Node ids are stable: `applies`, `rule:<name>`, `def:<name>`, `valueset:<name>`,
`outcome:<decision>`. Flow edges (kind "flow") chain the applicability check and the rules
in source order; verdict edges (kind "verdict") lead from a rule to the outcome it forces
when it fails or cuts the quantity; "overrides" and "uses" edges record exceptions and data
dependencies. Pictures and coverage read this graph; evaluation reads its `Plan` (the flow
chain and the overrides edges as plain data), which `plan_of` reads from the model without
building the graph, so a review or a check does not load networkx (tests/test_order.py holds
`plan_of(g)` equal to `plan(build(g))`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from ...dsl.records import record
from . import ir

if TYPE_CHECKING:
    import networkx as nx

NODE_KIND = {"require": "requirement", "limit": "limit", "trial": "trial", "deny": "exclusion"}
OUTCOMES = ("certified", "modified", "non_certified", "not_applicable")


def build(g: ir.Guideline) -> nx.MultiDiGraph:
    import networkx as nx  # only where a graph is built: evaluation reads a Plan

    graph = nx.MultiDiGraph(id=g.id, title=g.title, version=g.version, citation=g.citation,
                       path=g.path, guideline=g)
    graph.add_node("applies", kind="applicability", label="Applies to the request?",
                   ir=g.applies, span=g.span, citation=g.citation, section=None)
    # A guideline with no limit or trial can never modify a request: no node for it.
    can_modify = any(rule.kind in {"limit", "trial"} for rule in g.rules)
    for outcome in OUTCOMES:
        if outcome == "modified" and not can_modify:
            continue
        graph.add_node(f"outcome:{outcome}", kind="outcome", label=outcome.replace("_", " "),
                       decision=outcome, span=g.span, citation=g.citation, section=None)
    graph.add_edge("applies", "outcome:not_applicable", key="flow", kind="flow", label="does not apply",
                   span=g.span)
    previous, label = "applies", "applies"
    for rule in g.rules:
        node = f"rule:{rule.name}"
        graph.add_node(node, kind=NODE_KIND[rule.kind], label=rule.title, ir=rule,
                       span=rule.span, citation=rule.citation, section=rule.section)
        graph.add_edge(previous, node, key="flow", kind="flow", label=label, span=rule.span)
        previous, label = node, "next"
        if rule.kind in {"limit", "trial"}:
            graph.add_edge(node, "outcome:modified", key="verdict", kind="verdict", label="reduces",
                           span=rule.span)
        graph.add_edge(node, "outcome:non_certified", key="verdict", kind="verdict", label="fails",
                       span=rule.span)
    graph.add_edge(previous, "outcome:certified", key="flow", kind="flow",
                   label="all pass" if g.rules else "applies", span=g.span)
    for rule in g.rules:
        for target in rule.overrides:
            graph.add_edge(f"rule:{rule.name}", f"rule:{target}", key="overrides", kind="overrides",
                           label="overrides", span=rule.span)
    _data_nodes(graph, g)
    return graph


def _data_nodes(graph: nx.MultiDiGraph, g: ir.Guideline) -> None:
    for vs in g.valuesets.values():
        graph.add_node(f"valueset:{vs.name}", kind="valueset", label=vs.describe(), ir=vs,
                       span=vs.span, citation=g.citation, section=None)
    for d in g.definitions.values():
        graph.add_node(f"def:{d.name}", kind="definition", label=d.title or d.name, ir=d,
                       span=d.span, citation=g.citation, section=None)
    users: list[tuple[str, list[ir.Expr]]] = [("applies", [g.applies] if g.applies else [])]
    users += [(f"def:{d.name}", [d.expr]) for d in g.definitions.values()]
    for rule in g.rules:
        exprs = [e for e in (rule.when, rule.must, rule.counting, rule.extend_if) if e]
        users.append((f"rule:{rule.name}", exprs))
        for template in (rule.otherwise, rule.undocumented, rule.partial):
            for part in template or ():
                if isinstance(part, tuple) and part[0] in g.definitions:
                    graph.add_edge(f"def:{part[0]}", f"rule:{rule.name}", key="uses", kind="uses",
                                   label="uses", span=rule.span)
    for user, exprs in users:
        for e in exprs:
            for ref in walk(e):
                if isinstance(ref, ir.DefRef):
                    graph.add_edge(f"def:{ref.name}", user, key="uses", kind="uses", label="uses",
                                   span=ref.span)
                elif isinstance(ref, ir.ValueSetRef):
                    graph.add_edge(f"valueset:{ref.name}", user, key="uses", kind="uses", label="uses",
                                   span=ref.span)


def walk(e: ir.Expr) -> Iterator[ir.Expr]:
    """Every sub-expression of `e`, `e` first."""
    yield e
    if isinstance(e, ir.Op):
        for a in e.args:
            yield from walk(a)
    elif isinstance(e, ir.Aggregate) and e.filter is not None:
        yield from walk(e.filter)


def flow_rules(graph: nx.MultiDiGraph) -> list[str]:
    """The rule nodes in evaluation order: the chain of flow edges from `applies`."""
    order: list[str] = []
    node = "applies"
    while True:
        nxt = [v for _, v, k in graph.out_edges(node, data="kind")
               if k == "flow" and not v.startswith("outcome:")]
        if not nxt:
            return order
        node = nxt[0]
        order.append(node)


@record(kw_only=False)
class Plan:
    """What evaluation reads of the graph: the guideline, its applicability check, and the
    rule nodes in flow order, each with the rules that override it. Plain data, so a
    guideline is evaluated without loading the graph library."""

    guideline: ir.Guideline
    applies: ir.Expr | None
    rules: tuple[tuple[str, ir.Rule], ...]  # (node, rule) in evaluation order
    overridden_by: tuple[tuple[str, ...], ...]  # per rule: the names of its overriders


def plan_of(g: ir.Guideline) -> Plan:
    """The plan of the graph `build(g)` builds, read from the model itself (the flow edges
    chain the rules in source order; an `overrides` edge runs from each overrider), so that
    neither evaluation nor a check loads the graph library. A test holds the two equal."""
    return Plan(g, g.applies, tuple((f"rule:{r.name}", r) for r in g.rules),
                tuple(tuple(o.name for o in g.rules if r.name in o.overrides)
                      for r in g.rules))


def plan(graph: nx.MultiDiGraph) -> Plan:
    """The plan read from a decision graph."""
    nodes = flow_rules(graph)
    return Plan(graph.graph["guideline"], graph.nodes["applies"].get("ir"),
                tuple((n, graph.nodes[n]["ir"]) for n in nodes),
                tuple(tuple(src.split(":", 1)[1] for src, _, k in
                            graph.in_edges(n, data="kind") if k == "overrides")
                      for n in nodes))
