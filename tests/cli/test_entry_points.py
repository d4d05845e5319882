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


def test_ctrl_c_says_where_the_work_is_and_how_to_resume(tmp_path, monkeypatch):
    import numpy as np

    import hume_ssl.hume.run as run

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "label_run", interrupted)
    np.save(tmp_path / "a.npy", np.zeros((4, 2), np.float32))
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["label", "--phi1", str(tmp_path / "a.npy"), "--phi2",
                                   str(tmp_path / "a.npy"), "--out", str(out), "--k", "2"])
    assert res.exit_code == 130
    assert f"kept in {out}" in res.output and "run the same command again" in res.output
