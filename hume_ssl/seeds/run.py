"""`hume-ssl seed`: dataset -> two feature spaces -> HUME ensemble -> reliable seeds.

Stages, each reused when a run is repeated with the same `--out`:
    features   cached by hume_ssl.features.extract (or given as --phi1/--phi2 files)
    hume/      HUME restarts (chunks checkpointed; finished chunks are never recomputed)
    seeds/     indices.npy, pseudo_labels.npy, scores.npy, seeds.json, contact_sheets/,
               report.json + precision_curve.png when ground truth exists
Only the train split is used: test images never become seeds. Beside it: `inputs` (the two
spaces, ground truth, k), `choose_k` (`--k auto`), `meta` (seeds.json's fields), `messages`
(what `seed` says in words).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl.core import distributed
from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import array_hash, check_writable_dir
from hume_ssl.core.knn import knn_consistency
from hume_ssl.core.params import moved
from hume_ssl.hume.chunks import CHUNKS
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.diagnostics import with_seeds
from hume_ssl.hume.estimator import Hume
from hume_ssl.hume.outputs import write_label_outputs
from hume_ssl.models.backbones import DEFAULT_BACKBONES
from hume_ssl.seeds.artifact import write_seeds
from hume_ssl.seeds.calibration import CALIBRATED_PER_CLASS
from hume_ssl.seeds.choose_k import K_RANGE, choose_k, hume_config, parse_k_range
from hume_ssl.seeds.config import SeedConfig
from hume_ssl.seeds.consensus import ConsensusSelector
from hume_ssl.seeds.duplicates import duplicate_groups
from hume_ssl.seeds.export import remove_exports
from hume_ssl.seeds.inputs import (
    Log,
    backbone_pair,
    check_feature_kw,
    check_knn,
    dataset_k,
    ground_truth,
    paired_spaces,
)
from hume_ssl.seeds.messages import (
    agreement_note,
    empty_reason,
    filled_note,
    kept_csv_note,
    partitions_note,
    short_note,
    small_clusters_note,
)
from hume_ssl.seeds.meta import seeds_meta
from hume_ssl.seeds.partitions import space_neighbours
from hume_ssl.seeds.report import (
    SHEETS,
    describe_wrong,
    remove_stale,
    seed_report,
    write_contact_sheets,
)
from hume_ssl.seeds.selection import SeedSelector

HUME = "hume"  # the run folder's sub-folder of the HUME fit (its chunks, labels)

def seed_run(
    out: str | Path,
    dataset: Optional[str] = None,
    backbones: str | tuple[str, str] = DEFAULT_BACKBONES,
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
    k_range: Optional[str] = None,
) -> dict:
    """Run every stage and write `out/seeds/`. Returns a summary (paths, counts, precision).

    HUME's config: `hume`, or `hume_defaults` (HumeConfig fields but k) with the number of
    classes `k`: a whole number, "auto" (chosen over `k_range`, default K_RANGE, which
    only "auto" reads: choose_k), or None (the dataset's); not both. The run has one random
    state, the HUME config's (a SeedConfig that sets another is refused). `labels`: ground
    truth, for the report only."""
    seeds = (seeds or SeedConfig()).validate()
    auto = str(k) == "auto"  # k chosen by choose_k, once the spaces are read
    if k_range is not None and not auto:
        raise HumeSSLError(f"--k-range {k_range} is only read by --k auto: pass --k auto with "
                           "it, or drop it.")
    k_range = K_RANGE if k_range is None else k_range
    k_origin = ({"by": "--k auto", "k_range": k_range, "table": "k_auto.json"}
                if auto else {"by": "given"} if hume is not None or k is not None
                else {"by": "the dataset's classes"})  # seeds.json: how k was chosen
    backbones = backbone_pair(backbones)  # "A,B" or a pair
    hume_defaults = dict(hume_defaults or {})
    feature_kw = check_feature_kw(feature_kw)
    if not distributed.is_main():  # torchrun: rank 0 says it
        log = lambda message: None  # noqa: E731
    if distributed.init(resolve_device(hume_defaults.get("device", "auto"))):
        # torchrun: the same command on every rank, checked before any extraction or training
        distributed.check_same("the command's inputs and options", {
            "dataset": dataset, "backbones": list(backbones), "phi1": str(phi1),
            "phi2": str(phi2), "labels": str(labels), "out": str(out), "k": k,
            "k_range": k_range, "hume": hume.to_dict() if hume else hume_defaults,
            "seeds": dataclasses.asdict(seeds),
            "features": {n: str(v) for n, v in feature_kw.items()}})
    hume = hume_config(hume, hume_defaults, k)  # None: k is "auto" or the dataset's
    if auto:
        parse_k_range(k_range)  # before the features are read

    def rows_fit(n: int) -> None:  # on the dataset's size, before any extraction
        if hume is not None:
            hume.validate(n_samples=n)  # k below N
        check_knn(seeds.n_neighbors, n)
        if seeds.per_class > n:  # no class can hold them: said before HUME, not after it
            raise HumeSSLError(f"--per-class {seeds.per_class} is more than the {n} samples; "
                               "lower --per-class.")

    x1, x2, ds, prov = paired_spaces(dataset, backbones, phi1, phi2, feature_kw, log,
                                     k_from_dataset=hume is None and not auto,
                                     check_rows=rows_fit)
    n = x1.shape[0]
    truth = ground_truth(labels, ds, n)
    random_state = (hume or HumeConfig(**hume_defaults)).random_state
    if seeds.random_state not in (SeedConfig().random_state, random_state):
        raise HumeSSLError(f"SeedConfig.random_state {seeds.random_state} differs from the HUME "
                           f"config's {random_state}: a seed run has one random state, the "
                           "HUME config's (--random-state); set it there.")
    seeds = dataclasses.replace(seeds, random_state=random_state)  # one seed per run
    input_hash = array_hash(x1, x2)
    if auto:  # each k's HUME fit on these rows, before the run's own fit
        if distributed.init(resolve_device(hume_defaults.get("device", "auto"))):
            distributed.check_same("the inputs (hash of both feature spaces)", input_hash)
        hume = HumeConfig(k=choose_k(out, x1, x2, k_range, hume_defaults, log=log,
                                     callback=hume_callback, input_hash=input_hash),
                          **hume_defaults)
    elif hume is None:  # the number of classes is the dataset's
        hume = HumeConfig(k=dataset_k(ds), **hume_defaults)
    hume.validate(n_samples=n)
    if distributed.init(resolve_device(hume.device)):  # torchrun: same inputs on every rank
        distributed.check_same("the inputs (hash of both feature spaces) and options",
                               (input_hash, hume.to_dict(), dataclasses.asdict(seeds)))
    out = check_writable_dir(out)

    # ---- HUME (chunks resume from out/hume/chunks)
    t0 = time.perf_counter()
    hume_dir = check_writable_dir(out / HUME)
    log(f"HUME: {hume.n_restarts} restarts, k={hume.k}, N={n}")
    try:
        model = Hume.from_config(hume, checkpoint_dir=hume_dir, callback=hume_callback).fit(
            x1, x2, input_hash=input_hash)
    except BaseException:  # bad input found by the fit (constant rows), a crash, Ctrl-C: leave
        _remove_empty(hume_dir / CHUNKS, hume_dir, out)  # no empty folders; chunks stay
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
    meta["k_from"] = k_origin
    if meta["duplicate_rows"]:
        log(f"{meta['duplicate_rows']} rows repeat another row's features exactly in both "
            "spaces (the same image twice?): a cluster's seeds take one row of each")
    if seeds.rule == "consensus":
        est = meta["expected_precision"]["overall"]
        log(f"consensus: {len(sel.clusters_)} of {hume.k} clusters agreed on by "
            f"{partitions_note(sel)} ({sel.kmeans_}), {len(sel.indices_)} seeds{filled_note(sel)}; "
            f"{agreement_note(sel, seeds)}"
            + (f"; expected precision {est['expected']:.2f} (90%: {est['low']:.2f}.."
               f"{est['high']:.2f}; label-free, calibrated at {CALIBRATED_PER_CLASS} seeds per "
               "cluster on the seed benchmark)" if est else ""))
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




def _remove_empty(*folders: Path) -> None:
    """rmdir each folder that is empty, in order (a folder holding anything stays)."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            pass




def _write_seed_folder(folder: Path, sel: SeedSelector, knn_share: np.ndarray, meta: dict,
                       model: Hume, seeds: SeedConfig, ds, log: Log) -> Path:
    """seeds.json (with the diagnostics and, for no seeds, why), the arrays and the contact
    sheets; warns about empty or short clusters."""
    meta["diagnostics"] = with_seeds(model.diagnostics_, hume_candidates(sel, model, seeds),
                                     knn_share, model.labels_, seeds.per_class)
    small = small_clusters_note(seeds, short_sizes(sel, model, seeds))
    if len(sel.indices_) == 0:
        meta["empty_reason"] = empty_reason(seeds, sel.candidates_) + small
    remove_stale(folder)  # an earlier run's report and sheets, about its seeds
    for csv, state in remove_exports(folder):  # and its exports in their default places
        log(f"warning: {kept_csv_note(csv, state)}")
    seeds_dir = write_seeds(folder, sel.indices_, sel.pseudo_labels_, sel.scores_, knn_share,
                            meta)
    if len(sel.indices_) == 0:
        log(f"warning: no seeds: {meta['empty_reason']}")
    elif sel.short_classes_:
        log(f"warning: clusters {sel.short_classes_} have fewer than {seeds.per_class} seeds "
            f"(got {[int(sel.per_class_[c]) for c in sel.short_classes_]}){short_note(sel, seeds)}"
            + small)
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




def short_sizes(sel, model: Hume, seeds: SeedConfig) -> np.ndarray:
    """Rows of each cluster short of seeds (all clusters when there are no seeds): the consensus
    rule's own clusters (a class without one: none), else HUME's."""
    short = sel.short_classes_ if len(sel.indices_) else list(range(model.k))
    if seeds.rule == "consensus":
        return np.array([len(sel.clusters_[c]["members"]) for c in short
                         if c < len(sel.clusters_)], np.int64)
    return np.bincount(model.labels_, minlength=model.k)[short]


def hume_candidates(sel, model: Hume, seeds: SeedConfig) -> np.ndarray:
    """(k,) candidates per HUME cluster, for HUME's diagnostics (the consensus rule's candidates
    counted by their HUME label; rows --shortage fill added are not candidates)."""
    if seeds.rule != "consensus":
        return sel.candidates_
    cand = np.concatenate([np.zeros(0, np.int64),
                           *(r[:sel.candidates_[c]] for c, r in sel.ranked_.items())])
    return np.bincount(model.labels_[cand], minlength=len(sel.candidates_))


# moved in 0.2 (each still imports from here, with a warning, until 0.3)
__getattr__ = moved(__name__, {
    "RESOURCES": "hume_ssl.seeds.choose_k",
    "resolve_spaces": "hume_ssl.seeds.inputs",
    "shortage_hint": "hume_ssl.seeds.messages",
})
