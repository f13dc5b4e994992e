"""Cold start: `guidec check` of one guideline and `guidec --help` as new processes, against
`python -c pass` in the same interpreter; 7 alternating runs each, medians, ratios printed.

    .venv/bin/python benchmarks/cold_start.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PM = ROOT / "guidelines" / "mtus" / "chronic_pain" / "physical_medicine.gl"
RUNS = 7

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "guidec --help": [sys.executable, "-m", "guidec", "--help"],
    "guidec check (one file)": [sys.executable, "-m", "guidec", "check", str(PM)],
    "guidec check --no-analysis": [sys.executable, "-m", "guidec", "check", "--no-analysis",
                                   str(PM)],
}


def main() -> None:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    subprocess.run(COMMANDS["guidec check (one file)"], capture_output=True, cwd=ROOT)  # warm
    for _ in range(RUNS):  # alternate, so machine noise falls on every command alike
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:30s} median {med * 1000:7.1f} ms   ratio to python -c pass {med / base:5.1f}x")


if __name__ == "__main__":
    main()
