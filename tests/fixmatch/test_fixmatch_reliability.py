"""train-fixmatch and predict on bad runs and bad inputs (issue 26): divergence, k, conflicting
or malformed seeds, numbers, a full disk, words and progress."""

import json
import warnings

import numpy as np
import pytest
import torch
from conftest import full_disk_after
from typer.testing import CliRunner

from hume_ssl.cli import app
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.fixmatch.config import FixMatchConfig, lr_at
from hume_ssl.fixmatch.run import train_fixmatch_run
from hume_ssl.seeds.artifact import read_seeds


def tiny(**kw):
    base = dict(arch="wrn10_1", steps=2, batch_size=4, mu=2, eval_every=100, log_every=1,
                checkpoint_every=100, device="cpu", tensorboard=False, ema_decay=0.9)
    return FixMatchConfig(**{**base, **kw})


@pytest.fixture()
def toy(tmp_path):
    """A 3-class 16 px npz dataset (60 train, 12 test) and a seeds folder (k 3)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("test", 12)):
        y = np.arange(n) % 3
        x = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])[y][:, None, None, :]
        x = np.clip(x + rng.normal(0, 25, (n, 16, 16, 3)), 0, 255).astype(np.uint8)
        np.savez(tmp_path / f"toy_{split}.npz", images=x, labels=y)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    np.save(seeds / "indices.npy", np.arange(6))
    np.save(seeds / "pseudo_labels.npy", np.arange(6) % 3)
    (seeds / "seeds.json").write_text(json.dumps({
        "dataset": f"npz:{tmp_path}/toy_{{split}}.npz", "split": "train", "n_samples": 60,
        "k": 3}))
    return tmp_path, seeds, f"npz:{tmp_path}/toy_{{split}}.npz"


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


FAST = ("--arch", "wrn10_1", "--batch-size", "4", "--mu", "2", "--device", "cpu",
        "--eval-every", "100", "--log-every", "1")


# ------------------------------------------------------------------ divergence
def test_divergence_stops_with_exit_2_keeps_the_last_finite_checkpoint_exports_nothing(toy):
    root, seeds, _ = toy
    out = root / "div"
    # lr 100 overflows the weights within 4 steps (measured: loss 1.6 -> 6e3 -> 2e7 -> 1e11)
    r = cli("train-fixmatch", "--seeds", seeds, "--out", out, *FAST, "--steps", "8",
            "--lr", "100", "--checkpoint-every", "2")
    assert r.exit_code == 2, r.output
    assert "diverged" in r.output and "step 4" in r.output and "--lr" in r.output
    assert "Traceback" not in r.output
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    st = torch.load(out / "checkpoint.pt", weights_only=False)
    assert st["step"] == 2
    assert all(torch.isfinite(v).all() for v in st["model"].values() if v.is_floating_point())


def test_a_non_finite_loss_before_any_checkpoint_leaves_nothing(toy):
    root, seeds, _ = toy
    with pytest.raises(HumeSSLError, match=r"loss_x became nan at step \d.*nothing was kept"):
        train_fixmatch_run(root / "d2", tiny(steps=12, lr=1e4), seeds=seeds)
    assert not (root / "d2").exists()


def test_predict_refuses_a_non_finite_model(toy):
    root, seeds, ds = toy
    out = root / "run"
    train_fixmatch_run(out, tiny(steps=1), seeds=seeds)
    state = torch.load(out / "model.pt", weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name] * float("nan")  # what the old code exported after a divergence
    torch.save(state, out / "model.pt")
    r = cli("predict", ds, "--model", out, "--device", "cpu")
    assert r.exit_code == 2 and "NaN or inf weights" in r.output, r.output
    assert not (out / "predictions_test").exists()


# ------------------------------------------------------------------ k and the seed inputs
@pytest.mark.filterwarnings("ignore:.*no seeds_origin.json beside it")  # a CSV by hand
def test_k_comes_from_the_dataset_never_from_the_largest_label(toy):
    root, _, ds = toy
    (root / "far.csv").write_text("index,label\n1,0\n3,500\n")
    with pytest.raises(HumeSSLError, match=r"span 0..500 but k = 3 .*\(e\.g\. .*far\.csv:3: "
                                           r"label 500\); fix the labels\.$"):
        train_fixmatch_run(root / "r1", tiny(), indices=root / "far.csv", dataset=ds)
    assert not (root / "r1").exists()
    (root / "five.csv").write_text("index,label\n1,0\n3,5\n")  # k from --k: it says so
    with pytest.raises(HumeSSLError, match=r"span 0..5 but k = 2 \(--k\).*five\.csv:3: label "
                                           r"5\); fix the labels \(or --k\)\.$"):
        train_fixmatch_run(root / "r3", tiny(), indices=root / "five.csv", dataset=ds, k=2)
    (root / "zero.csv").write_text("".join(f"{i},0\n" for i in range(4)))
    train_fixmatch_run(root / "r2", tiny(steps=1), indices=root / "zero.csv", dataset=ds)
    assert json.loads((root / "r2" / "model.json").read_text())["k"] == 3  # not a 1-class model


def test_conflicting_seed_inputs_are_refused(toy):
    root, seeds, ds = toy
    np.save(root / "i.npy", np.arange(3))
    np.save(root / "l.npy", np.arange(3))
    (root / "s.csv").write_text("0,0\n1,1\n")
    with pytest.raises(HumeSSLError, match="not both"):
        train_fixmatch_run(root / "a", tiny(), seeds=seeds, indices=root / "i.npy",
                           seed_labels=root / "l.npy")
    with pytest.raises(HumeSSLError, match="drop --seed-labels"):
        train_fixmatch_run(root / "a", tiny(), indices=root / "s.csv",
                           seed_labels=root / "l.npy", dataset=ds)
    assert not (root / "a").exists()


def test_seeds_of_feature_files_train_on_the_dataset_they_name(toy):
    """Before: seeds of `seed --phi1 --phi2` carry a hash of the features as their order_hash
    (order_hash_kind "features"), which matches no dataset's order: train-fixmatch --dataset
    refused them asking for the --dataset that was passed."""
    root, seeds, ds = toy
    meta = json.loads((seeds / "seeds.json").read_text())
    del meta["dataset"]
    (seeds / "seeds.json").write_text(json.dumps({**meta, "order_hash": "06daefe25c4feb0a",
                                                  "order_hash_kind": "features"}))
    assert read_seeds(seeds, dataset=ds).order_hash is None
    train_fixmatch_run(root / "f", tiny(steps=1), seeds=seeds, dataset=ds)
    assert (root / "f" / "model.pt").exists()
    meta["n_samples"] = 59  # the row count is still checked against the dataset
    (seeds / "seeds.json").write_text(json.dumps({**meta, "order_hash_kind": "features"}))
    with pytest.raises(HumeSSLError, match="n_samples=59 but"):
        train_fixmatch_run(root / "g", tiny(steps=1), seeds=seeds, dataset=ds)


def test_an_out_that_is_a_file_is_one_line(toy):
    """Before: NotADirectoryError from the early-failure cleanup (a traceback)."""
    root, seeds, _ = toy
    (root / "afile").write_text("x")
    res = cli("train-fixmatch", "--seeds", seeds, "--out", root / "afile", *FAST, "--steps", 1)
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert (root / "afile").read_text() == "x"


def test_a_csv_row_with_three_columns_is_refused_naming_the_line(tmp_path):
    (tmp_path / "s.csv").write_text("index,label\n0,1\n5,2,9\n")
    with pytest.raises(HumeSSLError, match=r"s.csv:3: expected two integers"):
        read_seeds(indices=tmp_path / "s.csv", dataset="cifar10")


def test_errors_name_seed_labels_not_the_deprecated_labels(tmp_path):
    np.save(tmp_path / "i.npy", np.arange(3))
    with pytest.raises(HumeSSLError) as e:
        read_seeds(indices=tmp_path / "i.npy", dataset="cifar10")
    assert "--seed-labels" in str(e.value) and "--labels " not in str(e.value)


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("kw", [dict(lr=float("nan")), dict(lr=float("inf")), dict(lr=0.0),
                                dict(lr=-1.0), dict(encoder_lr_scale=float("inf")),
                                dict(budget_minutes=float("inf")), dict(momentum=float("nan")),
                                dict(lambda_u=float("nan")), dict(eval_median_of=0)])
def test_non_finite_zero_or_negative_numbers_are_refused(kw):
    with pytest.raises(HumeSSLError, match="must"):
        tiny(**kw).resolve()


@pytest.mark.parametrize("kw, match", [(dict(steps=2.5), "--steps 2.5: must be a whole"),
                                       (dict(batch_size=None), "--batch-size None: must be"),
                                       (dict(mu="2"), "--mu '2': must be a whole"),
                                       (dict(bn_momentum=0.0), r"^bn_momentum 0: .* in \(0, 1\]"),
                                       (dict(momentum=1.0), r"^momentum 1: .* in \(0, 1\)"),
                                       (dict(translate=1.0), r"^translate 1: .* in \[0, 1\)"),
                                       (dict(cutout=1.5), r"^cutout 1.5: .* in \[0, 1\]"),
                                       (dict(randaugment_ops=-1), "^randaugment_ops -1: .*least 0"),
                                       (dict(eval_batch_size=0), "^eval_batch_size 0: .*least 1")])
def test_counts_are_whole_numbers_and_python_only_settings_name_no_flag(kw, match):
    """Before: steps=2.5 ran 3 steps, batch_size=None and mu='2' raised a raw TypeError, and
    bn_momentum=0 named a --bn-momentum option that does not exist. The Python-only settings'
    ranges are declared on their fields (before: checked by hand in validate)."""
    with pytest.raises(HumeSSLError, match=match):
        FixMatchConfig(**kw).resolve()


def test_cli_lr_inf_is_one_line_before_any_work(toy):
    root, seeds, _ = toy
    r = cli("train-fixmatch", "--seeds", seeds, "--out", root / "x", *FAST, "--lr", "inf")
    assert r.exit_code == 2 and "--lr inf: must be a finite number, above 0" in r.output
    assert not (root / "x").exists()


# ------------------------------------------------------------------ predict's inputs
def test_predict_batch_size_and_model_path_errors_say_what_to_pass(toy):
    root, seeds, ds = toy
    out = root / "run"
    r = cli("predict", ds, "--model", out, "--batch-size", "0")
    assert r.exit_code == 2, r.output
    assert "--batch-size 0: must be a whole number, at least 1" in r.output, r.output
    train_fixmatch_run(out, tiny(steps=1), seeds=seeds)
    r = cli("predict", ds, "--model", out / "checkpoint.pt", "--device", "cpu")
    assert r.exit_code == 2 and f"pass --model {out}" in r.output and "delete" not in r.output
    r = cli("predict", ds, "--model", out / "model.pt", "--device", "cpu")
    assert r.exit_code == 0, r.output  # the model file itself names its folder
    (out / "model.pt").unlink()
    r = cli("predict", ds, "--model", out, "--device", "cpu")
    assert r.exit_code == 2 and "--resume" in r.output and "delete" not in r.output


# ------------------------------------------------------------------ a full disk


def test_a_full_disk_keeps_the_checkpoint_and_names_the_command_that_continues(toy,
                                                                             monkeypatch):
    root, seeds, _ = toy
    out = root / "full"
    args = ["train-fixmatch", "--seeds", seeds, "--out", out, *FAST, "--steps", "4",
            "--checkpoint-every", "2"]
    monkeypatch.setattr("sys.argv", ["hume-ssl", *map(str, args)])  # what the user typed
    with full_disk_after(1, monkeypatch):
        r = cli(*args)
    assert r.exit_code == 2 and "no space left" in r.output, r.output
    assert "re-run the same command" not in r.output and "--resume" in r.output
    assert (out / "checkpoint.pt").exists()
    again = r.output.split("The command: hume-ssl ")[1].split()
    assert again == [*map(str, args), "--resume"]
    r = cli(*again)  # the command it printed continues the run
    assert r.exit_code == 0, r.output
    assert (out / "model.pt").exists()


def test_a_full_disk_before_the_first_checkpoint_says_nothing_was_kept(toy, monkeypatch):
    root, seeds, _ = toy
    with full_disk_after(0, monkeypatch):
        r = cli("train-fixmatch", "--seeds", seeds, "--out", root / "f0", *FAST, "--steps", "2")
    assert r.exit_code == 2 and "nothing was kept" in r.output, r.output
    assert "--resume" not in r.output and not (root / "f0").exists()


# ------------------------------------------------------------------ progress and the schedule
def test_progress_reports_from_the_first_step_with_whole_numbers_and_units(toy):
    root, seeds, _ = toy
    r = cli("train-fixmatch", "--seeds", seeds, "--out", root / "p", "--arch", "wrn10_1",
            "--batch-size", "4", "--mu", "2", "--device", "cpu", "--steps", "3",
            "--log-every", "64")
    assert r.exit_code == 0, r.output
    assert "fixmatch 1/3 steps" in r.output  # before the first log row (step 3)


def test_the_lr_has_no_jump_where_the_budget_is_fitted():
    cfg = tiny(steps=10_000, lr=0.03)
    # 25 timed steps at the initial lr, then the cosine over the fitted 200 steps from there
    lrs = [cfg.lr] * 25 + [lr_at(cfg, s, 200, start=25) for s in range(25, 200)]
    assert max(abs(a - b) for a, b in zip(lrs, lrs[1:])) < 0.03 * 0.02
    assert lr_at(cfg, 200, 200, start=25) == pytest.approx(0.03 * np.cos(7 * np.pi / 16))
    assert lr_at(cfg, 100, 200) == pytest.approx(0.03 * np.cos(7 * np.pi * 100 / 3200))


def test_a_warm_up_runs_over_the_fitted_steps_from_where_the_budget_is_fitted():
    """Before: the warm-up counted from step 0 over the fitted length, so with 25 timed steps
    and 500 fitted (warm-up 0.025: 13 steps) the lr went from ~0 to the full lr at once."""
    from types import SimpleNamespace

    from hume_ssl.fixmatch.trainer import FixMatchTrainer

    cfg = tiny(steps=10_000, lr=0.03, warmup=0.025).resolve()
    timing = SimpleNamespace(cfg=cfg, budget_timer=object())
    fit = SimpleNamespace(cfg=cfg, budget_timer=None, total_steps=500, schedule_start=25)
    timed = [FixMatchTrainer._lr(timing, s) for s in range(25)]
    fitted = [FixMatchTrainer._lr(fit, s) for s in range(25, 500)]
    w = int(np.ceil(0.025 * 475))  # 12 steps of warm-up over the 475 fitted ones
    assert fitted[0] == pytest.approx(0.03 / w * np.cos(0.0))
    lrs = timed + fitted[:w]  # the timed steps, then the warm-up: the lr never falls
    assert all(a <= b for a, b in zip(lrs, lrs[1:])) and timed[0] < fitted[0]
    assert fitted[w - 1] == pytest.approx(0.03 * np.cos(7 * np.pi * (w - 1) / (16 * 475)))
    assert lr_at(cfg, 12, 500) == pytest.approx(0.03, rel=0.01)  # no budget: from step 0


def test_budget_timing_shows_no_total_then_the_fitted_one(toy, fake_clock):
    root, seeds, _ = toy
    events = []
    train_fixmatch_run(root / "b", tiny(steps=10_000, budget_minutes=0.1, log_every=4),
                       seeds=seeds, callback=lambda e, i: events.append((e, i)))
    start = next(i for e, i in events if e == "start")
    assert start["budget_minutes"] == 0.1  # the display shows "timing", no total and no ETA
    total = next(i for e, i in events if e == "budget")["total_steps"]
    assert total == 48  # the fake_clock fixture (tests/conftest.py): fitted at step 12
    lrs = [i["lr"] for e, i in events if e == "log"]
    # rows 4 steps apart never differ by more than the cosine's steepest 4 steps over the
    # fitted part (the timed 12 ran at the initial lr): no jump where the budget is fitted
    steepest = 0.03 * 7 * np.pi / 16 * 4 / (total - 12)
    assert max(abs(a - b) for a, b in zip(lrs, lrs[1:])) <= steepest * 1.001
    assert lrs[-1] == pytest.approx(lr_at(tiny(steps=10_000).resolve(), total - 1, total, start=12))


def test_ctrl_c_prints_the_command_that_continues(toy, monkeypatch):
    import hume_ssl.fixmatch.run as run

    def interrupted(*a, **k):
        raise KeyboardInterrupt("stopped at step 3")

    root, seeds, _ = toy
    args = ["train-fixmatch", "--seeds", str(seeds), "--out", str(root / "c")]
    monkeypatch.setattr(run, "train_fixmatch_run", interrupted)
    monkeypatch.setattr("sys.argv", ["hume-ssl", *args])
    r = cli(*args)  # before its first checkpoint: no --resume (before: one, which then failed)
    assert r.exit_code == 130 and "no checkpoint was written yet" in r.output, r.output
    assert "hume-ssl " + " ".join(args) in r.output and "--resume" not in r.output, r.output
    (root / "c").mkdir()
    (root / "c" / "checkpoint.pt").write_bytes(b"x")  # a run that checkpointed, then Ctrl-C
    r = cli(*args)
    assert r.exit_code == 130
    assert "continue with: hume-ssl " + " ".join(args) + " --resume" in r.output, r.output
    monkeypatch.setenv("RANK", "1")  # under torchrun the other ranks stay quiet
    r = cli(*args)
    assert r.exit_code == 130 and r.output == ""


def test_predict_on_an_unfinished_run_names_both_ways_it_can_be_unfinished(tmp_path):
    """Before: "finish it with ... --resume" only, also for a diverged run, where --resume
    repeats the same steps and diverges again."""
    from hume_ssl.fixmatch.predict import predict_run

    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(HumeSSLError, match="plus --resume.*if it diverged.*lower --lr"):
        predict_run(tmp_path, "digits", "test")


def test_a_model_trained_from_the_pixels_init_predicts(toy):
    """Before: train-fixmatch --init pixels trained, then predict refused the model: "backbone
    'pixels' has no weights: drop --weights / --random-init" (options predict does not have)."""
    from hume_ssl.fixmatch.predict import predict_run

    root, seeds, ds = toy
    train_fixmatch_run(root / "px", tiny(arch=None, init="pixels:16", steps=1), seeds=seeds)
    assert predict_run(root / "px", ds, "test")["n"] == 12


