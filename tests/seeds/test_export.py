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


@pytest.mark.parametrize("fmt", ["usb", "torchssl", "fixmatch", "csv"])
def test_exports_round_trip(tmp_path, fmt):
    s = load_any_seeds(_seeds_dir(tmp_path))
    files = export_seeds(s, fmt, tmp_path / "out")
    if fmt == "csv":
        back = load_any_seeds(files[0], dataset="cifar10")
        idx, lab = back.indices, back.labels
    elif fmt == "fixmatch":
        d = json.loads((tmp_path / "out" / "labeled.json").read_text())
        idx, lab = np.array(d["label"]), np.array(d["pseudo_label"])
    else:
        idx = np.load(tmp_path / "out" / "labeled_idx.npy")
        lab = np.load(tmp_path / "out" / "labeled_pseudo_labels.npy")
    assert idx.tolist() == [5, 17, 42, 8] and lab.tolist() == [0, 0, 1, 1]
    if fmt != "csv":
        assert "GROUND-TRUTH" in (tmp_path / "out" / "README.txt").read_text()


def test_export_refuses_other_orders(tmp_path):
    s = load_any_seeds(_seeds_dir(tmp_path, "npz:/data/cifar10_{split}_jpeg.npz"))
    with pytest.raises(HumeSSLError, match="own order"):
        export_seeds(s, "usb", tmp_path / "out")
    export_seeds(s, "csv", tmp_path / "out")  # our own convention is always fine
    with pytest.raises(HumeSSLError, match="unknown export format"):
        export_seeds(Seeds(np.array([1]), np.array([0]), "cifar10", 1), "tfrecord", tmp_path)


def test_edited_csv_is_accepted(tmp_path):
    d = _seeds_dir(tmp_path)
    (d / "edited.csv").write_text("index,label\n5,1\n17,0\n")
    s = load_any_seeds(d / "edited.csv")  # dataset read from the sibling seeds.json
    assert s.dataset == "cifar10" and s.indices.tolist() == [5, 17] and s.labels.tolist() == [1, 0]
