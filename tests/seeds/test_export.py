import json

import numpy as np
import pytest

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.seeds.artifact import Seeds
from hume_ssl.seeds.export import export_seeds, load_any_seeds


def _seeds_dir(tmp_path, dataset="cifar10"):
    d = tmp_path / "seeds"
    d.mkdir()
    np.save(d / "indices.npy", np.array([5, 17, 42, 8]))
    np.save(d / "pseudo_labels.npy", np.array([0, 0, 1, 1]))
    (d / "seeds.json").write_text(
        json.dumps(
            {"dataset": dataset, "split": "train", "n_samples": 50, "order_hash": "x", "k": 2}
        )
    )
    return d


@pytest.mark.parametrize("fmt", ["usb", "torchssl", "csv"])
def test_exports_round_trip(tmp_path, fmt):
    s = load_any_seeds(_seeds_dir(tmp_path))
    export_seeds(s, fmt, tmp_path / "out", seeds_dir=tmp_path / "seeds")
    out = tmp_path / "out"
    if fmt == "csv":
        back = load_any_seeds(out / "seeds.csv", dataset="cifar10")
        idx, lab = back.indices.tolist(), back.labels.tolist()
    elif fmt == "torchssl":  # what TorchSSL reads from {save_dir}/{save_name}/: indices only
        idx, lab = np.load(out / "sampled_label_idx.npy").tolist(), [0, 0, 1, 1]
        assert sorted(p.name for p in out.iterdir()) == ["README.txt", "sampled_label_idx.npy"]
        assert "GROUND-TRUTH" in (out / "README.txt").read_text()
    else:
        idx = np.load(out / "labeled_idx.npy").tolist()
        lab = np.load(out / "labeled_pseudo_labels.npy").tolist()
        script = (out / "train_usb.py").read_text()
        assert repr(str((tmp_path / "seeds").resolve())) in script and "'cifar10'" in script
        assert "PSEUDO-LABELS" in (out / "README.txt").read_text()
    assert idx == [5, 17, 42, 8] and lab == [0, 0, 1, 1]


def test_export_refuses_what_no_consumer_reads(tmp_path):
    s = load_any_seeds(_seeds_dir(tmp_path, "npz:/data/cifar10_{split}_jpeg.npz"))
    with pytest.raises(HumeSSLError, match="TorchSSL reads indices"):
        export_seeds(s, "torchssl", tmp_path / "out")
    export_seeds(s, "csv", tmp_path / "out")  # our own convention is always fine
    # USB's data is built from the seeds' own dataset: any dataset, but from a seeds folder
    export_seeds(s, "usb", tmp_path / "usb", seeds_dir=tmp_path / "seeds")
    with pytest.raises(HumeSSLError, match="needs a seeds folder"):
        export_seeds(s, "usb", tmp_path / "usb2", seeds_dir=None)
    with pytest.raises(HumeSSLError, match="was removed.*draws its labeled indices"):
        export_seeds(s, "fixmatch", tmp_path / "out")
    with pytest.raises(HumeSSLError, match="unknown export format"):
        export_seeds(Seeds(np.array([1]), np.array([0]), "cifar10", 1), "tfrecord", tmp_path)


def test_edited_csv_is_accepted(tmp_path):
    d = _seeds_dir(tmp_path)
    (d / "edited.csv").write_text("index,label\n5,1\n17,0\n")
    s = load_any_seeds(d / "edited.csv")  # dataset read from the sibling seeds.json
    assert s.dataset == "cifar10" and s.indices.tolist() == [5, 17] and s.labels.tolist() == [1, 0]


def test_indices_outside_the_split_are_refused_before_export(tmp_path):
    """Before: export wrote seeds whose indices pointed past the split (the consumer failed
    later, or read other images)."""
    d = _seeds_dir(tmp_path)  # n_samples 50
    np.save(d / "indices.npy", np.array([5, 17, 50, 8]))
    with pytest.raises(HumeSSLError, match=r"span 5\.\.50, outside the split's 50 samples"):
        load_any_seeds(d)
    (d / "edited.csv").write_text("index,label\n5,1\n60,0\n")
    with pytest.raises(HumeSSLError, match="outside the split's 50"):
        load_any_seeds(d / "edited.csv")  # the sibling seeds.json gives the split's size
    (tmp_path / "loose.csv").write_text("index,label\n-1,1\n3,0\n")
    with pytest.raises(HumeSSLError, match="outside 0 and up"):
        load_any_seeds(tmp_path / "loose.csv", dataset="cifar10")


def test_export_cli_checks_the_format_first(tmp_path):
    """A bad --format is named at once, before the seeds or their dataset are read."""
    from typer.testing import CliRunner

    from hume_ssl.cli import app

    res = CliRunner().invoke(app, ["export", str(tmp_path / "missing.csv"), "--format",
                                   "tfrecord"])
    assert res.exit_code != 0 and "unknown export format 'tfrecord'" in res.output, res.output
