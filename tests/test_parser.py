"""Parsing: .gl text → AST, and syntax errors located with words a person understands."""

from conftest import ROOT
from guidec.dsl import ast, parser

HEADER = '''guideline t.x "T"
  source "Doc" pp. 1-2
  applies when request.treatment in {physical_therapy}
'''


def test_rule_clauses_become_ast_nodes():
    src = HEADER + '''
limit cap "Cap" when any diagnosis in vs allow 10 visits over 4 weeks, at most 3 visits per week
  counting 0 cite p. 7
valueset vs = icd10 {M54.1*}
'''
    result = parser.parse(src, "t.gl")
    assert result.diagnostics == []
    rule = result.guideline.rules[0]
    assert rule.kind == "limit" and rule.name == "cap" and rule.title == "Cap"
    allow = next(c for c in rule.clauses if c.keyword == "allow").quantity
    assert (allow.amount, allow.unit, allow.over, allow.over_unit, allow.per_week) == \
        (10, "visits", 4, "weeks", 3)
    when = next(c for c in rule.clauses if c.keyword == "when").expr
    assert when == ast.AnyDiagnosis(valueset="vs")
    assert result.guideline.valuesets[0].codes == ("M54.1*",)


def test_spans_are_kept_but_ignored_by_equality():
    a = parser.parse(HEADER + "define d = 1 + 2\n", "a.gl").guideline.definitions[0]
    b = parser.parse(HEADER + "\n\n define   d =   1+2\n", "b.gl").guideline.definitions[0]
    assert a == b
    assert (a.span.line, b.span.line) == (4, 6)


def test_precedence_of_and_over_or():
    e = parser.parse(HEADER + "define d = true or false and false\n", "t.gl") \
        .guideline.definitions[0].expr
    assert e.op == "or" and e.right.op == "and"


def test_syntax_error_has_location_expected_words_and_hint():
    result = parser.parse(HEADER + "define d = request.visits = 3\n", "t.gl")
    [d] = result.diagnostics
    assert (d.span.file, d.span.line, d.span.column) == ("t.gl", 4, 27)
    assert d.message.startswith("unexpected '='")
    assert "==" in d.hint


def test_every_broken_item_is_reported_and_good_items_survive():
    src = HEADER + "define a = 1 +\ndefine b = 2\ndefine c = (3\n"
    result = parser.parse(src, "t.gl")
    assert [d.span.line for d in result.diagnostics] == [4, 6]
    assert [d.name for d in result.guideline.definitions] == ["b"]
    assert not result.complete


def test_inline_test_facts_parse_as_data():
    src = HEADER + '''test "t" given {case_id: "x", review_date: 2016-01-02, diagnoses: [M54.12],
  requests: [{id: "1", treatment: physical_therapy, visits: 12}]} expect modified 6 because a, b
'''
    [t] = parser.parse(src, "t.gl").guideline.tests
    assert t.given["diagnoses"] == ["M54.12"]
    assert t.given["requests"][0]["visits"] == 12
    assert (t.expect.decision, t.expect.quantity, t.expect.reasons) == ("modified", 6, ("a", "b"))


def test_the_parser_tables_are_cached_between_runs_and_a_damaged_cache_is_rebuilt(tmp_path):
    import os
    import subprocess
    import sys
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    text = (ROOT / "guidelines" / "mtus" / "chronic_pain" / "physical_medicine.gl").read_text()
    pm = tmp_path / "physical_medicine.gl"
    runs = iter(range(3))

    def check() -> subprocess.CompletedProcess[str]:
        # A comment of its own each time: the file is parsed again, not read from the cache
        # of checked files.
        pm.write_text(f"{text}\n# run {next(runs)}\n")
        return subprocess.run([sys.executable, "-m", "guidec", "check", "--no-analysis",
                               "--no-tests", str(pm)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
    first = check()
    [cache] = list((tmp_path / "guidec").glob("grammar-*.lark"))
    assert cache.stat().st_size > 1000
    second = check()
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout and "unchanged" not in second.stdout
    cache.write_bytes(b"not a pickle")
    third = check()
    assert third.returncode == 0 and third.stdout == first.stdout
    assert cache.stat().st_size > 1000  # built again


def test_guidecs_lexer_gives_the_tokens_and_errors_of_larks_own_contextual_lexer():
    """The parser's lexer compiles each terminal once instead of one alternation per parser
    state: on every library file, and on broken copies of them, it must give what Lark's own
    contextual lexer gives (the tokens, their types and places; the same error, at the same
    place, with the same expected terminals)."""
    import random

    import lark
    from lark import Lark, Token

    text, options = parser._grammar_options()
    stock = Lark(text, **options)
    ours = parser._lark()
    assert ours is not stock and "_plugins" not in options

    def outcome(p, src):
        try:
            tree = p.parse(src, start="start")
        except lark.exceptions.UnexpectedInput as e:
            expected = getattr(e, "allowed", None) or getattr(e, "expected", None) or ()
            return (type(e).__name__, e.line, e.column, sorted(expected),
                    repr(getattr(e, "token", None)))
        return tree, [(t.type, str(t), t.line, t.column, t.end_line, t.end_column, t.end_pos)
                      for t in tree.scan_values(lambda v: isinstance(v, Token))]

    rng = random.Random(11)
    files = sorted((ROOT / "guidelines").rglob("*.gl"))
    assert len(files) > 30
    parsed = broken = 0
    for f in files:
        src = f.read_text("utf-8")
        sources = [src]
        for _ in range(12):  # a few characters cut out, or one put in
            at = rng.randrange(len(src))
            if rng.random() < 0.5:
                sources.append(src[:at] + src[at + rng.randint(1, 12):])
            else:
                sources.append(src[:at] + rng.choice('"#-.§{}[]9a_Z %:=,') + src[at:])
        for s in sources:
            want = outcome(stock, s)
            assert outcome(ours, s) == want, (f, s)
            parsed += isinstance(want[0], lark.Tree)
            broken += not isinstance(want[0], lark.Tree)
    assert parsed > len(files) and broken > len(files)  # both kinds were compared
