"""Hostile input: each reproducer of the fuzzing campaign, as its minimal input, through the
real CLI. Every one ends in a located error (exit 1) or a correct clean run; none in an
internal error (exit 3), a hang, a forged letter or a script in a picture."""

from __future__ import annotations

import json
import re
import time

import pytest

from conftest import ROOT, guidec
from test_viz import chromium, needs_dot

HEADER = """guideline test.hostile "Hostile"
  version "1"
  effective 2009-01-01
  source "Doc" p. 1
  applies when request.treatment in {physical_therapy}
"""

BASE_CASE = {"case_id": "x", "review_date": "2016-01-01",
             "requests": [{"id": "1", "treatment": "physical_therapy", "visits": 6}]}


def write(tmp_path, name: str, text: str | bytes):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def clean_failure(r, code: int = 1) -> str:
    """The run failed the way a user is owed: the given exit code, no internal error."""
    assert r.returncode == code, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    return r.stdout + r.stderr


# ---------------------------------------------------------------- 1. huge numbers
def test_4301_digit_number_in_a_guideline_is_a_located_error(tmp_path):
    gl = write(tmp_path, "big.gl", HEADER + 'limit cap "Cap"\n  allow 1' + "0" * 4300
               + " visits\n  cite p. 1\n")
    err = clean_failure(guidec("check", str(gl)))
    assert "big.gl:7:9: error[E103]" in err
    assert "4301 digits" in err and "at most 15" in err


def test_4301_digit_number_in_a_json_case_is_a_located_error(tmp_path):
    text = json.dumps(BASE_CASE).replace('"visits": 6', '"visits": 1' + "0" * 4300)
    case = write(tmp_path, "big.json", text)
    err = clean_failure(guidec("review", str(case)))
    col = text.index("1000") + 1
    assert f"big.json:1:{col}: a number has more than 4,300 digits" in err


# ---------------------------------------------------------------- 2. deep nesting
def test_10000_chained_or_terms_get_too_deeply_nested_at_the_clause(tmp_path):
    gl = write(tmp_path, "deep.gl", HEADER + 'require r "R"\n  must '
               + " or ".join(["findings.flare_up"] * 10_000) + "\n  cite p. 1\n")
    err = clean_failure(guidec("check", str(gl)))
    assert "deep.gl:7:3: error[E104]: this expression is too deeply nested (limit 100 levels)" in err
    assert len(err) < 2000  # the 200,000-character line is shown as a short window


def test_case_nested_10000_lists_deep_is_a_located_error(tmp_path):
    text = json.dumps(BASE_CASE).replace('"requests"', '"x": ' + "[" * 10_000 + "]" * 10_000
                                         + ', "requests"')
    case = write(tmp_path, "deep.json", text)
    err = clean_failure(guidec("review", str(case)))
    col = text.index("[") + 63 + 1  # the case's own mapping is the first level
    assert f"deep.json:1:{col}: too deeply nested (limit 64 levels" in err
    yaml_case = write(tmp_path, "deep.yaml", "case_id: x\nreview_date: 2016-01-01\nx: "
                      + "[" * 10_000 + "]" * 10_000 + "\nrequests: [{id: 1, treatment: massage}]\n")
    assert "deep.yaml:3:68: too deeply nested" in clean_failure(guidec("review", str(yaml_case)))


# ---------------------------------------------------------------- 3. the calendar's edge
def test_date_window_past_year_9999_runs_cleanly(tmp_path):
    gl = write(tmp_path, "w.gl", HEADER + 'require r "R"\n'
               "  must within 3650000 days after injury.date\n  cite p. 1\n"
               'test "inside the endless window" given {case_id: t, review_date: 2015-01-01, '
               "injury: {date: 2014-01-01}, requests: [{id: 1, treatment: physical_therapy, "
               "visits: 6}]}\n  expect certified\n"
               'test "before the injury" given {case_id: t, review_date: 2013-01-01, '
               "injury: {date: 2014-01-01}, requests: [{id: 1, treatment: physical_therapy, "
               "visits: 6}]}\n  expect non_certified\n")
    r = guidec("check", str(gl))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 tests passed" in r.stdout


