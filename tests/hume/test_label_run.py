"""`hume-ssl label`: outputs, every bad input, and resume after an interruption."""

import json
import re

import numpy as np
import pytest
from conftest import strict_load
from typer.testing import CliRunner

from hume_ssl.cli import app
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.outputs import OUTPUT_FILES
from hume_ssl.hume.run import label_run

runner = CliRunner()


@pytest.fixture
def files(tmp_path, blobs):
    phi1, phi2, y = blobs
    paths = {}
    for name, arr in (("phi1", phi1), ("phi2", phi2), ("y", y)):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


def _run(args):
    res = runner.invoke(app, args)
    return res.exit_code, res.output + (str(res.exception) if res.exception else "")


def _label(paths, out, *options):
    """`hume-ssl label` on paths["phi1"], paths["phi2"] into `out`, plus options."""
    return _run(["label", "--phi1", str(paths["phi1"]), "--phi2", str(paths["phi2"]),
                 "--out", str(out), *options])


def test_label_writes_documented_outputs(files, tmp_path):
    out = tmp_path / "run"
    code, text = _label(files, out, "--k", "3", "--restarts", "4", "--steps", "40",
                        "--labels", str(files["y"]))
    assert code == 0, text
    # every output OUTPUT_FILES documents (test rows' aside: none given), with its documented
    # shape and dtype (before: a hand-copied list, which left out phi1_mean.npy)
    sizes = {"R": 4, "N": 180, "k": 3, "d1": np.load(files["phi1"]).shape[1]}
    for name, doc in OUTPUT_FILES.items():
        if name.startswith("test_"):
            assert not (out / name).exists(), name
            continue
        assert (out / name).exists(), name
        if name.endswith(".npy"):
            shape, dtype = re.match(r"\((.*?)\) (\w+):", doc).groups()
            a = np.load(out / name)
            assert a.shape == tuple(sizes[d.strip()] for d in shape.split(",") if d.strip()), name
            assert a.dtype == np.dtype(dtype), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["n_samples"] == 180 and len(cfg["input_hash"]) == 16
    assert cfg["hume"]["n_restarts"] == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ensemble"]["acc"] > 0.9 and len(metrics["restarts"]) == 4
    assert np.load(out / "labelings.npy").shape == (4, 180)


def _bad(tmp_path, files, blobs, case):
    phi1, phi2, y = blobs
    p = dict(files)
    extra = []
    if case == "rows":
        np.save(tmp_path / "short.npy", phi2[:-1])
        p["phi2"] = tmp_path / "short.npy"
    elif case == "nan":
        bad = phi1.copy()
        bad[7, 2] = np.nan
        np.save(tmp_path / "nan.npy", bad)
        p["phi1"] = tmp_path / "nan.npy"
    elif case == "inf":
        bad = phi2.copy()
        bad[3, 0] = np.inf
        np.save(tmp_path / "inf.npy", bad)
        p["phi2"] = tmp_path / "inf.npy"
    elif case == "missing":
        p["phi1"] = tmp_path / "nope.npy"
    elif case == "unreadable":
        (tmp_path / "junk.npy").write_bytes(b"not a numpy file")
        p["phi1"] = tmp_path / "junk.npy"
    elif case == "labels":
        np.save(tmp_path / "ylen.npy", y[:-3])
        extra = ["--labels", str(tmp_path / "ylen.npy")]
    return p, extra


@pytest.mark.parametrize(
    "case,needle",
    [
        ("rows", "same samples"),
        ("nan", "NaN or inf"),
        ("inf", "NaN or inf"),
        ("missing", "not found"),
        ("unreadable", "cannot read"),
        ("labels", "entries"),
    ],
)
def test_bad_inputs_fail_clearly_and_write_nothing(tmp_path, files, blobs, case, needle):
    p, extra = _bad(tmp_path, files, blobs, case)
    out = tmp_path / "out"
    code, text = _label(p, out, "--k", "3", "--restarts", "2", "--steps", "5", *extra)
    assert code == 2, text
    assert needle in text
    assert not out.exists()


