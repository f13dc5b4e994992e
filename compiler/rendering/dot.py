"""Decision graph (+ optionally one evaluation's path) → Graphviz DOT, SVG, PNG or PDF."""

from __future__ import annotations

import re
import shutil
import textwrap
from typing import Any

import graphviz
import networkx as nx

from ...dsl.diagnostics import inert
from ..model import ir
from ..evaluation.evaluate import U, Determination

INSTALL_HINT = ("Graphviz's `dot` program is not installed: install it with "
                "`apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS); "
                "`.dot` output works without it")

# kind → (shape, fill colour, legend text)
STYLE: dict[str, tuple[str, str, str]] = {
    "applicability": ("diamond", "#cfe2ff", "applicability: does the guideline apply?"),
    "limit": ("box", "#ffe5b4", "limit: a cap on visits (may reduce the quantity)"),
    "trial": ("box", "#fff3b0", "trial: a first course, extended on criteria"),
    "requirement": ("box", "#d1f2d9", "requirement: must be documented"),
    "exclusion": ("octagon", "#f8d7e3", "exclusion: non-certifies when it applies"),
    "definition": ("note", "#eeeeee", "definition: a named fact used by rules"),
    "valueset": ("folder", "#e8e8e8", "value set: codes or terms"),
    "outcome": ("ellipse", "#ffffff", "outcome: the decision"),
}
OUTCOME_FILL = {"certified": "#b7e4c7", "modified": "#ffd580", "non_certified": "#f4a6a6",
                "not_applicable": "#dddddd"}
EDGE_STYLE = {"flow": ("solid", "#333333"), "verdict": ("dashed", "#b03a2e"),
              "overrides": ("bold", "#7d3c98"), "uses": ("dotted", "#888888")}
FADED = "#f4f4f4"
FAIL_FILL = "#e74c3c"


class DotMissing(RuntimeError):
    """Raised when a picture format needs the `dot` program and it is not installed."""


def _esc(text: str) -> str:
    """User text as a quoted DOT string, never markup: backslashes (which start Graphviz's
    escapes such as \\N) and quotes escaped, control characters shown inert, and marked so the
    graphviz library quotes it even when it looks like an HTML label (`<i>...</i>`)."""
    text = inert(str(text)).replace("\\", "\\\\").replace('"', '\\"')
    return graphviz.nohtml(text)  # type: ignore[no-any-return]


def _label(*lines: str, width: int = 34) -> str:
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(inert(str(line)), width) or [""])
    text = "\\n".join(x.replace("\\", "\\\\").replace('"', '\\"') for x in out)
    return graphviz.nohtml(text)  # type: ignore[no-any-return]


def _node_id(node: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node)


def _value(v: Any) -> str:
    if v is U:
        return "undocumented"
    if v is True:
        return "yes"
    if v is False:
        return "no"
    return "-" if v is None else str(v)


def seen_text(outcome: str, values: dict[str, Any], rule: Any = None) -> str:
    """What one visited node saw, in words: 'prior 24 + requested 12 > cap 10'."""
    if outcome == "overridden":
        return "overridden by a more specific rule"
    if outcome == "not applicable":
        return f"does not apply (when: {_value(values.get('when'))})"
    if "cap" in values or "per_week" in values:
        parts = ([f"prior {_value(values['prior'])}"] if "prior" in values else []) + [
            f"requested {_value(values.get('requested'))}"]
        if values.get("cap") is not None:
            parts.append(f"cap {values['cap']}")
        if values.get("per_week") is not None:
            parts.append(f"{_value(values['per_week'])}/week")
        if "extension" in values:
            parts.append(f"extension criteria {_value(values['extension'])}")
        rem = values.get("remaining")
        return ", ".join(parts) + (f" → remaining {rem}" if rem is not None else "")
    if "must" in values:
        must = values["must"]
        numbers = ", ".join(f"{k.split('.')[-1]} = {_value(v)}" for k, v in values.items()
                            if k != "must")
        word = "not documented" if must is U else ("met" if must is True else "not met")
        recorded = rule is not None and isinstance(getattr(rule, "must", None), ir.Fact)
        if recorded and must is not U:  # a yes/no the records state: say it was recorded
            word = "recorded: yes" if must is True else "recorded: no"
        return f"{numbers} → {word}" if numbers else word
    if "certified" in values:
        return f"certified: {_value(values['certified'])}"
    return ", ".join(f"{k} = {_value(v)}" for k, v in values.items())


