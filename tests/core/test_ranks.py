"""core.distributed without a process group: the commands that refuse torchrun, and what the
other ranks print. (Named apart from tests/hume/test_distributed.py: pytest imports test files
by their base name. The collectives under torchrun: tests/features, tests/hume, tests/pretrain
and tests/fixmatch `*distributed*`/`torchrun` tests.)"""

import importlib
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from hume_ssl.cli.app import app
from hume_ssl.core.errors import HumeSSLError

cli_app = importlib.import_module("hume_ssl.cli.app")  # (hume_ssl.cli.app is the Typer app)
cli_options = importlib.import_module("hume_ssl.cli.options")
seeds_run = importlib.import_module("hume_ssl.seeds.run")


@pytest.mark.parametrize("args", [["demo", "--quick"], ["predict", "digits", "--model", "M"],
                                  ["export", "S", "--format", "csv"]])
def test_demo_predict_and_export_refuse_several_processes_before_any_work(tmp_path, args):
    """Before: under torchrun `demo` crashed on rank 1 (KeyError) and `predict`/`export` did all
    their work on every rank, each writing the same files and printing the same lines."""
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o")],
                             env={"WORLD_SIZE": "2", "RANK": "1"})
    assert res.exit_code == 2, res.output
    assert f"`{args[0]}` runs in one process: start it without torchrun" in res.output
    assert not (tmp_path / "o").exists()


def test_only_rank_0_logs_and_warns(tmp_path, monkeypatch):
    """Before: `seed`'s log lines (features, HUME, --k auto's rows), every warning and the
    note on a renamed option were printed once per rank under torchrun."""
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(30, 4)).astype(np.float32))
    np.save(b, rng.normal(size=(30, 4)).astype(np.float32))
    args = ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "3", "--restarts", "2",
            "--steps", "2", "--knn", "5", "--memory-budget-gb", "4"]  # (an old name: a note)
    out, caught = {}, {}
    for rank in (0, 1):  # the command line as rank `rank` sees itself (the run: one process)
        fake = SimpleNamespace(rank=lambda r=rank: r, is_main=lambda r=rank: r == 0,
                               init=lambda device: False)
        for module in (cli_app, cli_options, seeds_run):
            monkeypatch.setattr(module, "distributed", fake)
        res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / str(rank))])
        assert res.exit_code == 0, res.output
        out[rank] = res.output
        with warnings.catch_warnings(record=True) as caught[rank]:
            warnings.simplefilter("always")
            cli_app._root(version=False)  # what every command runs first
            warnings.warn("a warning of the run", stacklevel=1)
    assert "HUME: 2 restarts, k=3, N=30" in out[0] and "--memory-budget-gb is now" in out[0]
    assert "HUME: 2 restarts" not in out[1] and "--memory-budget-gb is now" not in out[1]
    assert len(caught[0]) == 1 and caught[1] == []


def test_one_process_refuses_only_under_several():
    from hume_ssl.core.distributed import one_process

    one_process("x", "why")  # no torchrun: nothing to say
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORLD_SIZE", "3")
        with pytest.raises(HumeSSLError, match=r"`x` runs in one process: .*\(why\)"):
            one_process("x", "why")
