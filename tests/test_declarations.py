"""Declared facts and vocabulary: what a guideline reads is declared in the language."""

from __future__ import annotations

import json

from conftest import checks_clean, guidec

HEADER = """guideline payer.chiro "Chiropractic maintenance"
  version "1"
  effective 2020-01-01
  source "Payer policy" p. 3
  applies when request.treatment in {chiropractic}
"""

OWN_FACT = HEADER + """
fact findings.maximum_medical_improvement: yes/no "maximum medical improvement"
fact findings.pain_score: decimal "the pain score (0-10)"

require not_at_mmi "Care stops at maximum medical improvement"
  must findings.maximum_medical_improvement == false
  cite p. 3

require pain "Pain of at least 3"
  must findings.pain_score >= 3
  cite p. 3

test "at MMI" given {case_id: t, review_date: 2021-01-01, findings: {maximum_medical_improvement: true, pain_score: 5.5}, requests: [{id: 1, treatment: chiropractic, visits: 4}]}
  expect non_certified because not_at_mmi

test "not at MMI, pain 5.5" given {case_id: t, review_date: 2021-01-01, findings: {maximum_medical_improvement: false, pain_score: 5.5}, requests: [{id: 1, treatment: chiropractic, visits: 4}]}
  expect certified
"""


def test_a_guideline_reading_facts_it_declares_checks_clean(tmp_path):
    out = checks_clean(tmp_path, OWN_FACT, 2, "chiro.gl")
    assert "0 errors, 0 warnings" in out


def test_an_undeclared_fact_is_e201_with_a_hint_showing_the_declaration(tmp_path):
    gl = tmp_path / "chiro.gl"
    gl.write_text(OWN_FACT.replace("fact findings.maximum_medical_improvement", "# "))
    r = guidec("check", str(gl))
    assert r.returncode == 1
    assert "error[E201]: 'findings' has no declared fact 'maximum_medical_improvement'" in r.stdout
    assert ("`fact findings.maximum_medical_improvement: yes/no \"what it means, in words\"`"
            in r.stdout)


def test_the_letter_uses_the_declared_description_when_a_fact_is_undocumented(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "chiro.gl").write_text(OWN_FACT)
    case = tmp_path / "c.yaml"
    case.write_text("case_id: c\nreview_date: 2021-01-01\nfindings: {pain_score: 4}\n"
                    "requests: [{id: 1, treatment: chiropractic, visits: 4}]\n")
    r = guidec("review", str(case), "--library", str(lib), "--format", "json")
    assert r.returncode == 0, r.stderr
    [rec] = json.loads(r.stdout)
    assert rec["decision"] == "non_certified"
    assert [x["text"] for x in rec["reasons"]] == [
        "There is no documentation of maximum medical improvement."]


def test_disagreeing_declarations_are_an_error_naming_both(tmp_path):
    (tmp_path / "facts.gl").write_text(
        'declarations payer.facts "Payer facts"\n\n'
        'fact findings.maximum_medical_improvement: whole number "MMI rating"\n')
    gl = tmp_path / "chiro.gl"
    gl.write_text(OWN_FACT)
    r = guidec("check", str(gl))
    assert r.returncode == 1
    line = next(x for x in r.stdout.splitlines() if "E211" in x)
    assert "chiro.gl:7:1: error[E211]" in line
    assert "whole number" in line and "yes/no" in line
    assert "facts.gl:3:1" in r.stdout  # the other declaration, named


def test_a_folder_facts_file_declares_facts_and_terms_for_its_guidelines(tmp_path):
    (tmp_path / "facts.gl").write_text(
        'declarations payer.facts "Payer facts"\n\n'
        'fact findings.prior_episodes: whole number "prior episodes of care"\n\n'
        'vocabulary treatment = {spinal_decompression "Non-surgical spinal decompression"'
        ' codes "HCPCS S9090"}\n')
    sub = tmp_path / "policies"
    sub.mkdir()
    (sub / "decomp.gl").write_text(HEADER.replace("{chiropractic}", "{spinal_decompression}")
                                   + '\ndeny episodes "Not after three episodes"\n'
                                   "  when findings.prior_episodes >= 3\n"
                                   '  because "three episodes of care have been given"\n'
                                   "  cite p. 3\n")
    r = guidec("check", str(tmp_path))
    assert r.returncode == 0, r.stdout
    schema = json.loads(guidec("schema", "case", "--library", str(tmp_path)).stdout)
    prop = schema["properties"]["findings"]["properties"]["prior_episodes"]
    assert prop["description"] == "prior episodes of care"
    assert "maximum_medical_improvement" not in schema["properties"]["findings"]["properties"]


