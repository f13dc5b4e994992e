"""Cold start: guidec commands as new processes against `python -c pass` in the same
interpreter; 7 alternating runs each, medians, ratios printed.

    .venv/bin/python benchmarks/cold_start.py

Measured:
  - `guidec --help`;
  - `guidec check` of one guideline that is unchanged since the last check (its findings are
    read from guidec's cache: the common case of a library checked on every save or commit);
  - `guidec check` of one guideline just edited (a copy of it gains a comment before each run,
    so it is parsed, checked and tested afresh; everything else is as a user has it: the
    parser's tables, the declarations and the solver's findings for the same logic in the
    cache, so the solver does not run);
  - the same file with its logic edited (a definition not used before is added before each
    run: the solver runs too);
  - the comment edit with `--no-analysis`.
guidec's own modules are compiled to bytecode first, as an installed wheel has them (a
checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile them in every process).

The checkout's venv holds guidec as an editable install, whose path hook makes every process
of that venv import pathlib and more at start (about 13 ms of its `python -c pass`). To measure
guidec as a user installs it, give another interpreter with guidec installed from the wheel:

    python3 -m venv /tmp/v && /tmp/v/bin/pip install . && \
        .venv/bin/python benchmarks/cold_start.py --python /tmp/v/bin/python
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PM = Path("mtus") / "chronic_pain" / "physical_medicine.gl"
RUNS = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter to measure (default: this one, the checkout's)")
    python = parser.parse_args().python
    if python == sys.executable:
        for part in ("guidec", "dsl", "compiler"):
            compileall.compile_dir(ROOT / part, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "guidelines"
        shutil.copytree(ROOT / "guidelines", lib)
        shutil.copytree(ROOT / "examples", Path(tmp) / "examples")  # the tests' case files
        edited = lib / PM
        text = edited.read_text("utf-8")
        guidec = [python, "-m", "guidec"]
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "guidec --help": [*guidec, "--help"],
            "guidec check (unchanged file)": [*guidec, "check", str(ROOT / "guidelines" / PM)],
            "guidec check (edited file)": [*guidec, "check", str(edited)],
            "guidec check (logic edited)": [*guidec, "check", str(edited)],
            "  ... --no-analysis": [*guidec, "check", "--no-analysis", str(edited)],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        # Run outside the checkout, so that only the interpreter's own guidec is imported.
        subprocess.run(commands["guidec check (unchanged file)"], capture_output=True,
                       cwd=tmp, check=True)  # the cache as a user has it
        for i in range(RUNS):  # alternate, so machine noise falls on every command alike
            for name, cmd in commands.items():
                if "logic" in name:  # a definition the file never had: a new logic
                    edited.write_text(f'{text}\ndefine edit_{i} "an edit" = {i}\n', "utf-8")
                elif "edited" in name or "..." in name:
                    edited.write_text(f"{text}\n# edit {i} {name}\n", "utf-8")
                start = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, cwd=tmp, check=False)
                times[name].append(time.perf_counter() - start)
                if done.returncode != 0:
                    raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout.decode()}"
                                     f"{done.stderr.decode()}")
    base = statistics.median(times["python -c pass"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:30s} median {med * 1000:7.1f} ms   ratio to python -c pass {med / base:5.1f}x")


if __name__ == "__main__":
    main()
