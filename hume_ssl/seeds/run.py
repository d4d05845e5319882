"""`hume-ssl seed`: dataset -> two feature spaces -> HUME ensemble -> reliable seeds.

Stages, each reused when a run is repeated with the same `--out`:
    features   cached by hume_ssl.features.extract (or given as --phi1/--phi2 files)
    hume/      HUME restarts (chunks checkpointed; finished chunks are never recomputed)
    seeds/     indices.npy, pseudo_labels.npy, scores.npy, seeds.json, contact_sheets/,
               report.json + precision_curve.png when ground truth exists
Only the train split is used: test images never become seeds.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from hume_ssl.core import distributed
from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    array_hash,
    atomic_write_json,
    check_features,
    check_writable_dir,
    config_hash,
    read_json,
)
from hume_ssl.core.knn import knn_consistency
from hume_ssl.core.versions import versions
from hume_ssl.data.datasets import load_dataset
from hume_ssl.features.cache import load_feature_file
from hume_ssl.features.extract import extract_features
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.diagnostics import with_seeds
from hume_ssl.hume.estimator import Hume
from hume_ssl.hume.outputs import check_class_ids, load_labels, write_label_outputs
from hume_ssl.models.backbones import resolve_backbone
from hume_ssl.seeds.artifact import write_seeds
from hume_ssl.seeds.calibration import expected_precision
from hume_ssl.seeds.config import RANKING_RULES, SeedConfig
from hume_ssl.seeds.consensus import (
    ConsensusSelector,
    ranking_description,
    short_cause,
    space_neighbours,
)
from hume_ssl.seeds.duplicates import duplicate_groups, n_duplicates
from hume_ssl.seeds.export import remove_exports
from hume_ssl.seeds.report import (
    SHEETS,
    describe_wrong,
    remove_stale,
    seed_report,
    write_contact_sheets,
)
from hume_ssl.seeds.selection import SeedSelector

Log = Callable[[str], None]


K_RANGE = "2-20"  # the k tried by `seed --k auto` (inclusive)
# HUME settings that change no score of --k auto: left out of its record key (not the chunk
# fingerprint's list, hume.estimator: there n_restarts and score_rows are per-restart neutral,
# here they change each k's median score)
RESOURCES = ("device", "chunk_size", "memory_budget_gib", "checkpoint_every")


def _check_knn(n_neighbors: int, n: int) -> None:
    if n_neighbors >= n:
        raise HumeSSLError(f"--knn {n_neighbors}: need fewer neighbours than samples ({n}).")


def _sidecar(path: Path) -> Optional[dict]:
    side = Path(path).with_suffix(".json")
    if side.exists():
        meta = read_json(side)
        if isinstance(meta, dict) and "N" in meta:
            return meta
    return None


def resolve_spaces(
    dataset: Optional[str],
    backbones: tuple[str, str],
    phi1: Optional[Path],
    phi2: Optional[Path],
    feature_kw: dict,
    log: Log,
):
    """Returns (x1, x2, ds or None, provenance dict)."""
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


def seed_run(
    out: str | Path,
    dataset: Optional[str] = None,
    backbones: tuple[str, str] = ("dinov2_vitg14", "clip_vit_l14"),
    phi1: Optional[Path] = None,
    phi2: Optional[Path] = None,
    labels: Optional[Path] = None,
    hume: Optional[HumeConfig] = None,
    seeds: Optional[SeedConfig] = None,
    feature_kw: Optional[dict] = None,
    hume_callback=None,
    log: Log = print,
    hume_defaults: Optional[dict] = None,
    k: Optional[int | str] = None,
    k_range: str = K_RANGE,
) -> dict:
    """Run every stage and write `out/seeds/`. Returns a summary (paths, counts, precision).

    HUME's config: `hume`, or `hume_defaults` (HumeConfig fields) with the number of classes
    `k`: a whole number, "auto" (chosen by score over `k_range`: choose_k), or None (the
    dataset's). `labels`: ground truth, for the report only."""
    seeds = (seeds or SeedConfig()).validate()
    if k_range != K_RANGE and str(k) != "auto":
        raise HumeSSLError(f"--k-range {k_range} is only read by --k auto: pass --k auto with "
                           "it, or drop it.")
    hume_defaults = dict(hume_defaults or {})
    if distributed.init(resolve_device(hume_defaults.get("device", "auto"))):
        # torchrun: the same command on every rank, checked before any extraction or training
        distributed.check_same("the command's inputs and options", {
            "dataset": dataset, "backbones": list(backbones), "phi1": str(phi1),
            "phi2": str(phi2), "labels": str(labels), "out": str(out), "k": k,
            "k_range": k_range, "hume": hume.to_dict() if hume else hume_defaults,
            "seeds": dataclasses.asdict(seeds),
            "features": {n: str(v) for n, v in (feature_kw or {}).items()}})
    hume = _hume_config(hume, hume_defaults, k, lambda: choose_k(
        out, dataset, backbones, phi1, phi2, k_range, hume_defaults, feature_kw or {}, log=log,
        callback=hume_callback, n_neighbors=seeds.n_neighbors))
    feature_kw = dict(feature_kw or {})
    x1, x2, ds, prov = _paired_spaces(dataset, backbones, phi1, phi2, feature_kw, log)
    n = x1.shape[0]
    truth = _ground_truth(labels, ds, n)
    if hume is None:  # the number of classes is the dataset's
        hume = HumeConfig(k=_dataset_k(ds), **hume_defaults)
    hume.validate(n_samples=n)
    seeds = dataclasses.replace(seeds, random_state=hume.random_state)  # one seed per run
    _check_knn(seeds.n_neighbors, n)
    if seeds.per_class > n:  # no class can hold them: said before HUME, not after it
        raise HumeSSLError(f"--per-class {seeds.per_class} is more than the {n} samples; lower "
                           "--per-class.")
    input_hash = array_hash(x1, x2)
    if distributed.init(resolve_device(hume.device)):  # torchrun: same inputs on every rank
        distributed.check_same("the inputs (hash of both feature spaces) and options",
                               (input_hash, hume.to_dict(), dataclasses.asdict(seeds)))
    out = check_writable_dir(out)

    # ---- HUME (chunks resume from out/hume/chunks)
    t0 = time.perf_counter()
    hume_dir = check_writable_dir(out / "hume")
    log(f"HUME: {hume.n_restarts} restarts, k={hume.k}, N={n}")
    try:
        model = Hume.from_config(hume, checkpoint_dir=hume_dir, callback=hume_callback).fit(
            x1, x2, input_hash=input_hash)
    except BaseException:  # bad input found by the fit (constant rows), a crash, Ctrl-C: leave
        _remove_empty(hume_dir / "chunks", hume_dir, out)  # no empty folders; chunks stay
        raise
    if not distributed.is_main():  # torchrun: the ranks shared HUME's restarts; rank 0 goes on
        return {"out": str(out), "model": model, "rank": distributed.rank()}
    record = {"command": "seed", "inputs": prov, "dataset": ds.name if ds is not None else None,
              "seconds": round(time.perf_counter() - t0, 3)}
    metrics = write_label_outputs(model, hume_dir, record, truth)

    # ---- kNN consistency
    t1 = time.perf_counter()
    nbrs, backends = neighbour_lists(x1, x2, seeds, hume.center, hume.device)
    knn_share = np.minimum.reduce([knn_consistency(model.labels_, nbrs[sp])
                                   for sp in knn_spaces(seeds)])
    log(f"kNN ({seeds.n_neighbors} neighbours): {'; '.join(backends)} in "
        f"{time.perf_counter() - t1:.1f} s")

    # ---- selection -> out/seeds
    sel = select_seeds(seeds, x1, x2, model, nbrs, hume, knn_share, log)
    meta = seeds_meta(ds, x1, x2, model, hume, seeds, sel, backends, prov)
    if meta["duplicate_rows"]:
        log(f"{meta['duplicate_rows']} rows repeat another row's features exactly in both "
            "spaces (the same image twice?): a cluster's seeds take one row of each")
    if seeds.rule == "consensus":
        est = meta["expected_precision"]["overall"]
        log(f"consensus: {len(sel.clusters_)} of {hume.k} clusters agreed on by "
            f"{partitions_note(sel)} ({sel.kmeans_}), {len(sel.indices_)} seeds{filled_note(sel)}; "
            f"{agreement_note(sel, seeds)}"
            + (f"; expected precision {est['expected']:.2f} (90%: {est['low']:.2f}.."
               f"{est['high']:.2f}; label-free, calibrated on the seed benchmark)" if est else ""))
    seeds_dir = _write_seed_folder(out / "seeds", sel, knn_share, meta, model, seeds, ds, log)
    summary = {
        "out": str(out),
        "seeds_dir": str(seeds_dir),
        "n_seeds": int(len(sel.indices_)),
        "per_class": sel.per_class_.tolist(),
        "short_classes": sel.short_classes_,
        "empty_reason": meta.get("empty_reason"),
        "diagnostics": meta["diagnostics"],
        "rule": seeds.rule,
        "clusters": meta.get("clusters"),
        "expected_precision": meta.get("expected_precision"),
        "knn_backend": backends,
        "hume_metrics": metrics,
        "model": model,
    }
    if truth is not None:
        summary["report"] = _precision_report(seeds_dir, model, truth, sel, knn_share, seeds,
                                              hume.k)
    return summary


def _hume_config(hume: Optional[HumeConfig], defaults: dict, k: Optional[int | str],
                 auto_k: Callable[[], int]) -> Optional[HumeConfig]:
    """HUME's config from `hume`, or `defaults` with k (a number, or "auto": `auto_k()`); None
    when k is left to the dataset. Every option is checked before any work."""
    HumeConfig(**defaults).validate()  # (k: later)
    if hume is not None:
        hume.validate()
        return hume
    if k is not None and k != "auto":
        try:
            k = int(k)
        except ValueError:
            raise HumeSSLError(f"--k {k!r}: give a whole number or 'auto'.") from None
        return HumeConfig(**{**defaults, "k": k}).validate()
    if k == "auto":
        return HumeConfig(k=auto_k(), **defaults)
    return None


def _paired_spaces(dataset, backbones, phi1, phi2, feature_kw: dict, log: Log):
    """resolve_spaces, with both spaces checked and holding the same rows."""
    x1, x2, ds, prov = resolve_spaces(dataset, backbones, phi1, phi2, feature_kw, log)
    x1, x2 = check_features(x1, "phi1"), check_features(x2, "phi2")
    if x2.shape[0] != x1.shape[0]:
        raise HumeSSLError(
            f"phi1 has {x1.shape[0]} rows but phi2 has {x2.shape[0]}; both must hold the "
            "same samples in the same order."
        )
    return x1, x2, ds, prov


def _remove_empty(*folders: Path) -> None:
    """rmdir each folder that is empty, in order (a folder holding anything stays)."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            pass


def _ground_truth(labels: Optional[Path], ds, n: int) -> Optional[np.ndarray]:
    """(N,) int64 ground truth for the report: the --labels file, else the dataset's, else
    None."""
    if labels is not None:
        return load_labels(labels, n)
    if ds is not None and ds.labels is not None:
        return check_class_ids(ds.labels, f"the labels of {ds.name}")
    return None


def _dataset_k(ds) -> int:
    k = len(ds.class_names) if (ds is not None and ds.class_names) else None
    if k is None:
        raise HumeSSLError("the number of classes is unknown for this data; pass --k.")
    return k


def _write_seed_folder(folder: Path, sel: SeedSelector, knn_share: np.ndarray, meta: dict,
                       model: Hume, seeds: SeedConfig, ds, log: Log) -> Path:
    """seeds.json (with the diagnostics and, for no seeds, why), the arrays and the contact
    sheets; warns about empty or short clusters."""
    meta["diagnostics"] = with_seeds(model.diagnostics_, hume_candidates(sel, model, seeds),
                                     knn_share, model.labels_, seeds.per_class)
    if len(sel.indices_) == 0:
        meta["empty_reason"] = empty_reason(seeds, sel.candidates_)
    remove_stale(folder)  # an earlier run's report and sheets, about its seeds
    remove_exports(folder)  # and its exports in their default places
    seeds_dir = write_seeds(folder, sel.indices_, sel.pseudo_labels_, sel.scores_, knn_share,
                            meta)
    if len(sel.indices_) == 0:
        log(f"warning: no seeds: {meta['empty_reason']}")
    elif sel.short_classes_:
        log(f"warning: clusters {sel.short_classes_} have fewer than {seeds.per_class} seeds "
            f"(got {[int(sel.per_class_[c]) for c in sel.short_classes_]}){short_note(sel, seeds)}")
    if seeds.contact_sheets and ds is not None:
        write_contact_sheets(seeds_dir / SHEETS, sel.indices_by_class(),
                             lambda i: ds[i])
    return seeds_dir


def _precision_report(seeds_dir: Path, model: Hume, truth: np.ndarray, sel, knn_share: np.ndarray,
                      seeds: SeedConfig, k: int) -> dict:
    """report.json and the precision curve against ground truth; the summary's figures. The
    curve ranks up to 400 candidates per cluster by the same rule, and maps clusters to classes
    on the partition the seeds' labels come from (the consensus clusters, or HUME's)."""
    if seeds.rule == "consensus":
        partition, ranked = sel.labels_, {c: r[:400] for c, r in sel.ranked_.items()}
    else:
        partition = model.labels_
        ranked = SeedSelector.from_config(seeds).set_params(
            per_class=min(400, int(np.bincount(model.labels_).max()))
        ).fit(model.labels_, model.agreement_, knn_share, model.margins_, k=k,
              duplicate_of=sel.duplicate_of_).indices_by_class()
    report = seed_report(seeds_dir, partition, truth, sel.indices_, sel.pseudo_labels_, ranked,
                         hume_labels=model.labels_)
    return {**{key: report[key] for key in ("ensemble_acc", "seed_precision",
                                            "precision_at_per_class")},
            "wrong": [line for line in map(describe_wrong, report["clusters"]) if line]}


def knn_spaces(seeds: SeedConfig) -> tuple[str, ...]:
    """The spaces the kNN consistency of the hume rule is measured in."""
    return ("phi1", "phi2") if seeds.knn_space == "both" else (seeds.knn_space,)


def neighbour_lists(x1, x2, seeds: SeedConfig, center: bool, device: str):
    """{space: (N, n_neighbors) neighbour lists} of the spaces the rule needs (both for the
    consensus rule) and the backend used in each."""
    need = ("phi1", "phi2") if seeds.rule == "consensus" else knn_spaces(seeds)
    nbrs, backends = {}, []
    for space, x in (("phi1", x1), ("phi2", x2)):
        if space in need:
            nbrs[space], backend = space_neighbours(x, seeds.n_neighbors, center,
                                                    seeds.knn_backend, device)
            backends.append(f"{space}: {backend}")
    return nbrs, backends


def select_seeds(seeds: SeedConfig, x1, x2, model: Hume, nbrs: dict, hume: HumeConfig,
                 knn_share: np.ndarray, log=None):
    """The fitted selector of `seeds.rule`: ConsensusSelector or SeedSelector; `log` gets a
    line per k-means state of the consensus rule (its slow part)."""
    if seeds.rule == "consensus":
        t = time.perf_counter()

        def progress(done: int, states: int) -> None:
            if log is not None:
                log(f"consensus: k-means state {done} of {states} ({x1.shape[0]} rows, 3 "
                    f"partitions) done in {time.perf_counter() - t:.1f} s")

        return ConsensusSelector.from_config(seeds).fit(
            x1, x2, model.labels_, hume.k, neighbours=(nbrs["phi1"], nbrs["phi2"]),
            center=hume.center, progress=progress, agreement=model.agreement_,
            encoder_init=hume.encoder_init)
    return SeedSelector.from_config(seeds).fit(model.labels_, model.agreement_, knn_share,
                                               model.margins_, k=hume.k,
                                               duplicate_of=duplicate_groups(x1, x2))


def seeds_meta(ds, x1, x2, model, hume: HumeConfig, seeds: SeedConfig, sel: SeedSelector,
               backends: list[str], prov: dict) -> dict:
    """seeds.json's fields (hume_ssl.seeds.artifact): where the seeds come from and the rule."""
    n = x1.shape[0]
    return {
        "dataset": ds.name if ds is not None else None,
        "split": "train",
        "n_samples": n,
        "index_convention": "row i of the dataset's own order (hume_ssl.data.datasets), "
        "the row order of the feature matrices",
        "order_hash": ds.order_hash if ds is not None else array_hash(x1, x2),
        "order_hash_kind": "dataset" if ds is not None else "features",
        "features_hash": model.input_hash_,
        "k": hume.k,
        "label_kind": "cluster ids 0..k-1 (not dataset class ids)",
        "class_names": None,
        "per_class_requested": seeds.per_class,
        "per_class": sel.per_class_.tolist(),
        "candidates_per_class": sel.candidates_.tolist(),
        "short_classes": sel.short_classes_,
        "duplicate_rows": n_duplicates(sel.duplicate_of_),  # rows equal to an earlier row
        "rule": seeds.rule,
        **(_consensus_meta(sel, seeds) if seeds.rule == "consensus" else
           _hume_rule_meta(sel, seeds)),
        "knn": {"n_neighbors": seeds.n_neighbors, "backend": backends, "centred": hume.center,
                "space": "both" if seeds.rule == "consensus" else seeds.knn_space},
        "provenance": prov,
        "restarts": hume.n_restarts,
        "hume": hume.to_dict(),
        "selection": dataclasses.asdict(seeds),
        "versions": versions(),
    }