def to_dot(graph: nx.MultiDiGraph, det: Determination | None = None, *,
           data_nodes: bool | None = None) -> graphviz.Digraph:
    """The graph as DOT; with `det`, its path highlighted (definitions hidden unless asked)."""
    if data_nodes is None:
        data_nodes = det is None
    g = graph.graph
    dot = graphviz.Digraph(name=_node_id(g["id"]), graph_attr={
        "rankdir": "TB", "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.35",
        "ranksep": "0.45", "labelloc": "t", "newrank": "true", "concentrate": "true",
        "label": _label(f"{g['title']} ({g['id']})", g["citation"], width=90)})
    dot.attr("node", fontname="Helvetica", fontsize="10", style="filled", margin="0.12,0.06")
    dot.attr("edge", fontname="Helvetica", fontsize="9")
    visited = {s[0]: (s[1], s[2]) for s in det.trace} if det else {}
    reasons = {f"rule:{r.rule}": r for r in det.reasons} if det else {}
    sections: dict[str | None, list[str]] = {}
    for node, attrs in graph.nodes(data=True):
        if not data_nodes and attrs["kind"] in {"definition", "valueset"}:
            continue
        sections.setdefault(attrs.get("section"), []).append(node)
    for section, nodes in sections.items():
        target = dot
        if section:
            with dot.subgraph(name="cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", section)) as sub:
                sub.attr(label=_esc(section), style="rounded,dashed", color="#999999",
                         fontsize="10")
                for node in nodes:
                    _add_node(sub, node, graph.nodes[node], det, visited, reasons)
            continue
        for node in nodes:
            _add_node(target, node, graph.nodes[node], det, visited, reasons)
    path_edges = _path_edges(det) if det else set()
    # Large guidelines: the legend says what dotted and dashed edges mean, so their labels
    # (one per rule) would only crowd the picture.
    many = sum(1 for n in graph if n.startswith("rule:")) > 12
    for u, v, attrs in graph.edges(data=True):
        if not data_nodes and attrs["kind"] == "uses":
            continue
        style, colour = EDGE_STYLE[attrs["kind"]]
        extra: dict[str, str] = {}
        if det is not None:
            on_path = (u, v) in path_edges or (attrs["kind"] == "verdict" and u in reasons
                                               and v == f"outcome:{det.decision}")
            if on_path:
                extra = {"penwidth": "2.6", "color": FAIL_FILL if attrs["kind"] == "verdict"
                         else "#1f4e79"}
            else:
                extra = {"color": "#cccccc", "fontcolor": "#bbbbbb"}
        quiet = attrs["kind"] == "uses" or (many and attrs["kind"] == "verdict"
                                            and (u, v) not in path_edges and not extra.get("penwidth"))
        dot.edge(_node_id(u), _node_id(v), label="" if quiet else _esc(attrs["label"]), style=style,
                 color=extra.pop("color", colour), **extra)
    _legend(dot, [_node_id(n) for n in graph if n.startswith("outcome:")])
    return dot


def _path_edges(det: Determination) -> set[tuple[str, str]]:
    nodes = [s[0] for s in det.trace]
    return set(zip(nodes, nodes[1:]))


