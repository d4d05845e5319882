"""`pretrain` under torchrun (DDP, 2 gloo processes on the CPU): with the same global batch and
random state, every step's loss equals one process's for each method (MoCo: shuffle BN and
keys across ranks; SimCLR: global BatchNorm and NT-Xent over the gathered batch); a checkpoint
written by 2 ranks resumes in one process as if never interrupted; the command runs an epoch
end to end under torchrun, and ranks with different options stop before anything is written."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_pretrainer import MILD, smooth_images

from hume_ssl.data.images import channel_stats
from hume_ssl.pretrain.config import PretrainConfig
from hume_ssl.pretrain.trainer import Pretrainer

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
METHODS = ("mocov2", "simclr")


def _cfg(method, **kw):
    # BatchNorm groups of 4 images of 16 px: groups of 2 (or 1 x 1 maps) make the loss
    # chaotic, a 1e-7 change of the weights moving the second step's loss by percents
    moco = dict(queue_size=64, bn_splits=4) if method == "mocov2" else {}  # (simclr: none)
    base = dict(method=method, epochs=1, batch_size=16, device="cpu", log_every=1, knn_every=1,
                knn_neighbors=5, checkpoint_every=10**6, view=MILD, random_state=3, **moco)
    return PretrainConfig(**{**base, **kw}).resolve()


def _trainer(out, cfg):
    x = smooth_images(64, size=16)
    y = np.arange(64) % 4
    mean, std = channel_stats(x)
    return Pretrainer(cfg, x, out, mean, std, train_labels=y, test_images=x[:16],
                      test_labels=y[:16])


def _losses(out):
    with open(Path(out) / "metrics.csv") as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f) if r["loss"]]


def _stop_at(tr, step, snapshot, signalled=True):
    """Run `tr` to the log of `step` and stop there as SIGTERM would (checkpoint, then
    KeyboardInterrupt), saving the model's state after step 1 to `snapshot`. Under torchrun
    only rank 0 gets the signal (`signalled`); the ranks agree on it at the log step."""

    def on_log(event, info):
        if event == "log" and info["step"] == 1:
            torch.save(tr.model.state_dict(), snapshot)
        if event == "log" and info["step"] == step:
            tr.request_stop()

    if signalled:
        tr.callback = on_log
    try:
        tr.fit()
    except KeyboardInterrupt:
        pass
    assert tr.step == step, tr.step


def _ddp_worker(rank, world, port, out_dir):
    """Each method on 2 processes, stopped after 2 of the epoch's 4 steps."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    for method in METHODS:
        out = Path(out_dir) / method
        _stop_at(_trainer(out, _cfg(method)), 2, out / "step1.pt", signalled=rank == 0)
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _same_to_rounding(one: dict, two: dict, init: dict, method: str, most: float,
                      median: float) -> None:
    """Every tensor of `two` is `one`'s to `most` of its change from `init`, and the median
    tensor to `median` of it: a gradient of half the batch would be off in most tensors by
    about their change."""
    ratios = []
    for k, v in one.items():
        moved = (v.double() - init[k].double()).abs().max().item()
        err = (two[k].double() - v.double()).abs().max().item()
        assert err <= 1e-6 + most * moved, (method, k, err, moved)
        if moved > 0:
            ratios.append(err / moved)
    assert np.median(ratios) < median, (method, np.median(ratios))


