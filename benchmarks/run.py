"""Benchmarks: guidec evaluation vs a hand-written function; compile vs the bare Lark parse.

Both sides of each ratio are measured in the same run, interleaved and repeated, and the best
repetition of each is kept: machines here are shared and noisy, so only ratios are reported.

    python benchmarks/run.py            # 100,000 cases, a 2,000-rule guideline
    python benchmarks/run.py --quick    # smaller, for a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).parent))

import gen  # noqa: E402
import handwritten  # noqa: E402

from guidec.compiler.model import cases  # noqa: E402

from guidec.compiler import pipeline
from guidec.dsl import parser as dslparser  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GUIDELINE = ROOT / "guidelines/mtus/chronic_pain/physical_medicine.gl"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def generated_guideline(rules: int) -> str:
    lines = ['guideline bench.generated "Generated"', '  effective 2009-07-18',
             '  source "Benchmark guideline" pp. 1-2',
             '  applies when request.treatment in {physical_therapy}',
             'valueset vs "codes" = icd10 {M54.1*, M79.2}',
             'define prior "prior visits" = sum history[treatment in {physical_therapy}].visits']
    for i in range(rules):
        kind = i % 3
        if kind == 0:
            lines.append(f'limit cap_{i} "cap {i}"\n  when any diagnosis in vs and prior > {i % 7}\n'
                         f'  allow {10 + i % 20} visits over 4 weeks\n  counting prior\n'
                         f'  otherwise "with {{prior}} done, {{requested}} exceed the cap"\n  cite p. {i % 200 + 1}')
        elif kind == 1:
            lines.append(f'require req_{i} "requirement {i}"\n  when prior > {i % 5}\n'
                         f'  must findings.home_exercise_program or findings.functional_improvement\n'
                         f'  otherwise "not documented"\n  cite pp. {i % 90 + 1}-{i % 90 + 2}')
        else:
            lines.append(f'deny deny_{i} "exclusion {i}"\n  when findings.maintenance_care and '
                         f'patient.age > {18 + i % 60}\n  because "maintenance care"\n  cite p. 3')
    return "\n".join(lines) + "\n"


def bench_eval(n: int, repeat: int) -> float:
    raw = gen.generate(n)
    norm = [cases.from_dict(c) for c in raw]
    pairs = [(c, c.requests[0]) for c in norm]
    ev = pipeline.compile_file(GUIDELINE).evaluator
    disagree = sum(1 for c, r in pairs
                   if (lambda a, d: (a[0], a[1], [x[0] for x in a[2]])
                       != (d.decision, d.certified, [x.rule for x in d.reasons]))(
                           handwritten.review(c, r), ev.evaluate(c, r)))
    def run_hand() -> None:
        for c, r in pairs:
            handwritten.review(c, r)

    def run_guidec() -> None:
        evaluate = ev.evaluate
        for c, r in pairs:
            evaluate(c, r)

    hand = guidec = float("inf")
    for _ in range(repeat):  # interleave so that load on the machine hits both sides alike
        hand = min(hand, best_of(run_hand, 1))
        guidec = min(guidec, best_of(run_guidec, 1))
    print(f"evaluation, {n:,} physical-therapy cases (best of {repeat}):")
    print(f"  hand-written function  {n / hand:>12,.0f} cases/s")
    print(f"  guidec                 {n / guidec:>12,.0f} cases/s")
    print(f"  decisions that differ  {disagree:>12,}")
    ratio = hand / guidec
    print(f"  ratio guidec / hand-written throughput: {ratio:.2f} (target >= 0.33)")
    return ratio


def bench_compile(rules: int, repeat: int) -> float:
    from guidec.compiler.model import check, graph
    from guidec.dsl.diagnostics import Sink

    source = generated_guideline(rules)
    lark = dslparser._lark()
    tree = lark.parse(source, start="start")
    ast = dslparser._Builder("bench.gl", Sink()).build(tree)
    model = check.check(ast, Sink())
    phases = {"parse": float("inf"), "ast": float("inf"), "check": float("inf"),
              "graph": float("inf")}
    for _ in range(repeat):
        phases["parse"] = min(phases["parse"], best_of(lambda: lark.parse(source, start="start"), 1))
        phases["ast"] = min(phases["ast"], best_of(
            lambda: dslparser._Builder("bench.gl", Sink()).build(tree), 1))
        phases["check"] = min(phases["check"], best_of(lambda: check.check(ast, Sink()), 1))
        phases["graph"] = min(phases["graph"], best_of(lambda: graph.build(model), 1))
    compiled = pipeline.compile_source(source, "bench.gl")
    assert compiled.ok, compiled.render_diagnostics()
    print(f"compile, generated guideline with {rules:,} rules (best of {repeat}):")
    for name, label in (("parse", "bare Lark parse"), ("ast", "parse tree -> AST"),
                        ("check", "checks -> IR"), ("graph", "decision graph")):
        print(f"  {label:<22} {phases[name] * 1000:>9.1f} ms")
    print(f"  graph nodes            {compiled.graph.number_of_nodes():>9,}")
    ratio = (phases["check"] + phases["graph"]) / phases["parse"]
    total = sum(phases.values()) / phases["parse"]
    print(f"  ratio (checks + graph) / parse: {ratio:.2f} (target <= 1.00); "
          f"whole compile / parse: {total:.2f}")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 cases and 500 rules")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    bench_eval(10_000 if args.quick else 100_000, args.repeat)
    bench_compile(500 if args.quick else 2_000, min(args.repeat, 3))


if __name__ == "__main__":
    main()
