"""A recipe ends a HumeSSLError like the commands do: one line, exit 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a fresh interpreter imports torch, sklearn and the package
def test_end_to_end_recipe_error_is_one_line_and_exit_2(tmp_path):
    r = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "cifar10_end_to_end.py"), "--shared",
         str(tmp_path / "no-data"), "--out", str(tmp_path / "e2e"), "--subset", "8",
         "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1