def test_predict_matches_classes_by_name_when_the_data_orders_them_differently(tmp_path):
    """Before: a model trained on ground truth was scored by comparing class ids, so data that
    lists the same classes in another order (an image folder against the npz trained on) got a
    wrong accuracy with no word."""
    from hume_ssl.fixmatch.predict import predict_run, truth_in_model_ids

    mapped, unknown = truth_in_model_ids(np.array([0, 1, 2, 2]), ["blue", "red", "cat"],
                                         ["red", "green", "blue"])
    assert mapped.tolist() == [2, 0, -1, -1] and unknown == ["cat"]
    assert truth_in_model_ids(np.array([1]), ["a"], ["a"])[1] is None  # same list: as it is
    rng = np.random.default_rng(0)
    names = np.array(["red", "green", "blue"])
    for split, y in (("train", np.arange(60) % 3), ("test", np.array([0] * 6 + [1] * 3 + [2] * 3))):
        x = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])[y][:, None, None, :]
        x = np.clip(x + rng.normal(0, 25, (len(y), 16, 16, 3)), 0, 255).astype(np.uint8)
        np.savez(tmp_path / f"rgb_{split}.npz", images=x, labels=y, classes=names)
        if split == "test":  # the same images, classes listed green, blue, red
            order = [1, 2, 0]
            np.savez(tmp_path / "swap_test.npz", images=x, labels=np.argsort(order)[y],
                     classes=names[order])
    np.save(tmp_path / "i.npy", np.arange(6))
    np.save(tmp_path / "l.npy", np.arange(6) % 3)
    run = tmp_path / "fm"
    r = cli("train-fixmatch", "--indices", tmp_path / "i.npy", "--seed-labels",
            tmp_path / "l.npy", "--oracle-labels", "--dataset",
            f"npz:{tmp_path}/rgb_{{split}}.npz", "--out", run, *FAST, "--steps", "3")
    assert r.exit_code == 0, r.output
    same = predict_run(run, f"npz:{tmp_path}/rgb_{{split}}.npz", "test", out=tmp_path / "p1")
    other = predict_run(run, f"npz:{tmp_path}/swap_{{split}}.npz", "test", out=tmp_path / "p2")
    assert other["acc"] == same["acc"] and other["classes_matched_by_name"]
    assert other["classes_not_in_model"] == [] and "classes_matched_by_name" not in same


