"""`hume-ssl pretrain`: learning signal, resume, run folder, ssl: backbone, bad input, CLI."""

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import fit_until_interrupted
from typer.testing import CliRunner

from hume_ssl.augment.pixels import normalize
from hume_ssl.augment.views import ViewConfig, two_views
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.images import channel_stats
from hume_ssl.pretrain.config import PretrainConfig
from hume_ssl.pretrain.run import pretrain_run
from hume_ssl.pretrain.trainer import Pretrainer

MILD = ViewConfig(crop_scale=(0.5, 1.0), jitter_p=0.5, hue=0.0, grayscale_p=0.0)


def smooth_images(n, size=8, seed=0):
    """(n, size, size, 3) uint8: a random 3x3 colour grid per image, bilinearly upsampled, so
    that each image has an identity that survives crops and mild colour jitter."""
    g = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, 3, 3)))
    x = F.interpolate(g.float(), size=(size, size), mode="bilinear", align_corners=True)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def tiny_cfg(**kw):
    """A tiny pretrain config; wrn10_1 (78k parameters): the loops' tests run ~15x faster than
    on the default resnet18_cifar, whose own build is tested where its arch matters."""
    base = dict(arch="wrn10_1", epochs=2, batch_size=16, queue_size=32, bn_splits=2,
                device="cpu", log_every=2, knn_every=1, knn_neighbors=5, checkpoint_every=3,
                view=MILD)
    base.update(kw)
    return PretrainConfig(**base)


def _trainer(out, cfg, n=64):
    x = smooth_images(n)
    y = np.arange(n) % 4
    mean, std = channel_stats(x)
    return Pretrainer(cfg.resolve(), x, out, mean, std, train_labels=y, test_images=x[:16],
                      test_labels=y[:16])


@torch.no_grad()
def instance_loss(tr):
    """In-batch InfoNCE of fixed views of every training image (eval mode, same encoder)."""
    m = tr.model.eval()
    va, vb = two_views(tr.data, torch.Generator().manual_seed(123), tr.cfg.view)
    q = m.query(normalize(va, tr.mean, tr.std))
    k = m.query(normalize(vb, tr.mean, tr.std))
    return F.cross_entropy(q @ k.T / 0.1, torch.arange(len(q))).item()


def test_loss_falls_on_a_tiny_subset(tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_cfg(epochs=24, batch_size=32, queue_size=64, knn_every=100, checkpoint_every=10**6)
    tr = _trainer(tmp_path, cfg, n=128)
    before = instance_loss(tr)
    tr.fit()
    after = instance_loss(tr)
    assert tr.step == 24 * 4
    # measured 4.55 -> 2.85 (wrn10_1; 4.52 with lr 1e-7: no learning); chance log(128) = 4.85
    assert after < before - 1.0, (before, after)


def _rows(out):
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_resume_equals_uninterrupted(tmp_path):
    torch.set_num_threads(1)
    full = _trainer(tmp_path / "full", tiny_cfg()).fit()
    part = _trainer(tmp_path / "part", tiny_cfg())

    fit_until_interrupted(part, 4)
    resumed = _trainer(tmp_path / "part", tiny_cfg()).fit(resume=True)
    assert resumed.step == full.step == 8
    a, b = _rows(tmp_path / "full"), _rows(tmp_path / "part")
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        for key in ("loss", "pos_acc", "knn_acc", "lr"):
            va, vb = ra[key], rb[key]
            assert (va == vb == "") or float(va) == pytest.approx(float(vb), rel=1e-4, abs=1e-5)
    for (k, v), w in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=1e-4, atol=1e-5, msg=k)
    (tmp_path / "part" / "checkpoint.pt").write_bytes(b"junk")
    with pytest.raises(HumeSSLError, match="corrupt"):
        _trainer(tmp_path / "part", tiny_cfg()).fit(resume=True)
    with pytest.raises(HumeSSLError, match="lr="):
        _trainer(tmp_path / "full", tiny_cfg(lr=0.1)).fit(resume=True)


def _fake_clock(tr, s_per_step=0.1, s_per_eval=0.5, setup=1.0):
    """Replace the trainer's wall clock: `setup` seconds, then `s_per_step` per step and
    `s_per_eval` per kNN evaluation, so the budget's plan does not move with the machine's load."""
    spent = {"evals": 0.0}
    evaluate = tr.evaluate

    def timed_evaluate():
        spent["evals"] += s_per_eval
        return evaluate()

    tr.evaluate = timed_evaluate
    tr.elapsed = lambda: setup + s_per_step * tr.step + spent["evals"]


