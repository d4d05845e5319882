"""Inputs of `train-fixmatch`: the seeds (indices + pseudo-labels) and the images they address.

Seeds folder contract (written by the seeds stage):
  indices.npy        int64 (n,)  sample indices into the dataset's train split, dataset order
  pseudo_labels.npy  int64 (n,)  cluster ids in 0..k-1 (never ground truth)
  seeds.json         {"dataset": registry name or "npz:/path/name_{split}.npz", "split": "train",
                      "n_samples": N of the split, "order_hash": str, "k": int,
                      optional "class_names": [k names]}
Seeds from other tools: `--indices FILE.npy --seed-labels FILE.npy --dataset NAME`, or a CSV with
rows `index,label` (header optional) as --indices. A CSV `export` wrote has seeds_origin.json
beside it (ORIGIN: the dataset, split, image count and order its indices address), so an edited
CSV is checked against the images as they are now, as a seeds folder is.

Images come from `load_images_uint8(dataset, split)`: the project's dataset registry
(hume_ssl.data.datasets, whose `order_hash` the seeds must match), else a private reader of `npz:`
JPEG archives (decoded once and cached as .npy).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    array_hash,
    atomic_save_npy,
    atomic_write_json,
    check_writable_dir,
    load_array,
    read_json,
)
from hume_ssl.data.datasets import canonical_name, same_dataset
from hume_ssl.data.images import ImageSplit

SEED_FILES = ("indices.npy", "pseudo_labels.npy", "scores.npy", "knn_consistency.npy", "seeds.json")
ORIGIN = "seeds_origin.json"  # beside an exported seeds.csv: the images its indices address
ORIGIN_FIELDS = ("dataset", "split", "n_samples", "order_hash", "order_hash_kind")


@dataclass
class Seeds:
    indices: np.ndarray  # (n,) int64 into the train split
    labels: np.ndarray  # (n,) int64 in 0..k-1
    dataset: str
    k: int
    split: str = "train"
    n_samples: Optional[int] = None
    order_hash: Optional[str] = None
    class_names: Optional[list[str]] = None
    source: dict = field(default_factory=dict)
    lines: Optional[np.ndarray] = None  # (n,) each seed's line in its CSV (None: not a CSV)

    def where(self, i: int) -> str:
        """Seed i, as a person finds it: FILE.csv:LINE for a CSV, else its position."""
        if self.lines is not None:
            return f"{self.source.get('indices')}:{int(self.lines[i])}"
        return f"seed {i} (index {int(self.indices[i])})"


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, labels, line numbers (1-based)) of an `index,label` CSV."""
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        line = line.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            if len(parts) != 2:  # a third column would be dropped silently
                raise ValueError(f"{len(parts)} columns")
            rows.append((int(parts[0]), int(parts[1]), i + 1))
        except ValueError as e:
            if i == 0 and len(parts) == 2:  # header
                continue
            raise HumeSSLError(
                f"{path}:{i + 1}: expected two integers `index,label`, got {line!r}; fix or "
                "remove that line."
            ) from e
    if not rows:
        raise HumeSSLError(f"{path}: no `index,label` rows found.")
    a = np.asarray(rows, dtype=np.int64)
    return a[:, 0], a[:, 1], a[:, 2]


def csv_origin(csv: Path) -> tuple[dict, Optional[Path]]:
    """What an `index,label` CSV's indices address ({ORIGIN_FIELDS: value, None where unknown})
    and the file that says it: ORIGIN beside it (`export --format csv` writes one); ({}, None)
    without one (a CSV from elsewhere: not checked; a seeds folder's seeds.json does not vouch
    for a CSV beside it, since `seed` rewrites it for the images as they are now). A file that
    records neither the images' dataset nor their count is an error: it would check nothing."""
    f = csv.parent / ORIGIN
    if not f.is_file():
        return {}, None
    fix = (f"it records the images {csv.name}'s indices address; restore it (`export --format "
           f"csv` writes it), or delete it to skip that check")
    meta = read_json(f, fix=fix)
    origin = {key: meta.get(key) for key in ORIGIN_FIELDS} if isinstance(meta, dict) else {}
    types = {"dataset": str, "split": str, "n_samples": int, "order_hash": str,
             "order_hash_kind": str}
    bad = [key for key, v in origin.items() if v is not None and (
        not isinstance(v, types[key]) or isinstance(v, bool) or (key == "n_samples" and v < 0))]
    if not isinstance(meta, dict) or bad or (origin["dataset"] is None
                                             and origin["n_samples"] is None):
        why = (f"fields of the wrong type: {', '.join(bad)}" if bad else
               "not a record of the images (a JSON object with their dataset and count)")
        raise HumeSSLError(f"{f}: {why}; {fix}.")
    return origin, f