def _add_node(dot: graphviz.Digraph, node: str, attrs: dict[str, Any], det: Determination | None,
              visited: dict[str, tuple[str, dict[str, Any]]], reasons: dict[str, Any]) -> None:
    kind = attrs["kind"]
    shape, fill, _ = STYLE[kind]
    lines = [attrs["label"]]
    if kind not in {"outcome", "definition", "valueset", "applicability"}:
        rule = attrs["ir"]
        if getattr(rule, "allow", None) is not None:
            lines.append(str(rule.allow))
        lines.append(f"[{attrs['citation']}]")
    fontcolor, penwidth, color = "#000000", "1", "#555555"
    if kind == "outcome":
        fill = OUTCOME_FILL[attrs["decision"]]
        lines = [attrs["label"].upper()]
    if det is not None:
        if node in visited:
            outcome, values = visited[node]
            penwidth, color = "2.6", "#1f4e79"
            if kind == "outcome":
                lines.append(_certified_line(det))
            elif node != "applies":
                lines.append("▶ " + seen_text(outcome, values, attrs.get("ir")))
            if outcome == "fail":
                fill, fontcolor = FAIL_FILL, "#ffffff"
                if node in reasons:
                    lines.append("Reason: " + reasons[node].text)
            elif outcome in {"overridden", "not applicable"}:
                fill, fontcolor, penwidth, color = FADED, "#888888", "1", "#bbbbbb"
        elif kind not in {"definition", "valueset"}:
            fill, fontcolor, color = FADED, "#aaaaaa", "#cccccc"
    dot.node(_node_id(node), label=_label(*lines), shape=shape, fillcolor=fill,
             fontcolor=fontcolor, penwidth=penwidth, color=color, id=_node_id(node),
             tooltip=_esc(attrs["label"]))


def _certified_line(det: Determination) -> str:
    if det.requested is None:
        return f"{_value(det.certified)} certified"
    return f"{_value(det.certified)} of {det.requested} certified"


LEGEND_WORDS = {"applicability": "applies?", "limit": "limit (caps visits)",
                "trial": "trial, then extension", "requirement": "requirement",
                "exclusion": "exclusion", "definition": "definition",
                "valueset": "value set", "outcome": "decision"}


def _legend(dot: graphviz.Digraph, last: list[str]) -> None:
    """A compact legend: one row of shapes, one row of edge styles, below the graph. The
    graph's ranks are shared by every cluster (newrank), so the legend is held below the
    last nodes (`last`, the outcomes): its rows are then ranks of their own, as tall as the
    legend's nodes (beside the graph, a row would be as tall as the graph's tallest node
    on that rank)."""
    with dot.subgraph(name="cluster_legend") as leg:
        leg.attr(label="Legend", style="rounded", color="#bbbbbb", fontsize="8", margin="4")
        with leg.subgraph() as row:
            row.attr(rank="same")
            previous = None
            for kind, (shape, fill, _) in STYLE.items():
                name = f"legend_{kind}"
                row.node(name, label=LEGEND_WORDS[kind], shape=shape, fillcolor=fill,
                         fontsize="7", id=name, width="0.3", height="0.2", margin="0.04,0.02")
                if previous:
                    row.edge(previous, name, style="invis", minlen="1")
                previous = name
        with leg.subgraph() as row:
            row.attr(rank="same")
            previous = None
            for kind, (style, colour) in EDGE_STYLE.items():
                a, b = f"legend_edge_{kind}_a", f"legend_edge_{kind}_b"
                row.node(a, label="", shape="point", width="0.04")
                row.node(b, label={"flow": "next check", "verdict": "fails → outcome",
                                   "overrides": "overrides", "uses": "uses"}[kind],
                         shape="plaintext", fontsize="7", style="", height="0.15")
                row.edge(a, b, style=style, color=colour, minlen="1")
                if previous:
                    row.edge(previous, a, style="invis")
                previous = b
        leg.edge("legend_applicability", "legend_edge_flow_a", style="invis")
    for node in last:
        dot.edge(node, "legend_applicability", style="invis", weight="0")


def have_dot() -> bool:
    return shutil.which("dot") is not None


def render(dot: graphviz.Digraph, fmt: str) -> bytes:
    """DOT text, or the picture from the real `dot` program (svg, png, pdf)."""
    if fmt == "dot":
        return str(dot.source).encode("utf-8")
    if not have_dot():
        raise DotMissing(INSTALL_HINT)
    return bytes(dot.pipe(format=fmt))