def _hume_rule_meta(sel: SeedSelector, seeds: SeedConfig) -> dict:
    return {
        "thresholds": {
            "min_agreement": seeds.min_agreement,
            "min_knn": seeds.min_knn,
            "per_class_used": {str(c): t for c, t in sel.thresholds_.items()},
            "shortage": seeds.shortage,
        },
        "ranking": RANKING_RULES[seeds.ranking],
        "scores_columns": ["agreement", "knn_consistency", "margin"],
    }


def hume_candidates(sel, model: Hume, seeds: SeedConfig) -> np.ndarray:
    """(k,) candidates per HUME cluster, for HUME's diagnostics (the consensus rule's candidates
    counted by their HUME label; rows --shortage fill added are not candidates)."""
    if seeds.rule != "consensus":
        return sel.candidates_
    cand = np.concatenate([np.zeros(0, np.int64),
                           *(r[:sel.candidates_[c]] for c, r in sel.ranked_.items())])
    return np.bincount(model.labels_[cand], minlength=len(sel.candidates_))


def partitions_note(sel: ConsensusSelector) -> str:
    """The partitions the consensus clusters came from, in words."""
    graph = (" and the spectral clustering of both spaces' kNN graph"
             if "graph" in sel.partitions_ else "")
    if sel.without_hume_ is None and "kmeans1" not in sel.partitions_:
        return ("HUME (started from k-means of space 1, standing for it) and k-means of space 2 "
                "and of both" + graph)
    if sel.without_hume_ is None:
        return "HUME and k-means of each space and of both" + graph
    return (f"k-means of each space and of both{graph}, HUME's partition left out (with it "
            f"{sel.without_hume_['clusters_with_seeds_with_hume']} cluster(s) held candidate "
            "seeds: nothing to train on)")