def test_case_date_february_30_is_a_field_error(tmp_path):
    case = write(tmp_path, "d.yaml", "case_id: x\nreview_date: 2016-01-01\n"
                 "injury: {date: 2016-02-30}\nrequests: [{id: 1, treatment: massage}]\n")
    err = clean_failure(guidec("review", str(case)))
    assert "field `injury.date`" in err and '"2016-02-30"' in err


# ---------------------------------------------------------------- 4. not UTF-8
def test_case_file_that_is_not_utf8_names_the_byte_offset(tmp_path):
    case = write(tmp_path, "l1.yaml", "case_id: café\nreview_date: 2016-01-01\n".encode("latin-1"))
    err = clean_failure(guidec("review", str(case)))
    assert "l1.yaml: not UTF-8 text: byte 0xe9 at offset 12" in err
    assert "must be saved as UTF-8" in err


def test_guideline_that_is_not_utf8_is_a_located_error(tmp_path):
    gl = write(tmp_path, "l1.gl", (HEADER + "# café\n").encode("latin-1"))
    err = clean_failure(guidec("check", str(gl)))
    assert "l1.gl:1:1: error[E001]: not UTF-8 text: byte 0xe9" in err


# ---------------------------------------------------------------- 5. overrides and order
OVERRIDE_FIRST = HEADER + """
require exception "Flare-up"
  when findings.flare_up
  overrides general
  must findings.objective_deficits
  cite p. 1

require general "Home exercise"
  must findings.home_exercise_program
  cite p. 1

test "no flare-up, no home exercise" given {case_id: t, review_date: 2015-01-01, requests: [{id: 1, treatment: physical_therapy, visits: 6}], findings: {flare_up: false, home_exercise_program: false}}
  expect non_certified because general

test "flare-up with deficits" given {case_id: t, review_date: 2015-01-01, requests: [{id: 1, treatment: physical_therapy, visits: 6}], findings: {flare_up: true, objective_deficits: true, home_exercise_program: false}}
  expect certified
"""


def test_a_rule_overriding_a_later_rule_does_not_skip_it_when_it_does_not_apply(tmp_path):
    gl = write(tmp_path, "ov.gl", OVERRIDE_FIRST)
    r = guidec("check", str(gl))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 tests passed, 0 failed" in r.stdout