def origin_of(s: Seeds) -> Optional[dict]:
    """ORIGIN's fields for seeds `s` (written beside an exported CSV), None where unknown; None
    when nothing is known (neither their dataset nor its count)."""
    if s.dataset is None and s.n_samples is None:
        return None
    return {"dataset": None if s.dataset is None else canonical_name(s.dataset),
            "split": s.split, "n_samples": s.n_samples, "order_hash": s.order_hash,
            "order_hash_kind": "dataset" if s.order_hash else None,
            "note": "the images the CSV's indices address (index i: the i-th image of the "
                    "split in the dataset's own order); train-fixmatch --indices checks the "
                    "images it is given against it"}


def inner_seeds_folder(d: Path) -> str:
    """"; its seeds folder is D/seeds" when `d` is a `seed` run's --out (its seeds folder one
    level down), else "": the hint of the errors for a folder that is no seeds folder."""
    return f"; its seeds folder is {d / 'seeds'}" if (d / "seeds" / "seeds.json").exists() else ""


def read_seeds(
    seeds_dir: Optional[str | Path] = None,
    indices: Optional[str | Path] = None,
    labels: Optional[str | Path] = None,
    dataset: Optional[str] = None,
    k: Optional[int] = None,
    n_samples: Optional[int] = None,
    dataset_optional: bool = False,
) -> Seeds:
    """Seeds from a seeds folder, or from index/label files (npy or CSV) plus a dataset name
    (`n_samples`: the split's size where known, to check the files' indices against). With
    `dataset_optional`, seeds of no named dataset come back with `dataset` None (a consumer
    that reads only indices and labels: export --format csv)."""
    if seeds_dir is not None:
        d = Path(seeds_dir)
        if d.is_file() and d.name == "seeds.json":  # the file inside the folder was passed
            d = d.parent
        if not d.exists():
            raise HumeSSLError(f"seeds folder not found: {d}. Check the path (the folder "
                               "`hume-ssl seed` wrote is OUT/seeds).")
        if not (d / "seeds.json").exists():
            raise HumeSSLError(
                f"{d} is not a seeds folder (no seeds.json){inner_seeds_folder(d)}: pass the "
                "folder `hume-ssl seed` wrote (OUT/seeds), or --indices/--seed-labels/--dataset."
            )
        meta = read_json(d / "seeds.json", fix=(
            "the seeds folder is damaged (do not delete seeds.json: the folder is unusable "
            "without it); restore the file, or re-run the `hume-ssl seed` command that made it "
            "with the same --out (its finished HUME restarts are reused)"))
        idx = np.asarray(load_array(d / "indices.npy", "seed indices"))
        lab = np.asarray(load_array(d / "pseudo_labels.npy", "seed pseudo-labels"))
        if meta.get("seeds_sha") and _sha(idx, lab) != meta["seeds_sha"]:
            raise HumeSSLError(
                f"{d}: indices.npy and pseudo_labels.npy are not the seeds its seeds.json "
                "describes (a `seed` run was interrupted while writing the folder, or a file was "
                "edited): re-run the `hume-ssl seed` command that made it, with the same --out "
                "(its HUME restarts are reused); to edit seeds, export --format csv and edit "
                "the CSV.")
        if lab.size == 0 or idx.size == 0:
            why = meta.get("empty_reason") or (
                "no sample passed the reliability thresholds; re-run `hume-ssl seed` with "
                "--shortage relax, more restarts or a stronger backbone."
            )
            raise HumeSSLError(f"{d} holds no seeds: {why}")
        ds = dataset or meta.get("dataset")
        if not ds and not dataset_optional:
            raise HumeSSLError(f"{d}/seeds.json names no dataset; pass --dataset NAME.")
        s = Seeds(
            idx,
            lab,
            ds,
            int(meta.get("k") or int(lab.max()) + 1),
            meta.get("split", "train"),
            meta.get("n_samples"),
            # seeds of feature files: the hash is of the features, no dataset's order
            None if meta.get("order_hash_kind") == "features" else meta.get("order_hash"),
            meta.get("class_names"),
            {"seeds": str(d), "k_from": "seeds.json" if meta.get("k") else "labels"},
        )
    else:
        if indices is None:
            raise HumeSSLError(
                "give --seeds DIR, or --indices FILE (.npy or index,label CSV) with "
                "--seed-labels FILE.npy and --dataset NAME."
            )
        ip = Path(indices)
        origin, origin_file = (csv_origin(ip) if ip.suffix.lower() == ".csv" and ip.is_file()
                               else ({}, None))
        if dataset is None and not dataset_optional:
            raise HumeSSLError(f"--indices {indices} needs --dataset NAME: the images its "
                               "indices address.")
        if not ip.is_file():
            raise HumeSSLError(f"seed indices file not found: {ip}. Check the path.")
        lines = None
        if ip.suffix.lower() == ".csv":
            idx, lab, lines = _read_csv(ip)
        else:
            if labels is None:
                raise HumeSSLError("--indices FILE.npy needs --seed-labels FILE.npy (or pass "
                                   "a CSV).")
            idx, lab = (
                np.asarray(load_array(ip, "seed indices")),
                np.asarray(load_array(labels, "seed labels")),
            )
        s = Seeds(idx, lab, dataset, 0, n_samples=n_samples,
                  source={"indices": str(indices), "labels": str(labels or "")}, lines=lines)
        if origin_file is not None:  # the images it was made on: checked against the given
            s.split = origin["split"] or "train"
            s.n_samples = n_samples if n_samples is not None else origin["n_samples"]
            if origin["order_hash_kind"] == "dataset":
                s.order_hash = origin["order_hash"]
            s.source["origin"] = str(origin_file)
            s.source["origin_dataset"] = origin["dataset"]
    return _check_seed_arrays(s, k)


