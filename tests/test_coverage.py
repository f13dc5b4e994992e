"""guidec test --coverage: nodes and edges of each decision graph that the tests exercised."""

import json

from conftest import guidec

SMALL = '''guideline t.cov "Coverage"
  source "Doc" pp. 1
  applies when request.treatment in {massage}

limit cap "Six visits" allow 6 visits cite p. 1

require adjunct "Adjunct" must findings.adjunct_to_rehabilitation cite p. 1

deny upkeep "Maintenance" when findings.maintenance_care because "maintenance" cite p. 1

test "fits"
  given {case_id: "a", review_date: 2016-01-01, findings: {adjunct_to_rehabilitation: true},
         requests: [{id: "1", treatment: massage, visits: 4}]}
  expect certified 4
'''


def test_coverage_counts_what_tests_exercise(tmp_path):
    f = tmp_path / "cov.gl"
    f.write_text(SMALL)
    r = guidec("test", str(f), "--coverage", "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    [cov] = data["coverage"]
    # applies, cap, adjunct, certified reached; upkeep never takes effect; 3 outcomes unreached
    assert cov["nodes"] == 8 and cov["nodes_covered"] == 4
    assert "rule:upkeep" in cov["uncovered_nodes"]
    assert "rule:cap -> outcome:modified" in cov["uncovered_edges"]
    notes = [d for f in data["files"] for d in f["diagnostics"] if d["code"] == "C001"]
    assert [n["message"] for n in notes] == ["no test makes exclusion 'upkeep' take effect"]
    assert notes[0]["location"]["line"] == 9


def test_fail_under(tmp_path):
    f = tmp_path / "cov.gl"
    f.write_text(SMALL)
    low = guidec("test", str(f), "--coverage", "--fail-under", "95")
    assert low.returncode == 1 and "under --fail-under 95%" in low.stdout
    assert "Coverage of the decision graphs" in low.stdout
    more = SMALL + '''
test "maintenance"
  given {case_id: "b", review_date: 2016-01-01,
         findings: {adjunct_to_rehabilitation: false, maintenance_care: true},
         requests: [{id: "1", treatment: massage, visits: 8}]}
  expect non_certified 0 because adjunct, upkeep
'''
    f.write_text(more)
    r = guidec("test", str(f), "--coverage", "--fail-under", "60", "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["summary"]["coverage_percent"] >= 60
    assert data["coverage"][0]["uncovered_nodes"] == ["outcome:modified",
                                                      "outcome:not_applicable"]
