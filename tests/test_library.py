"""The MTUS library: every file's tests, version and precedence choice, disputes, corpus."""

import datetime as dt
import json

import pytest

from conftest import ROOT, IMR_CORPUS, guidec
from guidec.compiler.model import cases
from guidec.compiler.evaluation.library import Library

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def lib():
    return Library.load([str(ROOT / "guidelines")])


def one(lib, data, as_of=None):
    case = cases.from_dict({"case_id": "t", "review_date": "2017-01-10"} | data)
    return lib.review(case, as_of)[0]


def test_every_guideline_file_is_clean_and_its_tests_pass():
    r = guidec("check", "guidelines/", "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 0
    assert data["summary"]["errors"] == 0 and data["summary"]["warnings"] == 0
    assert len(data["files"]) >= 12
    by_guideline: dict[str, list] = {}
    for t in data["tests"]:
        by_guideline.setdefault(t["guideline"], []).append(t)
    # every guideline file has tests (facts.gl holds declarations only)
    assert len(by_guideline) == len(data["files"]) - 1
    assert any(f["path"].endswith("facts.gl") for f in data["files"])
    assert all(t["passed"] for t in data["tests"])


# Guidelines whose every treatment the text does not recommend: nothing to certify.
NOT_RECOMMENDED = {"physical_methods.gl"}


def test_each_treatment_file_has_certify_and_non_certify_tests():
    from guidec.compiler.pipeline import compile_file, find_guidelines
    for path in find_guidelines([str(ROOT / "guidelines")]):
        if path.name == "facts.gl":
            continue
        kinds = {t.decision for t in compile_file(path).ir.tests}
        if path.name in NOT_RECOMMENDED:  # every treatment it covers is not recommended
            assert kinds <= {"non_certified", None} and "non_certified" in kinds, path
            continue
        assert "non_certified" in kinds and ("certified" in kinds or "modified" in kinds), path


def test_version_in_force_is_chosen_by_review_date(lib):
    req = {"requests": [{"id": "1", "treatment": "opioids", "quantity": 60, "phase": "continuation",
                         "daily_mme": 150}]}
    old = one(lib, {"review_date": "2014-03-01"} | req)
    new = one(lib, {"review_date": "2017-01-10"} | req)
    assert old.guideline.ir.id == "mtus.opioids.chronic_pain_2009"
    assert "dose_ceiling" in [r.rule for r in old.determination.reasons]
    assert new.guideline.ir.id == "mtus.opioids.opioids_2016"
    assert "2016" in new.choice and "covers 2017-01-10" in new.choice
    as_of = one(lib, {"review_date": "2017-01-10"} | req, as_of=dt.date(2014, 3, 1))
    assert as_of.guideline.ir.id == "mtus.opioids.chronic_pain_2009"


def test_the_2016_update_applies_to_requests_from_2016_07_29(lib):
    # 8 CCR: the 2016 MTUS is dated 2016-07-28 and applies to requests made on or after
    # 2016-07-29 (shared/reference/mtus-current.md), not from 2016-12-01.
    req = {"requests": [{"id": "1", "treatment": "opioids", "quantity": 60, "phase": "continuation",
                         "daily_mme": 150}]}
    assert one(lib, {"review_date": "2016-07-28"} | req).guideline.ir.id == \
        "mtus.opioids.chronic_pain_2009"
    assert one(lib, {"review_date": "2016-07-29"} | req).guideline.ir.id == \
        "mtus.opioids.opioids_2016"


def test_after_2017_11_30_a_topic_without_its_current_text_is_named_as_such(lib):
    pt = {"requests": [{"id": "1", "treatment": "physical_therapy", "visits": 6}]}
    rv = one(lib, {"review_date": "2018-03-01"} | pt)
    assert rv.decision == "not_applicable" and rv.guideline is None
    assert rv.choice.startswith("no guideline in force in the library for this date")
    assert "mtus.chronic_pain.physical_medicine (2009-07-18 to 2017-11-30)" in rv.choice
    # Acupuncture and the postsurgical table stay in force after 2017-11-30.
    acu = {"requests": [{"id": "1", "treatment": "acupuncture", "visits": 6}]}
    assert one(lib, {"review_date": "2018-03-01"} | acu).guideline.ir.id == \
        "mtus.acupuncture"


def test_postsurgical_takes_precedence_inside_its_period(lib):
    base = {"surgeries": [{"procedure": "knee_arthroplasty", "date": "2016-11-01"}],
            "requests": [{"id": "1", "treatment": "physical_therapy", "body_region": "knee",
                          "visits": 12}]}
    inside = one(lib, base | {"review_date": "2016-12-15"})
    after = one(lib, base | {"review_date": "2017-04-15"})
    assert inside.guideline.ir.id == "mtus.postsurgical"
    assert "precedence 20" in inside.choice and "physical_medicine" in inside.choice
    assert after.guideline.ir.id == "mtus.chronic_pain.physical_medicine"


def test_no_guideline_is_an_explicit_result(lib):
    rv = one(lib, {"requests": [{"id": "1", "treatment": "inpatient_rehabilitation", "days": 7}]})
    assert rv.decision == "not_applicable" and rv.guideline is None
    assert "no guideline" in rv.choice


@pytest.mark.parametrize("ur,extra,guideline_says,decision,certified,outcome", [
    ("non_certified", {}, "modified", "non_certified", 0, "upheld"),
    ("modified", {"ur_certified": 4}, "modified", "modified", 4, "upheld"),
    ("non_certified", {"visits": 6}, "certified", "certified", 6, "overturned"),
])
def test_disputed_requests_are_upheld_or_overturned_as_submitted(lib, ur, extra, guideline_says,
                                                                decision, certified, outcome):
    from guidec.compiler.rendering import render
    request = {"id": "1", "treatment": "physical_therapy", "body_region": "knee", "visits": 12,
               "ur_decision": ur} | extra
    rv = one(lib, {"requests": [request]})
    assert rv.determination.decision == guideline_says
    assert (rv.decision, rv.certified) == (decision, certified)
    assert render.ur_outcome(rv) == outcome
    assert render.to_json(rv)["x12_action"] == {"certified": "A1", "modified": "A6",
                                                 "non_certified": "A3"}[decision]


def test_unknown_term_in_case_is_a_warning_naming_the_closest_and_still_reviewed():
    c = cases.from_dict({"case_id": "x", "review_date": "2017-01-01",
                         "surgeries": [{"procedure": "appendectomy"}],
                         "requests": [{"id": "1", "treatment": "chiropractc"}]})
    assert len(c.warnings) == 2
    assert "surgeries[0].procedure" in c.warnings[0] and "appendectomy" in c.warnings[0]
    assert "requests[0].treatment" in c.warnings[1]
    assert "did you mean 'chiropractic'" in c.warnings[1]
    assert c.requests[0]["treatment"] == "chiropractc"


def test_unknown_term_in_case_is_reviewed_with_a_warning_on_stderr(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("case_id: x\nreview_date: 2016-01-01\n"
                 "surgeries: [{procedure: appendectomy, date: 2010-01-01}]\n"
                 "requests: [{id: 1, treatment: physical_therapy, visits: 6}]\n")
    r = guidec("review", str(f), "--library", "guidelines", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "appendectomy" in r.stderr
    assert json.loads(r.stdout)[0]["decision"] == "certified"


def test_examples_cover_every_treatment_and_surgery_with_cited_determinations():
    # The MTUS examples: every case file outside the example libraries that carry their own
    # declarations (examples/state-wc-manipulation, examples/odg-physical-therapy).
    own = {p.parent for p in (ROOT / "examples").rglob("facts.gl")}
    files = [str(p) for p in sorted((ROOT / "examples").rglob("*.yaml"))
             if not any(d in p.parents for d in own) and "ci" not in p.parts]
    r = guidec("review", *files, "--library", "guidelines", "--format", "json")
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    treatments = {x["treatment"] for x in records}
    assert {"physical_therapy", "chiropractic", "massage", "aquatic_therapy", "acupuncture",
            "tens", "functional_restoration", "epidural_steroid_injection", "opioids"} <= treatments
    assert all(x["guideline"] is not None for x in records)
    assert all(x["reasons"] == [] or all(y["citation"] for y in x["reasons"]) for x in records)
    post = [x for x in records if x["guideline"]["id"] == "mtus.postsurgical"]
    from guidec.compiler.model import facts
    listed = set(facts.standard().vocab["procedure"]) - {
        "lumbar_surgery", "shoulder_surgery", "finger_fracture_surgery",
        "closed_reduction_percutaneous_pinning", "open_reduction_internal_fixation",
        # surgeries the surgery, pre-operative and equipment guidelines name; not in the table
        "shoulder_arthroscopy", "knee_arthroscopy", "umbilical_hernia_repair",
        "open_rotator_cuff_repair", "biceps_tenodesis", "shoulder_debridement",
        "distal_clavicle_excision", "colon_resection"}
    assert len(post) == len(listed) == 22


def test_corpus_command_on_example_folder(tmp_path):
    import shutil
    shutil.copy(EXAMPLES / "imr-seed-pt-cervical.yaml", tmp_path)
    r = guidec("corpus", str(tmp_path), "--library", "guidelines", "--format", "json")
    data = json.loads(r.stdout)
    assert {k: data["summary"][k] for k in ("requests", "agree", "agreement",
                                             "quantity_checked", "quantity_agree")} == {
        "requests": 1, "agree": 1, "agreement": 1.0, "quantity_checked": 1, "quantity_agree": 1}
    text = guidec("corpus", str(tmp_path), "--library", "guidelines").stdout
    assert "imr-seed-pt-cervical" in text and "1 of 1 requests agree" in text


def test_agreement_with_real_imr_decisions_reach_and_the_overturned_items():
    # What a reviewer needs of the library on the visible corpus: nearly every item reviewed
    # under some guideline, agreement above the "uphold UR as decided" baseline, and agreement on
    # the items the reviewer overturned, which upholding every denial cannot reach.
    r = guidec("corpus", str(IMR_CORPUS), "--library", "guidelines", "--format", "json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)["summary"]
    assert summary["requests"] >= 200
    assert summary["decided_by_a_guideline"]["share"] >= 0.95, summary["decided_by_a_guideline"]
    assert summary["decided_by_a_guideline"]["agreement"] >= 0.90
    assert summary["agreement"] >= 0.90
    assert summary["agreement"] > summary["uphold_ur_baseline"]["agreement"]
    assert summary["overturned"]["agreement"] >= 0.60, summary["overturned"]


def test_the_library_tests_reach_most_of_its_decision_graphs():
    r = guidec("test", "guidelines", "--coverage", "--fail-under", "85")
    assert r.returncode == 0, r.stdout[-2000:]


def test_the_non_california_examples_check_clean_and_review_their_cases():
    for folder, case, decision, certified in (
            ("examples/state-wc-manipulation", "case-extension.yaml", "certified", 6),
            ("examples/odg-physical-therapy", "case-lumbar-strain.yaml", "certified", 6)):
        r = guidec("check", folder)
        assert r.returncode == 0, r.stdout
        assert "0 errors, 0 warnings" in r.stdout and "0 failed" in r.stdout
        r = guidec("review", f"{folder}/{case}", "--library", folder, "--format", "json")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # every term the case uses is declared: no warnings
        [rec] = json.loads(r.stdout)
        assert (rec["decision"], rec["certified"]) == (decision, certified)
        assert rec["guideline"]["file"].startswith(folder)


def test_corpus_reports_agreement_against_the_uphold_baseline_and_overturned_items(tmp_path):
    base = "review_date: 2016-06-01\n"
    (tmp_path / "a.yaml").write_text(
        "case_id: a\n" + base + "requests: [{id: 1, treatment: physical_therapy, "
        "body_region: lumbar, visits: 6, ur_decision: non_certified}]\n"
        "expected: [{request: 1, decision: certified, reasons: [a trial of six is recommended]}]\n")
    (tmp_path / "b.yaml").write_text(
        "case_id: b\n" + base + "requests: [{id: 1, treatment: massage, visits: 4, "
        "ur_decision: non_certified}]\nexpected: [{request: 1, decision: non_certified}]\n")
    (tmp_path / "c.yaml").write_text(
        "case_id: c\n" + base + "requests: [{id: 1, treatment: imaging, "
        "ur_decision: non_certified}]\nexpected: [{request: 1, decision: non_certified}]\n")
    r = guidec("corpus", str(tmp_path), "--library", "guidelines", "--format", "json")
    stats = json.loads(r.stdout)["summary"]
    # The baseline is the UR decision against the reviewer's: a was overturned, b and c upheld
    # (2 of 3). a is the one overturned item; the guideline certifies its six-visit trial.
    rows = {row["case_id"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows["a"]["actual"] == "certified" and rows["c"]["actual"] == "not_applicable"
    assert stats["uphold_ur_baseline"] == {"requests": 3, "agree": 2, "agreement": 0.6667}
    assert stats["overturned"] == {"requests": 1, "agree": 1, "agreement": 1.0}
    assert stats["decided_by_a_guideline"]["requests"] == 2
    assert stats["by_expected"]["certified"] == {"requests": 1, "agree": 1, "agreement": 1.0}
    text = guidec("corpus", str(tmp_path), "--library", "guidelines", "--reasons").stdout
    assert "Baseline (uphold every UR decision as made): 2 of 3 (66.7%)." in text
    assert "reviewer: a trial of six is recommended" in text
    differ = text.split("Reasons, where they differ:")[1]
    assert "c request 1 (reviewer: non_certified; guidec: not_applicable)" in differ
    assert "guidec:   (no guideline of the library applies)" in differ


def test_a_layer_applies_beside_the_deciding_guideline_and_the_stricter_stands(tmp_path):
    import shutil
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(ROOT / "guidelines" / "statute" / "visit_cap.gl", lib)
    (lib / "generous.gl").write_text(
        'guideline local.generous "A generous therapy policy"\n'
        '  effective 2004-01-01\n  source "Local policy" p. 1\n'
        '  applies when request.treatment in {physical_therapy}\n  precedence 10\n\n'
        'limit cap "Forty visits"\n  allow 40 visits\n'
        '  counting sum history[treatment in {physical_therapy}].visits\n  cite p. 1\n')
    case = tmp_path / "c.yaml"
    case.write_text("case_id: cap\nreview_date: 2016-03-01\ninjury: {date: 2015-06-01}\n"
                    "history: [{treatment: physical_therapy, visits: 20}]\n"
                    "requests: [{id: 1, treatment: physical_therapy, visits: 10}]\n")
    r = guidec("review", str(case), "--library", str(lib), "--format", "json")
    assert r.returncode == 0, r.stderr
    [rec] = json.loads(r.stdout)
    assert rec["guideline"]["id"] == "local.generous"  # the layer is never the one chosen
    assert (rec["decision"], rec["certified"]) == ("modified", 4)
    assert rec["layers"] == ["ca.labor_code.visit_cap"]
    assert [x["rule"] for x in rec["reasons"]] == ["pt_cap"]
    assert rec["reasons"][0]["citation"] == "California Labor Code section 4604.5(c)(1)"
    assert "applies beside it and limits this request to 4" in rec["choice"]
    # An injury before 2004: the statute does not apply, the policy alone decides.
    case.write_text(case.read_text().replace("2015-06-01", "2003-06-01"))
    [rec] = json.loads(guidec("review", str(case), "--library", str(lib), "--format",
                              "json").stdout)
    assert (rec["decision"], rec["certified"], rec["layers"]) == ("certified", 10, [])


def test_the_lower_tier_decides_where_the_mtus_does_not_fit_and_the_letter_says_why(lib):
    # Acute therapy: the MTUS chronic pain chapters speak to pain past 12 weeks; ODG decides.
    acute = one(lib, {"review_date": "2017-01-12", "injury": {"date": "2016-12-20"},
                      "diagnoses": ["S33.5XXA"],
                      "requests": [{"id": "1", "treatment": "physical_therapy",
                                    "body_region": "lumbar", "visits": 6}]})
    assert acute.guideline.ir.id == "odg.physical_therapy"
    assert "higher-precedence mtus.chronic_pain.physical_medicine" in acute.choice
    chronic = one(lib, {"review_date": "2017-06-12", "injury": {"date": "2016-12-20"},
                        "diagnoses": ["S33.5XXA"],
                        "requests": [{"id": "1", "treatment": "physical_therapy",
                                      "body_region": "lumbar", "visits": 6}]})
    assert chronic.guideline.ir.id == "mtus.chronic_pain.physical_medicine"
    # Where the MTUS is silent (pre-operative tests), the letter says so.
    preop = one(lib, {"review_date": "2017-01-20", "patient": {"age": 59},
                      "requests": [{"id": "1", "treatment": "preoperative_testing", "test": "cbc",
                                    "associated_procedure_certified": True}]})
    assert preop.guideline.ir.id == "odg.preoperative_testing"
    assert "no guideline of higher precedence in the library addresses" in preop.choice


def test_items_that_belong_to_a_surgery_requested_in_the_same_case_follow_its_decision(lib):
    def review(surgery_findings):
        case = cases.from_dict({
            "case_id": "together", "review_date": "2017-01-31", "patient": {"age": 62},
            "diagnoses": ["S43.005A", "I10"], "findings": surgery_findings,
            "requests": [
                {"id": "1", "treatment": "preoperative_testing", "test": "cbc",
                 "associated_procedure": "arthroscopic_bankart_repair"},
                {"id": "2", "treatment": "surgery", "body_region": "shoulder",
                 "procedures": ["arthroscopic_bankart_repair"]},
                {"id": "3", "treatment": "durable_medical_equipment",
                 "equipment": "cold_therapy_unit", "postoperative": True, "rental_days": 7},
                {"id": "4", "treatment": "surgical_assistant", "postoperative": True}]})
        return {rv.request["id"]: rv for rv in lib.review(case)}
    shown = {"imaging_confirms_lesion": True, "exam_confirms_lesion": True,
             "failed_conservative_care": True}
    yes = review(shown)
    assert [yes[i].decision for i in "1234"] == ["certified"] * 4
    assert "decided together with the surgery in this review: request 2" in yes["3"].choice
    assert list(yes) == ["1", "2", "3", "4"]  # the letter keeps the case's order
    no = review({"imaging_confirms_lesion": True})
    assert [no[i].decision for i in "1234"] == ["non_certified"] * 4
    assert [r.rule for r in no["1"].determination.reasons] == ["surgery_certified"]
    assert [r.rule for r in no["3"].determination.reasons] == ["surgery_denied"]
    assert "(arthroscopic_bankart_repair, non-certified)" in no["4"].choice
