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


@pytest.fixture
def run():
    return guidec