def filled_note(sel: ConsensusSelector) -> str:
    """How many seeds --shortage fill topped clusters up with, in words ("" for none)."""
    filled = [(c, cl["filled"]) for c, cl in enumerate(sel.clusters_) if cl["filled"]]
    if not filled:
        return ""
    return (f" ({sum(f for _, f in filled)} of them topped up from the cores of clusters "
            f"{[c for c, _ in filled]}: --shortage fill, not candidates)")


def agreement_note(sel: ConsensusSelector, seeds: SeedConfig) -> str:
    """Whether the consensus candidates needed HUME's restart agreement, in words."""
    if seeds.agreement_quantile <= 0:
        return "HUME's agreement not used (--agreement-quantile 0)"
    if sel.agreement_floor_ is None:
        return "HUME is unreliable: its restart agreement not used"
    return (f"HUME is reliable: candidates also need restart agreement >= "
            f"{sel.agreement_floor_:.2f} (its {seeds.agreement_quantile:g} quantile)")


def _consensus_meta(sel: ConsensusSelector, seeds: SeedConfig) -> dict:
    """What the consensus seeds rest on, cluster by cluster (hume_ssl.seeds.consensus), and
    the expected precision (hume_ssl.seeds.calibration)."""
    ranking, key = ranking_description(seeds.mode_size, seeds.anchor_parts, seeds.bulk_of)
    clusters = sel.evidence()
    est = expected_precision([c["stability"] for c in clusters],
                             [c["seeds"] for c in clusters], len(sel.per_class_),
                             random_state=seeds.random_state,
                             filled=[c["filled"] for c in clusters])
    for c, e in zip(clusters, est["clusters"]):
        c["expected_precision"] = e
    return {
        "evidence": f"clusters that {partitions_note(sel)} agree on (their cores); "
                    + agreement_note(sel, seeds) + "; see hume_ssl/seeds/consensus.py",
        "partitions": list(sel.partitions_),
        "without_hume": sel.without_hume_,
        "expected_precision": {k: v for k, v in est.items() if k != "clusters"},
        "clusters": clusters,
        "kmeans": sel.kmeans_,
        "kmeans_states": sel.states_,
        "thresholds": {"min_knn": seeds.min_knn, "max_overlap": seeds.max_overlap,
                       "min_stability": seeds.min_stability, "min_support": seeds.min_support,
                       "shortage": seeds.shortage,
                       "agreement_quantile": seeds.agreement_quantile,
                       "agreement_floor": sel.agreement_floor_},
        "ranking": ranking,
        "scores_columns": ["stability", "core_knn_share", key],
    }


