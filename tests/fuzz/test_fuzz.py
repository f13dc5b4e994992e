"""A bounded slice of the fuzzing campaign, run by `make test` (the long run is `make fuzz`).

Guidelines come from the grammar itself (Hypothesis's Lark strategy) and from random edits of
the library's files; cases from random edits of the example cases, as data and as JSON/YAML
text. The properties are in harness.py. The examples are derandomized, so `make test` tries the
same inputs on every run (a red CI is always reproducible); `make fuzz` draws new ones."""

from __future__ import annotations

import random

import lark
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

import harness
from guidec.dsl import parser

SETTINGS = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
LIBRARY = harness.library_texts()
SEEDS = harness.seed_cases()

_GRAMMAR = lark.Lark(parser.grammar_text(), parser="lalr", lexer="contextual", start="start")
# Readable terminals, so generated files get past the lexer and reach the checker.
_TERMINALS = {
    "NAME": st.sampled_from(["request", "findings", "history", "treatment", "visits", "flare_up",
                             "physical_therapy", "x", "d", "radiculitis", "prior"]),
    "STRING": st.sampled_from(['"T"', '"a \\" b"', '"<i>x</i>"', '"{prior} of {requested}"']),
    "INT": st.integers(0, 10**6).map(str),
    "SIGNED_INT": st.integers(-10**6, 10**6).map(str),
    "DATE": st.dates().map(str),
}


@SETTINGS
@given(text=from_lark(_GRAMMAR, start="start", explicit=_TERMINALS))
def test_grammar_derived_guidelines_compile_or_get_located_diagnostics(text):
    harness.check_guideline(text)


@SETTINGS
@given(text=from_lark(_GRAMMAR, start="start"))
def test_raw_grammar_strings_compile_or_get_located_diagnostics(text):
    harness.check_guideline(text, cases_to_run=1)


@SETTINGS
@given(seed=st.sampled_from(LIBRARY), rng=st.randoms(use_true_random=False))
def test_mutated_library_files_compile_or_get_located_diagnostics(seed, rng):
    path, text = seed
    harness.check_guideline(harness.mutate_text(text, rng), path, rng=rng)


@settings(max_examples=300, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(seed=st.sampled_from(SEEDS), rng=st.randoms(use_true_random=False))
def test_mutated_cases_load_or_get_field_errors_and_letters_stay_inert(seed, rng):
    data = harness.mutate_case(seed, rng)
    harness.check_case_data(data)
    text, kind = harness.case_text(data, rng)
    harness.check_case_text(text, kind)


def test_the_library_itself_passes_every_property():
    for path, text in LIBRARY:
        assert harness.check_guideline(text, path, cases_to_run=3,
                                       rng=random.Random(1)) == "ok", path
