"""Reviews → determination letters: plain text, Markdown, and JSON records."""

from __future__ import annotations

import functools
from typing import Any, Iterator

import msgspec

from ...dsl.diagnostics import inert
from ..evaluation.library import Review
from ..pipeline import Compiled

X12_ACTION = {"certified": "A1", "modified": "A6", "non_certified": "A3"}
WORDS = {"certified": "CERTIFIED", "modified": "MODIFIED", "non_certified": "NON-CERTIFIED",
         "not_applicable": "NO APPLICABLE GUIDELINE"}


def ur_outcome(review: Review) -> str | None:
    """Upheld / overturned against the UR decision, where the case names one."""
    ur = review.request.get("ur_decision")
    decision = review.decision
    if ur is None or decision == "not_applicable":
        return None
    if ur == "certified":
        return "upheld" if decision == "certified" else "overturned"
    return "overturned" if decision == "certified" else "upheld"


def _item(review: Review) -> str:
    """The item as the provider wrote it: case text, so shown inert (one line, no escapes)."""
    r = review.request
    return _item_words(r.get("item"), r.get("treatment"), r.get("visits"))


@functools.lru_cache(maxsize=10_000)  # a batch sees few distinct items
def _item_words(item: Any, treatment: Any, visits: Any) -> str:
    return inert(str(item or f"{(treatment or 'treatment').replace('_', ' ')}"
                     + (f", {visits} visits" if visits else "")))


def _quantity_line(review: Review) -> str:
    d = review.determination
    if review.decision == "not_applicable":
        return ""
    unit = _unit(review)
    if review.certified is None:
        return ""
    if d.requested is None:
        return f"{review.certified} {unit} certified"
    return f"{review.certified} of {d.requested} {unit} certified"


def _unit(review: Review) -> str:
    g = review.guideline
    if g is not None and g.ir is not None and g.ir.unit:
        return g.ir.unit
    return "visits"


def rationale(review: Review, item: str | None = None) -> str:
    """One paragraph, as a determination letter states it (`item`: `_item(review)`, if made)."""
    d = review.determination
    g = review.guideline
    if g is None or g.ir is None:
        return (f"No guideline in the library addresses this request ({review.choice}); "
                "no determination is made under the guidelines.")
    cite = _guideline(g)["citation"]
    item = _item(review) if item is None else item
    note = f" {review.note}" if review.note else ""
    if review.decision == "certified":
        return (f"{cite} supports the request as written. The request for {item} is medically "
                "necessary and appropriate.")
    parts = " ".join(r.text for r in d.reasons)
    if review.decision == "modified":
        done = review.certified if review.certified is not None else "part"
        return (f"{cite} supports part of this request. {parts}{note} Therefore {done} "
                f"{_unit(review)} are certified and the rest of the request for {item} is not "
                "medically necessary.")
    return (f"{cite} does not support this request. {parts}{note} Therefore the request for "
            f"{item} is not medically necessary.")


def to_json(review: Review, path: bool = True) -> dict[str, Any]:
    """The review as a record; `path` adds each step taken through the decision graph."""
    d = review.determination
    g = review.guideline
    item = _item(review)
    record = {
        "case_id": review.case.case_id,
        "request": review.request["id"],
        "item": item,
        "treatment": review.request.get("treatment"),
        "decision": review.decision,
        "requested": d.requested,
        "certified": review.certified,
        "certified_visits": review.certified,
        "unit": _unit(review),
        "outcome": ur_outcome(review),
        "x12_action": X12_ACTION.get(review.decision),
        "guideline_decision": d.decision,
        "guideline_certified": d.certified,
        "note": review.note,
        "guideline": None if g is None or g.ir is None else _guideline(g),
        "as_of": review.as_of.isoformat(),
        "layers": list(review.layers),
        "choice": review.choice,
        "reasons": [r.to_json() for r in d.reasons],
        "rationale": rationale(review, item),
    }
    if path:
        record["path"] = [s.to_json() for s in d.path]
    return record


@functools.lru_cache(maxsize=256)
def _guideline(g: Compiled) -> dict[str, Any]:
    """A record's `guideline`: the same for each of its records, so made once and shared
    (read-only). `g` has a checked model."""
    gi = g.ir
    assert gi is not None
    return {"id": gi.id, "title": gi.title, "version": gi.version, "citation": gi.citation,
            "file": g.path}


# Unicode line breaks that JSON leaves unescaped but line-splitting readers break records at.
_LINE_BREAKS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"),
                (b"\xe2\x80\xa9", b"\\u2029"))


