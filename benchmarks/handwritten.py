"""The physical-medicine guideline written by hand in Python: the baseline guidec is measured against.

It returns what guidec returns (decision, quantity certified, reason texts with citations) for
the same normalized case, so the two can be compared for speed and checked for agreement.
"""

from __future__ import annotations

from typing import Any

CITE = "MTUS Chronic Pain Medical Treatment Guidelines, pp. 98-99"
PT = ("physical_therapy", "occupational_therapy")


def _in(code: str, prefixes: tuple[str, ...], exact: tuple[str, ...]) -> bool:
    return code in exact or code.startswith(prefixes)


def review(case: Any, req: dict[str, Any]) -> tuple[str, int | None, list[tuple[str, str, str]]]:
    if req.get("treatment") not in PT:
        return ("not_applicable", None, [])
    prior = sum(h.get("visits", 0) for h in case.history if h.get("treatment") in PT)
    requested = req.get("visits")
    codes = [d["code"] for d in case.diagnoses]
    radic = any(_in(c, ("M54.1",), ("M79.2",)) for c in codes)
    crps = any(_in(c, ("G90.5", "G56.4", "G57.7"), ()) for c in codes)
    fails: list[tuple[str, str, str]] = []
    cuts: list[tuple[int, tuple[str, str, str]]] = []

    def cap(name: str, total: int, words: str) -> None:
        left = total - prior
        if left <= 0:
            fails.append((name, f"With {prior} visits already completed, the {requested} requested "
                                f"exceed the {words}.", CITE))
        elif requested is None or left < requested:
            cuts.append((left, (name, f"{prior} visits already completed; only {left} of the "
                                      f"{requested} requested fit within the {words}.", CITE)))

    if crps:
        cap("crps_course", 24, "24 visits over 16 weeks recommended for CRPS")
    elif radic:
        cap("radiculitis_course", 10, "8-10 visits over 4 weeks recommended for radiculitis")
    else:
        cap("general_course", 10, "9-10 visits over 8 weeks recommended")
    per_week, weeks = req.get("per_week"), req.get("weeks")
    if per_week is not None and weeks is not None and per_week > 3:
        cuts.append((3 * weeks, ("fading_frequency", f"Up to 3 visits a week; {3 * weeks} fit.",
                                 CITE)))
    if prior == 0:
        if requested is None or requested > 6:
            cuts.append((6, ("initial_trial", f"A six-visit trial; 6 of the {requested} requested.",
                             CITE)))
    else:
        improved = case.findings.get("functional_improvement")
        if improved is not True:
            hist = [h.get("functional_improvement") for h in case.history
                    if h.get("treatment") in PT]
            improved = True if True in hist else (None if (None in hist or improved is None)
                                                  else False)
        if improved is not True:
            fails.append(("functional_improvement",
                          "No objective functional improvement was documented." if improved is False
                          else "There is no documentation of objective functional improvement.",
                          CITE))
        hep = case.findings.get("home_exercise_program")
        if hep is not True:
            fails.append(("home_exercise", "No home exercise program was documented." if hep is False
                          else "There is no documentation of a home exercise program.", CITE))
    if fails:
        return ("non_certified", 0, fails)
    if cuts:
        least = min(c for c, _ in cuts)
        return ("modified", least, [r for c, r in cuts if c == least])
    return ("certified", requested, [])
