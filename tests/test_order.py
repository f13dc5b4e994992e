"""Property: the order of rules in a file never changes a determination (overrides included)."""

from __future__ import annotations


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from guidec.compiler.model import cases, facts, graph
from guidec.compiler.evaluation.evaluate import Evaluator
from guidec.compiler import pipeline
from guidec.compiler.pipeline import compile_file
from guidec.dsl import records

LIBRARY = sorted((ROOT / "guidelines").rglob("*.gl"))
COMPILED = [c for c in (compile_file(p) for p in LIBRARY) if c.kind == "guideline"]
CODES = ["M54.12", "M54.16", "M79.2", "G90.512", "M25.511", "S39.012A", "M51.26", "M17.11"]


def _case_strategy() -> st.SearchStrategy[dict]:
    std = facts.standard()
    vocab = std.vocab
    maybe_bool = st.sampled_from([True, False, None])

    def value(t: facts.Type) -> st.SearchStrategy:
        if t.kind == "bool":
            return maybe_bool
        if t.kind in {"term", "terms"}:
            term = st.sampled_from(sorted(vocab[t.category or ""]))
            return st.lists(term, max_size=3) if t.kind == "terms" else term
        return st.integers(0, 40)
    findings = st.fixed_dictionaries({}, optional={
        name: value(t) for name, t in std.records["findings"].items()})
    treatment = st.sampled_from(sorted(vocab["treatment"]))
    history = st.lists(st.fixed_dictionaries(
        {"treatment": treatment},
        optional={"visits": st.integers(0, 40), "functional_improvement": maybe_bool,
                  "pain_relief_percent": st.integers(0, 100),
                  "body_region": st.sampled_from(sorted(vocab["body_region"]))}), max_size=3)
    surgeries = st.lists(st.fixed_dictionaries(
        {"procedure": st.sampled_from(sorted(vocab["procedure"]))},
        optional={"date": st.dates().map(lambda d: d.replace(year=2009 + d.year % 9)).map(str)}),
        max_size=2)
    request = st.fixed_dictionaries(
        {"id": st.just("1"), "treatment": treatment},
        optional={"visits": st.integers(0, 40), "phase": st.sampled_from(sorted(vocab["phase"])),
                  "body_region": st.sampled_from(sorted(vocab["body_region"])),
                  "drug": st.sampled_from(sorted(vocab["drug"])),
                  "daily_mme": st.integers(0, 200), "trial": st.booleans()})
    return st.fixed_dictionaries({
        "case_id": st.just("p"),
        "review_date": st.dates().map(lambda d: d.replace(year=2008 + d.year % 11)).map(str),
        "diagnoses": st.lists(st.sampled_from(CODES), max_size=3),
        "history": history, "surgeries": surgeries, "findings": findings,
        "requests": request.map(lambda r: [r]),
        "injury": st.fixed_dictionaries({"date": st.just("2008-06-01")}),
    })


def _outcome(ev: Evaluator, case: cases.Case) -> tuple:
    d = ev.evaluate(case, case.requests[0])
    return d.decision, d.certified, frozenset(r.rule for r in d.reasons)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=_case_strategy(), order_seed=st.randoms(use_true_random=False))
def test_permuting_rules_never_changes_a_determination(data, order_seed):
    case = cases.from_dict({k: v for k, v in data.items()}, "<generated>")
    for compiled in COMPILED:
        assert compiled.ok and compiled.ir is not None
        rules = list(compiled.ir.rules)
        order_seed.shuffle(rules)
        shuffled = Evaluator(graph.build(records.replace(compiled.ir, rules=tuple(rules))))
        assert _outcome(compiled.evaluator, case) == _outcome(shuffled, case), compiled.path


def test_the_property_sees_overrides_written_before_their_target():
    # The library itself has exceptions written before and after the rules they override;
    # the property above must exercise both directions to mean anything.
    after = 0
    for compiled in COMPILED:
        names = [r.name for r in compiled.ir.rules]
        for i, r in enumerate(compiled.ir.rules):
            for target in r.overrides:
                after += names.index(target) < i
    assert after > 0  # shuffling puts each of these before its target in about half the runs


def test_the_plan_read_from_the_model_is_the_plan_the_graph_encodes():
    # Evaluation follows `plan_of(ir)` (no graph library loaded); the graph's flow and
    # overrides edges must say the same, in the same order, for every guideline shipped.
    shipped = [pipeline.compile_file(f) for f in pipeline.find_guidelines([str(ROOT / "guidelines"),
                                                                           str(ROOT / "examples")])]
    checked = 0
    for compiled in shipped:
        if compiled.kind != "guideline" or compiled.ir is None or not compiled.ok:
            continue
        assert graph.plan_of(compiled.ir) == graph.plan(graph.build(compiled.ir)), compiled.path
        checked += 1
    assert checked >= 39
    # And a rule that overrides two others, written before them, the other way round.
    c = pipeline.compile_source(
        'guideline t.x "T"\n  source "Doc" pp. 1-2\n'
        "  applies when request.treatment in {physical_therapy}\n"
        "limit a overrides b, c allow 5 visits cite p. 1\n"
        "limit b allow 10 visits cite p. 1\n"
        "require c must findings.home_exercise_program cite p. 1\n", "t.gl")
    assert c.ok, c.render_diagnostics()
    p = graph.plan_of(c.ir)
    assert p == graph.plan(graph.build(c.ir))
    assert [n for n, _ in p.rules] == ["rule:a", "rule:b", "rule:c"]
    assert p.overridden_by == ((), ("a",), ("a",))
