"""The command line as users launch it: `hume-ssl` and `python -m hume_ssl.cli` (torchrun)."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hume_ssl.cli import app

COMMANDS = ("label", "features", "seed", "export", "pretrain", "train-fixmatch", "predict")


def test_python_dash_m_runs_the_app():
    out = subprocess.run([sys.executable, "-m", "hume_ssl.cli", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for cmd in COMMANDS:
        assert cmd in out.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(cmd):
    res = CliRunner().invoke(app, [cmd, "--help"])
    assert res.exit_code == 0, res.output
