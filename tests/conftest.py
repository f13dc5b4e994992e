"""Shared helpers: the repository root, and running the real `guidec` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "imr-seed-pt-cervical.yaml"
PM = ROOT / "guidelines" / "mtus" / "chronic_pain" / "physical_medicine.gl"
# The real IMR corpus ships with the project (corpus/imr, a copy of shared/cases/imr).
IMR_CORPUS = ROOT / "corpus" / "imr"


def guidec(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a real process."""
    return subprocess.run([sys.executable, "-m", "guidec", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=600)


def checks_clean(tmp_path: Path, text: str, tests: int, name: str = "g.gl") -> str:
    """A guideline written to a file checks clean, and its embedded tests all pass; the
    check's output, for further assertions."""
    gl = tmp_path / name
    gl.write_text(text)
    r = guidec("check", str(gl))
    assert r.returncode == 0, r.stdout
    assert f"{tests} tests passed, 0 failed" in r.stdout
    return r.stdout


@pytest.fixture
def run():
    return guidec
