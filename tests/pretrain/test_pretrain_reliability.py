"""pretrain on bad runs and bad inputs (issue 26): divergence, --resume with other epochs,
numbers, a full disk, words and progress."""

import json
import re

import numpy as np
import pytest
import torch
from conftest import full_disk_after
from test_pretrainer import MILD, smooth_images, tiny_cfg
from typer.testing import CliRunner

from hume_ssl.cli import app
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.pretrain.config import PretrainConfig
from hume_ssl.pretrain.run import pretrain_run


@pytest.fixture()
def toy(tmp_path):
    for split, n, seed in (("train", 32, 0), ("test", 16, 1)):
        np.savez(tmp_path / f"toy_{split}.npz", images=smooth_images(n, seed=seed),
                 labels=np.arange(n) % 4)
    return f"npz:{tmp_path}/toy_{{split}}.npz"


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


FAST = ("--batch-size", "16", "--device", "cpu", "--knn-every", "100")


def test_divergence_stops_with_the_step_and_keeps_the_last_finite_checkpoint(tmp_path, toy):
    out = tmp_path / "div"
    with pytest.raises(HumeSSLError, match=r"pretrain diverged: .* step \d+.*lower --lr") as e:
        pretrain_run(toy, out, tiny_cfg(arch="resnet18_cifar", epochs=10, lr=1e9, log_every=1,
                                        checkpoint_every=2, knn_every=100, batch_size=8,
                                        queue_size=16),
                     split="test")  # no kNN monitor: the test split has no test split
    assert "checkpoint with finite weights (step" in str(e.value)
    st = torch.load(out / "checkpoint.pt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in st["model"].values() if v.is_floating_point())
    assert not (out / "backbone.pt").exists()


def test_resume_with_other_epochs_is_refused_and_config_json_unchanged(tmp_path, toy):
    out = tmp_path / "r"
    pretrain_run(toy, out, tiny_cfg(epochs=1, knn_every=100))
    before = (out / "config.json").read_text()
    with pytest.raises(HumeSSLError, match=r"epochs=1 \(now 2\)"):
        pretrain_run(toy, out, tiny_cfg(epochs=2, knn_every=100), resume=True)
    assert (out / "config.json").read_text() == before


def test_resume_with_other_views_is_refused(tmp_path, toy):
    """Before: a resume with another augmentation recipe was accepted and config.json rewritten
    to show it, though the first part of the run used the other views."""
    from hume_ssl.augment.views import ViewConfig

    out = tmp_path / "v"
    pretrain_run(toy, out, tiny_cfg(epochs=1, knn_every=100))
    before = (out / "config.json").read_text()
    assert json.loads(before)["data"]["image_size"] is None  # (recorded since 2026-12-07)
    with pytest.raises(HumeSSLError, match=r"cannot --resume: view="):
        pretrain_run(toy, out, tiny_cfg(epochs=1, knn_every=100, view=ViewConfig(flip_p=0.0)),
                     resume=True)
    assert (out / "config.json").read_text() == before
    pretrain_run(toy, out, tiny_cfg(epochs=1, knn_every=100), resume=True)  # the same: resumes


@pytest.mark.parametrize("kw, says", [
    (dict(view=None), "view=None: give a hume_ssl.augment.views.ViewConfig"),
    (dict(view={"flip_p": 0.5}), "view={'flip_p': 0.5}: give a hume_ssl.augment.views"),
    (dict(arch="wrn10-1"), "unknown --arch 'wrn10-1'. Did you mean 'wrn10_1'?"),
    (dict(arch=None), "unknown --arch 'None'"),
])
def test_views_and_arch_are_checked_before_any_work(kw, says):
    """Before: ViewConfig(flip_p=2) and crop_scale=(1, 0.2) trained, a dict failed inside the
    views, and an --arch typo failed after the data was read."""
    from hume_ssl.augment.views import ViewConfig

    with pytest.raises(HumeSSLError, match=re.escape(says)):
        PretrainConfig(**kw).resolve()
    for bad, said in ((dict(flip_p=2.0), "view.flip_p 2: must be a number in [0, 1]."),
                      (dict(crop_scale=(1.0, 0.2)), "view.crop_scale (1.0, 0.2): give (low, "
                       "high) with 0 < low <= high <= 1."),
                      (dict(hue=-3.0), "view.hue -3: must be a number in [0, 0.5].")):
        with pytest.raises(HumeSSLError, match=re.escape(said)):
            PretrainConfig(view=ViewConfig(**bad)).resolve()


@pytest.mark.parametrize("kw", [dict(lr=float("nan")), dict(lr=float("inf")), dict(lr=-0.1),
                                dict(temperature=float("inf")), dict(bn_splits=0),
                                dict(budget_minutes=float("nan")), dict(momentum=-1.0),
                                dict(weight_decay=float("inf"))])
def test_non_finite_zero_or_negative_numbers_are_refused(kw):
    with pytest.raises(HumeSSLError, match="must"):
        PretrainConfig(**{**dict(batch_size=16, bn_splits=2), **kw}).resolve()


@pytest.mark.parametrize("flag, value, says", [
    ("--image-size", "0", "a whole number in [8, 1024]"),
    ("--image-size", "100000", "a whole number in [8, 1024]"),
    ("--epochs", "0", "a whole number, at least 1"),
    ("--knn-every", "0", "a whole number, at least 1"),
    ("--lr", "0", "a finite number, above 0"),
    ("--budget-minutes", "-1", "a finite number, above 0"),
])
def test_a_number_out_of_range_names_its_option_and_range(tmp_path, toy, flag, value, says):
    r = cli("pretrain", toy, "--out", tmp_path / "z", *FAST, flag, value)
    assert r.exit_code == 2, r.output
    assert f"{flag} {value}: must be {says}" in " ".join(r.output.split()), r.output
    assert not (tmp_path / "z").exists()


def test_help_shows_the_ranges_the_options_declare():
    text = " ".join(CliRunner().invoke(app, ["pretrain", "--help"], terminal_width=400,
                                       env={"COLUMNS": "400"}).output.split())
    for says in ("Unit: epochs. Range: a whole number, at least 1.",
                 "Unit: images. Range: a whole number, at least 2."):
        assert says in text, says


def test_the_missing_dataset_error_names_an_option_pretrain_has(tmp_path):
    r = cli("pretrain", "cifar10", "--data-root", tmp_path / "nothing", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "--data-root" in r.output and "No such option" not in r.output
    assert "Traceback" not in r.output




def test_a_full_disk_never_deletes_a_checkpoint_and_says_how_to_continue(tmp_path, toy,
                                                                        monkeypatch):
    out = tmp_path / "pt"
    # the 16 test images: one step per epoch, and no kNN monitor (which needs a test split)
    args = ["pretrain", toy, "--split", "test", "--out", out, *FAST, "--epochs", "2",
            "--checkpoint-every", "1"]
    with full_disk_after(1, monkeypatch):
        r = cli(*args)
    assert r.exit_code == 2 and "no space left" in r.output, r.output
    assert "kept and resumed" not in r.output and "--resume" in r.output
    assert (out / "checkpoint.pt").exists() and (out / "config.json").exists()
    r = cli(*args, "--resume")
    assert r.exit_code == 0, r.output
    with full_disk_after(0, monkeypatch):
        r = cli("pretrain", toy, "--split", "test", "--out", tmp_path / "p0", *FAST,
                "--epochs", "1")
    assert r.exit_code == 2 and "nothing was kept" in r.output and "--resume" not in r.output


def test_log_every_is_an_option_and_the_knn_monitor_says_it_runs(tmp_path, toy):
    assert "--log-every" in cli("pretrain", "--help").output
    out = tmp_path / "p"
    r = cli("pretrain", toy, "--out", out, "--batch-size", "16", "--device", "cpu",
            "--epochs", "1", "--log-every", "1")
    assert r.exit_code == 0, r.output
    assert "kNN monitor at step 0: embedding 32 train + 16 test images" in r.output
    assert "pretrain 0/2 steps" in r.output and "images/s" in r.output
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [ln.split(",")[0] for ln in rows[1:]] == ["0", "1", "2"]
    assert json.loads((out / "config.json").read_text())["pretrain"]["log_every"] == 1


def test_unreadable_images_of_a_folder_are_counted_and_warned_about_or_fail_with_strict(
        tmp_path):
    """Before: pretrain skipped an image folder's unreadable files silently (no count in
    config.json, no warning) and had no --strict."""
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, im in enumerate(smooth_images(32, seed=0)):
        Image.fromarray(im).save(folder / f"{i:02d}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    events = []
    pretrain_run(f"imagefolder:{folder}", tmp_path / "run",
                 tiny_cfg(epochs=1, knn_every=100, checkpoint_every=10**6),
                 callback=lambda e, i: events.append((e, i)))
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["data"]["skipped_unreadable"] == 1 and cfg["data"]["n_train"] == 32
    assert any(e == "warning" and "1 unreadable image files" in i["message"] for e, i in events)
    with pytest.warns(UserWarning, match="1 unreadable image files"):  # no callback: Python's
        pretrain_run(f"imagefolder:{folder}", tmp_path / "run2",
                     tiny_cfg(epochs=1, knn_every=100, checkpoint_every=10**6))
    res = cli("pretrain", f"imagefolder:{folder}", "--out", tmp_path / "strict", "--strict",
              "--epochs", "1", *FAST)
    assert res.exit_code == 2 and "unreadable image" in res.output, res.output
    assert not (tmp_path / "strict").exists()


def test_no_knn_monitor_when_the_test_images_are_trained_on(tmp_path, toy):
    """Before: --split train+test scored the monitor on test images that were also in its
    memory bank (random labels scored above chance), and metrics.json described a monitor even
    where none ran."""
    res = pretrain_run(toy, tmp_path / "tt", tiny_cfg(epochs=1, knn_every=1), split="train+test")
    assert res["knn"] == [] and res["knn_acc_last"] is None and res["knn_setup"] is None
    record = json.loads((tmp_path / "tt" / "config.json").read_text())
    assert record["data"]["labels_used_for"] == "nothing"
    ran = pretrain_run(toy, tmp_path / "t", tiny_cfg(epochs=1, knn_every=1, knn_neighbors=200))
    assert ran["knn"] and "queries = " in ran["knn_setup"]  # --split train: it runs
    assert ran["knn_neighbors_used"] == 32  # the 32 train images: fewer than the 200 asked
    assert ran["knn_setup"].startswith("k=32, ")


def test_config_json_holds_the_settings_the_run_used(tmp_path, toy):
    """Before: a simclr run's config.json listed MoCo's settings (bn_splits, symmetric, ...),
    which the command refuses for simclr; FixMatch's metrics.json now says the BN momentum."""
    pretrain_run(toy, tmp_path / "s", PretrainConfig(
        method="simclr", epochs=1, batch_size=16, device="cpu", knn_every=100, view=MILD))
    used = json.loads((tmp_path / "s" / "config.json").read_text())["pretrain"]
    assert used["method"] == "simclr" and not {"bn_splits", "symmetric", "queue_size",
                                               "moco_momentum"} & set(used)
    pretrain_run(toy, tmp_path / "m", tiny_cfg(epochs=1, knn_every=100))
    assert "bn_splits" in json.loads((tmp_path / "m" / "config.json").read_text())["pretrain"]