def test_the_default_schema_comes_from_the_shipped_declarations():
    schema = json.loads(guidec("schema", "case").stdout)
    findings = schema["properties"]["findings"]["properties"]
    assert findings["home_exercise_program"]["description"] == "a home exercise program"
    assert findings["home_exercise_program"]["type"] == ["boolean", "null"]


def test_declarations_files_hold_only_declarations_and_known_vocabularies(tmp_path):
    f = tmp_path / "facts.gl"
    f.write_text('declarations x.facts "X"\n\nfact request.kind: term of widget "a widget"\n\n'
                 'require r "R"\n  must findings.flare_up\n  cite p. 1\n')
    r = guidec("check", str(f))
    assert r.returncode == 1
    assert "error[E212]" in r.stdout and "vocabulary 'widget'" in r.stdout
    assert "error[E215]" in r.stdout


def test_fmt_keeps_declarations(tmp_path):
    f = tmp_path / "facts.gl"
    text = ('declarations x.facts "X"\n\nfact findings.a: yes/no "a"\nfact history[].b: decimal\n'
            'fact request.c: term of treatment "c"\n\nvocabulary treatment "T" = {\n'
            '  x "X" codes "CPT 1, CPT 2",\n  y\n}\n')
    f.write_text(text)
    assert guidec("fmt", "--check", str(f)).returncode == 0, guidec("fmt", "--check", str(f)).stdout


# ---------------------------------------------------------------- found in the author trial
def test_a_request_without_a_quantity_says_so_in_the_letter(tmp_path):
    case = tmp_path / "nq.yaml"
    case.write_text("case_id: nq\nreview_date: 2016-06-01\n"
                    "requests: [{id: 1, treatment: physical_therapy, body_region: lumbar}]\n")
    r = guidec("review", str(case), "--format", "json")
    [rec] = json.loads(r.stdout)
    assert rec["requested"] is None and rec["decision"] == "modified"
    text = rec["reasons"][0]["text"]
    assert text.startswith("The request does not say how many visits; 6 are certified")
    assert "undocumented number" not in rec["rationale"]


def test_a_tie_between_guidelines_says_how_it_was_broken(tmp_path):
    for name, start in (("a", "2019-01-01"), ("b", "2020-01-01")):
        (tmp_path / f"{name}.gl").write_text(
            HEADER.replace("payer.chiro", f"payer.{name}").replace("2020-01-01", start)
            + 'require r "R"\n  must findings.flare_up\n  cite p. 3\n')
    case = tmp_path / "c.yaml"
    case.write_text("case_id: t\nreview_date: 2021-01-01\nfindings: {flare_up: true}\n"
                    "requests: [{id: 1, treatment: chiropractic, visits: 4}]\n")
    r = guidec("review", str(case), "--library", str(tmp_path), "--format", "json")
    [rec] = json.loads(r.stdout)
    assert rec["guideline"]["id"] == "payer.b"
    assert ("chosen over payer.a (equal precedence 0) because it is in force from the later "
            "date (2020-01-01 against 2019-01-01)") in rec["choice"]


def test_pictures_show_the_values_a_rule_used():
    from guidec.compiler.rendering import dot
    from guidec.compiler.evaluation.evaluate import U
    from guidec.compiler.pipeline import compile_source
    c = compile_source(OWN_FACT, "x.gl")
    rule = c.ir.rules[1]  # pain: must findings.pain_score >= 3
    assert dot.seen_text("fail", {"must": False, "findings.pain_score": 2.5}, rule) == \
        "pain_score = 2.5 → not met"
    mmi = c.ir.rules[0]  # a comparison with a yes/no fact
    assert dot.seen_text("fail", {"must": U}, mmi) == "not documented"
    assert "prior" not in dot.seen_text("pass", {"requested": 12, "per_week": 2, "cap": None})


def test_the_trace_records_the_number_a_requirement_compared():
    from guidec.compiler.model import cases
    from guidec.compiler.pipeline import compile_source
    c = compile_source(OWN_FACT, "x.gl")
    case = cases.from_dict({"case_id": "t", "review_date": "2021-01-01",
                            "findings": {"maximum_medical_improvement": False, "pain_score": 2.5},
                            "requests": [{"id": "1", "treatment": "chiropractic", "visits": 4}]},
                           schema=c.ir.schema)
    det = c.evaluator.evaluate(case, case.requests[0])
    step = next(s for s in det.path if s.node == "rule:pain")
    assert step.outcome == "fail" and step.values["findings.pain_score"] == 2.5