def choose_k(
    out: str | Path,
    dataset: Optional[str],
    backbones: tuple[str, str],
    phi1,
    phi2,
    k_range: str,
    base: dict,
    feature_kw: dict,
    log: Log = print,
    max_restarts: int = 20,
    callback=None,
    n_neighbors: int = 0,
) -> int:
    """`--k auto`: fit HUME for each k in `k_range` ("lo-hi") and pick the best label-free score.
    `n_neighbors`: the seed rule's --knn, checked against the rows before the first fit.

    `callback(event, info)` gets each fit's HUME events (the progress display).
    The score of each k is the median restart score made chance-corrected, (s - 1/k)/(1 - 1/k),
    so that larger k is not penalised merely for having more classes. A heuristic: the table
    it chose from is printed and saved as k_auto.json for a person to check.
    """
    try:
        lo, hi = (int(v) for v in k_range.split("-"))
    except ValueError:
        raise HumeSSLError(f"--k-range {k_range!r}: write it as LO-HI, e.g. 2-20.") from None
    if not 2 <= lo <= hi:
        raise HumeSSLError(f"--k-range {k_range!r}: need 2 <= LO <= HI.")
    x1, x2, _, _ = resolve_spaces(dataset, backbones, phi1, phi2, feature_kw, log)
    x1, x2 = check_features(x1, "phi1"), check_features(x2, "phi2")
    _check_knn(n_neighbors, x1.shape[0])
    if hi > x1.shape[0] - 1:
        log(f"--k-range {k_range}: {x1.shape[0]} samples allow k up to {x1.shape[0] - 1} only")
        hi = x1.shape[0] - 1
    settings = {**base, "n_restarts": min(base.get("n_restarts", 100), max_restarts)}
    # each k's row is saved as it is scored; a re-run on the same rows and settings reuses them
    path = check_writable_dir(out) / "k_auto.json"
    key = config_hash({"hume": {n: v for n, v in settings.items() if n not in RESOURCES},
                       "rows": array_hash(x1, x2)})
    before = read_json(path) if path.is_file() else {}
    done = ({r["k"]: r for r in before.get("table", [])} if before.get("key") == key else {})
    rows = []
    for k in range(lo, hi + 1):
        if k in done:
            rows.append(done[k])
            log(f"k={k}: median score {done[k]['median_score']:.4f} (reused from {path})")
            continue
        m = Hume.from_config(HumeConfig(k=k, **settings), callback=callback).fit(x1, x2)
        med = float(np.median(m.scores_))
        rows.append({"k": k, "median_score": med, "corrected": (med - 1 / k) / (1 - 1 / k)})
        log(f"k={k}: median score {med:.4f}, chance-corrected {rows[-1]['corrected']:.4f}")
        atomic_write_json(path, {"key": key, "chosen": None, "table": rows})
    best = max(rows, key=lambda r: r["corrected"])["k"]
    atomic_write_json(path, {"key": key, "chosen": best, "table": rows})
    log(f"--k auto chose k={best}")
    return best