def test_budget_fits_whole_epochs(tmp_path):
    events = []
    # 4 steps an epoch, 0.2 s a step. Timing starts after the setup (1 s) and the kNN
    # evaluation at step 0 (0.5 s), with 6.3 s of 7.8 s left; each timing phase ends once it
    # has taken 6.3 / 4 / 2 = 0.79 s (train.budget.StepTimer): 4 warm-up steps, 4 timed. At
    # step 8 (3.1 s) 4.7 s are left, and E epochs cost (4E - 8) x 0.2 + 0.5 s (the evaluation
    # counted again), so E = 7
    tr = _trainer(tmp_path, tiny_cfg(epochs=1000, budget_minutes=0.13, knn_every=500), n=64)
    _fake_clock(tr, s_per_step=0.2)
    tr.callback = lambda e, info: events.append((e, info))
    tr.fit()
    budget = [info for e, info in events if e == "budget"]
    assert len(budget) == 1 and budget[0]["fitted_at_step"] == 8
    assert budget[0]["seconds_left"] == pytest.approx(4.7)
    assert budget[0]["epochs"] == 7 and tr.total_steps == tr.step == 28
    capped = _trainer(tmp_path / "cap", tiny_cfg(epochs=7, budget_minutes=60, knn_every=500))
    assert capped.fit().step == 7 * 4  # a generous budget never adds epochs


def test_a_budget_spent_while_timing_is_an_error_not_a_plan_behind_the_run(tmp_path):
    # 1 step an epoch, 1 s a step: timing (one warm-up step, one timed: each longer than its
    # share of the 3.4 s left after setup and evaluation) ends at step 2 with 1.4 s left, and
    # finishing epoch 3 (1 step and the evaluation) costs 1.5 s. Counting plans that end before
    # step 2 would give 2 epochs, behind the run.
    tr = _trainer(tmp_path, tiny_cfg(epochs=1000, budget_minutes=4.9 / 60, knn_every=500),
                  n=16)
    _fake_clock(tr, s_per_step=1.0)
    with pytest.raises(HumeSSLError, match=r"too small: finishing epoch 3 \(1 steps at 1000"):
        tr.fit()


def test_a_run_stopped_while_timing_its_budget_counts_the_evaluation_when_it_resumes(tmp_path):
    # stopped at step 3 of the timing (a checkpoint with the budget not yet fitted); the resume
    # does not evaluate at its start, so the plan takes the step-0 evaluation's 0.5 s from the
    # checkpoint: without it the plan left out every kNN evaluation and ran past the budget
    cfg = tiny_cfg(epochs=1000, budget_minutes=0.06, knn_every=500)
    tr = _trainer(tmp_path, cfg)
    _fake_clock(tr)
    tr.callback = lambda e, info: tr.request_stop() if e == "step" and info["step"] == 3 else 0
    with pytest.raises(KeyboardInterrupt):
        tr.fit()
    events = []
    again = _trainer(tmp_path, cfg)
    _fake_clock(again)
    again.callback = lambda e, info: events.append((e, info))
    again.fit(resume=True)
    budget = [info for e, info in events if e == "budget"]
    assert len(budget) == 1 and budget[0]["s_per_eval"] == pytest.approx(0.5)


@pytest.fixture()
def toy_npz(tmp_path):
    for split, n, seed in (("train", 64, 0), ("test", 16, 1)):
        np.savez(tmp_path / f"toy_{split}.npz", images=smooth_images(n, seed=seed),
                 labels=np.arange(n) % 4)
    return f"npz:{tmp_path}/toy_{{split}}.npz"


