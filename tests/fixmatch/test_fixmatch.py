"""FixMatch: loss, schedule, resume, DDP math, run folder, bad inputs, predict, CLI."""

import json
import math
import os
import re
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import fit_until_interrupted

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.metrics import accuracy_interval
from hume_ssl.fixmatch.config import FixMatchConfig, bn_momentum_for, lr_at
from hume_ssl.fixmatch.ema import EMA
from hume_ssl.fixmatch.loss import fixmatch_loss, fixmatch_step
from hume_ssl.fixmatch.predict import predict_run
from hume_ssl.fixmatch.recipes import param_groups
from hume_ssl.fixmatch.run import train_fixmatch_run
from hume_ssl.fixmatch.trainer import FixMatchTrainer
from hume_ssl.models.wrn import build_model


def tiny_cfg(**kw):
    base = dict(arch="wrn10_1", steps=6, batch_size=4, mu=2, eval_every=3, log_every=1,
                checkpoint_every=3, device="cpu", tensorboard=False, ema_decay=0.9)
    base.update(kw)
    return FixMatchConfig(**base)


def toy_images(n, rng, size=16):
    y = rng.integers(0, 3, n)
    base = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])[y]
    img = base[:, None, None, :] + rng.normal(0, 25, (n, size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8), y.astype(np.int64)


@pytest.fixture()
def toy(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 90), ("test", 30)):
        x, y = toy_images(n, rng)
        np.savez(tmp_path / f"toy_{split}.npz", images=x, labels=y)
    y = np.load(tmp_path / "toy_train.npz")["labels"]
    idx = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(3)])
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    np.save(seeds / "indices.npy", idx)
    np.save(seeds / "pseudo_labels.npy", (y[idx] + 1) % 3)  # cluster ids: a permutation of truth
    meta = {"dataset": f"npz:{tmp_path}/toy_{{split}}.npz", "split": "train", "n_samples": 90,
            "order_hash": "", "k": 3, "class_names": ["r", "g", "b"]}
    (seeds / "seeds.json").write_text(json.dumps(meta))
    return tmp_path, seeds, idx, y


# ------------------------------------------------------------------ loss and schedule
def test_fixmatch_loss_on_hand_made_logits():
    logits_x = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    big, flat = 10.0, 0.1
    logits_uw = torch.tensor([[big, 0.0], [flat, 0.0], [0.0, big]])  # confident, unsure, confident
    logits_us = torch.tensor([[0.0, 0.0], [5.0, -5.0], [1.0, 0.0]])
    out = fixmatch_loss(logits_x, y, logits_uw, logits_us, threshold=0.95, lambda_u=2.0)
    assert out["mask"].tolist() == [1.0, 0.0, 1.0]
    assert out["pseudo"].tolist() == [0, 0, 1]
    want_u = (math.log(2.0) + 0.0 + F.cross_entropy(logits_us[2:], torch.tensor([1])).item()) / 3
    assert out["loss_u"].item() == pytest.approx(want_u, rel=1e-6)
    assert out["loss_x"].item() == pytest.approx(F.cross_entropy(logits_x, y).item())
    assert out["loss"].item() == pytest.approx(out["loss_x"].item() + 2.0 * want_u, rel=1e-6)
    # no gradient flows through the weak (pseudo-label) branch
    uw = logits_uw.clone().requires_grad_(True)
    us = logits_us.clone().requires_grad_(True)
    fixmatch_loss(logits_x, y, uw, us, 0.95, 1.0)["loss"].backward()
    assert uw.grad is None or uw.grad.abs().sum() == 0
    # threshold 1.0 + non-saturated probabilities: nothing passes
    assert fixmatch_loss(logits_x, y, logits_uw * 0, logits_us, 1.0, 1.0)["loss_u"].item() == 0.0