@pytest.mark.parametrize("k,needle", [(1, "at least 2"), (500, "larger than the number")])
def test_bad_k(tmp_path, files, k, needle):
    out = tmp_path / "out"
    code, text = _label(files, out, "--k", str(k))
    assert code == 2 and needle in text and not out.exists()


def test_out_not_writable(tmp_path, files):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, text = _label(files, blocker / "sub", "--k", "3", "--steps", "3")
    assert code == 2 and f"{blocker} is a file, not a folder" in text, text
    code, text = _label(files, blocker, "--k", "3", "--steps", "3")  # before: "File exists"
    assert code == 2 and f"{blocker} is a file, not a folder" in text, text
    assert blocker.read_text() == "x"


def test_interrupted_run_resumes_without_recomputing(tmp_path, files):
    cfg = HumeConfig(k=3, n_restarts=20, n_steps=15, chunk_size=8, random_state=1)
    chunks = []

    def die_after_two_chunks(event, info):
        if event == "chunk":
            chunks.append(info["restarts"])
            if len(chunks) == 3:
                raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        label_run(files["phi1"], files["phi2"], out, cfg, callback=die_after_two_chunks)
    assert len(list((out / "chunks").glob("*.npz"))) == 2
    assert not (out / "labels.npy").exists()

    seen = []
    label_run(
        files["phi1"],
        files["phi2"],
        out,
        cfg.replace(chunk_size=16),
        callback=lambda e, i: seen.append(i["restarts"]) if e == "chunk" else None,
    )
    assert seen == [list(range(16, 20))]  # restarts 0-15 came from the saved chunks
    resumed = np.load(out / "labelings.npy")

    fresh = tmp_path / "fresh"
    label_run(files["phi1"], files["phi2"], fresh, cfg.replace(chunk_size=24))
    assert (np.load(fresh / "labelings.npy") == resumed).all()


def test_results_are_identical_for_any_chunk_size(tmp_path, files):
    """The issue's case: a chunk size changed labels. Restarts run in fixed lanes now."""
    runs = {}
    for chunk in (0, 3, 8, 16):  # 3 rounds up to one lane (8)
        out = tmp_path / f"c{chunk}"
        label_run(files["phi1"], files["phi2"], out,
                  HumeConfig(k=3, n_restarts=20, n_steps=40, chunk_size=chunk, random_state=2))
        runs[chunk] = {n: np.load(out / n) for n in ("labels.npy", "labelings.npy",
                                                     "encoders.npy", "scores.npy")}
    for chunk in (3, 8, 16):
        for name, arr in runs[0].items():
            np.testing.assert_array_equal(runs[chunk][name], arr, err_msg=f"{chunk} {name}")


def test_a_kill_inside_a_chunk_loses_at_most_the_checkpoint_interval(tmp_path, files):
    cfg = HumeConfig(k=3, n_restarts=10, n_steps=60, checkpoint_every=10, random_state=4)
    out = tmp_path / "run"

    def die_at_step_35(event, info):
        if event == "step" and info["step"] == 35:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        label_run(files["phi1"], files["phi2"], out, cfg, callback=die_at_step_35)
    assert (out / "chunks" / "partial.pt").exists() and not list((out / "chunks").glob("*.npz"))
    steps = []
    label_run(files["phi1"], files["phi2"], out, cfg,
              callback=lambda e, i: steps.append(i["step"]) if e == "step" else None)
    assert steps[0] == 30 and not (out / "chunks" / "partial.pt").exists()  # resumed at 30
    fresh = tmp_path / "fresh"
    label_run(files["phi1"], files["phi2"], fresh, cfg.replace(checkpoint_every=0))
    for name in ("labelings.npy", "encoders.npy", "scores.npy"):
        np.testing.assert_array_equal(np.load(out / name), np.load(fresh / name), err_msg=name)