def _check_seed_arrays(s: Seeds, k: Optional[int]) -> Seeds:
    if s.indices.ndim != 1 or s.labels.ndim != 1 or len(s.indices) != len(s.labels):
        raise HumeSSLError(
            f"seed indices {s.indices.shape} and labels {s.labels.shape} must be 1-D "
            "and of equal length."
        )
    if not (
        np.issubdtype(s.indices.dtype, np.integer) and np.issubdtype(s.labels.dtype, np.integer)
    ):
        raise HumeSSLError("seed indices and labels must be integers.")
    s.indices, s.labels = s.indices.astype(np.int64), s.labels.astype(np.int64)
    if len(s.indices) == 0:
        raise HumeSSLError("the seeds are empty: no labeled sample to train from; re-run "
                           "`hume-ssl seed` with --shortage relax, more restarts or a stronger "
                           "backbone.")
    _, first, counts = np.unique(s.indices, return_index=True, return_counts=True)
    if (counts > 1).any():
        a = int(first[np.argmax(counts > 1)])
        b = int(np.flatnonzero(s.indices == s.indices[a])[1])
        raise HumeSSLError(f"seed index {s.indices[a]} appears more than once ({s.where(a)} and "
                           f"{s.where(b)}); each sample may be a seed once: remove the copies.")
    n = s.n_samples
    if s.indices.min() < 0 or (n is not None and s.indices.max() >= int(n)):
        where = f"the split's {n} samples (0..{int(n) - 1})" if n is not None else "0 and up"
        bad = int(np.flatnonzero((s.indices < 0) | (s.indices >= (n if n is not None else
                                                                   np.inf)))[0])
        raise HumeSSLError(
            f"seed indices span {s.indices.min()}..{s.indices.max()}, outside {where} (e.g. "
            f"{s.where(bad)}): each index is a sample's position in the split the seeds were "
            "made on; fix those rows."
        )
    if s.labels.min() < 0:
        first = int(np.flatnonzero(s.labels < 0)[0])
        raise HumeSSLError(f"seed labels hold negative values (e.g. {s.labels[first]} at "
                           f"{s.where(first)}): labels are cluster ids 0..k-1; fix those rows.")
    s.k = int(k or s.k or int(s.labels.max()) + 1)
    if s.labels.max() >= s.k:
        raise HumeSSLError(
            f"seed labels range {s.labels.min()}..{s.labels.max()} lies outside 0..{s.k - 1} "
            f"(k={s.k}); relabel them to 0..k-1 or fix k in seeds.json."
        )
    if s.class_names is not None and len(s.class_names) != s.k:
        raise HumeSSLError(f"seeds.json has {len(s.class_names)} class_names for k={s.k}.")
    return s


def seeds_sha(s: Seeds) -> str:
    """A fingerprint of the seeds themselves (their indices and labels, in order)."""
    return _sha(s.indices, s.labels)


