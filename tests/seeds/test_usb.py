"""Seeds in USB (semilearn 0.3.x): `export --format usb` writes train_usb.py, which trains USB's
own Trainer on our pseudo-labels. The `interop` tests need semilearn (pip install -e ".[usb]")
and are skipped without it; the bad-input tests run everywhere."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.datasets import load_dataset
from hume_ssl.seeds.artifact import read_seeds, write_seeds
from hume_ssl.seeds.export import export_seeds

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _digit_seeds(folder: Path) -> Path:
    """3 seeds per class of the digits train split, labelled with a PERMUTATION of the truth
    (cluster ids are not class ids): targets equal to these cannot come from ground truth."""
    ds = load_dataset("digits", "train")
    idx = np.concatenate([np.flatnonzero(ds.labels == c)[:3] for c in range(10)])
    pseudo = (ds.labels[idx] + 3) % 10
    n = len(idx)
    write_seeds(folder, idx, pseudo, np.ones((n, 3), np.float32), np.ones(len(ds), np.float32),
                {"dataset": "digits", "split": "train", "n_samples": len(ds),
                 "order_hash": ds.order_hash, "k": 10})
    return folder


def _run(*args, cwd=None):
    r = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True,
                       text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


def test_train_usb_refuses_seeds_of_another_dataset(tmp_path):
    seeds = _digit_seeds(tmp_path / "seeds")
    export_seeds(read_seeds(seeds_dir=seeds), "usb", tmp_path / "usb", seeds_dir=seeds)
    other = tmp_path / "other"
    other.mkdir()
    np.save(other / "indices.npy", np.array([0, 1]))
    np.save(other / "pseudo_labels.npy", np.array([0, 1]))
    (other / "seeds.json").write_text('{"dataset": "cifar10", "split": "train", '
                                      '"n_samples": 50000, "order_hash": "x", "k": 10}')
    code, text = _run(str(tmp_path / "usb" / "train_usb.py"), "--seeds", str(other))
    assert code == 2, text
    assert "seeds of 'cifar10'" in text and "hume-ssl export" in text and "--format usb" in text
    assert "Traceback" not in text


def test_a_copied_export_folder_names_the_seeds_option(tmp_path):
    """Before: train_usb.py copied to another machine (its seeds folder elsewhere) stopped
    with "seeds folder not found: ...", naming no option."""
    import shutil

    seeds = _digit_seeds(tmp_path / "seeds")
    export_seeds(read_seeds(seeds_dir=seeds), "usb", tmp_path / "usb", seeds_dir=seeds)
    shutil.move(seeds, tmp_path / "moved")
    code, text = _run(str(tmp_path / "usb" / "train_usb.py"))
    assert code == 2 and "pass --seeds PATH" in text and "Traceback" not in text, text


def test_missing_semilearn_names_the_install(tmp_path, monkeypatch):
    from hume_ssl.seeds.usb import train_usb

    seeds = _digit_seeds(tmp_path / "seeds")
    monkeypatch.setitem(sys.modules, "semilearn", None)  # import semilearn -> ImportError
    with pytest.raises(HumeSSLError, match=re.escape('pip install -e ".[usb]"')):
        train_usb(seeds, tmp_path / "run", iterations=2)
    assert not (tmp_path / "run").exists()


def test_train_usb_reads_the_exported_seeds_of_feature_files_and_refuses_changed_ones(
        tmp_path, monkeypatch):
    """Before: the train_usb.py of feature-file seeds (seeds.json names no dataset) stopped
    with "pass --dataset NAME", an option it has no; and after a `seed` re-run into the same
    folder it trained on the new seeds beside the old labeled_idx.npy."""
    import json

    from hume_ssl.seeds.usb import train_usb

    seeds = _digit_seeds(tmp_path / "seeds")
    meta = json.loads((seeds / "seeds.json").read_text())
    meta.update(dataset=None, order_hash_kind="features")  # as `seed --phi1 --phi2` writes
    (seeds / "seeds.json").write_text(json.dumps(meta))
    export_seeds(read_seeds(seeds_dir=seeds, dataset="digits"), "usb", tmp_path / "usb",
                 seeds_dir=seeds)
    script = (tmp_path / "usb" / "train_usb.py").read_text()
    expected = eval(re.search(r"^EXPECTED = (.*)$", script, re.M).group(1))  # noqa: S307
    monkeypatch.setitem(sys.modules, "semilearn", None)  # stop at USB's import: seeds read
    with pytest.raises(HumeSSLError, match="semilearn"):
        train_usb(seeds, tmp_path / "run", iterations=2, expected=expected)
    from hume_ssl.seeds.artifact import write_seeds

    lab = np.load(seeds / "pseudo_labels.npy")  # a `seed` re-run into the folder: new seeds
    write_seeds(seeds, np.load(seeds / "indices.npy"), (lab + 1) % 10,
                np.load(seeds / "scores.npy"), np.load(seeds / "knn_consistency.npy"), meta)
    with pytest.raises(HumeSSLError, match="changed since this train_usb.py was exported"):
        train_usb(seeds, tmp_path / "run", iterations=2, expected=expected)


class _Registry:
    """semilearn 0.3.2's name2alg Register: keys() and `in`, but no iteration (__getitem__
    without __iter__: sorted(name2alg) raised KeyError: 0)."""

    def __init__(self, names):
        self._d = dict.fromkeys(names)

    def keys(self):
        return self._d.keys()

    def __contains__(self, name):
        return name in self._d

    def __getitem__(self, name):
        return self._d[name]


def test_train_usb_names_its_algorithms_and_refuses_what_cannot_run(tmp_path, monkeypatch):
    """Before: a typo (--algorithm fixmach) gave a KeyError traceback; crmatch, remixmatch and
    dash failed inside USB after the data was loaded; --device cuda without CUDA ran on the
    CPU and said so only at the end."""
    import types

    from hume_ssl.seeds.usb import train_usb

    seeds = _digit_seeds(tmp_path / "seeds")
    fake = types.ModuleType("semilearn")
    algorithms = types.ModuleType("semilearn.algorithms")
    algorithms.name2alg = _Registry(["fixmatch", "crmatch", "flexmatch"])
    monkeypatch.setitem(sys.modules, "semilearn", fake)
    monkeypatch.setitem(sys.modules, "semilearn.algorithms", algorithms)
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.3.2")
    with pytest.raises(HumeSSLError, match="unknown USB algorithm 'fixmach'; choose one of "
                       "fixmatch, flexmatch."):
        train_usb(seeds, tmp_path / "run", algorithm="fixmach", iterations=2)
    with pytest.raises(HumeSSLError, match="'crmatch' does not train through USB's Trainer"):
        train_usb(seeds, tmp_path / "run", algorithm="crmatch", iterations=2)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(HumeSSLError, match="'cuda' asked for, but CUDA is not available here"):
        train_usb(seeds, tmp_path / "run", device="cuda", iterations=2)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    with pytest.raises(HumeSSLError, match="cuda:1 asked for, but this machine has 1 GPU"):
        train_usb(seeds, tmp_path / "run", device="cuda:1", iterations=2)  # before: USB's error
    with pytest.raises(HumeSSLError, match="bad device 'gpu'"):
        train_usb(seeds, tmp_path / "run", device="gpu", iterations=2)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- with USB installed
README_USB = [  # README.md, "USB": the commands this test runs, word for word
    'hume-ssl demo --quick --out usb-demo',
    'hume-ssl export usb-demo/seed/seeds --format usb --out usb-demo/usb',
    'python usb-demo/usb/train_usb.py --iterations 2 --batch-size 4 --uratio 2 --num-workers 0 '
    '--device cpu',
]


def test_readme_usb_section_is_what_the_interop_test_runs():
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("### USB"):]
    for line in README_USB:
        assert f"    {line}\n" in block, line


@pytest.mark.interop
def test_usb_trains_on_our_pseudo_labels(tmp_path):
    pytest.importorskip("semilearn")
    for line in README_USB:
        words = line.split()
        args = ["-m", "hume_ssl", *words[1:]] if words[0] == "hume-ssl" else words[1:]
        code, text = _run(*args, cwd=tmp_path)
        assert code == 0, f"{line}\n{text[-3000:]}"
    print(text.strip().splitlines()[-1])
    import json

    run = tmp_path / "usb-demo" / "usb" / "usb_run"
    summary = json.loads((run / "usb_summary.json").read_text())
    assert summary["iterations"] == 2 and summary["algorithm"] == "fixmatch"
    seeds = read_seeds(seeds_dir=tmp_path / "usb-demo" / "seed" / "seeds")
    # what USB's train_step received: (train index, target) of every labeled sample
    index, target = np.load(run / "lb_batches.npy")
    assert len(index) == 2 * 4
    lookup = dict(zip(seeds.indices.tolist(), seeds.labels.tolist()))
    assert target.tolist() == [lookup[i] for i in index.tolist()]
    assert summary["labeled_targets_equal_pseudo_labels"] is True
    assert (run / "usb" / "latest_model.pth").is_file()


@pytest.mark.interop
def test_usb_datasets_hold_pseudo_labels_and_the_rest_unlabeled(tmp_path):
    pytest.importorskip("semilearn")
    from hume_ssl.seeds.usb import usb_datasets

    s = read_seeds(seeds_dir=_digit_seeds(tmp_path / "seeds"))
    d = usb_datasets(s, "fixmatch")
    truth = load_dataset("digits", "train")
    assert np.asarray(d["train_lb"].targets).tolist() == s.labels.tolist()
    assert np.asarray(d["train_lb"].targets).tolist() != truth.labels[s.indices].tolist()
    assert (d["train_lb"].data == truth.images_uint8()[s.indices]).all()
    assert len(d["train_ulb"]) == len(truth) - len(s.indices) and d["train_ulb"].targets is None
    assert not set(d["info"]["ulb_index"].tolist()) & set(s.indices.tolist())
    item = d["train_ulb"][0]
    assert {"x_ulb_w", "x_ulb_s"} <= set(item) and item["x_ulb_w"].shape == (3, 8, 8)
    assert len(d["eval"]) == 500


@pytest.mark.interop
def test_usb_datasets_cover_the_test_classes_and_resize_on_request(tmp_path):
    """Before: seeds of 5 clusters on the 10 digits gave USB an eval set whose targets reached
    past its 5 outputs: its evaluation failed at the last iteration (cross_entropy: target 5
    out of bounds), losing the run; and
    an image folder of several sizes could not be trained (train_usb.py had no --image-size)."""
    pytest.importorskip("semilearn")
    from PIL import Image

    from hume_ssl.seeds.usb import usb_datasets

    s = read_seeds(seeds_dir=_digit_seeds(tmp_path / "seeds"))
    s.labels, s.k = s.labels % 5, 5
    d = usb_datasets(s, "fixmatch")  # 5 outputs: unseeded ones would skew the uniform priors
    assert d["info"]["k"] == 5 and max(d["eval"].targets) < 5
    assert d["info"]["eval_truth"].max() == 9  # our accuracy's truth
    folder = tmp_path / "imgs" / "a"
    folder.mkdir(parents=True)
    for i, size in enumerate([(12, 9), (10, 10), (9, 12), (10, 10)]):
        Image.fromarray(np.full((*size, 3), 30 * i, np.uint8)).save(folder / f"{i}.png")
    ds = load_dataset(f"imagefolder:{tmp_path / 'imgs'}", "train")
    write_seeds(tmp_path / "s2", np.array([0, 1]), np.array([0, 1]), np.ones((2, 3), np.float32),
                np.ones(4, np.float32), {"dataset": ds.name, "split": "train", "n_samples": 4,
                                         "order_hash": ds.order_hash, "k": 2})
    d = usb_datasets(read_seeds(seeds_dir=tmp_path / "s2"), "fixmatch", image_size=8)
    assert d["train_lb"].data.shape == (2, 8, 8, 3) and d["info"]["img_size"] == 8


@pytest.mark.parametrize("kw, message", [
    (dict(lr=0.0), "--lr 0: must be"),
    (dict(lr=float("nan")), "--lr nan: must be"),
    (dict(iterations=2.5), "--iterations 2.5: must be a whole number"),
    (dict(image_size=4), r"--image-size 4: must be a whole number in \[8, 1024\]"),
    (dict(num_workers=-1), "--num-workers -1: must be"),
])
def test_train_usb_checks_its_settings_before_semilearn(tmp_path, monkeypatch, kw, message):
    """Before: lr 0, negative or NaN went to USB's optimizer, float counts were accepted, and
    image_size had no upper bound (train-fixmatch's --image-size: [8, 1024])."""
    from hume_ssl.seeds.usb import train_usb

    seeds = _digit_seeds(tmp_path / "seeds")
    monkeypatch.setitem(sys.modules, "semilearn", None)  # checked before semilearn is needed
    with pytest.raises(HumeSSLError, match=message):
        train_usb(seeds, tmp_path / "run", **kw)


def test_train_usb_script_defaults_are_train_usbs(tmp_path, monkeypatch):
    """The exported script's defaults come from train_usb's signature (before: typed twice)."""
    import hume_ssl.seeds.usb as usb

    seeds = _digit_seeds(tmp_path / "seeds")
    import inspect

    sig = inspect.signature(usb.train_usb)
    changed = {"iterations": 123, "lr": 0.5}

    def other(*a, **k):
        pass

    other.__signature__ = sig.replace(parameters=[
        q.replace(default=changed.get(name, q.default)) for name, q in sig.parameters.items()])
    monkeypatch.setattr(usb, "train_usb", other)
    export_seeds(read_seeds(seeds_dir=seeds), "usb", tmp_path / "usb", seeds_dir=seeds)
    code, text = _run(str(tmp_path / "usb" / "train_usb.py"), "--help")
    assert code == 0 and "(default: 123)" in text and "(default: 0.5)" in text, text