def test_chunks_from_other_inputs_are_refused(tmp_path, files, blobs):
    cfg = HumeConfig(k=3, n_restarts=2, n_steps=5)
    out = tmp_path / "run"
    label_run(files["phi1"], files["phi2"], out, cfg)
    np.save(tmp_path / "other.npy", blobs[1] * 2)
    with pytest.raises(HumeSSLError, match=r"other inputs or settings than this run \(the "
                                           r"input features\)"):
        label_run(files["phi1"], tmp_path / "other.npy", out, cfg.replace(n_restarts=4))
    with pytest.raises(HumeSSLError, match=r"than this run \(n_steps 5 -> 6\)"):  # says which
        label_run(files["phi1"], files["phi2"], out, cfg.replace(n_steps=6))


def test_full_disk_keeps_finished_chunks_and_no_partial_outputs(tmp_path, files, monkeypatch):
    """A disk that fills up during `label`: a clear error (exit 2), the chunks finished before
    it kept, no half-written or mixed outputs; the same command resumes once there is space."""
    import errno

    import hume_ssl.core.io as io

    cfg = HumeConfig(k=3, n_restarts=20, n_steps=10, chunk_size=8, random_state=1)
    out = tmp_path / "run"
    real_fsync, calls = io.os.fsync, []

    def fills_up(fd):  # the 3rd file write (the third chunk) finds the disk full
        calls.append(fd)
        if len(calls) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(io.os, "fsync", fills_up)
    code, text = _label(files, out, "--k", "3", "--restarts", "20", "--steps", "10",
                        "--chunk-size", "8", "--seed", "1")
    assert code == 2 and "no space left" in text and "Traceback" not in text, text
    assert sorted(p.name for p in (out / "chunks").iterdir()) == [
        "restarts_00000-00007.npz", "restarts_00008-00015.npz"]
    assert not [p for p in out.rglob("*") if p.is_file() and p.parent == out]  # no outputs
    assert not list(out.rglob("*.tmp"))

    monkeypatch.setattr(io.os, "fsync", real_fsync)
    seen = []
    label_run(files["phi1"], files["phi2"], out, cfg,
              callback=lambda e, i: seen.append(i["restarts"]) if e == "chunk" else None)
    assert seen == [list(range(16, 20))]  # only the chunk that could not be saved is redone
    fresh = tmp_path / "fresh"
    label_run(files["phi1"], files["phi2"], fresh, cfg)
    assert (np.load(out / "labelings.npy") == np.load(fresh / "labelings.npy")).all()


def test_full_disk_while_writing_outputs_removes_them(tmp_path, files, monkeypatch):
    import errno

    import hume_ssl.core.io as io

    cfg = HumeConfig(k=3, n_restarts=2, n_steps=5)
    out = tmp_path / "run"
    real_save, saved = io.atomic_save_npy, []

    def full_after_three(path, arr):
        if len(saved) == 3:
            raise io.disk_full_error(path, OSError(errno.ENOSPC, "No space left on device"))
        saved.append(path)
        return real_save(path, arr)

    monkeypatch.setattr("hume_ssl.hume.outputs.atomic_save_npy", full_after_three)
    with pytest.raises(HumeSSLError, match="no space left"):
        label_run(files["phi1"], files["phi2"], out, cfg)
    assert len(saved) == 3 and not any(p.exists() for p in saved)
    assert list((out / "chunks").glob("*.npz"))  # the HUME work is kept for the re-run


def test_one_restart_outputs_are_strict_json(tmp_path, files):
    out = tmp_path / "run"
    label_run(files["phi1"], files["phi2"], out, HumeConfig(k=3, n_restarts=1, n_steps=3),
              labels=files["y"])
    for name in ("config.json", "metrics.json"):
        strict_load(out / name)


def test_output_paths_are_never_wrapped(tmp_path, files):
    """A script reads the run folder from stdout: long paths must stay on one line."""
    out = tmp_path / ("a_rather_long_folder_name_" * 4) / "run"
    code, text = _label(files, out, "--k", "3", "--restarts", "2", "--steps", "5")
    assert code == 0, text
    assert f"outputs in {out}/" in text
    assert "restart-steps" in text  # the plain progress lines (not a terminal)
    # the files the run wrote, as its config.json records them (before: a list typed in the
    # CLI, without phi1_mean.npy, which every centred run writes)
    listed = text.split(f"outputs in {out}/ (")[1].split(")")[0].split(", ")
    assert "phi1_mean.npy" in listed and listed == list(strict_load(out / "config.json")[
        "outputs"]), text


