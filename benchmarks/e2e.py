"""End to end: `guidec review cases.jsonl --format jsonl` against the hand-written script that
parses the same file, decides the same guideline and writes a line per request
(benchmarks/handwritten.py). guidec runs with one job and with every core; the runs alternate
(hand-written, guidec 1 job, guidec all jobs, again...) so machine noise falls on each alike,
and the medians are compared. The processor time of each run (user and system, the workers'
included) is printed beside it: on a shared machine it moves less than the wall clock.
Every decision, certified quantity and reason rule of guidec's
output is checked against the hand-written script's before any time is reported.

    .venv/bin/python benchmarks/e2e.py                 # 100,000 cases, 3 rounds
    .venv/bin/python benchmarks/e2e.py --cases 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import gen  # noqa: E402
import runs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GUIDEC = [sys.executable, "-m", "guidec"]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _timed(cmd: list[str], out: Path) -> tuple[float, float]:
    """Wall-clock seconds, and the processor seconds (user and system) of the command and
    every process it waited for (its workers)."""
    took, usage = runs.timed(cmd, out)
    return took, usage.ru_utime + usage.ru_stime


def _decisions(path: Path) -> list[tuple[str, str, str, int | None, list[str]]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            out.append((r["case_id"], r["request"], r["decision"], r["certified"],
                        [x["rule"] for x in r["reasons"]]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cores = _cores()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases = d / "cases.jsonl"
        with cases.open("w", encoding="utf-8") as fh:
            for case in gen.generate(args.cases):
                fh.write(json.dumps(case) + "\n")
        runs = {
            "hand-written script": [sys.executable, str(ROOT / "benchmarks" / "handwritten.py"),
                                    str(cases)],
            "guidec, 1 job": [*GUIDEC, "review", str(cases), "--library", "guidelines",
                              "--format", "jsonl", "--jobs", "1"],
            f"guidec, {cores} jobs": [*GUIDEC, "review", str(cases), "--library", "guidelines",
                                      "--format", "jsonl", "--jobs", str(cores)],
        }
        outs = {name: d / f"out{i}.jsonl" for i, name in enumerate(runs)}
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for name, cmd in runs.items():  # a first run of each: warm caches, check agreement
            _timed(cmd, outs[name])
        want = _decisions(outs["hand-written script"])
        for name in list(runs)[1:]:
            got = _decisions(outs[name])
            differ = sum(a != b for a, b in zip(want, got)) + abs(len(want) - len(got))
            print(f"{name}: {len(got):,} records, {differ} differ from the hand-written "
                  "script's (decision, certified, reason rules)")
            if differ:
                raise SystemExit("the decisions differ: no time is reported")
        for _ in range(args.rounds):
            for name, cmd in runs.items():
                took, used = _timed(cmd, outs[name])
                times[name].append(took)
                cpu[name].append(used)
    base = statistics.median(times["hand-written script"])
    one = statistics.median(times["guidec, 1 job"])
    print(f"\n{args.cases:,} JSON Lines cases, median of {args.rounds} alternating rounds "
          f"({cores} cores):")
    base_cpu = statistics.median(cpu["hand-written script"])
    for name, ts in times.items():
        med, used = statistics.median(ts), statistics.median(cpu[name])
        print(f"  {name:22s} {med:7.2f} s  {args.cases / med:>9,.0f} cases/s  "
              f"{med / base:5.2f}x the hand-written script   processor {used:6.2f} s "
              f"({used / base_cpu:4.2f}x)")
    many = statistics.median(times[f"guidec, {cores} jobs"])
    print(f"  {cores} jobs against 1 job: {one / many:.2f}x faster")


if __name__ == "__main__":
    main()
