"""`seed`'s inputs: the two feature spaces (extracted, or given as files and checked against
the dataset and their sidecars), the ground truth for the report, and the number of classes."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import read_json
from hume_ssl.core.params import check_known
from hume_ssl.data.datasets import load_dataset
from hume_ssl.features.cache import load_feature_file
from hume_ssl.features.extract import extract_features
from hume_ssl.hume.estimator import SAME_SPACE, check_inputs
from hume_ssl.hume.outputs import check_class_ids, load_labels
from hume_ssl.models.backbones import resolve_backbone

Log = Callable[[str], None]


def check_knn(n_neighbors: int, n: int) -> None:
    if n_neighbors >= n:
        raise HumeSSLError(f"--knn {n_neighbors}: need fewer neighbours than samples ({n}) "
                           "(Python: n_neighbors).")


def _sidecar(path: Path) -> Optional[dict]:
    side = Path(path).with_suffix(".json")
    if side.exists():
        meta = read_json(side)
        if isinstance(meta, dict) and "N" in meta:
            return meta
    return None


def backbone_pair(backbones: str | Sequence[str]) -> tuple[str, str]:
    """The two backbones, from "A,B" (the command line's form) or a pair; each NAME or
    NAME@FILE. One clear error for any other count."""
    names = backbones.split(",") if isinstance(backbones, str) else list(backbones)
    names = [str(b).strip() for b in names]
    if len(names) != 2 or not all(names):
        raise HumeSSLError(f"--backbones {backbones!r}: give exactly two, as A,B (Python: a pair "
                           "of names).")
    if names[0] == names[1]:  # before any extraction (check_inputs would say it after)
        raise HumeSSLError(SAME_SPACE.format(what=f"--backbones {names[0]},{names[1]} names one "
                                                  "backbone twice"))
    return names[0], names[1]


def check_feature_kw(feature_kw: Optional[dict]) -> dict:
    """`seed_run`'s `feature_kw`: keyword options of `extract_features` (cache_dir, device,
    batch_size, ...); a misspelt one is named before any work (before: a raw TypeError once
    the dataset was read)."""
    from hume_ssl.features import extract  # (the module's: a test may stand in for ours)

    valid = [n for n, p in inspect.signature(extract.extract_features).parameters.items()
             if p.kind is p.KEYWORD_ONLY]
    feature_kw = dict(feature_kw or {})
    check_known(feature_kw, valid, "feature_kw (extract_features keyword)")
    return feature_kw


def resolve_spaces(
    dataset: Optional[str],
    backbones: tuple[str, str],
    phi1: Optional[Path],
    phi2: Optional[Path],
    feature_kw: dict,
    log: Log,
    k_from_dataset: bool = False,
    check_rows: Optional[Callable[[int], None]] = None,
):
    """Returns (x1, x2, ds or None, provenance dict). With `k_from_dataset`, a dataset whose
    number of classes is unknown (or 1) is refused before any feature is extracted;
    `check_rows(N)` runs on the dataset's size there too (k, --knn, --per-class against N)."""
    if (phi1 is None) != (phi2 is None):
        raise HumeSSLError("give both --phi1 and --phi2, or neither (then --backbones is used).")
    specs = [(name, weights or None) for name, _, weights in (b.partition("@") for b in backbones)]
    if phi1 is None:  # a misspelt backbone is named before the dataset is read or downloaded
        for name, weights in specs:
            resolve_backbone(name, weights, input_size=feature_kw.get("input_size"))
    ds = None
    if dataset is not None:
        ds = load_dataset(dataset, "train", feature_kw.get("data_root"),
                          strict=feature_kw.get("strict", False))
        skipped = int(ds.info.get("skipped", 0))  # an image folder's unreadable files
        if skipped:
            log(f"warning: {skipped} unreadable image files in {ds.name} skipped "
                "(--strict fails instead); the rows are the readable images")
        if k_from_dataset:
            dataset_k(ds)  # before hours of extraction, not after them
        if check_rows is not None:  # (before: said once both spaces were extracted)
            check_rows(len(ds))
    if phi1 is not None:
        x1, x2 = load_feature_file(phi1, "phi1"), load_feature_file(phi2, "phi2")
        prov = {"phi1": str(phi1), "phi2": str(phi2)}
        for p, x in ((phi1, x1), (phi2, x2)):
            if ds is not None and x.shape[0] != len(ds):
                raise HumeSSLError(
                    f"{p} has {x.shape[0]} rows but {ds.name} (train) has {len(ds)} images; "
                    "give the features of that dataset's images in its order, or leave out "
                    "the DATASET.")
            meta = _sidecar(p)
            if meta is None:
                continue
            if meta["N"] != x.shape[0]:
                raise HumeSSLError(
                    f"{p}: its sidecar says N={meta['N']} but it has {x.shape[0]} rows; "
                    "the cache is corrupt: re-extract the features."
                )
            if ds is not None and (
                meta.get("dataset") != ds.name
                or meta.get("split") != "train"
                or meta.get("order_hash") != ds.order_hash
            ):
                raise HumeSSLError(
                    f"{p} holds features of {meta.get('dataset')}:{meta.get('split')} (order "
                    f"{meta.get('order_hash')}), not of {ds.name}:train (order {ds.order_hash}); "
                    "pass the matching feature files or let `seed` extract them."
                )
            if ds is not None and meta.get("content_hash") not in (None, ds.content_hash):
                raise HumeSSLError(
                    f"{p} holds features of {ds.name}:train as it was: its images changed since "
                    "`features` wrote it (the same names; for an image folder a file's size or "
                    "modification time); let `seed` extract them again (leave out --phi1/"
                    "--phi2), or pass the file `hume-ssl features` writes for the images now "
                    "(under a new name).")
        return x1, x2, ds, prov
    if ds is None:
        raise HumeSSLError("name a DATASET (e.g. cifar10) or give --phi1 and --phi2 feature files.")

    sets = []
    for name, weights in specs:
        log(f"features: {ds.name}:train with {name}")
        sets.append(extract_features(ds, "train", name, weights, **feature_kw))
    prov = {
        "backbones": [s for s, _ in specs],
        "weights": [w for _, w in specs],
        "feature_files": [str(s.path) for s in sets],
    }
    return sets[0].features, sets[1].features, ds, prov