def test_classes_without_seeds_are_named_before_training(toy):
    """Before: seeds of one class trained a 3-class model without a word, though such a class
    is one FixMatch never learns."""
    root, _, ds = toy
    (root / "one.csv").write_text("index,label\n0,0\n3,0\n6,0\n")
    r = cli("train-fixmatch", "--indices", root / "one.csv", "--dataset", ds, "--out",
            root / "one", *FAST, "--steps", "1")
    assert r.exit_code == 0, r.output
    assert "warning: 2 of 3 classes have no seeds (1, 2)" in " ".join(r.output.split())
    assert "(one evaluation)" in r.output  # before: "median of last 1 evals"
    n_test = json.loads((root / "one" / "metrics.json").read_text())["n_test"]
    assert n_test and f"on {n_test} images:" in " ".join(r.output.split())  # before: no count
    low, high = json.loads((root / "one" / "metrics.json").read_text())["test_acc_interval"]
    assert (f"(95% {low:.3f}..{high:.3f} from the {n_test} images' sampling alone, not run to "
            "run)") in " ".join(r.output.split())  # before: a bare figure
    # data without a test split: said, not left to a missing figure
    (root / "one.csv").write_text("index,label\n0,0\n1,1\n2,2\n")
    r = cli("train-fixmatch", "--indices", root / "one.csv", "--dataset",
            f"npz:{root}/toy_train.npz", "--out", root / "lone", *FAST, "--steps", "1")
    assert r.exit_code == 0 and "not evaluated: the data has no test split" in " ".join(
        r.output.split()), r.output
    metrics = json.loads((root / "one" / "metrics.json").read_text())
    assert metrics["bn_momentum_used"] == 1.0  # 10 / steps on a 1-step run (config: 0.001)
    assert metrics["out"] == str((root / "one").resolve())
    assert json.loads((root / "one" / "config.json").read_text())["classes_without_seeds"] == [
        1, 2]


