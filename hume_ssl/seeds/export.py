"""`hume-ssl export`: seeds in the form each SSL codebase really reads.

    usb       train_usb.py: trains a USB (semilearn 0.3.x) algorithm on OUR pseudo-labels
              through USB's custom-data API (hume_ssl.seeds.usb), with labeled_idx.npy and
              labeled_pseudo_labels.npy beside it; works for every registry dataset
    torchssl  sampled_label_idx.npy: the file TorchSSL reads from {save_dir}/{save_name}/
              (indices only: TorchSSL takes GROUND-TRUTH labels at them)
    csv       seeds.csv: `index,label` rows (our own index convention; always allowed)

TorchSSL indexes torchvision's order of its datasets (cifar10, cifar100, stl10): seeds of any
other dataset are refused for it, with the reason. kekmodel's FixMatch-pytorch draws its
labeled indices itself and reads no index file, so no format is written for it (the former
`fixmatch` format, labeled.json, was read by nothing): use `hume-ssl train-fixmatch` or USB's
fixmatch through train_usb.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl.core import distributed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    check_writable_dir,
    load_array,
    read_json,
)
from hume_ssl.data.datasets import load_dataset, same_dataset
from hume_ssl.seeds.artifact import (
    ORIGIN,
    Seeds,
    check_seeds_match,
    csv_origin,
    inner_seeds_folder,
    origin_of,
    read_seeds,
)
from hume_ssl.seeds.usb import write_train_usb

FORMATS = ("usb", "torchssl", "csv")
# the files each format writes (README.txt beside them), under SEEDS/export-FORMAT by default
WRITES = {"usb": ("labeled_idx.npy", "labeled_pseudo_labels.npy", "train_usb.py"),
          "torchssl": ("sampled_label_idx.npy",), "csv": ("seeds.csv",)}
# the datasets TorchSSL indexes in torchvision's order, and their train splits' images
TORCHSSL_TRAIN_SIZE = {"cifar10": 50_000, "cifar100": 50_000, "stl10": 5_000}
TORCHSSL_DATASETS = tuple(TORCHSSL_TRAIN_SIZE)

# which labels the consumer trains on: `export` prints it and writes it to README.txt
LABELS_USED = {
    "usb": "train_usb.py trains USB on OUR PSEUDO-LABELS (cluster ids) at the seed indices, "
           "every other train image unlabeled (python train_usb.py --help). USB's own "
           "train.py/config route would not read these files: its loaders take ground truth "
           "(and, but for stl10, draw their own indices).",
    "torchssl": "WARNING: TorchSSL reads only the INDICES and takes the dataset's GROUND-TRUTH "
                "labels at them, not our pseudo-labels: trained as-is it measures oracle labels "
                "at HUME's chosen indices, not a label-free pipeline (use --format usb or "
                "`hume-ssl train-fixmatch` to train on the pseudo-labels). TorchSSL takes no "
                "index file as it ships: its main() deletes {save_dir}/{save_name} when "
                "overwrite is set (its configs set it; a copied file is lost and it draws its "
                "own indices without a word) and refuses to start when it exists otherwise. "
                "Pass the indices in its code: in ALGORITHM.py, call "
                "train_dset.get_ssl_dset(args.num_labels, index=np.load(PATH)) with PATH this "
                "sampled_label_idx.npy (cifar10 and cifar100; for stl10, pass index=index on to "
                "sample_labeled_data in datasets/ssl_dataset.py). With cifar10 and "
                "--num_labels 10 it replaces index with its fixed fixmatch_index sets: pass "
                "another --num_labels, a multiple of --num_classes.",
    "csv": "seeds.csv holds our pseudo-labels (cluster ids) in our index convention.",
}


def load_any_seeds(path: str | Path, dataset: Optional[str] = None,
                   need_dataset: bool = True, data_root: Optional[str | Path] = None) -> Seeds:
    """A seeds folder or an edited `index,label` CSV. `dataset` names the data of a CSV (or of a
    folder whose seeds.json names none; it never renames a folder's own); with `need_dataset`
    False (--format csv reads only indices and labels) none is needed."""
    p = Path(path)
    if p.is_dir():
        if not (p / "seeds.json").exists():
            raise HumeSSLError(f"{p} is not a seeds folder (no seeds.json){inner_seeds_folder(p)}"
                               ": pass the folder `hume-ssl seed` wrote (OUT/seeds) or an "
                               "index,label CSV.")
        if dataset is not None and not need_dataset:  # --format csv writes the rows as they are
            _not_read(dataset, "; the seeds.json's count of rows is kept with them")
            dataset = None
        s = read_seeds(seeds_dir=p, dataset_optional=True)  # the folder's own dataset, or None
        if s.dataset is not None and dataset is not None and dataset != s.dataset:
            raise HumeSSLError(
                f"{p} holds seeds of {s.dataset!r} (seeds.json); --dataset {dataset!r} would "
                "read their indices as another dataset's images: drop --dataset. If both hold "
                "the same images in the same order, export --format csv, delete the "
                f"{ORIGIN} it writes beside the CSV, and pass the CSV with --dataset.")
        named_here = s.dataset is None and dataset is not None  # seeds of feature files
        s.dataset = s.dataset or dataset
        if s.dataset is None and need_dataset:
            raise HumeSSLError(f"{p}/seeds.json names no dataset (seeds of feature files); pass "
                               "--dataset NAME: the dataset whose images the rows are, in order.")
        if named_here and need_dataset:  # the rows' count and range against the named images
            check_seeds_match(s, _split_size(s.dataset, s.split, data_root))
        return s
    if p.suffix.lower() == ".csv":
        if not p.is_file():
            raise HumeSSLError(f"{p}: no such file; pass a seeds folder or an index,label CSV.")
        origin, _ = csv_origin(p)  # an exported (maybe edited) CSV: whose indices, said beside
        if dataset is not None and not need_dataset:  # --format csv writes the rows as they are
            _not_read(dataset, f", with {ORIGIN}'s record of the images they address" if origin
                      else "; its indices are not checked against that dataset's images")
            dataset = None
        made_on = origin.get("dataset")
        if dataset is not None and made_on is not None and not same_dataset(made_on, dataset):
            raise HumeSSLError(
                f"{p} holds seeds of {made_on!r} ({ORIGIN}); --dataset {dataset!r} would read "
                "their indices as another dataset's images: drop --dataset. If both hold the "
                f"same images in the same order, delete {p.parent / ORIGIN} first.")
        # a CSV in a seeds folder, with no origin: the folder's seeds.json names the dataset and
        # the split's size (not the order: `seed` rewrites it for the images as they are now)
        sibling = {} if origin or not (p.parent / "seeds.json").is_file() else read_json(
            p.parent / "seeds.json")
        dataset = dataset or made_on or sibling.get("dataset")
        if dataset is None and need_dataset:
            raise HumeSSLError(f"{p} is a CSV of seeds: pass --dataset NAME to say whose indices.")
        n = sibling.get("n_samples") if sibling.get("dataset") == dataset else None
        s = read_seeds(indices=p, dataset=dataset, n_samples=n,
                       dataset_optional=not need_dataset)
        if need_dataset:  # its rows against the named images (and its origin's count)
            check_seeds_match(s, _split_size(dataset, s.split, data_root))
        return s
    raise HumeSSLError(f"{p}: expected a seeds folder (with seeds.json) or an index,label CSV.")


def _not_read(dataset: str, what_is_kept: str) -> None:
    """--format csv reads no --dataset: it writes the seeds' indices and labels as they are."""
    warnings.warn(f"--dataset {dataset} is not read by --format csv: it writes the seeds' "
                  f"indices and labels as they are{what_is_kept}.", stacklevel=3)


def _split_size(dataset: str, split: str, data_root: Optional[str | Path]) -> int:
    """Images of a dataset's split: TorchSSL's datasets' train sizes are known (no download
    before the checks that need none), any other dataset is read."""
    if split == "train" and dataset in TORCHSSL_TRAIN_SIZE:
        return TORCHSSL_TRAIN_SIZE[dataset]
    return len(load_dataset(dataset, split, data_root))


def check_format(fmt: str) -> None:
    if fmt == "fixmatch":
        raise HumeSSLError("--format fixmatch (labeled.json) was removed: kekmodel's "
                           "FixMatch-pytorch draws its labeled indices itself and read nothing "
                           "of it. Use --format usb (train_usb.py runs USB's fixmatch on the "
                           "pseudo-labels) or `hume-ssl train-fixmatch`.")
    if fmt not in FORMATS:
        raise HumeSSLError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def check_source(fmt: str, seeds: Optional[str | Path]) -> None:
    """--format usb reads a seeds folder (train_usb.py takes the seeds and their dataset from
    it), not a CSV: said before anything else is asked for."""
    if fmt == "usb" and seeds is not None and not Path(seeds).exists():
        raise HumeSSLError(f"{seeds}: no such folder; --format usb needs the seeds folder "
                           "`hume-ssl seed` wrote (OUT/seeds, with seeds.json).")
    if fmt == "usb" and (seeds is None or not Path(seeds).is_dir()):
        raise HumeSSLError("--format usb needs a seeds folder (with seeds.json), not a CSV: "
                           "train_usb.py reads the seeds and their dataset from it.")


def check_consumer_order(seeds: Seeds, fmt: str) -> None:
    if fmt == "csv":
        return
    if fmt == "torchssl" and seeds.dataset not in TORCHSSL_DATASETS:
        raise HumeSSLError(
            f"these seeds index {seeds.dataset!r} in its own order, but TorchSSL reads indices "
            f"into torchvision's order of {', '.join(TORCHSSL_DATASETS)}; the indices would "
            "point at other images. Export --format usb (it builds USB's data from the seeds' "
            "own dataset) or csv, or seed the torchvision dataset by name (e.g. `hume-ssl seed "
            "cifar10`)."
        )
    if seeds.split != "train":
        raise HumeSSLError(f"seeds of split {seeds.split!r}: SSL codebases index the train split.")
    if fmt == "torchssl":
        size = TORCHSSL_TRAIN_SIZE[seeds.dataset]
        if seeds.n_samples is not None and int(seeds.n_samples) != size:
            raise HumeSSLError(
                f"these seeds were made on {seeds.n_samples} samples, but TorchSSL's "
                f"{seeds.dataset} train split holds {size} images: seed the whole split (e.g. "
                f"`hume-ssl seed {seeds.dataset}`).")
        if int(seeds.indices.max()) >= size:
            raise HumeSSLError(
                f"seed indices reach {int(seeds.indices.max())}, but TorchSSL's {seeds.dataset} "
                f"train split holds {size} images (0..{size - 1}); fix those rows.")
        if not seeds.order_hash:  # seeds of feature files, or a CSV: only the count checked
            warnings.warn(
                f"the order of these seeds' rows is not recorded (seeds of feature files, or a "
                f"CSV), only their count: TorchSSL takes image i of torchvision's "
                f"{seeds.dataset} train split for index i, which is right only if row i of the "
                f"features was that image (`hume-ssl features {seeds.dataset}` writes them in "
                "that order; a file sorted by class is not).", stacklevel=2)


def export_seeds(seeds: Seeds, fmt: str, out: str | Path,
                 seeds_dir: Optional[str | Path] = None) -> list[Path]:
    """Write `seeds` in `fmt` into folder `out`; returns the files written. `seeds_dir`: the
    seeds folder that train_usb.py reads (usb only)."""
    distributed.one_process("export", "it only writes a few files")
    check_format(fmt)
    check_consumer_order(seeds, fmt)
    check_source(fmt, seeds_dir)
    out = check_writable_dir(out)
    idx = np.asarray(seeds.indices, dtype=np.int64)
    lab = np.asarray(seeds.labels, dtype=np.int64)
    files: list[Path] = []
    names = WRITES[fmt]
    if fmt == "csv":
        rows = csv_bytes(idx, lab)
        check_not_edited(out / names[0], rows)  # none, or these rows already
        origin = origin_of(seeds)  # whose images: train-fixmatch checks them against it
        if origin is not None:  # first: a kill before the CSV leaves its rows with their origin
            files.append(atomic_write_json(out / ORIGIN, origin))
        else:  # an earlier export's origin would describe other seeds
            (out / ORIGIN).unlink(missing_ok=True)
        files.append(atomic_write_bytes(out / names[0], rows))
    elif fmt == "usb":
        files.append(atomic_save_npy(out / names[0], idx))
        files.append(atomic_save_npy(out / names[1], lab))
        files.append(write_train_usb(out / names[2], Path(seeds_dir).resolve(), seeds))
    else:  # torchssl
        files.append(atomic_save_npy(out / names[0], idx))
    files.append(atomic_write_bytes(out / "README.txt", readme_text(out, fmt).encode()))
    return files


def export_run(seeds: str | Path, fmt: str, out: Optional[str | Path] = None,
               dataset: Optional[str] = None,
               data_root: Optional[str | Path] = None) -> list[Path]:
    """`hume-ssl export`'s Python API: the seeds of `seeds` (a seeds folder, or a CSV of
    `index,label` rows with `dataset`) written in `fmt` (FORMATS) into `out` (default
    SEEDS/export-FMT); returns the files written. LABELS_USED[fmt] says which labels the
    consumer trains on."""
    check_format(fmt)
    check_source(fmt, seeds)  # before a CSV is asked for its dataset
    loaded = load_any_seeds(seeds, dataset, need_dataset=fmt != "csv", data_root=data_root)
    seeds = Path(seeds)
    return export_seeds(loaded, fmt, out or default_out(seeds, fmt),
                        seeds_dir=seeds if seeds.is_dir() else None)


def check_not_edited(csv: Path, new: bytes) -> None:
    """Refuse to write over a seeds.csv that holds other rows than `new`: edits by hand (README's
    workflow) or another export's seeds would be lost without a word."""
    if csv.is_file() and csv.read_bytes() != new:
        raise HumeSSLError(f"{csv} holds other rows than these seeds' CSV (edited by hand since "
                           "`export` wrote it, or another export's): export to another --out, "
                           "or move that file away first.")


def readme_text(out: Path, fmt: str) -> str:
    """README.txt of an export folder: which labels each consumer trains on, for `fmt` and for
    every other format whose files are in `out` (another export into the same --out: its
    warning, e.g. TorchSSL's ground truth, is not lost)."""
    others = [f for f in FORMATS
              if f != fmt and all((out / name).is_file() for name in WRITES[f])]
    if not others:
        return LABELS_USED[fmt] + "\n"
    return "".join([f"{fmt} ({', '.join(WRITES[fmt])}): {LABELS_USED[fmt]}\n\n"] + [
        f"{f} ({', '.join(WRITES[f])}, from an earlier export into this folder: it may hold "
        f"other seeds): {LABELS_USED[f]}\n\n" for f in others])


def default_out(seeds: Path, fmt: str) -> Path:
    """Where `export` writes without --out: SEEDS/export-FORMAT for a seeds folder, export-FORMAT
    beside a CSV."""
    return (seeds if seeds.is_dir() else seeds.parent) / f"export-{fmt}"


def csv_bytes(indices: np.ndarray, labels: np.ndarray) -> bytes:
    """seeds.csv as `export --format csv` writes it: a header, then one `index,label` row per
    seed in the seeds' order."""
    return ("index,label\n" + "".join(f"{i},{c}\n" for i, c in zip(indices, labels))).encode()


def remove_exports(seeds_dir: Path) -> list[tuple[Path, str]]:
    """Remove the exports in a seeds folder's default places (SEEDS/export-FORMAT): `seed`
    calls it before it writes new seeds, so no export there holds the earlier ones. Only the
    files `export` writes go; a folder left empty goes too. A seeds.csv that may have been
    edited by hand stays, with its README.txt: returned with why (`csv_state`), to be named."""
    if not Path(seeds_dir).is_dir():  # (default_out of a missing folder is its parent's)
        return []
    kept = []
    for fmt in FORMATS:
        d = default_out(Path(seeds_dir), fmt)
        if not d.is_dir():
            continue
        state = csv_state(d / WRITES["csv"][0], Path(seeds_dir)) if fmt == "csv" else "export's"
        if state != "export's":
            kept.append((d / WRITES["csv"][0], state))
            continue
        for name in (*WRITES[fmt], "README.txt", *((ORIGIN,) if fmt == "csv" else ())):
            (d / name).unlink(missing_ok=True)
        if not any(d.iterdir()):
            d.rmdir()
    return kept


def csv_state(csv: Path, seeds_dir: Path) -> str:
    """"export's" (byte for byte the CSV `export` writes of the seeds in `seeds_dir`, or no file),
    "edited" (it differs: edited by hand, or saved by an editor with other line endings), or
    "unchecked" (the folder's seeds cannot be read to compare)."""
    if not csv.is_file():
        return "export's"
    try:
        idx = load_array(seeds_dir / "indices.npy", "seed indices")
        lab = load_array(seeds_dir / "pseudo_labels.npy", "seed labels")
    except HumeSSLError:
        return "unchecked"
    return "export's" if csv.read_bytes() == csv_bytes(idx, lab) else "edited"
