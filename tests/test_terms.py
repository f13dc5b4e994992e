"""A set of terms (a request for EMG and NCS) tested against a set: does it name any of them."""

from __future__ import annotations

from conftest import checks_clean

GL = """guideline t.edx "EDX"
  version "1"
  effective 2009-01-01
  source "Doc" p. 1
  applies when request.treatment in {electrodiagnostic_testing}

deny ncs "No NCS of the legs"
  when request.tests in {ncs}
  because "no nerve conduction studies"
  cite p. 1

test "EMG and NCS names NCS" given {case_id: t, review_date: 2016-01-01, requests: [{id: 1, treatment: electrodiagnostic_testing, tests: [emg, ncs]}]}
  expect non_certified because ncs

test "EMG alone" given {case_id: t, review_date: 2016-01-01, requests: [{id: 1, treatment: electrodiagnostic_testing, tests: [emg], quantity: 1}]}
  expect certified
"""


def test_a_set_of_terms_in_a_set_means_any_of_them(tmp_path):
    checks_clean(tmp_path, GL, 2)