def test_two_processes_equal_one_and_resume_in_one(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, join=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for method in METHODS:
            one, two = tmp_path / "one" / method, tmp_path / "two" / method
            _stop_at(_trainer(one, _cfg(method)), 2, one / "step1.pt")
            a, b = np.array(_losses(one)), np.array(_losses(two))
            assert b[:, 0].tolist() == [1, 2]  # rank 0 wrote each step once
            # the first steps' losses: the whole batch's, as one process computes it (the
            # second step's from weights equal to rounding: SimCLR's gave 1.5e-5 relative once)
            np.testing.assert_allclose(b[:1, 1], a[:1, 1], rtol=1e-5, atol=0, err_msg=method)
            np.testing.assert_allclose(b[1:, 1], a[1:, 1], rtol=1e-4, atol=0, err_msg=method)
            # after one step every weight, key and BN statistic is one process's, to rounding
            # of the step's own change: the gradient is the whole batch's (half of it would be
            # off by about the change itself, in every tensor). This toy loss is chaotic (a
            # 1e-7 change of the weights moves the 2nd step's gradient by percents), and a unit
            # on a ReLU's edge can flip with rounding: on an AMD EPYC (torch 2.14) SimCLR's
            # weights differed by up to 2% of their change in one or two tensors, a different
            # one from run to run, and by about 2e-6 of it in the median tensor (MoCo: 0.3%,
            # 1e-7); after 2 steps by up to 22% (MoCo 4%) and 7e-4 in the median (MoCo 1e-7).
            init = _trainer(tmp_path / "init" / method, _cfg(method)).model.state_dict()
            sa, sb = (torch.load(d / "step1.pt") for d in (one, two))
            _same_to_rounding(sa, sb, init, method, most=0.1, median=1e-4)
            # the 2 ranks' checkpoint (step 2) holds one process's state, to float drift
            ca, cb = (torch.load(d / "checkpoint.pt", weights_only=False) for d in (one, two))
            assert cb["world_size"] == 2 and ca["queue_ptr"] == cb["queue_ptr"]
            assert torch.equal(ca["generator"], cb["generator"])
            assert torch.equal(ca["order"], cb["order"])
            _same_to_rounding(ca["model"], cb["model"], init, method, most=0.5, median=1e-2)
            # ... and resumes in one process: steps 3-4 as the one-process run's own resume
            _trainer(one, _cfg(method)).fit(resume=True)
            _trainer(two, _cfg(method)).fit(resume=True)
            a, b = np.array(_losses(one)), np.array(_losses(two))
            assert b[:, 0].tolist() == [1, 2, 3, 4]
            np.testing.assert_allclose(b[2:, 1], a[2:, 1], rtol=1e-2, atol=0, err_msg=method)
    finally:
        torch.set_num_threads(threads)


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]),
                                         env.get("PYTHONPATH", "")])
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    return env


@pytest.fixture
def toy_npz(tmp_path):
    for split, n, seed in (("train", 32, 0), ("test", 8, 1)):
        np.savez(tmp_path / f"toy_{split}.npz", images=smooth_images(n, seed=seed),
                 labels=np.arange(n) % 4)
    return f"npz:{tmp_path}/toy_{{split}}.npz"


def _pretrain_args(dataset, out, *extra, method="mocov2"):
    bn = ["--bn-splits", "4"] if method == "mocov2" else []  # simclr refuses it: no shuffle BN
    return ["-m", "hume_ssl", "pretrain", dataset, "--out", str(out), "--epochs", "1",
            "--batch-size", "8", *bn, "--device", "cpu", "--knn-every", "1",
            "--method", method, *extra]


@pytest.mark.slow
def test_torchrun_pretrain_runs_an_epoch_end_to_end(tmp_path, toy_npz):
    for method in METHODS:
        out = tmp_path / method
        res = subprocess.run(TORCHRUN + _pretrain_args(toy_npz, out, method=method),
                             capture_output=True, text=True, env=_env(), timeout=600)
        assert res.returncode == 0, res.stderr + res.stdout
        assert res.stdout.count("4 steps (1.0 epochs)") == 1  # rank 0 prints
        for f in ("config.json", "metrics.csv", "metrics.json", "checkpoint.pt", "backbone.pt",
                  "backbone.json"):
            assert (out / f).is_file(), f
        assert torch.load(out / "checkpoint.pt", weights_only=False)["world_size"] == 2


def test_ranks_with_different_options_stop_and_write_nothing(tmp_path, toy_npz):
    script = tmp_path / "odd.py"
    args = _pretrain_args(toy_npz, tmp_path / "run")[2:]
    script.write_text(
        "import os, sys\n"
        "from hume_ssl.cli.app import main\n"
        "lr = '0.1' if os.environ['RANK'] == '0' else '0.2'  # rank 1: another --lr\n"
        f"sys.argv = ['hume-ssl', *{args!r}, '--lr', lr]\n"
        "main()\n"
    )
    res = subprocess.run(TORCHRUN + [str(script)], capture_output=True, text=True, env=_env(),
                         timeout=300)
    assert res.returncode != 0
    out = res.stderr + res.stdout
    assert out.count("disagree on the images and options") == 2, out  # both ranks stop
    assert "{'lr': 0.2} vs {'lr': 0.1}" in out
    assert not (tmp_path / "run").exists()


def test_bn_splits_must_divide_over_the_processes():
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.pretrain.methods import METHODS as REGISTRY

    with pytest.raises(HumeSSLError, match="--bn-splits 6"):
        REGISTRY["mocov2"].build(_cfg("mocov2", bn_splits=4, batch_size=24), world=3)
