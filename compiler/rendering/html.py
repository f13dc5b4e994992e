"""Reviews → one self-contained HTML report: letters beside their decision graphs (inline SVG).

No network is needed to open it: no CDN, fonts or external scripts. Every piece of user text
(case fields, rule text) is escaped; the node details travel as JSON inside a script element
with `<` escaped, so no text can close the element.
"""

from __future__ import annotations

import html
import base64
import hashlib
import json
import re
from typing import Any

from . import dot as dotmod
from . import render
from ..evaluation.library import Review

CSS = """
body{font-family:system-ui,Helvetica,Arial,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f4e79;color:#fff;padding:12px 24px}
header h1{margin:0;font-size:20px}
section.review{display:flex;gap:16px;padding:16px 24px;border-bottom:1px solid #ddd}
.letter{flex:0 0 34%;background:#fff;border:1px solid #ddd;padding:12px 16px;border-radius:6px}
.graph{flex:1;background:#fff;border:1px solid #ddd;border-radius:6px;overflow:auto;max-height:90vh}
.graph svg{max-width:100%;height:auto}
.graph g.node{cursor:pointer}
.decision{font-weight:bold;font-size:18px}
.decision.non_certified{color:#b03a2e}.decision.modified{color:#a66300}.decision.certified{color:#1e7b3a}
.cite{color:#555;font-size:90%}
.details{margin-top:12px;background:#f3f6fa;border:1px solid #c8d6e5;padding:8px 12px;border-radius:6px;min-height:60px}
.details h3{margin:0 0 6px 0;font-size:15px}
.details dt{font-weight:bold}
"""

SCRIPT = """
document.querySelectorAll('section.review').forEach(function (sec) {
  var data = JSON.parse(sec.querySelector('script.node-data').textContent);
  var box = sec.querySelector('.details');
  sec.querySelectorAll('.graph g.node').forEach(function (g) {
    g.addEventListener('click', function () {
      var d = data[g.id];
      if (!d) { return; }
      box.textContent = '';
      var h = document.createElement('h3'); h.textContent = d.label; box.appendChild(h);
      var dl = document.createElement('dl');
      [['Kind', d.kind], ['Rule', d.rule], ['Source', d.source], ['Citation', d.citation],
       ['Outcome', d.outcome], ['Values seen', d.seen], ['Reason', d.reason]].forEach(function (p) {
        if (!p[1]) { return; }
        var dt = document.createElement('dt'); dt.textContent = p[0]; dl.appendChild(dt);
        var dd = document.createElement('dd'); dd.textContent = p[1]; dl.appendChild(dd);
      });
      box.appendChild(dl);
      box.setAttribute('data-node', g.id);
    });
  });
});
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _node_data(review: Review) -> dict[str, dict[str, Any]]:
    g = review.guideline
    assert g is not None and g.graph is not None
    det = review.determination
    seen = {node: (outcome, values) for node, outcome, values in det.trace}
    reasons = {f"rule:{r.rule}": r.text for r in det.reasons}
    out = {}
    for node, attrs in g.graph.nodes(data=True):
        span = attrs.get("span")
        outcome, values = seen.get(node, ("not visited", {}))
        out[dotmod._node_id(node)] = {
            "label": attrs["label"], "kind": attrs["kind"], "rule": node,
            "source": f"{span.file}:{span.line}" if span else "",
            "citation": attrs.get("citation", ""), "outcome": outcome,
            "seen": dotmod.seen_text(outcome, values, attrs.get("ir")) if node in seen else "",
            "reason": reasons.get(node, ""),
        }
    return out


def _svg(review: Review) -> str:
    g = review.guideline
    assert g is not None and g.graph is not None
    svg = dotmod.render(dotmod.to_dot(g.graph, review.determination), "svg").decode("utf-8")
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    svg = re.sub(r"^<!DOCTYPE[^>]*>\s*", "", svg, flags=re.S)
    return inert_svg(svg)


_ACTIVE_ATTR = re.compile(r'\s(?:on[a-z]+|href|xlink:href|src|formaction)\s*=\s*'
                          r'(?:"[^"]*"|\'[^\']*\')', re.I)
_ACTIVE_TAG = re.compile(r"<\s*(script|foreignObject|iframe|object|embed)\b.*?"
                         r"(?:<\s*/\s*\1\s*>|/>)", re.I | re.S)


def inert_svg(svg: str) -> str:
    """Defence in depth: the DOT guidec writes quotes every user string, so Graphviz's SVG has
    no links or scripts; still, drop any link, event handler or script element before
    the SVG is put in a page. The tooltips Graphviz makes (<a xlink:title>) stay."""
    svg = _ACTIVE_TAG.sub("", svg)
    return _ACTIVE_ATTR.sub("", svg)


def _letter(review: Review) -> str:
    d = review.determination
    item = render._item(review)
    parts = [f"<h2>Request {_e(review.request['id'])}: {_e(item)}</h2>",
             f'<p class="decision {_e(review.decision)}">{_e(render.WORDS[review.decision])}']
    qty = render._quantity_line(review)
    parts[-1] += (f" — {_e(qty)}" if qty else "") + "</p>"
    outcome = render.ur_outcome(review)
    if outcome:
        parts.append(f"<p>UR decision: <b>{_e(outcome)}</b></p>")
    if review.guideline is not None and review.guideline.ir is not None:
        gi = review.guideline.ir
        parts.append(f"<p>Guideline: {_e(gi.title)} — {_e(gi.citation)}<br>"
                     f'<span class="cite">{_e(gi.id)}, version {_e(gi.version or "")}; '
                     f"{_e(review.choice)}</span></p>")
    if d.reasons:
        items = "".join(f'<li>{_e(r.text)} <span class="cite">[{_e(r.citation)}]</span></li>'
                        for r in d.reasons)
        parts.append(f"<h3>Reasons</h3><ol>{items}</ol>")
    parts.append(f"<h3>Rationale</h3><p>{_e(render.rationale(review))}</p>")
    parts.append('<div class="details"><i>Click a node of the graph to see its rule, '
                 "source line and the values it saw.</i></div>")
    return "".join(parts)


def report(reviews: list[Review]) -> str:
    sections = []
    for rv in reviews:
        graph_html, data = "<p>No guideline applies: no graph.</p>", {}
        if rv.guideline is not None and rv.guideline.graph is not None:
            graph_html, data = _svg(rv), _node_data(rv)
        payload = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e")
        sections.append(
            f'<section class="review" id="{_e(rv.case.case_id)}-{_e(rv.request["id"])}">'
            f'<div class="letter"><p class="cite">Case {_e(rv.case.case_id)} — review date '
            f"{_e(rv.case.review_date)}</p>{_letter(rv)}</div>"
            f'<div class="graph">{graph_html}</div>'
            f'<script type="application/json" class="node-data">{payload}</script></section>')
    title = "guidec review: " + ", ".join(sorted({rv.case.case_id for rv in reviews}))
    # Only guidec's own script may run: its hash is the page's one allowed script.
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src 'sha256-{digest}'")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1></header>{''.join(sections)}"
            f"<script>{SCRIPT}</script></body></html>\n")