def _sha(indices: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256(np.asarray(indices).astype(np.int64).tobytes())
    h.update(np.asarray(labels).astype(np.int64).tobytes())
    return h.hexdigest()[:16]


def check_seeds_match(s: Seeds, n: int, dataset_hashes: tuple[str, ...] = ()) -> None:
    """Seeds must address this split: same sample count, same order hash, indices in range.

    `dataset_hashes` are the split's accepted order fingerprints (see `order_hashes`).
    """
    fix = (
        "the seeds were made for another dataset or sample order; pass the --dataset the seeds "
        "were made from, or re-run the seeds stage on this dataset."
    )
    origin, made_on = s.source.get("origin"), s.source.get("origin_dataset")
    said_by = origin or "seeds.json"  # a CSV's seeds_origin.json, or a seeds folder's
    if origin and made_on is None:  # seeds of feature files: rows, no images
        fix = (f"the CSV's seeds were made on {s.n_samples} rows of feature files, whose images "
               f"--dataset names: pass the dataset that holds those images in the same order.")
    elif origin and not same_dataset(made_on, s.dataset):  # other images (or the same, renamed)
        fix = (f"the CSV's seeds were made on {made_on}, and --dataset {s.dataset} holds other "
               f"images or another order, so its rows would label other images: pass --dataset "
               f"{made_on}; if both really hold the same images in the same order, delete "
               f"{said_by} to skip this check.")
    elif origin:  # an exported CSV: the images changed since, most likely
        fix = (f"the images changed since these seeds were made (an image added, removed or "
               f"renamed moves the index of every image after it, so the CSV's rows would "
               f"label other images): restore {s.dataset} as it was, or re-run `hume-ssl seed` "
               f"on it as it is now and redo the edits on its new export.")
    if s.n_samples is not None and int(s.n_samples) != n:
        raise HumeSSLError(
            f"{said_by} says n_samples={s.n_samples} but {s.dataset}:{s.split} has "
            f"{n} images: {fix}"
        )
    if s.order_hash and dataset_hashes and s.order_hash not in dataset_hashes:
        raise HumeSSLError(
            f"{said_by} order_hash {s.order_hash} matches none of {s.dataset}:"
            f"{s.split}'s fingerprints {list(dataset_hashes)}: {fix}"
        )
    if s.indices.min() < 0 or s.indices.max() >= n:
        bad = np.flatnonzero((s.indices < 0) | (s.indices >= n))
        if s.lines is not None and len(bad) == 1:  # one row of a CSV: edited by hand, likely
            fix = "fix or remove that row."
        raise HumeSSLError(
            f"seed indices span {s.indices.min()}..{s.indices.max()} but {s.dataset}:"
            f"{s.split} has {n} images ({len(bad)} of {len(s.indices)} outside 0..{n - 1}, "
            f"e.g. {s.where(int(bad[0]))}): {fix}"
        )
    if (origin and made_on is not None and str(made_on).startswith("imagefolder:")
            and not same_dataset(made_on, s.dataset)):  # (an npz's hash covers its pixels)
        # passed: the same count and order fingerprint (for an image folder, of its names)
        warnings.warn(f"the CSV's seeds were made on {made_on} and --dataset is {s.dataset}: "
                      "its files have the same names in the same order, which is all the check "
                      "sees of an image folder; make sure they are the same images (before: "
                      "no word).", stacklevel=2)


def order_hashes(split: ImageSplit) -> tuple[str, ...]:
    """Accepted order fingerprints of a split: ours, and core.io.array_hash of the labels and
    of the images (the forms other stages may write)."""
    out = [h for h in (split.order_hash,) if h]
    if split.labels is not None:
        out.append(array_hash(split.labels))
    out.append(array_hash(split.images))
    return tuple(out)


def write_seeds(
    seeds_dir: str | Path,
    indices: np.ndarray,
    pseudo_labels: np.ndarray,
    scores: np.ndarray,
    knn_consistency: np.ndarray,
    meta: dict,
) -> Path:
    """Write a seeds folder (atomically, file by file); `meta` becomes seeds.json, written last
    with the fingerprint of the indices and labels (`seeds_sha`): a run interrupted between the
    files leaves a folder that `read_seeds` refuses, not one whose seeds.json describes other
    seeds."""
    d = check_writable_dir(seeds_dir)
    idx = np.asarray(indices, dtype=np.int64)
    lab = np.asarray(pseudo_labels, dtype=np.int64)
    atomic_save_npy(d / "indices.npy", idx)
    atomic_save_npy(d / "pseudo_labels.npy", lab)
    atomic_save_npy(d / "scores.npy", np.asarray(scores, dtype=np.float32).reshape(-1, 3))
    atomic_save_npy(d / "knn_consistency.npy", np.asarray(knn_consistency, dtype=np.float32))
    atomic_write_json(d / "seeds.json", {**meta, "seeds_sha": _sha(idx, lab)})
    return d