def test_run_folder_and_ssl_backbone_through_the_registry(tmp_path, toy_npz):
    from hume_ssl.features.extract import extract_features
    from hume_ssl.models.backbones import load_backbone, resolve_backbone

    out = tmp_path / "ssl"
    res = pretrain_run(toy_npz, out, tiny_cfg(epochs=1, arch="resnet18_cifar"))  # the default
    for f in ("config.json", "metrics.csv", "metrics.json", "checkpoint.pt", "backbone.pt",
              "backbone.json", "curves.png"):
        assert (out / f).is_file(), f
    meta = json.loads((out / "backbone.json").read_text())
    assert meta["arch"] == "resnet18_cifar" and meta["preprocessing"]["input_size"] == 8
    assert res["steps"] == 4 and len(res["knn"]) == 2  # at the start and at the end
    assert res["total_steps"] == 4  # the schedule's length (a budget's fit, under one)
    assert json.loads((out / "config.json").read_text())["length"] == {
        "bound": "pretrain.epochs", "fitted_by_budget": False, "length_in": "pretrain.epochs"}
    b = resolve_backbone(f"ssl:{out}")
    assert b.source == "ssl" and b.weights_identity()["kind"] == "file"
    assert resolve_backbone(f"ssl:{out}", input_size=128).preprocessing.input_size == 8
    kw = dict(cache_dir=tmp_path / "cache", device="cpu", progress=False, num_workers=0)
    fs = extract_features(toy_npz, "test", f"ssl:{out}", **kw)
    again = extract_features(toy_npz, "test", f"ssl:{out}", **{**kw, "cache_dir": tmp_path / "c2"})
    assert fs.features.shape == (16, 512) and not again.cached
    np.testing.assert_array_equal(np.asarray(fs.features), np.asarray(again.features))
    # the registry's model is the trained encoder: same features as the trainer's own
    enc = load_backbone(b)
    x = np.load(tmp_path / "toy_test.npz")["images"]
    mean, std = (torch.tensor(meta["preprocessing"][k]) for k in ("mean", "std"))
    xt = normalize(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255, mean, std)
    np.testing.assert_allclose(np.asarray(fs.features), enc(xt).numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(HumeSSLError, match="already holds"):
        pretrain_run(toy_npz, out, tiny_cfg(epochs=1))
    with pytest.raises(HumeSSLError, match="backbone.json"):
        resolve_backbone(f"ssl:{tmp_path / 'nothing'}")


@pytest.mark.parametrize("kw, match", [
    (dict(method="mocov9"), "unknown --method"),
    (dict(batch_size=12, bn_splits=8), "divisible"),
    (dict(queue_size=8), "queue_size 8 must be"),
    (dict(arch="resnet9000"), "unknown --arch"),
])
def test_bad_config_is_reported(tmp_path, kw, match):
    with pytest.raises(HumeSSLError, match=match):
        _trainer(tmp_path, tiny_cfg(**kw))


@pytest.mark.parametrize("kw, flag", [(dict(bn_splits=4), "--bn-splits"),
                                      (dict(symmetric=False), "--asymmetric"),
                                      (dict(queue_size=8192), "queue_size"),
                                      (dict(moco_momentum=0.9), "moco_momentum")])
def test_mocov2_options_are_refused_for_simclr(kw, flag):
    """Before: simclr ran bit-identical with and without them, and config.json recorded them
    as if applied."""
    from hume_ssl.pretrain.config import PretrainConfig

    with pytest.raises(HumeSSLError, match=f"{flag}: mocov2's, not simclr's"):
        PretrainConfig(method="simclr", **kw).resolve()
    PretrainConfig(method="mocov2", **kw).resolve()  # its own options
    PretrainConfig(method="simclr").resolve()  # the defaults pass


def test_mlp_bn_head_is_refused_for_mocov2():
    """Before: it trained, its BatchNorm1d normalising a step's queries and keys by their own
    batch's statistics (the leak split, shuffled BatchNorm prevents), and per rank under
    torchrun."""
    from hume_ssl.pretrain.config import PretrainConfig

    with pytest.raises(HumeSSLError, match="--head mlp_bn is simclr's.*use --head mlp"):
        PretrainConfig(method="mocov2", head="mlp_bn").resolve()
    PretrainConfig(method="simclr", head="mlp_bn").resolve()  # simclr's own head
    for head in ("mlp", "linear"):
        PretrainConfig(method="mocov2", head=head).resolve()


def test_budget_too_small_for_one_epoch_is_an_error_and_leaves_nothing(tmp_path, toy_npz):
    out = tmp_path / "tiny"
    with pytest.raises(HumeSSLError,
                       match=r"too small: (one|finishing) epoch .* pass --budget-minutes"):
        pretrain_run(toy_npz, out, tiny_cfg(epochs=1000, budget_minutes=0.001, knn_every=500))
    assert not out.exists()


def test_images_of_various_sizes_need_image_size(tmp_path):
    from PIL import Image

    root = tmp_path / "imgs"
    root.mkdir()
    for i, img in enumerate(smooth_images(32, size=12)):
        Image.fromarray(img[: 10 + i % 3]).save(root / f"{i:02d}.png")  # 10-12 x 12 px
    cfg = tiny_cfg(epochs=1, knn_every=100)
    with pytest.raises(HumeSSLError, match="--image-size"):
        pretrain_run(f"imagefolder:{root}", tmp_path / "a", cfg)
    res = pretrain_run(f"imagefolder:{root}", tmp_path / "b", cfg, image_size=8)
    meta = json.loads((tmp_path / "b" / "backbone.json").read_text())
    assert res["steps"] == 2 and meta["preprocessing"]["input_size"] == 8
    assert res["knn"] == []  # an unlabeled folder: no monitor


def test_cli_pretrain(tmp_path, toy_npz):
    from hume_ssl.cli import app

    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["pretrain", toy_npz, "--out", str(out), "--epochs", "1",
                                 "--batch-size", "16", "--device", "cpu", "--knn-every", "1"])
    assert r.exit_code == 0, r.output
    # the bank holds 64 train images: the monitor is kNN-64 (before: said kNN-200 regardless)
    assert "kNN-64 test accuracy" in r.output and (out / "backbone.pt").is_file()
    assert json.loads((out / "metrics.json").read_text())["out"] == str(out.resolve())
    r = CliRunner().invoke(app, ["pretrain", toy_npz, "--out", str(out), "--epochs", "1",
                                 "--batch-size", "16", "--device", "cpu", "--knn-every", "1",
                                 "--resume"], terminal_width=200)  # before: "4 steps in 0.0 s"
    assert r.exit_code == 0 and "the run had finished (4 steps, 1.0 epochs)" in r.output, \
        r.output
    r = CliRunner().invoke(app, ["pretrain", toy_npz, "--out", str(out), "--method", "byol"])
    assert r.exit_code == 2 and "unknown --method" in r.output


