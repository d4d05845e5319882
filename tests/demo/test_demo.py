"""`hume-ssl demo`: the real pipeline on the digits, offline. The default test runs it with
tiny budgets (`--quick`); the full demo, with its figures, is `-m slow`."""

import dataclasses
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hume_ssl.cli.app import app


def _demo(*args):
    r = CliRunner().invoke(app, ["demo", *args], env={"COLUMNS": "200"})
    return r.exit_code, r.output


def _check_outputs(out: Path, summary: dict) -> None:
    p = summary["paths"]
    assert p["summary"] == str(out / "demo.json")
    for f in (Path(p["pretrain"]) / "backbone.pt", Path(p["seeds"]) / "indices.npy",
              Path(p["seeds"]) / "seeds.json", Path(p["fixmatch"]) / "model.pt",
              Path(p["predictions"]) / "predictions.csv", Path(p["cache"]) / "features"):
        assert f.exists(), f
        assert out in f.parents  # every output under --out, the feature cache too
    n_test = len((Path(p["predictions"]) / "predictions.csv").read_text().splitlines()) - 1
    assert n_test == 500


def test_quick_demo_prints_one_table_and_every_output(tmp_path):
    out = tmp_path / "demo"
    code, text = _demo("--quick", "--out", str(out))
    assert code == 0, text
    summary = json.loads((out / "demo.json").read_text())
    for row in ("pretrain", "seed", "verdict", "train-fixmatch", "predict", "k-means",
                str(out / "demo.json"), "ground truth used for these figures only"):
        assert row in text, row
    assert f"precision {summary['seed_precision']:.3f}" in text
    assert f"test ACC {summary['test_acc']:.3f}" in text
    assert f"{summary['kmeans_test_acc']['pixels']:.3f} on the pixels" in text
    assert summary["verdict"] in ("reliable", "uncertain", "unreliable")
    assert summary["settings"]["fixmatch_steps"] == summary["fixmatch_steps"] == 8
    _check_outputs(out, summary)
    # the demo's ridge and rule (chosen on the digits' labels) reach the seed step (before,
    # nothing read them: a ridge of 0.1 passed every demo test)
    hume = json.loads((out / "seed" / "hume" / "config.json").read_text())["hume"]
    assert hume["ridge"] == 0.618
    assert json.loads((out / "seed" / "seeds" / "seeds.json").read_text())["rule"] == "hume"
    for line in text.splitlines():  # the seed step's advice names `seed`'s options: it says so
        if "fewer than" in line:  # (before: "use --shortage relax", which demo does not take)
            assert "the options named are `hume-ssl seed`'s" in line, line
    # a re-run reuses the finished steps (the pretrained encoder is not trained again)
    backbone = Path(summary["paths"]["pretrain"]) / "backbone.pt"
    stamp = backbone.stat().st_mtime_ns
    code, text = _demo("--quick", "--out", str(out))
    assert code == 0, text
    assert backbone.stat().st_mtime_ns == stamp
    # ... and says so, with the steps' own training seconds (before: "learned in 0 s")
    again = json.loads((out / "demo.json").read_text())
    assert again["reused_steps"] == ["pretrain", "fixmatch"] and summary["reused_steps"] == []
    trained = json.loads((Path(summary["paths"]["pretrain"]) / "metrics.json").read_text())
    assert again["seconds"]["pretrain"] == round(trained["elapsed_s_total"], 1) > 0
    assert text.count("by an earlier run, reused") == 2
    # ... but only with the same settings: before, --seed-rule consensus (or the full demo)
    # into a quick demo's folder reused its FixMatch run and printed its figures as its own
    before = (out / "demo.json").read_text()
    for args in (["--quick", "--seed-rule", "consensus"], []):
        code, text = _demo(*args, "--out", str(out))
        assert code == 2 and "holds a demo run made with other settings" in text, text
        assert "Traceback" not in text
    assert "seed_rule hume -> consensus" in _demo("--quick", "--seed-rule", "consensus",
                                                  "--out", str(out))[1]
    assert (out / "demo.json").read_text() == before  # nothing was run or rewritten