# ---------------------------------------------------------------- 6. alias bombs
def test_yaml_billion_laughs_is_refused_quickly(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        name, prev = chr(97 + i), chr(96 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    case = write(tmp_path, "lol.yaml", "case_id: x\nreview_date: 2016-01-01\n"
                 "requests: [{id: 1, treatment: massage}]\n" + "\n".join(lines) + "\n")
    started = time.monotonic()
    err = clean_failure(guidec("review", str(case)))
    assert "more than 1,000,000 values once YAML aliases are expanded" in err
    # Not a wall-clock limit on the machine: the refusal must not expand the aliases, and a
    # billion values would take minutes; so say what was seen if it ever takes that long.
    assert time.monotonic() - started < 120


# ---------------------------------------------------------------- 7. exponential terms
def test_doubling_definitions_in_a_filter_are_analysed_with_shared_terms(tmp_path):
    defs = "\n".join(f"define d{i} = d{i - 1} + d{i - 1}" for i in range(1, 20))
    gl = write(tmp_path, "dbl.gl", HEADER + "\ndefine d0 = sum history[treatment in "
               "{physical_therapy}].visits\n" + defs + "\ndefine c = count history[visits > d19]"
               '\n\nrequire r "R"\n  when c > 0\n  must findings.flare_up\n  cite p. 1\n')
    # 19 doublings: 2**19 copies of d0 if terms were not shared; with sharing, one each.
    r = guidec("check", str(gl), "--format", "json")
    assert r.returncode == 0, r.stderr
    codes = [d["code"] for f in json.loads(r.stdout)["files"] for d in f["diagnostics"]]
    assert "N001" not in codes and "W420" in codes


def test_analysis_budget_is_reported_as_n001(tmp_path):
    from guidec.compiler.analysis import analyze
    from guidec.compiler.pipeline import compile_file
    compiled = compile_file(ROOT / "guidelines" / "mtus" / "postsurgical" / "postsurgical.gl")
    found = analyze.Analyzer(analyze.Options(budget_ms=1)).check(compiled)
    notes = [d for d in found if d.code == "N001"]
    assert len(notes) == 1 and "stopped at its budget of 0.001 s" in notes[0].message
    assert notes[0].span.file.endswith("postsurgical.gl")


# ---------------------------------------------------------------- 8. whole visits
def test_decimal_visit_counts_are_a_field_error(tmp_path):
    data = dict(BASE_CASE, requests=[{"id": "1", "treatment": "physical_therapy",
                                      "frequency": {"per_week": 2.0, "weeks": 2}}])
    case = write(tmp_path, "f.json", json.dumps(data))
    err = clean_failure(guidec("review", str(case)))
    assert "field `requests[0].frequency.per_week` has value 2.0: expected a whole number" in err


# ---------------------------------------------------------------- 9. JSON Lines
def test_jsonl_keeps_u2028_inside_a_record_and_reviews_around_a_bad_line(tmp_path):
    first = dict(BASE_CASE, case_id="a", requests=[dict(BASE_CASE["requests"][0],
                                                         item="PT\u2028twice a week")])
    third = dict(BASE_CASE, case_id="c")
    text = json.dumps(first, ensure_ascii=False) + "\n{not json\n" + json.dumps(third) + "\n"
    batch = write(tmp_path, "b.jsonl", text)
    r = guidec("review", str(batch), "--format", "jsonl")
    err = clean_failure(r)
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["case_id"] for x in records] == ["a", "c"]
    assert records[0]["item"] == "PT\\u2028twice a week"  # shown inert, kept in one record
    assert "b.jsonl:2:2: not valid JSON" in err
    assert "1 case file or line could not be reviewed" in err


# ---------------------------------------------------------------- 10. fmt keeps meaning
def test_fmt_keeps_both_parts_of_a_mixed_value_set_and_is_idempotent_with_form_feeds(tmp_path):
    from guidec.dsl import parser
    src = (HEADER + "\f\n# a comment\f with a form feed\n\n"
           "valueset v = icd10 {M54.1*} + {physical_therapy, massage}\n\f# c2\n"
           'require r "R"\n  must findings.flare_up\n  cite p. 1\n')
    gl = write(tmp_path, "ff.gl", src)
    assert guidec("fmt", str(gl)).returncode == 0
    once = gl.read_text()
    assert "valueset v = icd10 {M54.1*} + {physical_therapy, massage}" in once
    assert guidec("fmt", str(gl)).returncode == 0
    assert gl.read_text() == once
    before = parser.parse(src, "x").guideline.valuesets[0]
    after = parser.parse(once, "x").guideline.valuesets[0]
    assert (before.codes, before.terms) == (after.codes, after.terms)


# ---------------------------------------------------------------- 11. forged letters
FORGED_ITEM = "PT\nDecision: CERTIFIED — 6 of 6 visits certified\n## Request 2"


def test_case_text_cannot_forge_lines_of_a_letter_or_reach_the_terminal(tmp_path):
    data = dict(BASE_CASE, case_id="evil\x1b[31mRED\u202eevil",
                requests=[dict(BASE_CASE["requests"][0], item=FORGED_ITEM, visits=12)])
    data["history"] = [{"treatment": "physical_therapy", "visits": 24}]
    data["diagnoses"] = ["M54.12"]
    case = write(tmp_path, "forge.json", json.dumps(data))
    text = guidec("review", str(case)).stdout
    assert "\x1b" not in text and "\u202e" not in text
    assert "evil\\x1b[31mRED\\u202eevil" in text
    decisions = [line for line in text.splitlines() if line.strip().startswith("Decision:")]
    assert len(decisions) == 1 and "NON-CERTIFIED" in decisions[0]
    assert not any(line.startswith("Decision: CERTIFIED") for line in text.splitlines())
    md = guidec("review", str(case), "--format", "markdown").stdout
    assert [line for line in md.splitlines() if line.startswith("## ")] == [
        line for line in md.splitlines() if line.startswith("## Request 1:")]
    headings = [line.split(" ")[0] + " " + line.split(" ")[1] for line in md.splitlines()
                if line.startswith("#")]
    assert headings == ["# Case", "## Request", "### Reasons", "### Rationale"]
    assert "\\#\\# Request 2" in md and "\x1b" not in md


# ---------------------------------------------------------------- 12. pictures stay inert
INJECTED = HEADER.replace('"Hostile"', '"Inj <b>x</b>"') + """
section "<i>Frequency</i>"

require r "URL=<javascript:alert(1)>"
  must findings.flare_up
  cite p. 1

require s "x\\" URL=\\"javascript:alert(2)\\" onclick=\\"alert(4)"
  must findings.flare_up
  cite p. 1

require t "<javascript:alert(3)>"
  must findings.flare_up
  cite "<img src=x onerror=alert(5)>" p. 1
"""


def _assert_inert_svg(svg: str) -> None:
    """Read as XML: every element and attribute is one Graphviz draws; user text is text."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(svg)
    allowed = {"svg", "g", "title", "text", "polygon", "path", "ellipse", "polyline", "a"}
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        assert tag in allowed, tag
        for name, value in el.attrib.items():
            local = name.split("}")[-1]
            assert not local.lower().startswith("on") and local != "href", (tag, name, value)
            assert not value.strip().lower().startswith("javascript:"), (tag, name, value)
        if tag == "a":  # the tooltips guidec asks for, and nothing else
            assert [n.split("}")[-1] for n in el.attrib] == ["title"], el.attrib


@needs_dot
def test_user_strings_in_dot_are_quoted_text_never_markup_or_links(tmp_path):
    gl = write(tmp_path, "inj.gl", INJECTED)
    dot = guidec("viz", str(gl)).stdout
    assert 'label="<i>Frequency</i>"' in dot  # a quoted string, not an HTML label
    assert not re.search(r"\b(label|tooltip|URL|href)=<", dot.replace('"URL=<', ""))
    out = tmp_path / "inj.svg"
    assert guidec("viz", str(gl), "-o", str(out)).returncode == 0
    svg = out.read_text()
    _assert_inert_svg(svg)
    assert "URL=&lt;javascript:alert(1)&gt;" in svg  # shown as the text it is


@needs_dot
@pytest.mark.skipif(chromium() is None, reason="Chromium not installed (make test installs it)")
def test_hostile_report_raises_no_dialog_in_headless_chromium(tmp_path):
    from playwright.sync_api import sync_playwright
    lib = tmp_path / "lib"
    lib.mkdir()
    write(lib, "inj.gl", INJECTED)
    data = dict(BASE_CASE, case_id="<img src=x onerror=alert(6)>",
                requests=[dict(BASE_CASE["requests"][0], id="<script>alert(7)</script>",
                               item="</script><script>alert(8)</script>")])
    case = write(tmp_path, "c.json", json.dumps(data))
    report = tmp_path / "r.html"
    r = guidec("review", str(case), "--library", str(lib), "--html", str(report))
    assert r.returncode == 0, r.stderr
    page_html = report.read_text()
    svg = page_html[page_html.index("<svg"):page_html.index("</svg>") + len("</svg>")]
    _assert_inert_svg(svg)
    assert page_html.count("<script") == 2
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(report.as_uri())
        nodes = page.locator("g.node")
        for i in range(nodes.count()):
            nodes.nth(i).click(force=True)
        details = page.inner_text(".details")
        page.wait_for_timeout(200)
        browser.close()
    assert dialogs == []
    assert details  # guidec's own script ran (allowed by the page's policy) and showed a node


# ---------------------------------------------------------------- limits and outputs
def test_files_over_the_size_limit_are_refused_before_reading(tmp_path):
    import os
    import subprocess
    import sys
    case = write(tmp_path, "c.yaml", "case_id: x\nreview_date: 2016-01-01\nnotes: \""
                 + "x" * 90000 + "\"\nrequests: [{id: 1, treatment: massage}]\n")
    gl = write(tmp_path, "g.gl", HEADER + "#" + "x" * 90000 + "\n")
    # 80,000 bytes: above the shipped declarations (facts.gl), below these files
    env = {**os.environ, "GUIDEC_MAX_FILE_MB": "0.08"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "guidec", *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True, env=env)
    lib = tmp_path / "lib"
    lib.mkdir()
    write(lib, "small.gl", HEADER + 'require r "R"\n  must findings.flare_up\n  cite p. 1\n')
    err = clean_failure(run("review", str(case), "--library", str(lib)))
    assert "c.yaml: the file is 90," in err and "over the limit of 80,000 bytes" in err
    assert "GUIDEC_MAX_FILE_MB" in err
    out = clean_failure(run("check", str(gl)))
    assert "g.gl:1:1: error[E105]" in out


def test_a_byte_order_mark_is_skipped(tmp_path):
    gl = write(tmp_path, "bom.gl", "\ufeff" + HEADER + 'require r "R"\n  must findings.flare_up\n'
               "  cite p. 1\n")
    r = guidec("check", str(gl))
    assert r.returncode == 0, r.stdout
    case = write(tmp_path, "bom.yaml", "\ufeffcase_id: x\nreview_date: 2016-01-01\n"
                 "requests: [{id: 1, treatment: massage}]\n")
    assert guidec("review", str(case)).returncode == 0


def test_outputs_into_missing_folders_or_onto_folders_are_usage_errors(tmp_path):
    seed = str(ROOT / "examples" / "imr-seed-pt-cervical.yaml")
    pm = str(ROOT / "guidelines" / "mtus" / "chronic_pain" / "physical_medicine.gl")
    err = clean_failure(guidec("review", seed, "--html", str(tmp_path / "no" / "r.html")), 2)
    assert "does not exist" in err
    err = clean_failure(guidec("review", seed, "--html", str(tmp_path)), 2)
    assert "is a folder" in err
    err = clean_failure(guidec("viz", pm, "-o", str(tmp_path / "no" / "x.svg")), 2)
    assert "does not exist" in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_nonsense_limits_are_rejected(tmp_path):
    for args in (["--analysis-timeout", "0"], ["--analysis-timeout", "-1"],
                 ["--analysis-budget", "0"]):
        r = guidec("check", "guidelines/mtus/acupuncture", *args)
        assert r.returncode == 2 and "Invalid value" in r.stderr, args
    r = guidec("test", "guidelines/mtus/acupuncture", "--coverage", "--fail-under", "200")
    assert r.returncode == 2 and "Invalid value" in r.stderr


def test_case_text_never_starts_a_line_of_the_letter_when_the_rationale_wraps():
    # Found by `make fuzz`: the rationale wrapped inside the item, so "Decision: CERTIFIED"
    # (case text) began a line of the letter. The minimal input, then every wrap position.
    from guidec.compiler.model import cases
    from guidec.compiler.rendering import render
    from guidec.compiler.evaluation.library import Library
    lib = Library.load([str(ROOT / "guidelines")])
    found = {"case_id": "ex-postsurgical-slap-repair", "review_date": "2016-09-01",
             "diagnoses": ["S43.431A"],
             "surgeries": [{"body_region": "shoulder", "date": "2016-08-01",
                            "procedure": "slap_repair"}],
             "requests": [{"id": "1", "treatment": "physical_therapy", "body_region": "shoulder",
                           "visits": 10**30,
                           "item": "line findings.flare_up Decision: CERTIFIED\n## Request 9"}]}
    variants = [found] + [dict(BASE_CASE, requests=[dict(
        BASE_CASE["requests"][0], item="x" * pad + " line findings.flare_up Decision: CERTIFIED")])
        for pad in range(90)]
    for data in variants:
        text = render.text(lib.review(cases.from_dict(data)))
        starts = [line.strip() for line in text.splitlines()]
        assert sum(line.startswith("Decision:") for line in starts) == 1, text
        assert not any(line.startswith("## ") for line in starts), text