def paired_spaces(dataset, backbones, phi1, phi2, feature_kw: dict, log: Log,
                  k_from_dataset: bool = False,
                  check_rows: Optional[Callable[[int], None]] = None):
    """resolve_spaces, with both spaces checked and holding the same rows."""
    x1, x2, ds, prov = resolve_spaces(dataset, backbones, phi1, phi2, feature_kw, log,
                                      k_from_dataset, check_rows)
    x1, x2, _, _ = check_inputs(x1, x2)
    if check_rows is not None and ds is None:  # feature files alone (a dataset's rows: checked
        check_rows(x1.shape[0])  # when it was read, and the files must hold as many)
    return x1, x2, ds, prov


def ground_truth(labels: Optional[Path], ds, n: int) -> Optional[np.ndarray]:
    """(N,) int64 ground truth for the report: the --labels file, else the dataset's, else
    None."""
    if labels is not None:
        return load_labels(labels, n)
    if ds is not None and ds.labels is not None:
        return check_class_ids(ds.labels, f"the labels of {ds.name}")
    return None


def dataset_k(ds) -> int:
    """The number of classes a dataset names (its class folders or class list): --k's default."""
    if ds is None or not ds.class_names:
        what = "these feature files" if ds is None else f"{ds.name} (no class list or class " \
                                                        "sub-folders)"
        raise HumeSSLError(f"the number of classes is unknown for {what}: pass --k N (the "
                           "clusters to find), or --k auto to pick the k whose HUME restarts "
                           "agree most.")
    if len(ds.class_names) < 2:
        raise HumeSSLError(f"{ds.name} names one class ({ds.class_names[0]}): pass --k N (the "
                           "clusters to find, at least 2), or --k auto to pick the k whose "
                           "HUME restarts agree most.")
    return len(ds.class_names)
