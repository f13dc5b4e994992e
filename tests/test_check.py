"""Checks: names, types, units, terms and clauses, each reported once with a location and hint."""

from guidec.compiler.pipeline import compile_source

HEADER = '''guideline t.x "T"
  source "Doc" pp. 1-2
  applies when request.treatment in {physical_therapy}
'''


def diags(body: str):
    return compile_source(HEADER + body, "t.gl").diagnostics


def test_clean_guideline_compiles_to_graph():
    c = compile_source(HEADER + 'require r must findings.flare_up cite p. 1\n', "t.gl")
    assert c.ok and c.diagnostics == []
    assert c.graph.nodes["rule:r"]["kind"] == "requirement"
    assert c.graph.nodes["rule:r"]["citation"] == "Doc, p. 1"


def test_unknown_fact_suggests_the_closest():
    [d] = diags("require r must findings.home_exersise_program cite p. 1\n")
    assert d.code == "E201" and d.span.line == 4 and d.span.column == 16
    assert d.hint.startswith("did you mean 'home_exercise_program'? If "
                             "'findings.home_exersise_program' is a new fact, declare it")
    assert '`fact findings.home_exersise_program: yes/no "' in d.hint


def test_unknown_name_suggests_definition():
    [d] = [x for x in diags("define prior_visits = 3\nrequire r when prior_vists > 1 must true "
                            "cite p. 1\n") if x.severity == "error"]
    assert d.code == "E202" and "prior_vists" in d.message
    assert "prior_visits" in d.hint


def test_type_error_names_both_types():
    [d] = diags("require r must request.visits + 1 cite p. 1\n")
    assert d.code == "E305" and "yes/no" in d.message and "number" in d.message


def test_comparing_term_and_number_is_a_type_error():
    [d] = diags("require r must request.treatment > 3 cite p. 1\n")
    assert d.code == "E305" and "`>`" in d.message


def test_unknown_term_in_set_uses_vocabulary():
    c = compile_source(HEADER.replace("physical_therapy", "physcal_therapy"), "t.gl")
    [d] = [x for x in c.diagnostics if x.severity == "error"]
    assert d.code == "E205" and d.hint == "did you mean 'physical_therapy'?"


def test_rule_needs_its_clauses_and_a_citation():
    codes = sorted(d.code for d in diags("limit l counting 2\n"))
    assert codes == ["E403", "E404"]


def test_clause_of_another_kind_is_rejected():
    [d] = diags("deny d when true because \"x\" must true cite p. 1\n")
    assert d.code == "E401" and "deny" in d.message


def test_unknown_placeholder_in_reason():
    [d] = diags('limit l allow 10 visits otherwise "{prior} and {priorr}" cite p. 1\n')
    assert d.code == "E207" and "priorr" in d.message and "prior" in d.hint


def test_unused_definition_and_never_applying_rule_warn():
    found = {(d.code, d.severity) for d in diags(
        "define unused = 1\n"
        "limit a allow 10 visits cite p. 1\n"
        "limit b overrides a allow 5 visits cite p. 1\n"
        "deny c when false because \"x\" cite p. 1\n")}
    assert found == {("W201", "warning"), ("W303", "warning"), ("W302", "warning")}


def test_definition_cycle_is_an_error():
    codes = [d.code for d in diags("define a = b + 1\ndefine b = a + 1\n"
                                   "require r must a > 1 cite p. 1\n")]
    assert "E206" in codes


def test_test_reasons_must_name_rules():
    [d] = diags('require r must true cite p. 1\ntest "t" given {case_id: "x", review_date: '
                '2016-01-01, requests: [{id: "1", treatment: physical_therapy}]} '
                'expect non_certified 0 because rr\n')
    assert d.code == "E210" and "'r'" in d.hint
