"""Evaluation: decisions, every reason with its citation, the path, and undocumented facts."""

import sys

import pytest

from conftest import PM, ROOT, SEED
from guidec.compiler.model import cases
from guidec.compiler.evaluation.evaluate import U
from guidec.compiler.pipeline import compile_file, compile_source

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def pm():
    compiled = compile_file(PM)
    assert compiled.ok, compiled.render_diagnostics()
    return compiled.evaluator


def case(**fields):
    data = {"case_id": "t", "review_date": "2016-12-01",
            "requests": [{"id": "1", "treatment": "physical_therapy", "visits": 12}]}
    data.update(fields)
    c = cases.from_dict(data)
    return c, c.requests[0]


def test_seed_case_is_non_certified_with_three_cited_reasons(pm):
    c = cases.load(SEED)[0]
    d = pm.evaluate(c, c.requests[0])
    assert (d.decision, d.certified, d.requested) == ("non_certified", 0, 12)
    assert [r.rule for r in d.reasons] == ["radiculitis_course", "functional_improvement",
                                           "home_exercise"]
    assert all(r.citation == "MTUS Chronic Pain Medical Treatment Guidelines, pp. 98-99"
               for r in d.reasons)
    assert "24 visits already completed" in d.reasons[0].text
    assert "home exercise" in d.reasons[2].text
    path = {s.node: s for s in d.path}
    assert path["rule:general_course"].outcome == "overridden"
    assert path["rule:radiculitis_course"].values["prior"] == 24
    assert d.path[-1].node == "outcome:non_certified"


def test_modified_to_remaining_allowance(pm):
    c, r = case(diagnoses=["M79.1"], findings={"home_exercise_program": True},
                history=[{"treatment": "physical_therapy", "visits": 7,
                          "functional_improvement": True}])
    d = pm.evaluate(c, r)
    assert (d.decision, d.certified) == ("modified", 3)
    assert [x.rule for x in d.reasons] == ["general_course"]
    assert "only 3 of the 12" in d.reasons[0].text


def test_undocumented_is_not_false(pm):
    base = dict(diagnoses=["M79.1"], history=[{"treatment": "physical_therapy", "visits": 2,
                                               "functional_improvement": True}])
    missing = pm.evaluate(*case(**base))
    absent = pm.evaluate(*case(**base, findings={"home_exercise_program": False}))
    assert missing.decision == absent.decision == "non_certified"
    assert missing.reasons[0].text.startswith("There is no documentation of a home exercise")
    assert absent.reasons[0].text.startswith("No home exercise program was documented")


def test_request_outside_the_guideline_is_not_applicable(pm):
    c, r = case(requests=[{"id": "1", "treatment": "acupuncture", "visits": 6}])
    d = pm.evaluate(c, r)
    assert d.decision == "not_applicable" and d.reasons == []


def test_matches_hand_written_function_on_generated_cases(pm):
    import gen
    import handwritten
    for raw in gen.generate(3000, seed=11):
        c = cases.from_dict(raw)
        r = c.requests[0]
        want = handwritten.review(c, r)
        got = pm.evaluate(c, r)
        assert (got.decision, got.certified, [x.rule for x in got.reasons]) == \
            (want[0], want[1], [x[0] for x in want[2]]), raw


KLEENE = '''guideline t.k "K"
  source "Doc" pp. 1
  applies when request.treatment in {physical_therapy}
define both = findings.flare_up and findings.return_to_work
define either = findings.flare_up or findings.return_to_work
define recent = within 6 months after latest surgeries[procedure in {lumbar_fusion}].date
define known = findings.flare_up is documented
require r must both or either or recent or known cite p. 1
'''


@pytest.mark.parametrize("flare,rtw,both,either", [
    (True, True, True, True), (True, False, False, True), (False, False, False, False),
    (None, False, False, U), (None, True, U, True), (None, None, U, U),
])
def test_three_valued_logic(flare, rtw, both, either):
    ev = compile_source(KLEENE, "k.gl").evaluator
    findings = {k: v for k, v in (("flare_up", flare), ("return_to_work", rtw)) if v is not None}
    c, r = case(findings=findings)
    from guidec.compiler.evaluation.evaluate import Ctx, _UNSET
    ctx = Ctx(c, r)
    ctx.defs = [_UNSET] * len(ev.defs)
    values = [ref(ctx) for ref in ev._refs]
    assert values[0] is both and values[1] is either
    assert values[3] is (flare is not None)


@pytest.mark.parametrize("surgery_date,expected", [
    ("2016-06-01", True), ("2016-05-31", False), (None, U),
])
def test_time_window_after_a_dated_fact(surgery_date, expected):
    ev = compile_source(KLEENE, "k.gl").evaluator
    c, r = case(surgeries=[{"procedure": "lumbar_fusion", "date": surgery_date}])
    from guidec.compiler.evaluation.evaluate import Ctx, _UNSET
    ctx = Ctx(c, r)
    ctx.defs = [_UNSET] * len(ev.defs)
    assert ev._refs[2](ctx) is expected


def test_trial_then_extension_on_improvement():
    src = '''guideline t.tr "Trial"
  source "Doc" pp. 58
  applies when request.treatment in {chiropractic}
define prior = sum history[treatment in {chiropractic}].visits
trial manipulation "6-visit trial, up to 18 with improvement"
  allow 6 visits over 2 weeks
  extend to 18 visits over 8 weeks if findings.functional_improvement
  counting prior
  otherwise "no objective functional improvement after the {prior} visits of the trial"
  cite p. 58
'''
    ev = compile_source(src, "t.gl").evaluator

    def run(prior, improved, visits):
        findings = {} if improved is None else {"functional_improvement": improved}
        c, r = case(history=[{"treatment": "chiropractic", "visits": prior}], findings=findings,
                    requests=[{"id": "1", "treatment": "chiropractic", "visits": visits}])
        d = ev.evaluate(c, r)
        return d.decision, d.certified

    assert run(0, None, 6) == ("certified", 6)
    assert run(0, None, 12) == ("modified", 6)
    assert run(6, True, 12) == ("certified", 12)
    assert run(6, True, 16) == ("modified", 12)
    assert run(6, False, 6) == ("non_certified", 0)
    assert run(6, None, 6) == ("non_certified", 0)


def test_time_window_inside_a_filter():
    src = '''guideline t.w "W"
  source "Doc" pp. 1
  applies when request.treatment in {physical_therapy}
define recent = count history[treatment in {physical_therapy} and start in last 6 months]
require r must recent < 2 cite p. 1
'''
    ev = compile_source(src, "w.gl").evaluator
    hist = [{"treatment": "physical_therapy", "start": d} for d in ("2016-11-01", "2015-01-01")]
    c, r = case(history=hist)
    assert ev.evaluate(c, r).decision == "certified"  # one course in the window; 2015 is out
    c, r = case(history=hist + [{"treatment": "physical_therapy", "start": "2016-09-01"}])
    assert ev.evaluate(c, r).decision == "non_certified"
