"""The SQL engines at scale: `guidec review cases.parquet --engine duckdb` on 1,000,000 and
10,000,000 physical-therapy cases, against the Python engine (every core) and the
hand-written script (benchmarks/handwritten.py) measured in the same run; Spark local on
1,000,000 with --spark. Cases per second, the ratios, and each engine's peak memory (the
largest resident set of the process, from the kernel).

The 100,000 cases of benchmarks/gen.py are the base; the million-case tables repeat them with
new case ids (DuckDB builds them from the Parquet of the 100,000). Before any time is
reported, DuckDB's records for the 100,000 are checked against the Python engine's: decision,
quantities, guideline and reasons (text included).

    .venv/bin/python benchmarks/sql.py                    # 1M and 10M on DuckDB
    .venv/bin/python benchmarks/sql.py --sizes 1000000 --spark
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import gen  # noqa: E402
import runs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GUIDEC = [sys.executable, "-m", "guidec"]
BASE = 100_000


def _timed(cmd: list[str], stdout: Path | None = None) -> tuple[float, float]:
    """Seconds and peak memory (MB) of a command run in a child."""
    took, usage = runs.timed(cmd, stdout)
    return took, usage.ru_maxrss / 1024


_REPEAT = """
import sys, duckdb
base, path, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
copies = -(-n // size)
target = "'" + path.replace("'", "''") + "'"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(
    "COPY (SELECT * REPLACE (case_no + k * ? AS case_no, case_id || '-' || k AS case_id) "
    "FROM read_parquet(?), range(?) AS t(k) WHERE case_no + k * ? < ?) TO " + target +
    " (FORMAT parquet)", [size, base, copies, size, n])
"""


def _tables(d: Path, sizes: list[int]) -> tuple[Path, dict[int, Path]]:
    cases = d / "cases.jsonl"
    with cases.open("w", encoding="utf-8") as fh:
        rng = random.Random(7)  # gen.generate(BASE), written as made: this process stays small
        for i in range(BASE):
            fh.write(json.dumps(gen.make_case(i, rng)) + "\n")
    base = d / "cases-100k.parquet"
    subprocess.run([*GUIDEC, "cases", "convert", str(cases), "-o", str(base)], check=True,
                   cwd=ROOT, stderr=subprocess.DEVNULL)
    out = {}
    for n in sizes:
        path = d / f"cases-{n}.parquet"
        # In a process of its own, so this one stays small: a child forked from a large
        # process would report the parent's memory as its own peak.
        subprocess.run([sys.executable, "-c", _REPEAT, str(base), str(path), str(n), str(BASE)],
                       check=True)
        out[n] = path
    return cases, out


def _agree(d: Path, cases: Path) -> None:
    """DuckDB's records for the 100,000 against the Python engine's, before any timing."""
    sys.path.insert(0, str(ROOT))
    from guidec.compiler.evaluation.sql import differential
    py, sq = d / "py.jsonl", d / "sq.jsonl"
    subprocess.run([*GUIDEC, "review", str(cases), "--format", "jsonl"], stdout=py.open("wb"),
                   check=True, cwd=ROOT)
    subprocess.run([*GUIDEC, "review", str(cases), "--engine", "duckdb"], stdout=sq.open("wb"),
                   check=True, cwd=ROOT)
    load = lambda p: [json.loads(x) for x in p.read_text().splitlines()]  # noqa: E731
    n, bad, report = differential.differences(load(py), load(sq))
    print(f"agreement: {n:,} records of the Python and DuckDB engines, {bad} differ")
    if bad:
        raise SystemExit("the engines differ: no time is reported\n" + "\n".join(report))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--rounds", type=int, default=3, help="rounds for the 100,000-case runs")
    ap.add_argument("--spark", action="store_true", help="also Spark local on 1,000,000")
    args = ap.parse_args()
    lines: list[str] = []
    print = lines.append  # the figures are printed once the engines are shown to agree
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases, tables = _tables(d, sorted(set(args.sizes) | ({1_000_000} if args.spark
                                                               else set())))
        # The baselines on the 100,000, alternating rounds, medians.
        base_runs = {
            "hand-written script": [sys.executable, str(ROOT / "benchmarks" / "handwritten.py"),
                                    str(cases)],
            "python engine, all jobs": [*GUIDEC, "review", str(cases), "--format", "jsonl",
                                        "--jobs", "0"],
        }
        times: dict[str, list[float]] = {k: [] for k in base_runs}
        mem: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, cmd in base_runs.items():
                t, m = _timed(cmd, d / "base.out")
                times[name].append(t)
                mem[name] = max(mem.get(name, 0), m)
        rate = {k: BASE / statistics.median(v) for k, v in times.items()}
        print(f"\nbaselines on {BASE:,} JSON Lines cases (median of {args.rounds} rounds):")
        for k, r in rate.items():
            print(f"  {k:28s} {r:>10,.0f} cases/s   peak {mem[k]:,.0f} MB")
        print("\nDuckDB engine, Parquet in, Parquet out (one run each):")
        results = {}
        for n, table in sorted(tables.items()):
            if n not in args.sizes:
                continue
            t, m = _timed([*GUIDEC, "review", str(table), "--engine", "duckdb", "-o",
                           str(d / f"reviews-{n}.parquet")])
            results[n] = n / t
            print(f"  {n:>12,} cases {t:8.1f} s {n / t:>10,.0f} cases/s   peak {m:,.0f} MB   "
                  f"{results[n] / rate['hand-written script']:5.1f}x the hand-written script, "
                  f"{results[n] / rate['python engine, all jobs']:5.1f}x the Python engine")
        if len(results) > 1:
            sizes = sorted(results)
            print("  cases/s side by side: " + ", ".join(f"{n:,}: {results[n]:,.0f}"
                                                       for n in sizes) +
                  f" (ratio {results[sizes[-1]] / results[sizes[0]]:.2f}: 1.00 is linear)")
        if args.spark:
            n = 1_000_000
            t, m = _timed([*GUIDEC, "review", str(tables[n]), "--engine", "spark", "-o",
                           str(d / "reviews-spark.parquet")])
            print(f"\nSpark local[*], {n:,} cases: {t:.1f} s, {n / t:,.0f} cases/s, driver peak "
                  f"{m:,.0f} MB (the JVM's memory is its own), "
                  f"{n / t / rate['hand-written script']:.1f}x the hand-written script")
        _agree(d, cases)  # last, so this process is small while the engines are measured
    _report(lines)


def _report(lines: list[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")


if __name__ == "__main__":
    main()