def short_note(sel, cfg: SeedConfig) -> str:
    """Why each short cluster is short (the consensus rule: consensus.short_cause, what its
    terms mean), then what to try (shortage_hint)."""
    if cfg.rule != "consensus":
        return shortage_hint(cfg)
    clusters = sel.clusters_
    causes = [short_cause(cfg, clusters[c] if c < len(clusters) else None,
                          int(sel.per_class_[c])) for c in sel.short_classes_]
    kinds = {kind for kind, _ in causes}
    terms = []
    if kinds & {"candidates", "filled"}:
        terms.append(f"candidates: core members more than {cfg.min_knn:g} of whose neighbours "
                     "are core members, in each space")
    if "filled" in kinds:
        terms.append("filled: rows --shortage fill topped it up with (its own, past the "
                     "agreement floor, no other cluster's seeds)")
    if "stability" in kinds:
        terms.append("stability: the cluster's mean best overlap (Jaccard) with the clusters "
                     "of the other partitions; clusters under --min-stability give no seeds")
    if "support" in kinds:
        terms.append("support: candidates / members; clusters under --min-support give no "
                     "seeds, theirs were right about half the time on the seed benchmark "
                     "(docs/seed_evidence.md, \"A cluster's support\"; --min-support 0 "
                     "turns the cut off, --shortage fill then tops them up; fill alone does "
                     "not)")
    why = [words for _, words in causes]
    listed = ", ".join(f"{c} ({w})" for c, w in zip(sel.short_classes_, why))
    return f": {listed}" + "".join(f"; {t}" for t in terms) + shortage_hint(cfg)