def test_seed_input_messages_name_what_is_wrong(tmp_path):
    """Before: a mistyped --seeds path was "not a seeds folder (no seeds.json)", and --indices
    CSV without --dataset asked for --seed-labels FILE.npy, which a CSV does not need."""
    from hume_ssl.seeds.artifact import read_seeds

    with pytest.raises(HumeSSLError, match="seeds folder not found: .*nope"):
        read_seeds(tmp_path / "nope")
    (tmp_path / "s.csv").write_text("index,label\n0,0\n")
    with pytest.raises(HumeSSLError, match=r"--indices .*s.csv needs --dataset NAME"):
        read_seeds(indices=tmp_path / "s.csv")


def test_validate_that_resolves_in_place_always_says_so():
    """Before: with --arch set, validate() filled in recipe, lr and encoder_lr_scale in place
    without a word, so a copy later given an --init kept the scratch recipe's encoder lr."""
    cfg = FixMatchConfig(arch="wrn10_1", steps=10)
    with pytest.warns(FutureWarning, match="resolve"):
        cfg.validate()
    assert cfg.recipe == "scratch"  # still resolved in place, for one release
    resolved = FixMatchConfig(arch="wrn10_1", steps=10).resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolved.validate()  # a resolved config: checked, nothing said


def test_a_second_run_into_a_folder_in_use_is_refused_and_touches_nothing(toy):
    """Before: two runs into one --out both wrote it and both exited 0 (a review: config.json of
    one, model.pt and checkpoint of the other, metrics.csv rows interleaved); one stopped
    before its first checkpoint removed the folder under the other."""
    import fcntl

    from hume_ssl.train.resume import RUN_LOCK

    root, seeds, _ = toy
    out = root / "busy"
    out.mkdir()
    with open(out / RUN_LOCK, "a") as held:  # as the first run holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = cli("train-fixmatch", "--seeds", seeds, "--out", out, *FAST, "--steps", "2")
        assert r.exit_code == 2 and "another run is writing into" in " ".join(r.output.split())
        assert [p.name for p in out.iterdir()] == [RUN_LOCK]  # nothing written, nothing removed
    r = cli("train-fixmatch", "--seeds", seeds, "--out", out, *FAST, "--steps", "2")
    assert r.exit_code == 0, r.output  # the lock ends with its holder
