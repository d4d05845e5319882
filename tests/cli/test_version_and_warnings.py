"""`--version`, `python -m hume_ssl`, and our warnings as one clean line."""

import runpy
import sys
import warnings

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hume_ssl import __version__
from hume_ssl.cli import app


def test_version_names_the_package_and_torch():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"hume-ssl {__version__} (torch {torch.__version__}")


def test_the_version_is_the_one_pyproject_declares():
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M).group(1) == __version__


def test_python_dash_m_hume_ssl_runs_the_app(monkeypatch, capsys):
    """`python -m hume_ssl` (run in-process: a fresh interpreter costs seconds)."""
    monkeypatch.setattr(sys, "argv", ["hume_ssl", "--version"])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("hume_ssl", run_name="__main__")
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"hume-ssl {__version__}")


def test_our_warnings_are_one_line_naming_the_real_backbone(tmp_path, monkeypatch):
    """Before: `.../extract.py:171: UserWarning: ... (a few images/s for a ViT-B)` and the
    source line, while extracting SqueezeNet."""
    from torch import nn

    import hume_ssl.features.extract as F

    monkeypatch.setattr(F, "CPU_WARN_IMAGES", 1)
    monkeypatch.setattr(F, "load_backbone", lambda b, device="cpu", **k: nn.Flatten())
    np.savez(tmp_path / "d.npz", images=np.zeros((3, 4, 4, 3), np.uint8))
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored after
    with pytest.warns(UserWarning) as rec:
        res = CliRunner().invoke(app, ["features", f"npz:{tmp_path / 'd.npz'}", "--backbone",
                                       "torchvision:squeezenet1_1", "--random-init",
                                       "--device", "cpu", "--num-workers", "0", "--input-size",
                                       "16", "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    shown = [warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
             for w in rec if "on the CPU" in str(w.message)]  # as the CLI prints them
    assert shown == ["warning: extracting 3 images with torchvision:squeezenet1_1 on the CPU can "
                     "take a long time; use --device cuda if you have a GPU.\n"]