def test_every_setting_carries_its_help():
    import dataclasses

    from hume_ssl.pretrain.config import PretrainConfig

    bare = [f.name for f in dataclasses.fields(PretrainConfig) if not f.metadata.get("help")]
    assert bare == []


def test_lr_and_queue_scale_with_the_batch():
    demo = PretrainConfig().resolve()
    assert demo.lr == pytest.approx(0.06) and demo.queue_size == 4096  # MoCo's CIFAR-10 demo
    small = PretrainConfig(batch_size=128).resolve()
    assert small.lr == pytest.approx(0.015) and small.queue_size == 1024
    assert PretrainConfig(batch_size=64, queue_size=300).resolve().queue_size == 300


def test_collapse_watch_warns_once_per_episode_and_not_on_the_early_dip(tmp_path):
    tr = _trainer(tmp_path, tiny_cfg())
    chance = tr.model.chance_loss(16)  # 2 directions x ln(32 + 1)
    assert chance == pytest.approx(2 * np.log(33))
    warnings = []
    tr.callback = lambda e, info: warnings.append(info["step"]) if e == "warning" else None
    # the early dip: pos_acc is high while the queue still holds random rows (queue 32 = one
    # symmetric step of 16 x 2 keys), then falls; the peak of a learned positive is never seen
    assert tr.model.queue_turnover_steps(16) == 1
    for step, (loss, pos) in enumerate([(0.3, 0.6), (0.97, 0.01), (0.9, 0.05)], 1):
        tr.step = step
        tr._watch_collapse(loss * chance, pos)
    assert warnings == [] and tr.collapse_steps == []
    # learned, then the positive stops winning with the loss back near chance (two rows), later
    # recovers, then collapses again: one warning per episode
    seq = [(0.5, 0.6), (0.4, 0.88), (0.93, 0.02), (0.95, 0.01), (0.6, 0.5), (0.92, 0.03)]
    for step, (loss, pos) in enumerate(seq, 10):
        tr.step = step
        tr._watch_collapse(loss * chance, pos)
    assert tr.collapse_steps == [12, 13, 15] and warnings == [12, 15]


def test_resume_refuses_other_images_and_changes_nothing(tmp_path, toy_npz):
    out = tmp_path / "ssl"
    pretrain_run(toy_npz, out, tiny_cfg(epochs=1, knn_every=100))
    before = (out / "config.json").read_text()
    with pytest.raises(HumeSSLError, match="other images"):
        pretrain_run(toy_npz, out, tiny_cfg(epochs=1, knn_every=100), resume=True, image_size=12)
    with pytest.raises(HumeSSLError, match="lr="):
        pretrain_run(toy_npz, out, tiny_cfg(epochs=1, knn_every=100, lr=0.5), resume=True)
    assert (out / "config.json").read_text() == before
