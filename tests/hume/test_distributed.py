"""torchrun: 2 gloo processes on the CPU give exactly the one-process result, and ranks that
hold different inputs stop before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # torchrun sets 1 thread per process: the reference uses it too
    env.pop("RANK", None), env.pop("WORLD_SIZE", None), env.pop("LOCAL_RANK", None)
    return env


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 60)
    z = rng.normal(size=(4, 8))[y] * 2 + rng.normal(size=(240, 8))
    paths = []
    for v, d in enumerate((12, 16)):
        p = tmp_path / f"phi{v + 1}.npy"
        np.save(p, (z @ rng.normal(size=(8, d))).astype(np.float16))  # float16: kept as is
        paths.append(str(p))
    return paths


def _label(cmd_prefix, features, out, extra=()):
    args = ["-m", "hume_ssl", "label", "--phi1", features[0], "--phi2", features[1],
            "--out", str(out), "--k", "4", "--restarts", "20", "--steps", "12", "--device", "cpu",
            "--seed", "3", *extra]
    prefix = cmd_prefix if cmd_prefix else [sys.executable]
    return subprocess.run(prefix + args, capture_output=True, text=True, env=_env(), timeout=300)


def test_two_gloo_processes_equal_one(tmp_path, features):
    one = _label(None, features, tmp_path / "one")
    assert one.returncode == 0, one.stderr
    two = _label(TORCHRUN, features, tmp_path / "two")
    assert two.returncode == 0, two.stderr + two.stdout
    for name in ("labelings.npy", "labels.npy", "agreement.npy", "scores.npy", "encoders.npy",
                 "margins.npy"):
        a, b = np.load(tmp_path / "one" / name), np.load(tmp_path / "two" / name)
        assert np.array_equal(a, b), name  # exactly, not approximately
    # both ranks trained: 20 restarts = lanes 0, 1, 2 -> rank 0 has lanes 0 and 2, rank 1 lane 1
    chunks = sorted((tmp_path / "two" / "chunks").glob("restarts_*.npz"))
    trained = sorted(np.load(p)["restarts"].tolist() for p in chunks)
    assert trained == [list(range(8)) + list(range(16, 20)), list(range(8, 16))], trained


def test_ranks_with_different_inputs_stop_and_write_nothing(tmp_path, features):
    script = tmp_path / "rank_inputs.py"
    script.write_text(
        "import os, sys\n"
        "from hume_ssl.cli.app import main\n"
        "rank = int(os.environ['RANK'])\n"
        f"phi = {features!r}\n"
        "if rank == 1: phi = phi[::-1]  # rank 1 swaps the spaces: other inputs\n"
        "sys.argv = ['hume-ssl', 'label', '--phi1', phi[0], '--phi2', phi[1], '--out',"
        f" {str(tmp_path / 'run')!r}, '--k', '4', '--restarts', '8', '--steps', '3',"
        " '--device', 'cpu']\n"
        "main()\n"
    )
    res = subprocess.run(TORCHRUN + [str(script)], capture_output=True, text=True, env=_env(),
                         timeout=300)
    assert res.returncode != 0
    assert "disagree on the inputs" in res.stderr + res.stdout
    assert not (tmp_path / "run").exists()