def test_author_grade_errors(tmp_path):
    gl = tmp_path / "a.gl"
    gl.write_text(HEADER + "\nvalueset spine = icd10 {M*, M40-M54}\n\n"
                  'limit yearly "Y"\n  allow 10 visits per year\n  cite p. 3\n')
    out = guidec("check", str(gl)).stdout
    assert "ICD-10 chapters (M*) and ranges (M40-M54) are not written this way" in out
    assert "`counting sum history[start in last 12 months].visits`" in out
    assert "section_ref" not in out.lower()
    gl.write_text(HEADER + '\nrequire r "R"\n  must (findings.flare_up)\n  cite "Policy" § I.C\n')
    r = guidec("check", str(gl))
    assert r.returncode == 0, r.stdout
    assert guidec("fmt", "--check", str(gl)).returncode == 0  # the author's parentheses stay
    case = tmp_path / "c.yaml"
    case.write_text("case_id: x\nreview_date: 2016-13-01\nfindings: {flare_up: \"yes\"}\n"
                    "requests: [{id: 1, treatment: massage, visits: \"ten\"}]\n")
    err = guidec("review", str(case)).stderr
    assert "field `findings.flare_up`" in err and "field `requests[0].visits`" in err
    assert "field `review_date`" in err  # every problem in one run
    empty = tmp_path / "e.yaml"
    empty.write_text("# nothing here\n")
    assert "the case file is empty" in guidec("review", str(empty)).stderr
    bad = tmp_path / "b.yaml"
    bad.write_text("case_id: x\nrequests: [\n")
    assert "b.yaml:3:1: not valid YAML" in guidec("review", str(bad)).stderr


SCOPED = """guideline payer.{name}.pt "PT for {name}"
  version "1"
  effective 2020-01-01
  source "{name} policy" p. 1
  applies when request.treatment in {{physical_therapy}}
  scope payer "{payer}"

limit cap "{cap} visits"
  allow {cap} visits
  cite p. 1
"""


def test_two_payers_guidelines_for_one_treatment_live_in_one_folder(tmp_path):
    (tmp_path / "a.gl").write_text(SCOPED.format(name="acme", payer="Acme Health", cap=6))
    (tmp_path / "b.gl").write_text(SCOPED.format(name="bolt", payer="Bolt Mutual", cap=10))
    r = guidec("check", str(tmp_path), "--format", "json")
    codes = [d["code"] for f in json.loads(r.stdout)["files"] for d in f["diagnostics"]]
    assert r.returncode == 0 and "W440" not in codes
    for payer, gid, certified in (("Acme Health", "payer.acme.pt", 6),
                                  ("Bolt Mutual", "payer.bolt.pt", 10)):
        case = tmp_path / "c.yaml"
        case.write_text(f"case_id: c\nreview_date: 2021-01-01\npayer: {payer}\n"
                        "requests: [{id: 1, treatment: physical_therapy, visits: 12}]\n")
        [rec] = json.loads(guidec("review", str(case), "--library", str(tmp_path),
                                  "--format", "json").stdout)
        assert (rec["guideline"]["id"], rec["certified"]) == (gid, certified)
        assert f"scoped to payer {payer}" in rec["choice"]
    case.write_text("case_id: c\nreview_date: 2021-01-01\n"
                    "requests: [{id: 1, treatment: physical_therapy, visits: 12}]\n")
    [rec] = json.loads(guidec("review", str(case), "--library", str(tmp_path),
                              "--format", "json").stdout)
    assert rec["decision"] == "not_applicable"  # a case that names no payer: neither applies


def test_a_request_names_the_diagnoses_it_treats(tmp_path):
    gl = tmp_path / "g.gl"
    gl.write_text(HEADER + '\nvalueset neck = icd10 {M54.2}\n\n'
                  'deny not_neck "Only for neck pain"\n  when not any request diagnosis in neck\n'
                  '  because "the request does not treat neck pain"\n  cite p. 3\n'
                  'test "the request names a low back code" given {case_id: t, '
                  "review_date: 2021-01-01, diagnoses: [M54.2, M54.5], requests: [{id: 1, "
                  'treatment: chiropractic, visits: 4, diagnoses: [M54.5]}]}\n'
                  "  expect non_certified because not_neck\n"
                  'test "no codes named: the case\'s diagnoses" given {case_id: t, '
                  "review_date: 2021-01-01, diagnoses: [M54.2, M54.5], requests: [{id: 1, "
                  'treatment: chiropractic, visits: 4}]}\n  expect certified\n')
    r = guidec("check", str(gl))
    assert r.returncode == 0, r.stdout
    assert "2 tests passed" in r.stdout
    assert guidec("fmt", str(gl)).returncode == 0
    assert "  when not any request diagnosis in neck\n" in gl.read_text()
    assert "2 tests passed" in guidec("check", str(gl)).stdout
