"""The physical-medicine guideline written by hand in Python: the baseline guidec is measured against.

It returns what guidec returns (decision, quantity certified, reason texts with citations) for
the same normalized case, so the two can be compared for speed and checked for agreement.
Run as a script, it is the hand-written end-to-end job: JSON Lines cases in, one JSON line per
request out, the way a programmer would write it without guidec:

    python benchmarks/handwritten.py cases.jsonl > decisions.jsonl
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

CITE = "MTUS Chronic Pain Medical Treatment Guidelines, pp. 98-99"
PT = ("physical_therapy", "occupational_therapy")


def _in(code: str, prefixes: tuple[str, ...], exact: tuple[str, ...]) -> bool:
    return code in exact or code.startswith(prefixes)


def _any3(values: list[Any]) -> Any:
    """Three-valued `any`: True if one is true, None (undocumented) if one is unknown."""
    if True in values:
        return True
    return None if None in values else False


def review(case: Any, req: dict[str, Any]) -> tuple[str, int | None, list[tuple[str, str, str]]]:
    if req.get("treatment") not in PT:
        return ("not_applicable", None, [])
    courses = [h for h in case.history if h.get("treatment") in PT]
    prior = sum(h.get("visits", 0) for h in courses)
    had_prior = any(h.get("visits") is None or h["visits"] > 0 for h in courses)
    requested = req.get("visits")
    codes = [d["code"] for d in case.diagnoses]
    radic = any(_in(c, ("M54.1",), ("M79.2",)) for c in codes)
    crps = any(_in(c, ("G90.5", "G56.4", "G57.7"), ()) for c in codes)
    findings = case.findings
    fails: list[tuple[str, str, str]] = []
    cuts: list[tuple[int, tuple[str, str, str]]] = []

    per_week, weeks = req.get("per_week"), req.get("weeks")

    def cap(name: str, total: int, words: str, over_weeks: int) -> None:
        left = total - prior
        if left <= 0:
            fails.append((name, f"With {prior} visits already completed, the {requested} requested "
                                f"exceed the {words}.", CITE))
            return
        if per_week is not None and weeks is not None and weeks > over_weeks:
            left = min(left, per_week * over_weeks)  # only the visits within the window
        if requested is None or left < requested:
            cuts.append((left, (name, f"Only {left} of the {requested} requested fit.", CITE)))

    if not had_prior:  # the six-visit trial below overrides the course caps
        pass
    elif crps:
        cap("crps_course", 24, "24 visits over 16 weeks recommended for CRPS", 16)
    elif radic:
        cap("radiculitis_course", 10, "8-10 visits over 4 weeks recommended for radiculitis", 4)
    else:
        cap("general_course", 10, "9-10 visits over 8 weeks recommended", 8)
    if per_week is not None and weeks is not None and per_week > 3:
        cuts.append((3 * weeks, ("fading_frequency", f"Up to 3 visits a week; {3 * weeks} fit.",
                                 CITE)))
    if not had_prior and (requested is None or requested > 6):
        cuts.append((6, ("initial_trial", f"A six-visit trial; 6 of the {requested} requested.",
                         CITE)))
    if findings.get("objective_deficits") is False:
        fails.append(("no_objective_deficits", "No objective deficits.", CITE))
    if had_prior:
        improved = findings.get("functional_improvement")
        if improved is None:
            improved = _any3([h.get("functional_improvement") for h in courses])
        if improved is not True:
            fails.append(("functional_improvement", "No documented improvement.", CITE))
        if any(h.get("visits") is None for h in courses):
            fails.append(("prior_visits_documented", "Prior visits not counted.", CITE))
        if findings.get("home_program_insufficient_explained") is not True \
                and findings.get("home_exercise_program") is not True:
            fails.append(("home_exercise", "No home exercise program.", CITE))
    if fails:
        return ("non_certified", 0, fails)
    if cuts:
        least = min(c for c, _ in cuts)
        return ("modified", least, [r for c, r in cuts if c == least])
    return ("certified", requested, [])


def _normalize(data: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    case = SimpleNamespace(history=data.get("history") or [], findings=data.get("findings") or {},
                           diagnoses=[{"code": d if isinstance(d, str) else d["code"]}
                                      for d in data.get("diagnoses") or []])
    requests = []
    for r in data["requests"]:
        req = dict(r)
        freq = r.get("frequency") or {}
        req["per_week"], req["weeks"] = freq.get("per_week"), freq.get("weeks")
        if req.get("visits") is None and req["per_week"] and req["weeks"]:
            req["visits"] = req["per_week"] * req["weeks"]
        requests.append(req)
    return case, requests


def main(path: str) -> None:
    out = sys.stdout
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            data = json.loads(line)
            case, requests = _normalize(data)
            for req in requests:
                decision, certified, reasons = review(case, req)
                out.write(json.dumps({
                    "case_id": data["case_id"], "request": str(req["id"]), "decision": decision,
                    "certified": certified,
                    "reasons": [{"rule": r, "text": t, "citation": c} for r, t, c in reasons],
                }) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