def test_fixmatch_step_splits_one_forward_and_its_loss_falls():
    """The step runs one forward of [labeled, weak, strong] and scores each slice as
    fixmatch_loss does; a few SGD steps on a separable toy problem lower its loss."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    y = torch.tensor([0, 1, 0, 1])
    xl = centres[y] + 0.1 * torch.randn(4, 2, generator=g)
    yu = torch.tensor([0, 1, 1, 0, 1, 0])
    xu = centres[yu] + 0.1 * torch.randn(6, 2, generator=g)
    x = torch.cat([xl, xu, xu + 0.3 * torch.randn(6, 2, generator=g)])  # (4 + 2 * 6, 2)
    net = torch.nn.Linear(2, 2)
    out = fixmatch_step(net, x, y, 4, 6, threshold=0.0, lambda_u=0.5)
    with torch.no_grad():
        logits = net(x)
    want = fixmatch_loss(logits[:4], y, logits[4:10], logits[10:], 0.0, 0.5)
    for key in ("loss", "loss_x", "loss_u", "mask", "pseudo"):
        assert torch.equal(out[key].detach(), want[key]), key
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    first = out["loss"].item()
    for _ in range(20):
        out = fixmatch_step(net, x, y, 4, 6, threshold=0.0, lambda_u=0.5)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert out["loss"].item() < 0.5 * first
    assert out["pseudo"].tolist() == yu.tolist()  # the weak views' labels follow the clusters


def test_every_setting_carries_its_help():
    import dataclasses

    bare = [f.name for f in dataclasses.fields(FixMatchConfig) if not f.metadata.get("help")]
    assert bare == []


def test_schedule_and_weight_decay_groups():
    cfg = FixMatchConfig(steps=100, lr=0.03)
    assert lr_at(cfg, 0) == pytest.approx(0.03)
    assert lr_at(cfg, 100) == pytest.approx(0.03 * math.cos(7 * math.pi / 16))
    groups = param_groups(build_model("wrn10_1", 3), 5e-4)
    assert groups[0]["weight_decay"] == 5e-4 and all(p.ndim > 1 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.ndim == 1 for p in groups[1]["params"])


def test_short_runs_settle_bn_statistics_and_ema():
    assert bn_momentum_for(FixMatchConfig()) == 0.001  # the paper's value on the full schedule
    assert bn_momentum_for(FixMatchConfig(steps=10_000)) == pytest.approx(0.001)
    assert bn_momentum_for(FixMatchConfig(steps=200)) == pytest.approx(0.05)
    ema = EMA(torch.nn.Linear(2, 2), 0.999)
    assert ema.decay_at(0) == pytest.approx(0.1) and ema.decay_at(10**6) == 0.999
    assert EMA(torch.nn.Linear(2, 2), 0.999, warmup=False).decay_at(0) == 0.999


def test_unlabeled_loss_beats_supervised_alone_on_few_labels(tmp_path):
    """8x8 digits, 2 labels per class, ~1,280 unlabeled: same budget, lambda_u 1 vs 0."""
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    d = load_digits()
    x = np.repeat((d.images / 16 * 255).astype(np.uint8)[..., None], 3, -1)  # (1797, 8, 8, 3)
    perm = np.random.default_rng(0).permutation(len(x))
    tr, te = perm[:1300], perm[1300:]
    y = d.target[tr]
    draw = np.random.default_rng(0)
    lab = np.concatenate([draw.choice(np.flatnonzero(y == c), 2, replace=False) for c in range(10)])
    unl = np.setdiff1d(np.arange(len(tr)), lab)
    acc = {}
    for lambda_u in (1.0, 0.0):
        cfg = FixMatchConfig(arch="wrn10_1", steps=600, batch_size=16, mu=4, threshold=0.8,
                             lambda_u=lambda_u, eval_every=600, log_every=600,
                             checkpoint_every=10**6, ema_decay=0.99, device="cpu",
                             tensorboard=False)
        t = FixMatchTrainer(cfg.resolve(), x[tr], lab, y[lab], unl, 10, tmp_path / str(lambda_u),
                            truth=y, test_images=x[te], test_truth=d.target[te], aligned=True)
        acc[lambda_u] = t.fit().evals[-1][1]
    # docs/reference.md's figure ("FixMatch", short runs):
    # `python -m pytest -s tests/fixmatch/test_fixmatch.py -k unlabeled_loss`
    print(f"digits, 2 labels per class, 600 steps: test accuracy {acc[1.0]:.3f} with the "
          f"unlabeled loss, {acc[0.0]:.3f} with the supervised loss alone")
    assert acc[0.0] > 0.4, acc
    assert acc[1.0] >= acc[0.0] + 0.1, acc


# ------------------------------------------------------------------ resume
def _trainer(out, cfg, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    x, y = toy_images(60, rng)
    lab = np.arange(6)
    return FixMatchTrainer(cfg.resolve(), x, lab, y[lab], np.arange(6, 60), 3, out, truth=y,
                           test_images=x[:20], test_truth=y[:20])


def _losses(out):
    import csv

    with open(out / "metrics.csv") as f:
        return [(int(r["step"]), float(r["loss_x"]), float(r["loss_u"])) for r in csv.DictReader(f)]


def test_resume_equals_uninterrupted(tmp_path):
    torch.set_num_threads(1)
    full = _trainer(tmp_path / "full", tiny_cfg()).fit()

    part = _trainer(tmp_path / "part", tiny_cfg())

    fit_until_interrupted(part, 4)
    resumed = _trainer(tmp_path / "part", tiny_cfg()).fit(resume=True)
    assert resumed.step == 6
    a, b = _losses(tmp_path / "full"), _losses(tmp_path / "part")
    assert [r[0] for r in b] == list(range(1, 7))
    import csv  # metrics.csv's clock goes on across the resume (before: back to 0 at step 5)
    with open(tmp_path / "part" / "metrics.csv") as f:
        clock = [float(r["elapsed_s"]) for r in csv.DictReader(f)]
    assert clock == sorted(clock) and clock[4] > clock[3], clock
    np.testing.assert_allclose(np.array(a)[:, 1:], np.array(b)[:, 1:], rtol=1e-5, atol=1e-6)
    for (k, v), w in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=1e-5, atol=1e-6, msg=k)


def test_a_resume_while_the_budget_is_timed_counts_the_time_already_spent(tmp_path):
    # stopped at step 3 of the timing: the resumed run's budget clock starts where the stopped
    # one's ended (it restarted at 0, giving the run its whole budget again)
    cfg = tiny_cfg(steps=10_000, budget_minutes=5.0, checkpoint_every=10**6)
    part = fit_until_interrupted(_trainer(tmp_path, cfg), 3)
    spent = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["budget_elapsed_s"]
    assert not part.budget_fitted and spent > 0
    again, at_start = _trainer(tmp_path, cfg), []
    again.callback = lambda e, i: (at_start.append(again.elapsed()) if e == "start" else None,
                                   again.request_stop() if e == "log" and i["step"] == 4
                                   else None)
    with pytest.raises(KeyboardInterrupt):
        again.fit(resume=True)
    assert at_start[0] >= spent


def test_resume_rejects_corrupt_or_changed_checkpoint(tmp_path):
    _trainer(tmp_path, tiny_cfg(steps=3)).fit()
    with pytest.raises(HumeSSLError, match="lr="):
        _trainer(tmp_path, tiny_cfg(steps=3, lr=0.1)).fit(resume=True)
    # optimizer groups laid out otherwise (a checkpoint of an earlier version): torch would put
    # their state on other parameters (before: a shape error at the first step, or silently)
    st = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    st["optimizer"]["param_groups"][0]["weight_decay"] = 0.123
    torch.save(st, tmp_path / "checkpoint.pt")
    with pytest.raises(HumeSSLError, match=r"optimizer groups .* are not this version's .* "
                                           "start it again in a new --out"):
        _trainer(tmp_path, tiny_cfg(steps=3)).fit(resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(HumeSSLError, match="corrupt"):
        _trainer(tmp_path, tiny_cfg(steps=3)).fit(resume=True)


# ------------------------------------------------------------------ DDP (gloo, 2 processes)
def _ddp_worker(rank, world, port, out_dir):
    """FixMatchTrainer itself under 2 processes: 3 steps of a global batch of 4 (2 per rank),
    every step logged; each rank records its own accumulators before each log, and its weights."""
    import torch.distributed as dist
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    local = []
    log = FixMatchTrainer.log

    def recording_log(self, result):
        local.append({k: v.detach().clone() for k, v in self.acc.items()})
        return log(self, result)

    FixMatchTrainer.log = recording_log
    rng = np.random.default_rng(0)
    x, yy = toy_images(40, rng)
    cfg = tiny_cfg(steps=3, eval_every=3, checkpoint_every=3, threshold=0.0)
    tr = FixMatchTrainer(cfg.resolve(), x, np.arange(6), yy[:6], np.arange(6, 40), 3,
                         f"{out_dir}/run",
                         truth=yy, test_images=x[:10], test_truth=yy[:10])
    start = {k: v.detach().clone() for k, v in tr.model.named_parameters()}
    tr.fit()
    torch.save({"bl": tr.bl, "step": tr.step, "local": local, "start": start,
                "params": dict(tr.model.named_parameters())}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_fixmatch_trainer_syncs_weights_and_logs_every_ranks_share(tmp_path):
    import csv

    import torch.multiprocessing as mp

    from hume_ssl.core.metrics import accuracy_from_counts

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["bl"] == r1["bl"] == 2 and r0["step"] == r1["step"] == 3  # global batch split
    # gradients are averaged across ranks: the weights stay identical and they did move
    for name, w in r0["params"].items():
        torch.testing.assert_close(w, r1["params"][name], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(w, r0["start"][n]) for n, w in r0["params"].items())
    # the ranks drew different unlabeled images (their own generators) ...
    assert not torch.equal(r0["local"][0]["conf_all"], r1["local"][0]["conf_all"])
    # ... and each metrics row counts both ranks' shares, not rank 0's alone
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert len(rows) == 3
    for row, a, b in zip(rows, r0["local"], r1["local"]):
        n = float(a["n"] + b["n"])
        assert float(row["loss_x"]) == pytest.approx(float(a["loss_x"] + b["loss_x"]) / n, 1e-5)
        assert float(row["mask_rate"]) == pytest.approx(float(a["mask"] + b["mask"]) / n, 1e-5)
        conf = (a["conf_all"] + b["conf_all"]).reshape(3, -1).numpy()
        assert conf.sum() == 2 * 2 * 2  # 2 ranks x (2 labeled x mu 2) unlabeled images
        assert float(row["pl_acc_all"]) == pytest.approx(accuracy_from_counts(conf, False))
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert len(ckpt["generators"]) == 2


TRAIN_ARGS = ["train-fixmatch", "--arch", "wrn10_1", "--steps", "2", "--batch-size", "4",
              "--mu", "2", "--eval-every", "2", "--device", "cpu"]


def _torchrun(args, root):
    """`args` under torchrun, 2 gloo processes on the CPU: the finished process."""
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=root)


def test_torchrun_ranks_with_different_options_stop_and_write_nothing(toy):
    """Before: `train-fixmatch` under torchrun never compared the ranks' options: ranks started
    with different --lr trained on."""
    root, seeds, _, _ = toy
    script = root / "odd.py"
    script.write_text(
        "import os, sys\n"
        "from hume_ssl.cli.app import main\n"
        "lr = '0.03' if os.environ['RANK'] == '0' else '0.05'  # rank 1: another --lr\n"
        f"sys.argv = ['hume-ssl', *{TRAIN_ARGS!r}, '--seeds', {str(seeds)!r}, '--out', 'odd', "
        "'--lr', lr]\n"
        "main()\n")
    res = _torchrun([str(script)], root)
    text = res.stderr + res.stdout
    assert res.returncode != 0
    assert text.count("disagree on the seeds, data and options") == 2, text  # both ranks stop
    assert "{'lr': 0.05} vs {'lr': 0.03}" in text
    assert not (root / "odd").exists()


@pytest.mark.slow
def test_torchrun_train_fixmatch_runs_and_rank_0_prints(toy):
    """Before: every rank printed the result lines."""
    root, seeds, _, _ = toy
    res = _torchrun(["-m", "hume_ssl", *TRAIN_ARGS, "--seeds", str(seeds), "--out", "run"],
                    root)
    assert res.returncode == 0, res.stderr + res.stdout
    assert res.stdout.count("2 steps in") == 1, res.stdout  # rank 0 prints
    assert json.loads((root / "run" / "metrics.json").read_text())["steps"] == 2


# ------------------------------------------------------------------ run folder, bad input, predict
def test_run_writes_outputs_and_predicts(toy):
    root, seeds, idx, y = toy
    out = root / "run"
    res = train_fixmatch_run(out, tiny_cfg(steps=4, eval_every=2), seeds=seeds)
    for f in ("config.json", "metrics.csv", "metrics.json", "checkpoint.pt", "model.pt",
              "model.json"):
        assert (out / f).exists(), f
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["n_unlabeled"] == 90 - len(idx) and cfg["units"]["steps"]
    assert cfg["seeds"]["seed_label_acc_vs_truth"] == 1.0  # permuted ids, Hungarian-mapped
    assert res["test_acc_median"] is not None and len(res["evals"]) == 2
    # how far the 30 test images carry the figure (before: a bare 0.xxxx)
    assert res["test_acc_interval"] == accuracy_interval(res["test_acc_median"], 30)
    saved = json.loads((out / "metrics.json").read_text())  # the run's clock, as pretrain's
    assert 0 < saved["elapsed_s_total"] <= saved["seconds"] + 1e-3
    meta = json.loads((out / "model.json").read_text())
    assert meta["arch"] == "wrn10_1" and meta["k"] == 3 and len(meta["normalization"]["mean"]) == 3
    m = build_model("wrn10_1", 3)
    m.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    events = []
    pred = predict_run(out, meta["dataset"], "test", callback=lambda e, i: events.append(i))
    # the display's clock starts before the first batch (before: after it, so the rate read
    # 5.87e+07 images/s)
    assert events[0] == {"done": 0, "total": 30} and events[-1] == {"done": 30, "total": 30}
    lines = (out / "predictions_test" / "predictions.csv").read_text().splitlines()
    assert lines[0] == "index,label,confidence,class_name" and len(lines) == 31
    assert pred["n"] == 30 and 0 <= pred["acc"] <= 1
    # before: nothing in the folder said which data the predictions were of
    record = json.loads((out / "predictions_test" / "predictions.json").read_text())
    assert record["dataset"] == meta["dataset"] and record["split"] == "test"
    assert record["n"] == 30 and record["acc"] == pred["acc"]
    assert record["acc_interval"] == accuracy_interval(pred["acc"], 30)
    # paths resolve from any working directory; the labels' kind is said (cluster ids here)
    assert record["model"] == str(out.resolve()) and record["label_ids_are_classes"] is False
    assert record["acc_on_training_images"] is False
    with pytest.raises(HumeSSLError, match="--resume"):
        train_fixmatch_run(out, tiny_cfg(steps=4), seeds=seeds)


def test_a_predict_killed_in_a_folder_leaves_no_summary_of_mixed_files(toy, monkeypatch):
    """Before: a second predict into the same folder (the default MODEL/predictions_SPLIT is the
    same for any data) killed after its labels.npy left the first one's predictions.csv and
    predictions.json, which said the folder held 30 rows of the test split: it held 90."""
    import hume_ssl.fixmatch.predict as predict

    root, seeds, _, _ = toy
    out = root / "run"
    train_fixmatch_run(out, tiny_cfg(steps=2, eval_every=2), seeds=seeds)
    folder = out / "predictions_test"
    predict_run(out, f"npz:{root}/toy_{{split}}.npz", "test")
    assert json.loads((folder / "predictions.json").read_text())["n"] == 30

    def killed(path, data):
        raise KeyboardInterrupt  # after labels.npy and confidence.npy, before the csv

    monkeypatch.setattr(predict, "atomic_write_bytes", killed)
    with pytest.warns(UserWarning, match=r"held the predictions of npz:.*:test \(30 images\); "
                      "they are replaced"), pytest.raises(KeyboardInterrupt):
        predict_run(out, f"npz:{root}/toy_{{split}}.npz", "train", out=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["confidence.npy", "labels.npy"]
    assert len(np.load(folder / "labels.npy")) == 90


def test_predict_says_how_far_its_accuracy_goes(toy, tmp_path):
    """Before: an accuracy on the split the model trained on read like a test accuracy, and
    data of more classes than the model's (another dataset) was labeled without a word."""
    root, seeds, _, _ = toy
    out = root / "run"
    train_fixmatch_run(out, tiny_cfg(steps=2, eval_every=2), seeds=seeds)
    res = predict_run(out, f"npz:{root}/toy_{{split}}.npz", "train", out=tmp_path / "p1")
    assert res["acc_on_training_images"] is True
    assert res["acc_interval"] is None  # its own training images: no sampling interval
    with np.load(root / "toy_test.npz") as z:
        arrays = dict(z)
    arrays["labels"] = np.arange(len(arrays["labels"])) % 5  # 5 classes, the model's 3
    np.savez(tmp_path / "five_test.npz", **arrays)
    with pytest.warns(UserWarning, match=r"the model has 3 classes, npz:.*five_.split..npz:test 5: "
                                         r"images of the other 2 classes cannot be labeled"):
        res = predict_run(out, f"npz:{tmp_path}/five_{{split}}.npz", "test",
                          out=tmp_path / "p2")
    assert res["acc_on_training_images"] is False and res["acc_interval"] is not None


