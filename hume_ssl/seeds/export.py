"""`hume-ssl export`: seeds in the formats other SSL codebases read.

    usb       labeled_idx.npy (int64 indices) + labeled_pseudo_labels.npy
    torchssl  labeled_idx.npy (int64 indices) + labeled_pseudo_labels.npy
    fixmatch  labeled.json: {"label": [indices], "pseudo_label": [ids]}
    csv       seeds.csv: `index,label` rows (our own index convention; always allowed)

Index files only mean something in the consumer's dataset order: torchvision's order for the
registry's built-in datasets (cifar10, cifar100, cifar100-20, stl10, fashion-mnist). Seeds of
any other dataset (an `npz:` copy such as the class-sorted shared CIFAR-10, an imagefolder)
are refused for usb/torchssl/fixmatch, with the reason.

Those codebases read GROUND-TRUTH labels at the given indices; the pseudo-labels are written
beside them, and README.md shows how to train on the pseudo-labels instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    check_writable_dir,
)
from hume_ssl.seeds.artifact import Seeds, read_seeds

FORMATS = ("usb", "torchssl", "fixmatch", "csv")
TORCHVISION_ORDER = ("cifar10", "cifar100", "cifar100-20", "stl10", "fashion-mnist")

ORACLE_WARNING = (
    "WARNING: USB, TorchSSL and FixMatch read the dataset's GROUND-TRUTH labels at these "
    "indices, not our pseudo-labels. Trained as-is, they measure oracle labels at HUME's "
    "chosen indices, not a label-free pipeline. To train on the pseudo-labels, feed "
    "`labeled_pseudo_labels.npy` (cluster ids) through the codebase's custom-dataset API "
    "(see README.md, 'Exporting seeds'), or use `hume-ssl train-fixmatch`."
)


def load_any_seeds(path: str | Path, dataset: Optional[str] = None) -> Seeds:
    """A seeds folder or an edited `index,label` CSV (then `dataset` names the data)."""
    p = Path(path)
    if p.is_dir():
        return read_seeds(seeds_dir=p, dataset=dataset)
    if p.suffix.lower() == ".csv":
        if dataset is None:
            sibling = p.parent / "seeds.json"
            if sibling.exists():
                from hume_ssl.core.io import read_json

                dataset = read_json(sibling).get("dataset")
        if dataset is None:
            raise HumeSSLError(f"{p} is a CSV of seeds: pass --dataset NAME to say whose indices.")
        return read_seeds(indices=p, dataset=dataset)
    raise HumeSSLError(f"{p}: expected a seeds folder (with seeds.json) or an index,label CSV.")


def check_consumer_order(seeds: Seeds, fmt: str) -> None:
    if fmt == "csv":
        return
    if seeds.dataset not in TORCHVISION_ORDER:
        raise HumeSSLError(
            f"these seeds index {seeds.dataset!r} in its own order, but {fmt} index files address "
            f"torchvision's order of {', '.join(TORCHVISION_ORDER)}; the indices would point at "
            "other images. Export --format csv (our index convention) or seed the torchvision "
            "dataset by name (e.g. `hume-ssl seed cifar10`)."
        )
    if seeds.split != "train":
        raise HumeSSLError(f"seeds of split {seeds.split!r}: SSL codebases index the train split.")


def export_seeds(seeds: Seeds, fmt: str, out: str | Path) -> list[Path]:
    """Write `seeds` in `fmt` into folder `out`; returns the files written."""
    if fmt not in FORMATS:
        raise HumeSSLError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    check_consumer_order(seeds, fmt)
    out = check_writable_dir(out)
    idx = np.asarray(seeds.indices, dtype=np.int64)
    lab = np.asarray(seeds.labels, dtype=np.int64)
    files: list[Path] = []
    if fmt == "csv":
        text = "index,label\n" + "".join(f"{i},{c}\n" for i, c in zip(idx, lab))
        files.append(atomic_write_bytes(out / "seeds.csv", text.encode()))
    elif fmt in ("usb", "torchssl"):
        files.append(atomic_save_npy(out / "labeled_idx.npy", idx))
        files.append(atomic_save_npy(out / "labeled_pseudo_labels.npy", lab))
    else:  # fixmatch
        files.append(
            atomic_write_json(
                out / "labeled.json", {"label": idx.tolist(), "pseudo_label": lab.tolist()}
            )
        )
    if fmt != "csv":
        files.append(atomic_write_bytes(out / "README.txt", (ORACLE_WARNING + "\n").encode()))
    return files
