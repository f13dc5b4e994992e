"""Time and arithmetic in the language: date differences, calendar years, `if ... then ...
else ...` with three-valued conditions."""

from __future__ import annotations

from conftest import ROOT, checks_clean, guidec

TIME = ROOT / "tests" / "cases" / "time.gl"


def header(name: str) -> str:
    """The header of a small test guideline for physical therapy."""
    return (f'guideline t.{name} "{name.title()}"\n  version "1"\n  effective 2009-01-01\n'
            '  source "Doc" p. 1\n  applies when request.treatment in {physical_therapy}\n')


def test_the_time_guideline_checks_clean_with_its_tests():
    r = guidec("check", str(TIME))
    assert r.returncode == 0, r.stdout
    assert "0 errors, 0 warnings, 7 tests passed, 0 failed" in r.stdout


def test_the_time_guideline_is_formatted():
    assert guidec("fmt", "--check", str(TIME)).returncode == 0


def test_type_errors_for_time_forms(tmp_path):
    gl = tmp_path / "t.gl"
    gl.write_text(TIME.read_text().split("define days_since_injury")[0]
                  + "define a = days_between(review_date, 3)\n"
                  + "define b = if findings.flare_up then 1 else review_date\n"
                  + "define c = review_date in calendar year of 2\n")
    out = guidec("check", str(gl)).stdout
    assert "`days_between` takes two dates" in out
    assert "`if` gives a number or a date: both branches must be of one type" in out
    assert "`in calendar year of` must be a date, but this is a number" in out


def test_calendar_year_and_days_between_evaluate():
    from guidec.compiler.model import cases
    from guidec.compiler.pipeline import compile_file
    c = compile_file(TIME)
    case = cases.from_dict({"case_id": "t", "review_date": "2015-06-20",
                            "injury": {"date": "2015-01-01"},
                            "history": [{"treatment": "physical_therapy", "visits": 5,
                                         "start": "2015-12-31"},
                                        {"treatment": "physical_therapy", "visits": 7,
                                         "start": "2014-12-31"}],
                            "requests": [{"id": "1", "treatment": "physical_therapy"}]})
    ev = c.evaluator
    from guidec.compiler.evaluation.evaluate import Ctx, _UNSET
    ctx = Ctx(case, case.requests[0])
    ctx.defs = [_UNSET] * len(ev.defs)
    assert ev.defs[ev.def_index["days_since_injury"]](ctx) == 170
    assert ev.defs[ev.def_index["visits_this_year"]](ctx) == 5


WINDOW = header("window") + """
limit yearly "10 visits a year"
  allow 10 visits
  counting sum history[start in last 12 months].visits
  cite p. 1

test "a course with no start date cannot be counted in or out of the year" given {case_id: t, review_date: 2015-06-01, history: [{treatment: physical_therapy, visits: 8, start: 2015-01-10}, {treatment: physical_therapy, visits: 6}], requests: [{id: 1, treatment: physical_therapy, visits: 4}]}
  expect non_certified because yearly

test "with every date recorded, the year's visits count" given {case_id: t, review_date: 2015-06-01, history: [{treatment: physical_therapy, visits: 8, start: 2015-01-10}, {treatment: physical_therapy, visits: 6, start: 2013-01-01}], requests: [{id: 1, treatment: physical_therapy, visits: 4}]}
  expect modified 2 because yearly
"""


def test_an_entry_whose_filter_is_undocumented_is_never_silently_dropped(tmp_path):
    checks_clean(tmp_path, WINDOW, 2)
    case = tmp_path / "c.yaml"
    case.write_text("case_id: t\nreview_date: 2015-06-01\nhistory: [{treatment: physical_therapy,"
                    " visits: 8, start: 2015-01-10}, {treatment: physical_therapy, visits: 6}]\n"
                    "requests: [{id: 1, treatment: physical_therapy, visits: 4}]\n")
    r = guidec("review", str(case), "--library", str(tmp_path), "--format", "json")
    [rec] = __import__("json").loads(r.stdout)
    assert rec["reasons"][0]["text"].startswith("The treatment already given cannot be counted")


OVER = header("over") + """
limit course "8-10 visits over 4 weeks"
  allow 10 visits over 4 weeks
  cite p. 1

test "2 a week for 6 weeks: the 8 visits within 4 weeks" given {case_id: t, review_date: 2015-06-01, requests: [{id: 1, treatment: physical_therapy, frequency: {per_week: 2, weeks: 6}}]}
  expect modified 8 because course

test "3 a week for 4 weeks: the cap of 10" given {case_id: t, review_date: 2015-06-01, requests: [{id: 1, treatment: physical_therapy, frequency: {per_week: 3, weeks: 4}}]}
  expect modified 10 because course

test "2 a week for 4 weeks fits" given {case_id: t, review_date: 2015-06-01, requests: [{id: 1, treatment: physical_therapy, frequency: {per_week: 2, weeks: 4}}]}
  expect certified 8
"""


def test_over_w_weeks_supports_the_visits_within_the_window(tmp_path):
    checks_clean(tmp_path, OVER, 3)


VISITS = header("visits") + """
limit four_weeks "At most 8 visits in any 4 weeks"
  allow 8 visits
  counting count visits[treatment in {physical_therapy} and date in last 4 weeks]
  cite p. 1

test "dated visits: 6 in the last 4 weeks, 2 more fit" given {case_id: t, review_date: 2015-06-01, history: [{treatment: physical_therapy, visit_dates: [2015-03-01, 2015-05-06, 2015-05-10, 2015-05-14, 2015-05-20, 2015-05-25, 2015-05-30]}], requests: [{id: 1, treatment: physical_therapy, visits: 6}]}
  expect modified 2 because four_weeks
"""


def test_per_visit_dates_are_counted_in_a_window(tmp_path):
    checks_clean(tmp_path, VISITS, 1)
    from guidec.compiler.model import cases
    c = cases.from_dict({"case_id": "t", "review_date": "2015-06-01", "history": [
        {"treatment": "physical_therapy", "visit_dates": ["2015-05-06", "2015-05-10"]}],
        "requests": [{"id": "1", "treatment": "physical_therapy"}]})
    assert c.history[0]["visits"] == 2 and len(c.visits) == 2