def test_predict_refuses_another_commands_folder_before_the_work(toy, tmp_path, monkeypatch):
    """Before: `predict --out` a label run's folder replaced HUME's labels.npy (its config.json
    still describing it), and an unwritable --out was found after every image was labeled."""
    import os

    import hume_ssl.fixmatch.predict as predict

    root, seeds, _, _ = toy
    out = root / "run"
    train_fixmatch_run(out, tiny_cfg(steps=2, eval_every=2), seeds=seeds)
    hume = tmp_path / "hume"
    hume.mkdir()
    (hume / "config.json").write_text('{"command": "label"}')
    np.save(hume / "labels.npy", np.zeros(3))
    with pytest.raises(HumeSSLError, match=r"holds a `label` run .*choose another --out"):
        predict_run(out, f"npz:{root}/toy_{{split}}.npz", "test", out=hume)
    assert np.load(hume / "labels.npy").shape == (3,)
    monkeypatch.setattr(predict, "load_split", None)  # the work would fail: never reached
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(HumeSSLError, match="cannot be created .* is not writable"):
        predict_run(out, f"npz:{root}/toy_{{split}}.npz", "test", out=tmp_path / "new" / "p")
    assert not (tmp_path / "new").exists()


def test_a_predict_of_the_same_data_by_another_path_replaces_without_a_warning(toy, monkeypatch):
    """Before: the replacement warning compared the dataset names as typed, so a relative and
    an absolute path to the same file said the folder held other data."""
    import warnings

    root, seeds, _, _ = toy
    out = root / "run"
    train_fixmatch_run(out, tiny_cfg(steps=2, eval_every=2), seeds=seeds)
    predict_run(out, f"npz:{root}/toy_{{split}}.npz", "test")
    monkeypatch.chdir(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_run(out, "npz:toy_{split}.npz", "test")
    with pytest.warns(UserWarning, match="they are replaced"):  # another split still warns
        predict_run(out, "npz:toy_{split}.npz", "train", out=out / "predictions_test")


def test_predictions_csv_traces_each_row_to_its_image(tmp_path):
    """Before: index,label,confidence only, though an image folder knows each row's file."""
    import csv

    from PIL import Image

    from hume_ssl.data.images import load_split
    from hume_ssl.fixmatch.predict import predictions_csv

    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for j in range(2):
            Image.fromarray(np.full((4, 4, 3), 40 * j, np.uint8)).save(
                tmp_path / "imgs" / c / f"x,{j}.png")  # a comma in a file name
    split = load_split(f"imagefolder:{tmp_path / 'imgs'}", "train")
    text = predictions_csv(np.array([1, 0, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]), ["a", "b"],
                           split.sample_ids).decode()
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["index", "label", "confidence", "class_name", "sample_id"]
    assert rows[1] == ["0", "1", "0.900000", "b", "a/x,0.png"] and len(rows) == 5
    assert predictions_csv(np.array([0]), np.array([1.0]), None, None) == (
        b"index,label,confidence\n0,0,1.000000\n")


@pytest.mark.filterwarnings("ignore:.*no seeds_origin.json beside it")  # a CSV by hand
def test_image_folders_of_several_sizes_train_and_predict_with_image_size(tmp_path):
    """Before: `seed` took a folder of mixed-size images, but train-fixmatch (and predict)
    refused it ("images differ in size ... use the feature path") and had no option to resize."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 24), ("test", 6)):
        x, y = toy_images(n, rng, size=20)
        for i in range(n):
            d = tmp_path / "imgs" / split / "rgb"[y[i]]
            d.mkdir(parents=True, exist_ok=True)
            side = (12, 16, 20)[i % 3]  # three sizes, not all square
            Image.fromarray(x[i, :side, :16]).save(d / f"{i:03d}.png")
    ds = f"imagefolder:{tmp_path / 'imgs'}"
    (tmp_path / "s.csv").write_text("index,label\n0,0\n9,1\n20,2\n")
    with pytest.raises(HumeSSLError, match="differ in size.*--image-size S"):
        train_fixmatch_run(tmp_path / "r0", tiny_cfg(steps=2), indices=tmp_path / "s.csv",
                           dataset=ds)
    res = train_fixmatch_run(tmp_path / "r", tiny_cfg(steps=2, eval_every=2),
                             indices=tmp_path / "s.csv", dataset=ds, image_size=12)
    assert res["steps"] == 2 and res["test_acc_last"] is not None
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["image_size"] == 12 and meta["input_size"] == [12, 12]
    pred = predict_run(tmp_path / "r", ds, "test")  # the model's size, applied again
    assert pred["n"] == 6 and pred["skipped_unreadable"] == 0
    # an unreadable file (before: left out without a word, and no record of it)
    (tmp_path / "imgs" / "test" / "r" / "zz.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="1 unreadable image files .* skipped: they have no row"):
        pred = predict_run(tmp_path / "r", ds, "test")
    assert pred["n"] == 6 and json.loads(
        (tmp_path / "r" / "predictions_test" / "predictions.json").read_text()
    )["skipped_unreadable"] == 1
    with pytest.raises(HumeSSLError, match="--image-size 0: must be"):
        train_fixmatch_run(tmp_path / "r1", tiny_cfg(steps=2), indices=tmp_path / "s.csv",
                           dataset=ds, image_size=0)


def test_an_exported_csv_is_checked_against_the_folder_as_it_is_now(tmp_path):
    """Before: an image added to the folder after `export --format csv` moved the index of every
    image after it, and train-fixmatch --indices trained on the edited CSV's rows as labels of
    other images without a word (a seeds folder was checked; its CSV was not)."""
    from PIL import Image

    from hume_ssl.data.datasets import load_dataset
    from hume_ssl.seeds.artifact import Seeds
    from hume_ssl.seeds.export import export_seeds

    rng = np.random.default_rng(0)
    x, y = toy_images(12, rng, size=8)
    (tmp_path / "imgs").mkdir()
    for i in range(12):
        Image.fromarray(x[i]).save(tmp_path / "imgs" / f"{i:03d}.png")
    name = f"imagefolder:{tmp_path / 'imgs'}"
    ds = load_dataset(name, "train")
    seeds = Seeds(np.array([1, 5, 9]), np.array([0, 1, 2]), ds.name, 3, n_samples=len(ds),
                  order_hash=ds.order_hash)
    export_seeds(seeds, "csv", tmp_path / "edited")
    csv = tmp_path / "edited" / "seeds.csv"
    assert json.loads((tmp_path / "edited" / "seeds_origin.json").read_text())["n_samples"] == 12
    csv.write_text(csv.read_text().replace("9,2", "10,2"))  # an edit by hand
    relative = f"imagefolder:{os.path.relpath(tmp_path / 'imgs')}"  # the same folder, relative
    res = train_fixmatch_run(tmp_path / "r", tiny_cfg(steps=1), indices=csv, dataset=relative,
                             k=3)
    assert res["steps"] == 1
    # another folder, files of the same names: the check sees names only, and says so (a
    # review: trained without a word)
    (tmp_path / "copy").mkdir()
    for i in range(12):
        Image.fromarray(x[11 - i]).save(tmp_path / "copy" / f"{i:03d}.png")
    with pytest.warns(UserWarning, match=r"made on imagefolder:.*imgs and --dataset is "
                                         r"imagefolder:.*copy: its files have the same names"):
        train_fixmatch_run(tmp_path / "rc", tiny_cfg(steps=1), indices=csv,
                           dataset=f"imagefolder:{tmp_path / 'copy'}", k=3)
    Image.fromarray(x[0]).save(tmp_path / "imgs" / "000a.png")  # every index after 0 moves
    with pytest.raises(HumeSSLError, match=r"seeds_origin\.json says n_samples=12 but .* has 13 "
                                           r"images: the images changed since"):
        train_fixmatch_run(tmp_path / "r1", tiny_cfg(steps=1), indices=csv, dataset=name, k=3)
    (tmp_path / "imgs" / "000.png").unlink()  # 12 images again, but not the same ones
    with pytest.raises(HumeSSLError, match=r"order_hash .* matches none .*the images changed"):
        train_fixmatch_run(tmp_path / "r2", tiny_cfg(steps=1), indices=csv, dataset=name, k=3)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()
    # another folder, or a link to this one: the origin is checked all the same (before, in
    # review: a --dataset spelled otherwise than the origin's skipped the check)
    (tmp_path / "link").symlink_to(tmp_path / "imgs")
    with pytest.raises(HumeSSLError, match=r"order_hash .* the images changed"):
        train_fixmatch_run(tmp_path / "r4", tiny_cfg(steps=1), indices=csv,
                           dataset=f"imagefolder:{tmp_path / 'link'}", k=3)
    (tmp_path / "other").mkdir()
    for i in range(13):
        Image.fromarray(x[i % 12]).save(tmp_path / "other" / f"{i:03d}.png")
    with pytest.raises(HumeSSLError, match=r"made on imagefolder:.*imgs, and --dataset "
                                           r"imagefolder:.*other holds other images .* delete "
                                           r".*seeds_origin\.json to skip this check"):
        train_fixmatch_run(tmp_path / "r5", tiny_cfg(steps=1), indices=csv,
                           dataset=f"imagefolder:{tmp_path / 'other'}", k=3)
    # a CSV with no origin beside it (from another tool) is not checked, and says so
    (tmp_path / "edited" / "seeds_origin.json").unlink()
    with pytest.warns(UserWarning, match="no seeds_origin.json beside it .* not checked"):
        assert train_fixmatch_run(tmp_path / "r3", tiny_cfg(steps=1), indices=csv,
                                  dataset=name, k=3)["steps"] == 1


@pytest.mark.filterwarnings("ignore:.*no seeds_origin.json beside it")  # a CSV by hand
def test_indices_seeds_on_unlabeled_data_take_k(toy):
    """Before: --indices/--seed-labels on data with no labels or class list could not train:
    "pass a seeds folder whose seeds.json gives k", and no option gave it."""
    root, seeds, idx, y = toy
    for split in ("train", "test"):
        z = np.load(root / f"toy_{split}.npz")
        np.savez(root / f"raw_{split}.npz", images=z["images"])  # no labels, no classes
    ds = f"npz:{root}/raw_{{split}}.npz"
    (root / "s.csv").write_text("index,label\n" + "".join(f"{i},{y[i]}\n" for i in idx))
    with pytest.raises(HumeSSLError, match="pass --k K"):
        train_fixmatch_run(root / "r0", tiny_cfg(steps=2), indices=root / "s.csv", dataset=ds)
    res = train_fixmatch_run(root / "r", tiny_cfg(steps=2, eval_every=2),
                             indices=root / "s.csv", dataset=ds, k=4)
    assert res["steps"] == 2
    assert json.loads((root / "r" / "model.json").read_text())["k"] == 4
    with pytest.raises(HumeSSLError, match="seeds.json gives k; drop --k"):
        train_fixmatch_run(root / "r2", tiny_cfg(steps=2), seeds=seeds, k=3)
    with pytest.raises(HumeSSLError, match="--k with --oracle-labels"):
        train_fixmatch_run(root / "r3", tiny_cfg(steps=2, oracle_labels=True),
                           indices=root / "s.csv", dataset=f"npz:{root}/toy_{{split}}.npz", k=3)


@pytest.mark.filterwarnings("ignore:.*no seeds_origin.json beside it")  # a CSV by hand
def test_oracle_labels_and_npy_csv_seeds(toy):
    root, seeds, idx, y = toy
    ds = f"npz:{root}/toy_{{split}}.npz"
    (root / "s.csv").write_text("index,label\n" + "".join(f"{i},{y[i]}\n" for i in idx))
    res = train_fixmatch_run(root / "r1", tiny_cfg(steps=2, eval_every=2), indices=root / "s.csv",
                             dataset=ds)
    assert res["steps"] == 2
    res = train_fixmatch_run(root / "r2", tiny_cfg(steps=2, eval_every=2, oracle_labels=True),
                             seeds=seeds)
    assert res["test_acc_kind"] == "accuracy"
    meta = json.loads((root / "r2" / "model.json").read_text())
    assert meta["label_ids"].startswith("ground") and meta["label_ids_are_classes"] is True
    # before: the seeds' cluster names (r, g, b) named the ground-truth ids; the dataset has none
    assert meta["class_names"] is None


def test_bad_seeds_are_reported(toy):
    root, seeds, idx, y = toy
    meta = json.loads((seeds / "seeds.json").read_text())
    (seeds / "seeds.json").write_text(json.dumps({**meta, "n_samples": 50000}))
    with pytest.raises(HumeSSLError, match="another dataset"):
        train_fixmatch_run(root / "a", tiny_cfg(), seeds=seeds)
    (seeds / "seeds.json").write_text(json.dumps({**meta, "order_hash": "deadbeef"}))
    with pytest.raises(HumeSSLError, match="order_hash"):
        train_fixmatch_run(root / "a", tiny_cfg(), seeds=seeds)
    (seeds / "seeds.json").write_text(json.dumps(meta))
    np.save(seeds / "pseudo_labels.npy", np.full(len(idx), 7))
    with pytest.raises(HumeSSLError, match="outside 0..2"):
        train_fixmatch_run(root / "a", tiny_cfg(), seeds=seeds)
    np.save(seeds / "indices.npy", np.arange(90))
    np.save(seeds / "pseudo_labels.npy", y)
    with pytest.raises(HumeSSLError, match="unlabeled set is empty"):
        train_fixmatch_run(root / "a", tiny_cfg(), seeds=seeds)


def test_cli_train_and_predict(toy):
    from typer.testing import CliRunner

    from hume_ssl.cli import app
    root, seeds, idx, y = toy
    out = root / "cli"
    args = ["train-fixmatch", "--seeds", str(seeds), "--out", str(out), "--steps", "2",
            "--arch", "wrn10_1", "--batch-size", "4", "--mu", "2", "--eval-every", "2",
            "--device", "cpu"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert (out / "model.pt").exists() and "2 steps in" in r.output
    # before: "2 steps in 0.0 s", as if the resume had trained
    r = CliRunner().invoke(app, [*args, "--resume"], terminal_width=200)
    assert r.exit_code == 0 and "the run had finished (2 steps): nothing left" in r.output, \
        r.output
    r = CliRunner().invoke(app, ["predict", "--model", str(out), f"npz:{root}/toy_{{split}}.npz"])
    assert r.exit_code == 0, r.output
    assert (out / "predictions_test" / "labels.npy").exists()


# ------------------------------------------------------------------ --init, budget, resume identity
@pytest.fixture()
def ssl_run(toy):
    """A tiny `hume-ssl pretrain` run on the toy train split (16 px, resnet18_cifar)."""
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    root = toy[0]
    cfg = PretrainConfig(epochs=1, batch_size=30, bn_splits=2, queue_size=60, device="cpu",
                         knn_every=100, checkpoint_every=10**6)
    pretrain_run(f"npz:{root}/toy_{{split}}.npz", root / "ssl", cfg)
    return root / "ssl"


def test_a_model_from_a_wideresnet_pretrain_run_predicts_after_the_run_is_gone(toy):
    # the demo's pretrain arch: a WideResNet name, built as an encoder plus head by --init
    # ssl:RUN (not the WideResNet classifier --arch builds); predict built the latter and could
    # not load the weights. The pretrain run is not needed to predict.
    import shutil

    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    root, seeds, idx, y = toy
    cfg = PretrainConfig(arch="wrn10_1", epochs=1, batch_size=30, bn_splits=2, queue_size=60,
                         device="cpu", knn_every=100, checkpoint_every=10**6)
    pretrain_run(f"npz:{root}/toy_{{split}}.npz", root / "ssl_wrn", cfg)
    out = root / "fm_wrn"
    train_fixmatch_run(out, tiny_cfg(arch=None, init=f"ssl:{root / 'ssl_wrn'}", steps=2,
                                     eval_every=2), seeds=seeds)
    assert json.loads((out / "model.json").read_text())["arch"] == "wrn10_1"
    shutil.rmtree(root / "ssl_wrn")
    pred = predict_run(out, "npz:" + str(root / "toy_{split}.npz"), "test")
    assert pred["n"] == 30


def test_init_from_a_pretrain_run_trains_exports_and_predicts(toy, ssl_run):
    from hume_ssl.models.classifier import EncoderClassifier, init_classifier

    root, seeds, idx, y = toy
    cfg = tiny_cfg(arch=None, init=f"ssl:{ssl_run}", steps=3, eval_every=3)  # default scale
    tr_cfg = cfg.resolve()
    assert tr_cfg.arch == "resnet18_cifar"
    out = root / "fm_init"
    res = train_fixmatch_run(out, cfg, seeds=seeds)
    assert res["steps"] == 3
    meta = json.loads((out / "model.json").read_text())
    assert meta["arch"] == "resnet18_cifar" and meta["init"] == f"ssl:{ssl_run}"
    ssl_meta = json.loads((ssl_run / "backbone.json").read_text())
    assert meta["normalization"]["mean"] == pytest.approx(ssl_meta["preprocessing"]["mean"])
    pred = predict_run(out, meta["dataset"], "test")
    assert pred["n"] == 30
    # the encoder starts from the pretrained weights, the head is new; the encoder's lr is scaled
    model, init = init_classifier(f"ssl:{ssl_run}", 3)
    assert isinstance(model, EncoderClassifier) and init.input_size == 16
    sd = torch.load(ssl_run / "backbone.pt", weights_only=True)
    for k, v in model.encoder.state_dict().items():
        torch.testing.assert_close(v, sd[k])
    groups = param_groups(model, 5e-4, 0.1)
    assert [g["lr_scale"] for g in groups] == [0.1, 0.1, 1.0, 1.0]
    # the shipped default (docs/fixmatch_evidence.md "From a pretrained encoder": 0.1 measured
    # best) is what the run's optimizer used: encoder groups at 0.1 x the head's lr at the last step
    opt = torch.load(out / "checkpoint.pt", weights_only=False)["optimizer"]["param_groups"]
    assert [g["lr_scale"] for g in opt] == [0.1, 0.1, 1.0, 1.0]
    assert opt[0]["lr"] == pytest.approx(0.1 * opt[2]["lr"]) and opt[2]["lr"] > 0
    # an ssl: init gets the ssl recipe (docs/fixmatch_evidence.md "From a pretrained encoder":
    # 0.298, against 0.242 under the cnn recipe and 0.211 with unit-scaled features, CLAIMS
    # F9-F11): the features as the encoder gives them, a fresh head, BatchNorm in training
    # mode, no clipping
    rec = json.loads((out / "config.json").read_text())
    assert rec["recipe"]["name"] == "ssl" and rec["init"]["family"] == "ssl"
    assert not (rec["recipe"]["unit_features"] or rec["recipe"]["frozen_bn"])
    assert rec["recipe"]["head"] == "random" and rec["recipe"]["clip_grad"] == 0.0
    assert rec["recipe"]["warmup"] == 0.0 and not rec["probe"]["head_from_probe"]
    assert float(torch.load(out / "model.pt", weights_only=True)["feature_scale"]) == 1.0


def test_init_errors_are_clear_and_leave_nothing(toy, ssl_run, tmp_path):
    root, seeds, idx, y = toy
    with pytest.raises(HumeSSLError, match="disagrees with --init"):
        train_fixmatch_run(root / "e1", tiny_cfg(init=f"ssl:{ssl_run}"), seeds=seeds)
    assert not (root / "e1").exists()
    # a 16 px encoder on 8 px images
    for split in ("train", "test"):
        z = np.load(root / f"toy_{split}.npz")
        np.savez(tmp_path / f"small_{split}.npz", images=z["images"][:, :8, :8],
                 labels=z["labels"])
    with pytest.raises(HumeSSLError, match="trained on 16 px images.* pass --image-size 16"):
        train_fixmatch_run(root / "e2", tiny_cfg(arch=None, init=f"ssl:{ssl_run}"),
                           indices=seeds / "indices.npy", seed_labels=seeds / "pseudo_labels.npy",
                           dataset=f"npz:{tmp_path}/small_{{split}}.npz")
    assert not (root / "e2").exists()
    # 16 px files resized by --image-size (before: the error said the files were 32 px)
    with pytest.raises(HumeSSLError, match="--image-size 32 resizes .* pass --image-size 16"):
        train_fixmatch_run(root / "e2", tiny_cfg(arch=None, init=f"ssl:{ssl_run}"),
                           seeds=seeds, image_size=32)
    assert not (root / "e2").exists()
    with pytest.raises(HumeSSLError, match="backbone.json"):
        train_fixmatch_run(root / "e3", tiny_cfg(arch=None, init=f"ssl:{root / 'nowhere'}"),
                           seeds=seeds)
    (ssl_run / "backbone.pt").write_bytes(b"not a torch file")
    with pytest.raises(HumeSSLError, match="cannot load"):
        train_fixmatch_run(root / "e4", tiny_cfg(arch=None, init=f"ssl:{ssl_run}"), seeds=seeds)
    assert not (root / "e4").exists()


def test_predict_names_a_pretrain_folder_and_a_damaged_model_in_one_line(toy, ssl_run):
    """Before: a finished pretrain run as --model was "training has not finished ... --resume",
    and a damaged model.pt relayed torch's advice to load it with weights_only=False."""
    root, seeds, idx, y = toy
    with pytest.raises(HumeSSLError, match=r"is a pretrain run .*--init ssl:"):
        predict_run(ssl_run, f"npz:{root}/toy_{{split}}.npz", "test")
    out = root / "run"
    train_fixmatch_run(out, tiny_cfg(steps=2, eval_every=2), seeds=seeds)
    (out / "model.pt").write_bytes(b"garbage")
    with pytest.raises(HumeSSLError, match="cannot load") as e:
        predict_run(out, f"npz:{root}/toy_{{split}}.npz", "test")
    assert "weights_only" not in str(e.value) and "\n" not in str(e.value)
    (out / "model.json").unlink()  # a run killed between model.pt and model.json (before:
    with pytest.raises(HumeSSLError, match="not finished.*--resume"):  # "file not found")
        predict_run(out, f"npz:{root}/toy_{{split}}.npz", "test")


def test_resume_refuses_other_seeds_or_init_and_writes_nothing(toy, ssl_run):
    root, seeds, idx, y = toy
    out = root / "run"
    assert train_fixmatch_run(out, tiny_cfg(steps=3), seeds=seeds)["steps"] == 3
    before = (out / "config.json").read_text()
    other = root / "seeds2"
    other.mkdir()
    for f in ("seeds.json", "indices.npy"):
        (other / f).write_bytes((seeds / f).read_bytes())
    np.save(other / "pseudo_labels.npy", (np.load(seeds / "pseudo_labels.npy") + 1) % 3)
    with pytest.raises(HumeSSLError, match="other seeds or data"):
        train_fixmatch_run(out, tiny_cfg(steps=3), seeds=other, resume=True)
    with pytest.raises(HumeSSLError, match="init=None"):
        train_fixmatch_run(out, tiny_cfg(arch=None, init=f"ssl:{ssl_run}", steps=3),
                           seeds=seeds, resume=True)
    assert (out / "config.json").read_text() == before  # a refused resume changes nothing


def test_budget_fits_the_schedule_and_a_tiny_one_is_an_error(toy, fake_clock, monkeypatch):
    from hume_ssl.train.budget import StepTimer

    root, seeds, idx, y = toy
    events = []
    res = train_fixmatch_run(root / "b1", tiny_cfg(steps=10_000, budget_minutes=0.1,
                                                   eval_every=20, log_every=4),
                             seeds=seeds, callback=lambda e, i: events.append((e, i)))
    budget = [i for e, i in events if e == "budget"]
    # 3.8 s left at step 12 (the fake_clock fixture): 36 more steps, whole log intervals of 4
    assert len(budget) == 1 and res["steps"] == budget[0]["total_steps"] == 48
    assert res["test_acc_last"]
    # the budget's fit is on record (before: config.json's steps, 10,000 here, read as the
    # run's length, and nothing said otherwise)
    assert json.loads((root / "b1" / "metrics.json").read_text())["total_steps"] == 48
    assert json.loads((root / "b1" / "config.json").read_text())["length"] == {
        "bound": "fixmatch.steps", "fitted_by_budget": True,
        "length_in": "metrics.json total_steps"}
    timed_at, tick = [], StepTimer.tick

    def recorded(self, step):
        t = tick(self, step)
        if t is not None:
            timed_at.append(step)
        return t

    monkeypatch.setattr(StepTimer, "tick", recorded)
    with pytest.raises(HumeSSLError, match="too small") as e:
        train_fixmatch_run(root / "b2", tiny_cfg(steps=10_000, budget_minutes=0.001,
                                                 checkpoint_every=1), seeds=seeds)
    assert not (root / "b2").exists()
    # the budget it names is one that is accepted (before: "0.00 or more", itself refused)
    assert float(re.search(r"pass --budget-minutes ([0-9.e-]+) or more", str(e.value))[1]) > 0
    # the budget was spent before timing began: one warm-up step and one timed, not 25
    assert timed_at == [2]


def test_a_budget_keeps_a_last_partial_log_interval_up_to_steps(toy, fake_clock):
    """Before: the budget fitted whole log intervals up to steps // log_every: --steps 14 at
    --log-every 4 (3 intervals done when timed) was refused as "too small" in any budget, and
    --steps 30 trained 28."""
    root, seeds, _, _ = toy
    # (25 at --log-every 5: the timing ends on the last step; it trained every step, then
    # failed as "too small for one log interval")
    for steps, log_every in ((14, 4), (30, 4), (25, 5)):
        res = train_fixmatch_run(root / f"p{steps}", tiny_cfg(steps=steps, budget_minutes=60.0,
                                                             eval_every=20, log_every=log_every),
                                 seeds=seeds)
        assert res["steps"] == steps
        assert json.loads((root / f"p{steps}" / "metrics.json").read_text())["total_steps"] == steps


def test_a_random_state_inside_its_range_trains(toy):
    """Before: random_state=2**62 (range [0, inf)) failed in the generator's manual_seed (the
    data order's seed is random_state x 1000 + rank): Overflow when unpacking long long."""
    root, seeds, _, _ = toy
    res = train_fixmatch_run(root / "rs", tiny_cfg(steps=2, eval_every=2, random_state=2**62),
                             seeds=seeds)
    assert res["steps"] == 2


def test_arch_is_checked_by_resolve_and_a_vit_gets_its_own_input_size():
    """Before: an --arch typo passed resolve() and failed after the data was read, and
    timm:vit_tiny_patch16_224 without --input-size resolved to None, was built at 224 px and
    failed inside timm on the data's 8 px images."""
    pytest.importorskip("timm")
    with pytest.raises(HumeSSLError, match="unknown --arch 'wrn10-1'. Did you mean 'wrn10_1'?"):
        FixMatchConfig(arch="wrn10-1").resolve()
    assert FixMatchConfig(arch="timm:vit_tiny_patch16_224").resolve().input_size == 224
    assert FixMatchConfig(arch="timm:vit_tiny_patch16_224", input_size=32).resolve(
        ).input_size == 32
    assert FixMatchConfig(arch="wrn10_1").resolve().input_size is None
    # hybrids named *vit* run at any size: they keep the data's (a review found repvit at 224)
    assert FixMatchConfig(arch="timm:repvit_m1").resolve().input_size is None
    with pytest.raises(HumeSSLError, match="torchvision:vit_b_16 runs at 224 px only"):
        FixMatchConfig(arch="torchvision:vit_b_16").resolve()


@pytest.mark.parametrize("kw, message", [
    (dict(init="torchvision:resnet18", input_size=0), r"--input-size 0: must be a whole number "
                                                      r"in \[16, 1024\]"),
    (dict(arch="torchvision:resnet18", input_size=0), r"--input-size 0: must be"),
    (dict(init="torchvision:resnet18", input_size=64.7), "--input-size 64.7: must be a whole"),
])
def test_resolve_checks_the_input_size_before_it_uses_it(kw, message):
    """Before: resolve() read input_size before any check: 0 became the init's own 224 (or
    None without --init) and 64.7 became 64, where the CLI refused both; its bounds were
    [8, 1024] where `features --input-size`, the same init's side, has [16, 1024]."""
    with pytest.raises(HumeSSLError, match=message):
        FixMatchConfig(**kw).resolve()


def test_config_json_keeps_the_seed_label_file_and_where_k_came_from(toy):
    """Before: "labels": "pseudo-labels" overwrote the seed-labels file's path, and under
    --oracle-labels the record kept seeds.json's k_from though k was the dataset's."""
    root, seeds, _, _ = toy
    train_fixmatch_run(root / "f", tiny_cfg(steps=2, eval_every=2), indices=seeds / "indices.npy",
                       seed_labels=seeds / "pseudo_labels.npy",
                       dataset=f"npz:{root}/toy_{{split}}.npz", k=3)
    rec = json.loads((root / "f" / "config.json").read_text())["seeds"]
    assert rec["labels_file"].endswith("pseudo_labels.npy") and rec["labels"] == "pseudo-labels"
    assert rec["k"] == 3 and rec["k_from"] == "--k"
    train_fixmatch_run(root / "o", tiny_cfg(steps=2, eval_every=2, oracle_labels=True),
                       seeds=seeds)
    rec = json.loads((root / "o" / "config.json").read_text())["seeds"]
    assert rec["k_from"].startswith("the classes of npz:")


def test_cli_sets_weight_decay_lambda_u_and_ema_decay(toy):
    # the paper's CIFAR-100 setting (wrn28_8) needs weight decay 1e-3: all three reach the run
    from typer.testing import CliRunner

    from hume_ssl.cli import app
    root, seeds, idx, y = toy
    out = root / "wd"
    r = CliRunner().invoke(app, ["train-fixmatch", "--seeds", str(seeds), "--out", str(out),
                                 "--steps", "1", "--arch", "wrn10_1", "--batch-size", "4",
                                 "--mu", "2", "--eval-every", "1", "--device", "cpu",
                                 "--weight-decay", "1e-3", "--lambda-u", "0.5",
                                 "--ema-decay", "0.99"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())["fixmatch"]
    assert (cfg["weight_decay"], cfg["lambda_u"], cfg["ema_decay"]) == (1e-3, 0.5, 0.99)
    r = CliRunner().invoke(app, ["train-fixmatch", "--seeds", str(seeds), "--out",
                                 str(root / "bad"), "--ema-decay", "1"])
    assert r.exit_code != 0 and "--ema-decay 1: must be a number in [0, 1)" in r.output
    assert not (root / "bad").exists()