# ---------------------------------------------------------------- reliability round 3 (issue 26)
def test_negative_labels_are_refused_before_hume(tmp_path, files, blobs):
    np.save(tmp_path / "neg.npy", blobs[2] - 1)  # -1, 0, 1: numpy's bincount failed after HUME
    out = tmp_path / "out"
    code, text = _label(files, out, "--k", "3", "--labels", str(tmp_path / "neg.npy"))
    assert code == 2 and "negative labels" in text and "index 0" in text, text
    assert not out.exists()


@pytest.mark.parametrize("flag,value", [("--ridge", "inf"), ("--lr", "nan"), ("--tau", "nan"),
                                        ("--gamma", "nan"), ("--lr", "inf"), ("--lr", "0")])
def test_non_finite_numbers_are_refused_before_any_work(tmp_path, files, flag, value):
    out = tmp_path / "out"
    code, text = _label(files, out, "--k", "3", flag, value)
    assert code == 2 and f"{flag} {value}: must be a finite number" in text, text
    assert "Traceback" not in text and not out.exists()
    with pytest.raises(HumeSSLError, match=flag):
        HumeConfig(**{flag[2:]: float(value)}).validate()


@pytest.mark.parametrize("args,message", [
    (["--encoder-init", "foo"], "--encoder-init 'foo': use gaussian or kmeans."),
    (["--score-rows", "5"], "--score-rows 5: use 0 (automatic) or at least 20"),
    (["--k", "500"], "--k 500 is larger than the number of samples"),
    # before: accepted, though --k-range stops at N - 1 (each sample its own class)
    (["--k", "180"], "--k 180 is equal to the number of samples (180); lower --k (at most 179)"),
])
def test_errors_of_choices_and_row_counts_name_the_flag(tmp_path, files, args, message):
    """Before: "encoder_init='foo': ...", "score_rows=5: ...", "k=500 ...": Python field names
    the command line has no option for."""
    out = tmp_path / "out"
    code, text = _label(files, out, "--k", "3", *args)
    assert code == 2 and message in text, text
    assert "Traceback" not in text and not out.exists()


def test_a_short_write_on_a_full_disk_says_what_was_kept_and_the_command(tmp_path, files,
                                                                         monkeypatch):
    """numpy reports a full disk as OSError("N requested and M written") without an errno:
    before, a raw traceback; now one line, the chunks kept, the exact command to continue."""
    import sys

    import hume_ssl.core.io as io

    def short_write(path, arr):
        with io._atomic_file(path):
            raise OSError("192000 requested and 64496 written")

    monkeypatch.setattr("hume_ssl.hume.outputs.atomic_save_npy", short_write)
    out = tmp_path / "run"
    args = ["label", "--phi1", str(files["phi1"]), "--phi2", str(files["phi2"]), "--out",
            str(out), "--k", "3", "--restarts", "2", "--steps", "3"]
    monkeypatch.setattr(sys, "argv", ["hume-ssl", *args])
    code, text = _run(args)
    assert code == 2 and "Traceback" not in text, text
    assert f"finished HUME restarts are kept in {out}/chunks" in text
    assert "continue with: hume-ssl label --phi1" in text
    assert list((out / "chunks").glob("*.npz")) and not (out / "labels.npy").exists()


def test_labels_test_prints_test_acc_and_writes_the_same_test_outputs(tmp_path, files, blobs):
    phi1, phi2, y = blobs
    for name, arr in (("t1", phi1[::6]), ("t2", phi2[::6]), ("ty", y[::6])):
        np.save(tmp_path / f"{name}.npy", arr)
    out = tmp_path / "run"
    code, text = _label(files, out, "--k", "3", "--restarts", "4", "--steps", "40",
                        "--phi1-test", str(tmp_path / "t1.npy"), "--phi2-test",
                        str(tmp_path / "t2.npy"), "--labels-test", str(tmp_path / "ty.npy"))
    assert code == 0, text
    line = next(r for r in text.splitlines() if "test: ensemble" in r)
    assert float(line.split("│")[3]) > 0.9  # the test rows' ACC, printed
    for name in ("labels", "labelings", "agreement", "margins"):  # the same as for train
        assert np.load(out / f"test_{name}.npy").shape[-1] == 30, name
    assert json.loads((out / "metrics.json").read_text())["test_ensemble"]["acc"] > 0.9