def shortage_hint(cfg: SeedConfig) -> str:
    """What to try for clusters short of seeds ("." when nothing is left to try); with the
    consensus rule, after why each is short (short_note)."""
    if cfg.rule == "consensus" and cfg.shortage == "fill":
        return ("; lower --per-class or the cut a cluster fell under, or try --rule hume "
                "--shortage relax (seeds HUME alone backs, less often right).")
    if cfg.rule == "consensus":
        return ("; a cluster without seeds is a class never learned: --shortage fill tops up "
                "those short of candidates from their cores (right less often: "
                "docs/seed_evidence.md, \"What the seeds teach\"), or try --rule hume "
                "--shortage relax (seeds HUME alone backs).")
    if cfg.shortage != "relax":
        return "; use --shortage relax to lower the thresholds stepwise for them."
    return "."


def empty_reason(cfg: SeedConfig, candidates: np.ndarray) -> str:
    """Why no sample became a seed, and what to try: for the warning and seeds.json."""
    if cfg.rule == "consensus":
        return ("no cluster is agreed on by HUME and k-means of both spaces (nor by the "
                "k-means partitions alone) with a core whose "
                f"members' neighbours stay in it (> {cfg.min_knn} in each space, stability >= "
                f"{cfg.min_stability}, candidates >= {cfg.min_support:g} of its members); try a "
                "stronger backbone pair (or `hume-ssl pretrain`), fewer classes (--k), or --rule "
                "hume --shortage relax (seeds HUME alone backs, less often right).")
    why = (
        f"no sample has both restart agreement > {cfg.min_agreement} and kNN consistency > "
        f"{cfg.min_knn} ({int(np.sum(candidates))} candidates in all)"
    )
    tries = ["more HUME restarts and steps", "a stronger backbone pair (or `hume-ssl pretrain`)"]
    if cfg.shortage != "relax":
        tries.insert(0, "--shortage relax (lowers the thresholds until clusters fill)")
    return f"{why}; try {', or '.join(tries)}."