def test_a_mistyped_seed_rule_is_refused_before_any_work(tmp_path):
    """Before: the pretrain step ran first, the error named `--rule` (seed's option), and
    config.json kept the typo, so the corrected command was refused as other settings."""
    code, text = _demo("--quick", "--seed-rule", "foo", "--out", str(tmp_path / "d"))
    assert code == 2 and "--seed-rule 'foo': use consensus or hume" in text, text
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("kw, says", [(dict(fixmatch_steps=0), "fixmatch_steps 0: must be"),
                                      (dict(hume_restarts=0), "hume_restarts 0: must be"),
                                      (dict(device="gpu"), "bad device 'gpu'")])
def test_demo_settings_are_checked_before_any_work_by_their_own_names(tmp_path, kw, says):
    """Before: fixmatch_steps=0 failed after pretrain and seed had run, named `--steps`, and
    left config.json, which then refused the corrected call as "other settings"."""
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.demo.run import DemoSettings, demo_run

    with pytest.raises(HumeSSLError, match=says):
        demo_run(tmp_path / "d", DemoSettings.quick(**kw), log=lambda m: None)
    assert not (tmp_path / "d").exists()


def test_demo_out_that_cannot_hold_it_is_one_clear_error(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, text = _demo("--quick", "--out", str(blocker))
    assert code == 2 and "is a file" in text and "Traceback" not in text
    assert blocker.read_text() == "x"
    read_only = Path("/proc/hume-ssl-demo")  # procfs: not even root may create a folder there
    code, text = _demo("--quick", "--out", str(read_only))
    assert code == 2 and "not writable" in text and "Traceback" not in text
    assert not read_only.exists()


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    """The full demo (README's first command, default settings), run once for the slow tests
    below: (its --out folder, demo.json)."""
    out = tmp_path_factory.mktemp("full") / "demo"
    code, text = _demo("--out", str(out))
    print(text)
    assert code == 0, text
    return out, json.loads((out / "demo.json").read_text())


@pytest.mark.slow
def test_full_demo_beats_kmeans_on_the_same_images(full_demo):
    """README's first command and the issue's target: a final test accuracy above k-means on
    the same 500 test images (pixels and the learned space), with every output in place."""
    out, s = full_demo
    _check_outputs(out, s)
    assert os.path.isfile(s["paths"]["summary"])
    assert s["test_acc"] > max(s["kmeans_test_acc"].values()), s


@pytest.mark.slow
def test_full_demo_seeds_keep_their_measured_precision(full_demo):
    """Seed precision at least 0.825: one seed of 40 under the lowest the full demo gave at its
    random state 0 on the 2-core CPU (0.850 to 0.900, 2026-12-04..07, the thread count moves
    it: docs/demo_evidence.md). The issue's target of
    0.95 is not met there (README "Known issues": HUME splits the 1s in two clusters seeded
    with 1s); this check was an expected failure asking 0.95, which could not fail."""
    _, s = full_demo
    assert s["seed_precision"] >= 0.825, s


def test_the_settings_chosen_on_the_digits_labels_are_the_ones_the_demo_runs():
    """docs/demo_evidence.md chose the ridge 0.618, the hume rule, 3,000 FixMatch steps and 30
    pretrain epochs with the digits' labels; a change to any of them changes the demo's figures
    and must come with new ones. (That the ridge and the rule reach the seed step: the quick
    demo's test above.)"""
    from hume_ssl.demo.run import DemoSettings

    s = DemoSettings()
    assert (s.hume_ridge, s.seed_rule, s.fixmatch_steps, s.pretrain_epochs, s.per_class) == (
        0.618, "hume", 3000, 30, 4)


def test_a_demo_folder_from_before_config_json_is_checked_by_its_summary(tmp_path):
    """Before (in review): a folder made before OUT/config.json existed passed unchecked."""
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.demo.run import DemoSettings, check_same_settings

    (tmp_path / "demo.json").write_text(json.dumps(
        {"settings": dataclasses.asdict(DemoSettings.quick())}))
    check_same_settings(tmp_path, DemoSettings.quick(device="cpu"))  # the device may differ
    with pytest.raises(HumeSSLError, match="pretrain_epochs 1 -> 30"):
        check_same_settings(tmp_path, DemoSettings())


def test_the_demo_commands_defaults_are_the_demos():
    """DemoInputs repeats DemoSettings' defaults (the CLI does not import the demo at start)."""
    from hume_ssl.cli.inputs import DemoInputs
    from hume_ssl.demo.run import DemoSettings

    cli, api = DemoInputs(), DemoSettings()
    assert (cli.seed_rule, cli.device) == (api.seed_rule, api.device)