def test_a_resumed_run_counts_only_the_steps_it_runs(tmp_path, files):
    """A chunk resumed from its checkpoint at step 10 of 20 runs 10 steps: the display's total
    (and so its ETA) counts those, not the 10 done before."""
    from io import StringIO

    from rich.console import Console

    from hume_ssl.cli.progress import hume_progress

    cfg = HumeConfig(k=3, n_restarts=8, n_steps=20, checkpoint_every=5, random_state=4)
    out = tmp_path / "run"

    def die_at_step_12(event, info):
        if event == "step" and info["step"] == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        label_run(files["phi1"], files["phi2"], out, cfg, callback=die_at_step_12)
    buf = StringIO()
    with hume_progress(Console(file=buf, force_terminal=False, width=200)) as cb:
        label_run(files["phi1"], files["phi2"], out, cfg, callback=cb)
    last = [r for r in buf.getvalue().splitlines() if r.startswith("restart-steps")][-1]
    assert last.startswith("restart-steps 80/80 "), buf.getvalue()


def test_a_constant_feature_file_names_what_a_cli_user_can_do(tmp_path, files):
    np.save(tmp_path / "const.npy", np.ones((180, 12), np.float32))
    out = tmp_path / "out"
    code, text = _label({**files, "phi1": tmp_path / "const.npy"}, out, "--k", "3")
    assert code == 2 and "constant" in text and "--force" in text, text
    assert "pass normalize=False" not in text and not out.exists()


def test_inductive_test_rows_added_or_dropped_reuse_the_finished_restarts(files, tmp_path):
    """Before: `label ... --phi1-test T1 --phi2-test T2` re-run without the test files (or the
    other way round) refused its own restarts as "made from other inputs", though inductive
    test rows are only labelled after the fit."""
    x1, x2 = np.load(files["phi1"]), np.load(files["phi2"])
    np.save(tmp_path / "t1.npy", x1[:20])
    np.save(tmp_path / "t2.npy", x2[:20])
    out, opts = tmp_path / "run", ("--k", "3", "--restarts", "4", "--steps", "20")
    test = ("--phi1-test", str(tmp_path / "t1.npy"), "--phi2-test", str(tmp_path / "t2.npy"))
    code, text = _label(files, out, *opts, *test)
    assert code == 0 and (out / "test_labels.npy").exists(), text
    labels = np.load(out / "labels.npy")
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "chunks").iterdir()}
    code, text = _label(files, out, *opts)  # the test files dropped
    assert code == 0, text
    assert {p.name: p.stat().st_mtime_ns for p in (out / "chunks").iterdir()} == stamps
    assert np.array_equal(np.load(out / "labels.npy"), labels)
    assert not (out / "test_labels.npy").exists()  # the earlier run's test outputs: removed
    code, text = _label(files, out, *opts, *test, "--transductive")  # fitted on: other restarts
    assert code == 2 and "other inputs or settings" in text, text


def test_transductive_without_test_rows_is_refused(files, tmp_path):
    """Before: --transductive without --phi1-test/--phi2-test was silently ignored."""
    code, text = _label(files, tmp_path / "run", "--k", "3", "--transductive")
    assert code == 2 and "pass --phi1-test and --phi2-test with it" in text, text
    assert not (tmp_path / "run").exists()