def json_line(record: dict[str, Any]) -> bytes:
    """One JSON Lines record (UTF-8, one line whatever text the case holds)."""
    out = msgspec.json.encode(record)
    if not out.isascii():
        for raw, escaped in _LINE_BREAKS:
            if raw in out:
                out = out.replace(raw, escaped)
    return out + b"\n"


def _new_case(reviews: list[Review]) -> Iterator[tuple[bool, Review]]:
    """Each review, and whether it is the first of its case (letters head each case once)."""
    case_id = None
    for rv in reviews:
        yield rv.case.case_id != case_id, rv
        case_id = rv.case.case_id


def text(reviews: list[Review]) -> str:
    out: list[str] = []
    for first, rv in _new_case(reviews):
        if first:
            if out:
                out.append("")
            out.append(f"Case {inert(rv.case.case_id)} — review date {rv.case.review_date}")
            out.append("=" * len(out[-1]))
        d = rv.determination
        out.append("")
        out.append(f"Request {inert(rv.request['id'])}: {_item(rv)}")
        decision = WORDS[rv.decision]
        qty = _quantity_line(rv)
        outcome = ur_outcome(rv)
        line = f"  Decision:  {decision}" + (f" — {qty}" if qty else "")
        if outcome:
            line += f" (UR {rv.request['ur_decision'].replace('_', '-')} decision {outcome})"
        out.append(line)
        if rv.guideline is not None and rv.guideline.ir is not None:
            gi = rv.guideline.ir
            out.append(inert(f"  Guideline: {gi.title} — {gi.citation} ({gi.id})"))
            out.append("  Chosen:    " + _wrap(inert(rv.choice[:1].upper() + rv.choice[1:] + "."),
                                               13))
        else:
            out.append(f"  Guideline: none — {inert(rv.choice)}")
        if d.reasons:
            out.append("  Reasons:")
            for n, r in enumerate(d.reasons, 1):
                out.append(f"    {n}. {inert(r.text)}")
                out.append(f"       [{inert(r.citation)}]")
        out.append("  Rationale: " + _wrap_keeping(inert(rationale(rv)), _item(rv), 13))
    return "\n".join(out) + "\n"


def _wrap_keeping(s: str, keep: str, indent: int) -> str:
    """Wrap a paragraph without breaking inside `keep` (the provider's text of the item), so
    no text from a case can begin a line of the letter ("Decision: ..." at a line start)."""
    glued = keep.replace(" ", "\u00a0")
    return _wrap(s.replace(keep, glued), indent).replace("\u00a0", " ") if keep else _wrap(
        s, indent)


def _wrap(s: str, indent: int, width: int = 92) -> str:
    import textwrap
    # Words are never broken (an over-long item overflows its line rather than being split).
    lines = textwrap.wrap(s, width - indent, break_long_words=False, break_on_hyphens=False)
    return ("\n" + " " * indent).join(lines)


def markdown(reviews: list[Review]) -> str:
    out: list[str] = []
    for first, rv in _new_case(reviews):
        if first:
            out.append(f"# Case {_md(rv.case.case_id)}\n\nReview date: {rv.case.review_date}\n")
        d = rv.determination
        out.append(f"## Request {_md(rv.request['id'])}: {_md(_item(rv))}\n")
        qty = _quantity_line(rv)
        outcome = ur_outcome(rv)
        out.append(f"- **Decision:** {WORDS[rv.decision]}" + (f" ({qty})" if qty else ""))
        if outcome:
            out.append(f"- **UR decision:** {outcome}")
        if rv.guideline is not None and rv.guideline.ir is not None:
            gi = rv.guideline.ir
            out.append(f"- **Guideline:** {_md(gi.title)}, {_md(gi.citation)} "
                       f"(`{gi.id}`, version {_md(gi.version or 'unversioned')})")
        out.append(f"- **Why this guideline:** {_md(rv.choice)}\n")
        if d.reasons:
            out.append("### Reasons\n")
            out.extend(f"{n}. {_md(r.text)} *({_md(r.citation)})*"
                       for n, r in enumerate(d.reasons, 1))
            out.append("")
        out.append("### Rationale\n")
        out.append(_md(rationale(rv)) + "\n")
    return "\n".join(out)


def _md(s: str) -> str:
    """User text as Markdown data: control characters and line breaks shown as escapes (so no
    text can start a new heading or list item), then Markdown's special characters escaped."""
    s = inert(str(s))
    for ch in "\\`*_[]<>#|!~":
        s = s.replace(ch, "\\" + ch)
    return s
