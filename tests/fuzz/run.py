"""The long fuzzing campaign (`make fuzz`): random edits of the library's guidelines and the
example cases, checked in-process against the properties of harness.py, on every core, for a
fixed time. Each failing input is written to the findings folder with what it broke.

    python tests/fuzz/run.py --minutes 30 --out fuzz-findings
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def _save(out: Path, kind: str, text: str, message: str) -> None:
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{kind}-{digest}.input").write_text(text, encoding="utf-8", errors="surrogatepass")
    (out / f"{kind}-{digest}.txt").write_text(message, encoding="utf-8")


def _dump(data: object) -> str:
    try:
        return json.dumps(data, default=str)
    except (RecursionError, ValueError):  # the deep-nesting inputs: describe, do not print
        return "<a value nested too deeply to write as JSON>"


def worker(seed: int, deadline: float, out: str, counts: "mp.Array[int]") -> None:
    rng = random.Random(seed)
    library = harness.library_texts()
    seeds = harness.seed_cases()
    harness.library()
    done = [0, 0, 0]  # guidelines, case data, case texts
    while time.monotonic() < deadline:
        for _ in range(50):
            roll = rng.random()
            kind, text = "", ""
            try:
                if roll < 0.04:
                    kind = "guideline"
                    path, seed_text = rng.choice(library)
                    text = harness.mutate_text(seed_text, rng)
                    harness.check_guideline(text, path, cases_to_run=1, rng=rng,
                                            analyse=rng.random() < 0.02)
                    done[0] += 1
                else:
                    kind = "case"
                    data = harness.mutate_case(rng.choice(seeds), rng)
                    text = _dump(data)
                    harness.check_case_data(data)
                    done[1] += 1
                    if rng.random() < 0.3:
                        kind = "casetext"
                        text, fmt = harness.case_text(data, rng)
                        harness.check_case_text(text, fmt)
                        done[2] += 1
            except Exception:  # noqa: BLE001 - every failure is a finding, written down
                _save(Path(out), kind, text, traceback.format_exc())
                with counts.get_lock():
                    counts[3] += 1
        with counts.get_lock():
            for i in range(3):
                counts[i] += done[i]
        done = [0, 0, 0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default="fuzz-findings")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    start = time.monotonic()
    deadline = start + args.minutes * 60
    counts = mp.Array("q", 4)
    procs = [mp.Process(target=worker, args=(seed + i, deadline, args.out, counts), daemon=True)
             for i in range(args.jobs)]
    for p in procs:
        p.start()
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        with Progress(TextColumn("fuzzing"), BarColumn(), TextColumn("{task.description}"),
                      TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("", total=args.minutes * 60)
            while any(p.is_alive() for p in procs):
                time.sleep(1)
                bar.update(task, completed=time.monotonic() - start,
                           description=f"{sum(counts[:3]):,} inputs, {counts[3]} findings")
    for p in procs:
        p.join()
    total = counts[0] + counts[1] + counts[2]
    print(f"fuzz: {total:,} inputs in {(time.monotonic() - start) / 60:.1f} min with "
          f"{args.jobs} jobs (seed {seed}): {counts[0]:,} guidelines, {counts[1]:,} cases as data, "
          f"{counts[2]:,} cases as JSON/YAML text; {counts[3]} findings"
          + (f" written to {args.out}/" if counts[3] else ""))
    return 1 if counts[3] else 0


if __name__ == "__main__":
    sys.exit(main())