def test_a_fit_that_crashes_leaves_no_empty_run_folder(tmp_path, files, monkeypatch):
    """Before: only refused inputs (HumeSSLError) removed the new run folder; a crash inside the
    fit (it was k > the rank of space 1 from the k-means start) or Ctrl-C left it empty."""
    from hume_ssl.hume.estimator import Hume

    def crash(self, *a, **kw):
        (self.checkpoint_dir / "chunks").mkdir(parents=True, exist_ok=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(Hume, "fit", crash)
    out = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        label_run(files["phi1"], files["phi2"], out, HumeConfig(k=3, n_restarts=2, n_steps=1))
    assert not out.exists()


def test_a_rerun_without_labels_removes_the_earlier_runs_metrics(tmp_path, files):
    """Before: metrics.json of a run with --labels stayed beside a re-run's outputs without
    them, and no longer described its labels."""
    out = tmp_path / "run"
    cfg = HumeConfig(k=3, n_restarts=2, n_steps=5)
    label_run(files["phi1"], files["phi2"], out, cfg, labels=files["y"])
    assert (out / "metrics.json").exists()
    label_run(files["phi1"], files["phi2"], out, cfg)
    assert not (out / "metrics.json").exists()
    assert "metrics.json" not in json.loads((out / "config.json").read_text())["outputs"]
    assert (out / "labels.npy").exists() and (out / "chunks").is_dir()  # (the chunks resumed)


def test_removing_an_empty_run_folder_another_rank_removed_first_is_quiet(tmp_path):
    """Before: under torchrun a failed `label` run's ranks each removed the same new, empty
    --out; the slower one's FileNotFoundError replaced its error message with a traceback."""
    from hume_ssl.hume.run import _remove_empty_dirs

    (tmp_path / "run" / "chunks").mkdir(parents=True)
    _remove_empty_dirs(tmp_path / "run")  # the first rank
    assert not (tmp_path / "run").exists()
    _remove_empty_dirs(tmp_path / "run")  # the second: nothing left, nothing raised


def test_label_never_writes_into_another_commands_run(tmp_path, files):
    """Before: `label --out` a train-fixmatch folder overwrote its config.json and removed its
    metrics.json as a stale output of label's."""
    run = tmp_path / "fm"
    run.mkdir()
    (run / "config.json").write_text('{"command": "train-fixmatch"}')
    (run / "metrics.json").write_text("{}")
    with pytest.raises(HumeSSLError, match=r"holds a `train-fixmatch` run \(its config.json\), "
                                           "not a label run: choose another --out"):
        label_run(files["phi1"], files["phi2"], run, HumeConfig(k=3, n_restarts=2, n_steps=2))
    assert (run / "metrics.json").exists() and "train-fixmatch" in (run / "config.json"
                                                                   ).read_text()
    seeds = tmp_path / "seeds"  # a seeds folder: its record is seeds.json (no config.json)
    seeds.mkdir()
    (seeds / "seeds.json").write_text("{}")
    with pytest.raises(HumeSSLError, match=r"holds a `seed` run"):
        label_run(files["phi1"], files["phi2"], seeds, HumeConfig(k=3, n_restarts=2, n_steps=2))


def test_a_rerun_stopped_while_writing_leaves_no_record_of_replaced_files(tmp_path, files,
                                                                         monkeypatch):
    """Before: a Ctrl-C while a re-run replaced the outputs removed the files it had replaced
    (its roll-back), while the earlier run's config.json still listed them."""
    import hume_ssl.hume.outputs as outputs

    out = tmp_path / "run"
    cfg = HumeConfig(k=3, n_restarts=2, n_steps=2)
    label_run(files["phi1"], files["phi2"], out, cfg)
    real, calls = outputs.atomic_save_npy, []

    def stopped(path, arr):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, arr)

    monkeypatch.setattr(outputs, "atomic_save_npy", stopped)
    with pytest.raises(KeyboardInterrupt):
        label_run(files["phi1"], files["phi2"], out, cfg)
    assert not (out / "config.json").exists()  # the folder claims nothing
    monkeypatch.setattr(outputs, "atomic_save_npy", real)
    label_run(files["phi1"], files["phi2"], out, cfg)  # the same command restores it
    assert set(strict_load(out / "config.json")["outputs"]) <= {p.name for p in out.iterdir()}
