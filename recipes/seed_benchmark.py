"""Seed benchmark and the calibration of `seed`'s verdict, on feature sets with known labels.

    python recipes/seed_benchmark.py --out runs/seedbench                 # every set (CPU: ~1 h)
    python recipes/seed_benchmark.py --out runs/seedbench --reuse-only --states 5  # the spread
    python recipes/seed_benchmark.py --out runs/sb --sets digits digits-noise2
    python recipes/seed_benchmark.py --out runs/sb0 --reuse-only --states 5 --agreement-quantile 0
        # ours without the agreement floor (copy the NAME.npz fits into runs/sb0 first)
    python recipes/seed_benchmark.py --out runs/sb0 --reuse-only --states 5 --mode-size 0
        # ours ranked by kNN share, then centrality (the ranking before the mode)
    python recipes/seed_benchmark.py --out runs/sb0 --reuse-only --states 5 --anchor-parts 1
        # ours with the anchor taken anywhere in its cluster (the rule before the bulk)
    python recipes/seed_benchmark.py --out runs/sb0 --reuse-only --states 5 --bulk-of members
        # ours with the bulk from all of a cluster's members (the rule before the core)
    python recipes/seed_benchmark.py --out runs/sb0 --reuse-only --states 5 --min-support 0
        # ours with every cluster's seeds, however few of its members are candidates
    python recipes/seed_benchmark.py --out runs/sb --tables-only
        # the tables again from the NAME.json of earlier runs into runs/sb (sets run apart)
    python recipes/seed_benchmark.py --out runs/sb_h1 --sets digits fashion --seed 1 --states 5
        # another HUME fit (random_state 1; k-means states 1..5)
    python recipes/seed_benchmark.py --out runs/sb20 --reuse-only --states 20
        # 20 k-means states on the fits linked into runs/sb20: ours against the best baseline
        # judged state by state (about 50 min for the 12 sets on 2 cores)
    python recipes/seed_benchmark.py --out runs/sb --tables-only --fits runs/sb_h1 runs/sb_h2
        # the runs side by side: ours' precision at 4 per set, set-N at or above the best
        # baseline (means; and below / above it beyond the states' noise), the shipped
        # table's interval, one column per run
    python recipes/seed_benchmark.py --out runs/sb --sets user --phi1 A.npy --phi2 B.npy \
        --labels Y.npy

For every set it runs HUME (the `seed` defaults unless --restarts/--steps say otherwise; the fit
is cached as OUT/NAME.npz) and prints
  clustering  ACC of HUME's ensemble, of k-means on each space (centred, L2-normalised rows:
              what HUME and the kNN see) and of the consensus clusters (on the rows they hold)
  curves      precision against seeds per cluster N = 1..400 (seeds taken / clusters holding
              seeds): **ours is the rule `hume-ssl seed` ships** (the consensus rule,
              SeedConfig's defaults, `--shortage fewer`); the hume rule shipped before 0.2; and
              the label-free baselines: HUME random-N (mean of 20 draws), k-means nearest-N in
              each space, and a SPICE-style rule in each space (k-means clusters, members whose
              50 nearest neighbours share their cluster >= 90%, ranked by that share, then
              nearness to the centre); the best baseline at each N and ours minus it; and
              ours and the best baseline with the map fitted on the seeds themselves
  clusters    the consensus clusters' evidence (source partition, stability, size, core,
              candidates) and how many of their top 4 are right; for a cluster with a wrong
              seed, its seeds' classes, the class the map gives it and its members' two
              largest classes (a merge of two classes whose seeds are the one the map does not
              name, or seeds that mix classes)
  states      with --states S: ours and the k-means baselines again for k-means random states
              seed .. seed + S - 1 (HUME's fit fixed), precision at each N as mean +- sd (and
              ours' mean under the seeds' own map at 4): one state's curve is one draw, and
              differences smaller than the spread are noise; and ours minus the best baseline
              state by state with its 90% interval (paired_gap): wholly under 0, ours is below
              it beyond what redrawing the states moves (few states give wide intervals)
  taught      what the seeds teach: ACC on every row of label propagation (Zhou et al. 2004)
              from each rule's top 4 seeds per cluster over both spaces' 10-NN graph, mean
              over the states: precision and coverage in one figure (a cluster without seeds
              is a class never learned; precision at N counts only the clusters seeded)
Then a summary table (and one over the states); the calibration of HUME's verdict (its
threshold on the share of samples with a restart majority, hume.diagnostics.RELIABLE_MAJORITY:
"unreliable" must be said where HUME's ensemble ACC < 0.5 and must not where it is >= 0.65,
chosen leaving each set out, and the shipped one against every set); the calibration of the
expected precision `seed` prints: the table (clusters right / clusters holding seeds at 4 per
cluster, by stability bin, over every set-state: hume_ssl.seeds.calibration.BIN_COUNTS) and
each set left out, the interval from the other sets' table against its measured precision in
each state; the seeds at 4 by their cluster's support; why seeds at 4 were wrong, per set over
its states (the clusters' anatomy above, counted); and the table `seed` ships (BIN_COUNTS)
against every set-state of the run, out of sample where the fits are not those it was counted
on (another --seed). With --tables-only --fits, the runs side by side ("ours on N runs").
A precision_curve PNG per set goes to OUT. Ground truth is used for evaluation only.

Sets (../shared/data is found as in the other recipes):
  digits          scikit-learn digits, the tests' views (standardised pixels / 512 RBF features)
  digits-noiseS   the same views with Gaussian noise of S x each feature's std added to both
  digits-r5       digits with 5 restarts only
  cifar-C         the shared CIFAR-10 feature pair (MoCo / SqueezeNet), classes 0..C-1 only
  cifar10-swap    the full pair with the spaces swapped (SqueezeNet / MoCo)
  cifar10-subM    M random rows (seeded) of the full pair
  effnet-squeeze  the 10,000 train rows of cifar10_features/train10k_idx.npy: SqueezeNet / the
                  EfficientNet-Lite2 features of the same images (space 2)
  effnet-moco     the same rows: MoCo / EfficientNet-Lite2
  fashion         Fashion-MNIST's 10,000 test images (apt-get install dataset-fashion-mnist):
                  PCA-64 of the pixels / 512 RBF features of the pixels
  user            --phi1/--phi2/--labels
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
from common import recipe_parser, run_recipe, set_arguments
from scipy import sparse
from sklearn.cluster import KMeans

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.knn import knn_consistency
from hume_ssl.core.metrics import cluster_acc, clustering_metrics, hungarian_map
from hume_ssl.core.plot import png_bytes
from hume_ssl.hume.config import ENCODER_INITS, HumeConfig
from hume_ssl.hume.diagnostics import (
    MAJORITY_K2,
    RELIABLE_MAJORITY,
    diagnose,
    majority_level,
    verdict,
)
from hume_ssl.hume.estimator import Hume
from hume_ssl.seeds.calibration import (
    BIN_COUNTS,
    FILL_COUNTS,
    STABILITY_EDGES,
    bin_counts,
    expected_precision,
)
from hume_ssl.seeds.config import BULK_OF, RULE_SHORTAGES, SeedConfig
from hume_ssl.seeds.consensus import ConsensusSelector
from hume_ssl.seeds.partitions import normalised_knn_graph, space_neighbours, space_rows
from hume_ssl.seeds.report import (
    WRONG_KINDS,
    cluster_anatomy,
    describe_wrong,
    plot_curves,
    precision_curve,
)
from hume_ssl.seeds.selection import SeedSelector

NS = (1, 2, 4, 8, 16, 25, 50, 100, 200, 400)
SPICE_NEIGHBOURS, SPICE_SHARE = 50, 0.9  # SPICE keeps a sample when >= 90% of its neighbours
# share its cluster (it uses 100 neighbours and a confidence > 0.99 as well)
STATE_FREE = ("HUME random-N", "hume rule")  # the curves no k-means random state changes
STATE_EXTRAS = ("clusters", "ours_own_map", "taught")  # over_states' entries that aren't curves
TEACH_N, TEACH_NEIGHBOURS, TEACH_ALPHA, TEACH_STEPS = 4, 10, 0.9, 30  # "what the seeds teach":
# label propagation (Zhou et al. 2004) from the top 4 of each cluster over the union of both
# spaces' 10-NN graphs, F <- alpha S F + (1 - alpha) Y, 30 steps
PAIRED_LEVEL = 0.90  # the two-sided level of the paired interval of ours - the best baseline over
# the k-means states (paired_gap)
VERDICT_WARN_BELOW, VERDICT_PASS_FROM = 0.5, 0.65  # HUME ensemble ACC: below, the verdict
# must say unreliable (most labels wrong); from, reliable; between, either (the grey zone)
DEFAULT_SETS = ("digits", "digits-noise1", "digits-noise1.5", "digits-noise2", "digits-r5",
                "fashion", "cifar-2", "cifar-5", "cifar-10", "cifar10-swap", "effnet-squeeze",
                "effnet-moco")


def digits_views():
    from sklearn.datasets import load_digits
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    phi1 = StandardScaler().fit_transform(x).astype(np.float32)
    phi2 = RBFSampler(gamma=1e-3, n_components=512, random_state=0).fit_transform(x)
    return phi1, phi2.astype(np.float32), y.astype(np.int64)


def fashion_views():
    from sklearn.decomposition import PCA
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.preprocessing import StandardScaler

    from hume_ssl.data.datasets import load_dataset

    ds = load_dataset("fashion-mnist", "test")
    x = np.stack([ds[i][:, :, 0] for i in range(len(ds))]).reshape(len(ds), -1) / 255.0
    phi1 = StandardScaler().fit_transform(PCA(64, random_state=0).fit_transform(x))
    phi2 = RBFSampler(gamma=0.02, n_components=512, random_state=0).fit_transform(x)
    return phi1.astype(np.float32), phi2.astype(np.float32), np.asarray(ds.labels, np.int64)


def load_set(name: str, args) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(phi1, phi2, labels, HUME overrides) of a named set."""
    if name.startswith("digits"):
        x1, x2, y = digits_views()
        over = {}
        if name.startswith("digits-noise"):
            s = float(name[len("digits-noise"):])
            rng = np.random.default_rng(0)
            x1 = x1 + s * x1.std(0) * rng.standard_normal(x1.shape).astype(np.float32)
            x2 = x2 + s * x2.std(0) * rng.standard_normal(x2.shape).astype(np.float32)
        if name == "digits-r5":
            over = {"n_restarts": 5}
        return x1.astype(np.float32), x2.astype(np.float32), y, over
    if name == "fashion":
        x1, x2, y = fashion_views()
        return x1, x2, y, {}
    if name.startswith("effnet-"):
        d = Path(args.shared) / "cifar10_features"
        rows = np.load(d / "train10k_idx.npy")
        other = {"effnet-squeeze": "squeezenet1_1_224px", "effnet-moco": "mocov2_r18_36ep"}
        a = np.load(d / f"{other[name]}_train.npy", mmap_mode="r")[rows]
        b = np.load(d / "effnet_lite2_224px_train10k.npy").astype(np.float32)
        return a.astype(np.float32), b, np.load(d / "labels_train.npy")[rows], {}
    if name.startswith("cifar"):
        d = Path(args.shared) / "cifar10_features"
        if not d.is_dir():
            raise SystemExit(f"{d} not found: the cifar sets need ../shared/data/cifar10_features")
        a = np.load(d / "mocov2_r18_36ep_train.npy")
        b = np.load(d / "squeezenet1_1_224px_train.npy")
        y = np.load(d / "labels_train.npy")
        if name == "cifar10-swap":
            return b, a, y, {}
        if name.startswith("cifar10-sub"):  # a seeded random subset of rows of the full pair
            keep = np.sort(np.random.default_rng(0).choice(len(y), int(name[11:]), replace=False))
            return a[keep], b[keep], y[keep], {}
        c = int(name.split("-")[1])
        keep = y < c
        return a[keep], b[keep], y[keep], {}
    if name == "user":
        if not (args.phi1 and args.phi2 and args.labels):
            raise SystemExit("the user set needs --phi1, --phi2 and --labels")
        return np.load(args.phi1), np.load(args.phi2), np.load(args.labels).astype(np.int64), {}
    raise SystemExit(f"unknown set {name!r}; known: {', '.join(DEFAULT_SETS)}, digits-noiseS, "
                     "cifar-C, user")


def check_sets(names: list[str], args) -> None:
    """Load every set before anything is fitted, so that a run missing one set's inputs stops
    at once, naming all that is missing, instead of an hour in when it reaches that set."""
    problems = []
    for name in names:
        try:
            load_set(name, args)
        except SystemExit as e:
            problems.append(f"{name}: {e}")
        except (OSError, HumeSSLError, ValueError) as e:
            shared = name.startswith(("cifar", "effnet-"))  # the sets read from --shared
            problems.append(f"{name}: {e}" + (f" (--shared: {args.shared})" if shared else ""))
    if problems:
        raise SystemExit("inputs missing, nothing fitted:\n  " + "\n  ".join(problems))


def hume_overrides(args, over: dict) -> dict:
    """HumeConfig fields a set is fitted with beside the defaults: --restarts and --steps
    where given, then the set's own (load_set's `over`: digits-r5's 5 restarts)."""
    return {**({"n_restarts": args.restarts} if args.restarts else {}),
            **({"n_steps": args.steps} if args.steps else {}), **over}


def fit_set(name: str, args, out: Path) -> dict:
    """HUME + kNN of a set, cached as OUT/NAME.npz (the slow part; the analysis reads it)."""
    path = out / f"{name}.npz"
    if path.exists():
        with np.load(path) as z:
            return {key: z[key] for key in z.files}
    x1, x2, y, over = load_set(name, args)
    k = int(y.max()) + 1
    cfg = HumeConfig(k=k, random_state=args.seed, device=args.device)
    if args.ridge:
        cfg = cfg.replace(ridge=args.ridge)
    cfg = cfg.replace(encoder_init=args.encoder_init, **hume_overrides(args, over))
    t = time.perf_counter()
    m = Hume.from_config(cfg).fit(x1, x2)
    t_hume = time.perf_counter() - t
    kmax = 50  # the neighbours of the hume rule as shipped before 0.2 (ours use the first 20)
    f = {"y": y, "labels": m.labels_, "agreement": m.agreement_, "margins": m.margins_,
         "scores": m.scores_, "labelings": m.labelings_.astype(np.int16),
         "hume_seconds": np.array(t_hume), "restarts": np.array(cfg.n_restarts),
         "encoder_init": np.array(cfg.encoder_init)}
    for sp, x in (("phi1", x1), ("phi2", x2)):
        # the neighbours `seed` computes (centred rows when HUME centres), kmax at once
        f[f"nbrs_{sp}"] = space_neighbours(x, kmax, cfg.center)[0].astype(np.int32)
    f.update(kmeans_fit(x1, x2, k, args.seed, cfg.center))
    np.savez(path, **f)
    return f


def analyse(name: str, f: dict, args) -> dict:
    """Every curve of a set, the consensus clusters' evidence, the diagnostics, and (with
    --states > 1) precision at each N over several k-means random states."""
    x1, x2, y, _ = load_set(name, args)
    labels, agreement = f["labels"], f["agreement"]
    k = int(y.max()) + 1
    diag = diagnose(labels, agreement, f["labelings"].astype(np.int64), f["scores"], k, args.seed)
    res = {"set": name, "n": int(len(y)), "k": k, "restarts": int(f["restarts"]),
           "encoder_init": fit_init(f), "min_support": args.min_support,
           # the rule's settings and the first state: which rule made a table (--tables-only),
           # and the random state of the expected precision's draws, as `seed` takes them
           "rule": rule_settings(args), "random_state": int(args.seed),
           "hume_seconds": round(float(f["hume_seconds"]), 1), "diagnostics": diag,
           "ensemble": clustering_metrics(labels, y), "curves": {}}
    t = time.perf_counter()
    d = SeedConfig()
    sel = consensus(x1, x2, f, k, args.seed, rule_settings(args))
    res["consensus_seconds"] = round(time.perf_counter() - t, 1)
    cov = sel.labels_ >= 0
    res["consensus"] = {"coverage": float(cov.mean()), "kmeans": sel.kmeans_,
                        **clustering_metrics(sel.labels_[cov], y[cov])}
    graph = teach_graph(f)  # (N, N) sparse: what the seeds teach, every rule alike
    res["curves"]["ours"] = curve(sel.ranked_, hungarian_map(sel.labels_[cov], y[cov]), y, graph)
    res["clusters"] = cluster_records(sel, hungarian_map(sel.labels_[cov], y[cov]), y)
    share = space_share(f, labels, d.knn_space, 50)  # the hume rule as shipped before 0.2
    cap = int(np.bincount(labels, minlength=k).max())
    former = SeedSelector(per_class=min(max(NS), cap), ranking="knn").fit(
        labels, agreement, share, f["margins"], k=k)
    map_h = hungarian_map(labels, y)
    res["curves"]["hume rule"] = curve(former.indices_by_class(), map_h, y, graph)
    rng = np.random.default_rng(args.seed)  # HUME random-N: mean of draws, a fresh one per N
    drawn = [curve({c: rng.permutation(np.nonzero(labels == c)[0]) for c in range(k)}, map_h, y,
                   graph) for _ in range(args.draws)]
    draws = np.array([d["precision"] for d in drawn])
    res["curves"]["HUME random-N"] = {
        "precision": draws.mean(0).tolist(), "std": draws.std(0).tolist(), "seeds": None,
        "seed_mapped": np.mean([d["seed_mapped"] for d in drawn], 0).tolist(),
        "taught": float(np.mean([d["taught"] for d in drawn]))}
    for sp in ("phi1", "phi2"):
        res[f"kmeans_{sp}"] = clustering_metrics(f[f"km_{sp}"], y)
    res["curves"].update(kmeans_curves(f, f, y, k, graph))
    if args.states > 1:
        res["states"] = over_states(x1, x2, f, y, k, args, res, graph)
    return res


RULE_SETTINGS = ("agreement_quantile", "mode_size", "anchor_parts", "bulk_of", "min_support",
                 "graph_partition", "shortage")
# ours' settings the recipe's flags override (--agreement-quantile, --mode-size, --anchor-parts,
# --bulk-of, --min-support, --graph-partition, --shortage)


def rule_settings(args) -> dict:
    """{setting: value} of RULE_SETTINGS from the parsed flags."""
    return {name: getattr(args, name) for name in RULE_SETTINGS}


def fit_init(f: dict) -> str:
    """Where a cached HUME fit's restarts started (fits made before the k-means start: gaussian)."""
    return str(f.get("encoder_init", "gaussian"))


def consensus(x1, x2, f: dict, k: int, random_state: int, settings: dict) -> ConsensusSelector:
    """The shipped rule (SeedConfig's defaults but `settings`, rule_settings) with every
    candidate ranked (ranked_)."""
    cap = int(np.bincount(f["labels"], minlength=k).max())  # --per-class can't pass HUME's largest
    return ConsensusSelector(per_class=min(max(NS), cap), random_state=random_state,
                             **settings).fit(
        x1, x2, f["labels"], k, neighbours=(f["nbrs_phi1"], f["nbrs_phi2"]),
        agreement=f["agreement"], encoder_init=fit_init(f))


def kmeans_curves(km: dict, f: dict, y: np.ndarray, k: int, graph=None) -> dict:
    """k-means nearest-N and SPICE-style curves in each space from km's km_SP / km_dist_SP
    (with what their seeds teach over `graph`, teach_graph)."""
    out = {}
    for sp in ("phi1", "phi2"):
        kl, dist = km[f"km_{sp}"], km[f"km_dist_{sp}"]
        map_k = hungarian_map(kl, y)
        near = {c: np.nonzero(kl == c)[0][np.argsort(dist[kl == c], kind="stable")]
                for c in range(k)}
        out[f"k-means nearest-N {sp}"] = curve(near, map_k, y, graph)
        local = knn_consistency(kl, f[f"nbrs_{sp}"][:, :SPICE_NEIGHBOURS])
        spice = {c: r[local[r] >= SPICE_SHARE] for c, r in
                 ((c, near[c][np.argsort(-local[near[c]], kind="stable")]) for c in range(k))}
        out[f"SPICE-style {sp}"] = curve(spice, map_k, y, graph)
    return out


def kmeans_fit(x1, x2, k: int, random_state: int, center: bool = True) -> dict:
    """{km_SP, km_dist_SP}: k-means (3 restarts) of each space's rows as HUME sees them."""
    out = {}
    for sp, x in (("phi1", x1), ("phi2", x2)):
        xn = space_rows(x, center)
        km = KMeans(k, n_init=3, random_state=random_state).fit(xn)
        out[f"km_{sp}"] = km.labels_
        out[f"km_dist_{sp}"] = ((xn - km.cluster_centers_[km.labels_]) ** 2).sum(1)
    return out


def over_states(x1, x2, f: dict, y: np.ndarray, k: int, args, first: dict, graph=None) -> dict:
    """{method: (states, len(NS)) precision} for the rules that depend on the k-means random
    state (ours and the k-means baselines), states args.seed .. args.seed + states - 1: one
    state's curve is one draw of these (HUME and its fit stay fixed). State args.seed is
    analyse's own result `first` (its curves and clusters), not computed again."""
    names = [n for n in first["curves"] if n not in STATE_FREE]  # in the printed order
    per = {name: [first["curves"][name]["precision"]] for name in names}
    own = [first["curves"]["ours"]["seed_mapped"]]  # ours under the seeds' own map, per state
    teach = {name: [first["curves"][name].get("taught")] for name in names}  # per state
    keys = ("cluster", "stability", "support", "right_at_4", "taken_at_4", "filled_at_4",
            "mapped_class", "seed_classes", "member_classes", "wrong")
    clusters = [[{key: c[key] for key in keys} for c in first["clusters"]]]  # per state
    for s in range(args.seed + 1, args.seed + args.states):
        sel = consensus(x1, x2, f, k, s, rule_settings(args))
        cov = sel.labels_ >= 0
        mapping = hungarian_map(sel.labels_[cov], y[cov])
        curves = {"ours": curve(sel.ranked_, mapping, y, graph)}
        clusters.append([{key: c[key] for key in keys} for c in cluster_records(sel, mapping, y)])
        curves.update(kmeans_curves(kmeans_fit(x1, x2, k, s), f, y, k, graph))
        for name, c in curves.items():
            per[name].append(c["precision"])
        own.append(curves["ours"]["seed_mapped"])
        for name, c in curves.items():
            teach[name].append(c.get("taught"))
    return {**{name: np.array(p).tolist() for name, p in per.items()}, "clusters": clusters,
            "ours_own_map": own, "taught": teach}


def curve(ranked: dict, mapping: dict, y: np.ndarray, graph=None) -> dict:
    """Precision at each N of NS (the map fitted on the whole partition), seeds taken, clusters
    with at least one seed, precision with the map fitted on the seeds themselves, and (with
    `graph`, teach_graph) what the top TEACH_N seeds teach (taught)."""
    prec, taken = precision_curve(ranked, mapping, y, ns=NS)[1:]
    held = [int(sum(len(r[:n]) > 0 for r in ranked.values())) for n in NS]
    out = {"precision": [float(p) for p in prec], "seeds": taken.tolist(), "clusters": held,
           "seed_mapped": [seed_mapped(ranked, y, n) for n in NS]}
    if graph is not None:
        out["taught"] = taught(ranked, graph, y)
    return out


def teach_graph(f: dict) -> sparse.csr_matrix:
    """(N, N) S = D^-1/2 A D^-1/2 of A, the union of both spaces' TEACH_NEIGHBOURS-NN graphs
    (f's nbrs_phi1, nbrs_phi2: the neighbours `seed` computes), made symmetric: the graph the
    consensus rule's graph partition is cut from (normalised_knn_graph), fewer neighbours."""
    return normalised_knn_graph([f["nbrs_phi1"][:, :TEACH_NEIGHBOURS],
                                 f["nbrs_phi2"][:, :TEACH_NEIGHBOURS]])


def taught(ranked: dict, graph: sparse.csr_matrix, y: np.ndarray) -> float:
    """ACC (best one-to-one map) on every row of label propagation from the top TEACH_N
    candidates of each cluster of `ranked`, labelled by their cluster, over `graph`
    (teach_graph): precision and coverage in one figure, what a semi-supervised learner given
    these seeds and every unlabelled row can reach in these spaces. A cluster without seeds
    is a class never predicted; a row no seed reaches (another component of the graph) gets
    the first seeded cluster's label."""
    top = {c: np.asarray(r[:TEACH_N]) for c, r in ranked.items() if len(r[:TEACH_N])}
    if not top:
        return float("nan")
    names = sorted(top)
    y0 = np.zeros((len(y), len(names)))  # (N, clusters with seeds)
    for j, c in enumerate(names):
        y0[top[c], j] = 1.0
    f = y0.copy()
    for _ in range(TEACH_STEPS):
        f = TEACH_ALPHA * (graph @ f) + (1 - TEACH_ALPHA) * y0
    return float(cluster_acc(np.asarray(names)[f.argmax(1)], y))


def seed_mapped(ranked: dict, y: np.ndarray, n: int) -> float:
    """Precision of the top-n seeds of every cluster after the best one-to-one map of their
    clusters to classes fitted on those seeds alone: what a classifier trained on them can
    inherit (label names are arbitrary), blind to the rows that are not seeds."""
    top = {c: r[:n] for c, r in ranked.items() if len(r[:n])}
    if not top:
        return float("nan")
    pred = np.concatenate([np.full(len(r), c) for c, r in top.items()])
    return float(cluster_acc(pred, y[np.concatenate(list(top.values()))]))


def cluster_records(sel, mapping: dict, y: np.ndarray) -> list[dict]:
    """Per consensus cluster: its evidence and its seeds at 4 against the truth, with the
    anatomy `seed` writes to report.json (hume_ssl.seeds.report.cluster_anatomy: mapped_class,
    seed_classes, member_classes on the consensus partition, and why they are wrong)."""
    top = {c: sel.ranked_[c][:4] for c in range(len(sel.clusters_))}
    anat = {a["cluster"]: a for a in cluster_anatomy(sel.labels_, y, top, mapping)}
    out = []
    for ev in sel.evidence():
        c = ev["cluster"]
        a = anat.get(c, {"mapped_class": int(mapping.get(c, -1)), "seed_classes": [],
                         "right": 0, "member_classes": [], "wrong": None})
        out.append({**ev, "right_at_4": a["right"], "taken_at_4": int(len(top[c])),
                    "filled_at_4": max(0, int(len(top[c])) - ev["candidates"]),  # last ones
                    "mapped_class": a["mapped_class"], "seed_classes": a["seed_classes"],
                    "member_classes": a["member_classes"], "wrong": a["wrong"]})
    return out


def wrong_table(results: list[dict]) -> None:
    """Over every set-state: the clusters whose seeds at 4 were wrong (any of them), by why
    (hume_ssl.seeds.report.wrong_kind), per set. Ground truth, for reading only."""
    rows = []
    for r in results:
        cl = [c for state in state_clusters(r) for c in state if c.get("taken_at_4")]
        kinds = [c["wrong"] for c in cl if "wrong" in c]
        if len(kinds) == len(cl) and cl:
            rows.append((r["set"], len(state_clusters(r)), len(cl), kinds))
    if not rows:
        return
    print("\n## why seeds at 4 were wrong: clusters holding seeds, over every set-state ("
          + "; ".join(f"{key}: {words}" for key, words in WRONG_KINDS.items()) + ")")
    print("| set | states | clusters holding seeds | with a wrong seed | "
          + " | ".join(WRONG_KINDS) + " |")
    print("|---" * (4 + len(WRONG_KINDS)) + "|")
    for name, states, n, kinds in rows:
        print(f"| {name} | {states} | {n} | {sum(k is not None for k in kinds)} | "
              + " | ".join(str(kinds.count(key)) for key in WRONG_KINDS) + " |")


def space_share(f: dict, labels, space: str, n: int) -> np.ndarray:
    """kNN consistency with n neighbours in `space` (phi1, phi2, or both: the lower share)."""
    spaces = ("phi1", "phi2") if space == "both" else (space,)
    return np.minimum.reduce([knn_consistency(labels, f[f"nbrs_{sp}"][:, :n]) for sp in spaces])


def fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.3f}"


def baselines(r: dict) -> list[str]:
    return [c for c in r["curves"] if c not in ("ours", "hume rule")]


def best_baseline(r: dict) -> list[tuple[float, str]]:
    """(precision, name) of the best label-free baseline at each N."""
    out = []
    for j in range(len(NS)):
        cand = [(r["curves"][c]["precision"][j], c) for c in baselines(r)
                if np.isfinite(r["curves"][c]["precision"][j])]
        out.append(max(cand) if cand else (np.nan, "-"))
    return out


def print_set(r: dict) -> None:
    dg, e, cs = r["diagnostics"], r["ensemble"], r["consensus"]
    print(f"\n## {r['set']}: N={r['n']}, k={r['k']}, {r['restarts']} restarts "
          f"({r['hume_seconds']} s; consensus rule {r['consensus_seconds']} s) -> HUME verdict "
          f"**{dg['verdict']}**")
    a, ari = dg["agreement"], dg.get("pairwise_ari", {}).get("mean")
    if "majority" in a:  # (NAME.json of runs before 2026-12-07 lack it)
        print(f"verdict's evidence: a restart majority (agreement > {a['majority_level']:g}) on "
              f"{100 * a['majority']:.1f}% of samples, agreement > 0.5 on "
              f"{100 * a['above_0.5']:.1f}%; mean pairwise ARI of restarts {fmt(ari)}")
    print("rule: " + (", ".join(f"{k} {v}" for k, v in r["rule"].items()) if "rule" in r
                      else "not recorded (a run before 2026-12-07: the defaults of its day)"))
    print(f"ACC: HUME ensemble {fmt(e['acc'])}; k-means phi1 {fmt(r['kmeans_phi1']['acc'])}, phi2 "
          f"{fmt(r['kmeans_phi2']['acc'])}; consensus clusters {fmt(cs['acc'])} on "
          f"{100 * cs['coverage']:.0f}% of rows ({len(r['clusters'])} clusters accepted)")
    print("\n| precision at N per cluster (seeds taken / clusters with seeds) | "
          + " | ".join(str(n) for n in NS) + " |")
    print("|---" * (len(NS) + 1) + "|")
    for name, c in r["curves"].items():
        label = "**ours: the consensus rule**" if name == "ours" else name
        if name == "hume rule":
            label = "the hume rule (shipped before 0.2: both/knn50/knn)"
        cells = [fmt(p) if c["seeds"] is None else f"{fmt(p)} ({t}/{h})"
                 for p, t, h in zip(c["precision"], c["seeds"] or NS, c.get("clusters") or NS)]
        print(f"| {label} | " + " | ".join(cells) + " |")
    best = best_baseline(r)
    ours = r["curves"]["ours"]["precision"]
    print("| best baseline | " + " | ".join(f"{fmt(p)} ({n})" for p, n in best) + " |")
    print("| ours - best baseline | " + " | ".join(
        fmt(o - b) if np.isfinite(o) and np.isfinite(b) else "-" for o, (b, _) in zip(ours, best))
        + " |")
    print("| the same seeds, map fitted on the seeds themselves: ours | " + " | ".join(
        fmt(p) for p in r["curves"]["ours"]["seed_mapped"]) + " |")
    print("| ... the best baseline, the same map | " + " | ".join(
        fmt(max(r["curves"][c]["seed_mapped"][j] for c in baselines(r)))
        for j in range(len(NS))) + " |")
    cl = r["clusters"]
    est = expected_precision([c["stability"] for c in cl], [c["taken_at_4"] for c in cl],
                             r["k"], random_state=r.get("random_state", 0),
                             filled=[c.get("filled_at_4", 0) for c in cl]
                             )["overall"]  # the table `seed` ships (BIN_COUNTS), as it draws
    taken = sum(c["taken_at_4"] for c in cl)
    if est and taken:
        print(f"expected precision at 4 from the shipped table: {est['expected']:.3f} "
              f"({est['low']:.3f}..{est['high']:.3f}); measured "
              f"{sum(c['right_at_4'] for c in cl) / taken:.3f}")
    print("\n| consensus cluster | " + " | ".join(str(c["cluster"]) for c in r["clusters"]) + " |")
    print("|---" * (len(r["clusters"]) + 1) + "|")
    for key in ("source", "stability", "size", "core", "candidates", "right_at_4"):
        print(f"| {key} | " + " | ".join(
            fmt(c[key]) if isinstance(c[key], float) else str(c[key]) for c in r["clusters"])
            + " |")
    wrong = [line for line in map(describe_wrong, r["clusters"]) if line]
    if wrong:
        print("wrong seeds at 4 (ground truth, for reading only):\n  " + "\n  ".join(wrong))


def state_means(r: dict) -> dict:
    """{method: (mean (len(NS),), sd (len(NS),))} over the k-means random states; the rules
    that don't depend on them (HUME random-N, the hume rule) with sd 0."""
    with warnings.catch_warnings():  # an N where no state took seeds: nan, said as "-"
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {name: (np.nanmean(p, 0), np.nanstd(p, 0)) for name, p in
               ((n, np.array(v, float)) for n, v in r["states"].items()
                if n not in STATE_EXTRAS)}
    for name in STATE_FREE:
        p = np.array(r["curves"][name]["precision"], float)
        out[name] = (p, np.zeros_like(p))
    return out


def best_mean_baseline(means: dict) -> np.ndarray:
    """(len(NS),) the best label-free baseline's mean precision at each N."""
    base = np.array([m for name, (m, _) in means.items() if name not in ("ours", "hume rule")])
    return np.array([np.nanmax(c) if np.isfinite(c).any() else np.nan for c in base.T])


def paired_gap(r: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(len(NS),) each: ours' precision minus the best label-free baseline's, taken state by
    state (both drawn with the same random state; a state-free baseline is the same in every
    state) over the states where both hold seeds and averaged, and the two-sided PAIRED_LEVEL
    Student-t interval of that mean. At each N the best baseline is the one with the highest
    mean over the states (best_mean_baseline) among those holding seeds in at least 2 of the
    states where ours does (one that rarely seeds anything, SPICE-style in a noisy space, has
    no interval and is passed over); nan where none does. An interval wholly below 0 says ours
    is below the best baseline beyond what redrawing the states moves; one that holds 0 says
    the states cannot tell them apart."""
    from scipy.stats import t as student_t

    means = state_means(r)
    n_states = len(r["states"]["ours"])
    curves = {name: (np.array(r["states"][name], float) if name not in STATE_FREE else
                     np.tile(np.array(r["curves"][name]["precision"], float), (n_states, 1)))
              for name in means}  # {method: (states, len(NS))}
    ours = curves.pop("ours")
    curves.pop("hume rule")
    mean, low, high = (np.full(len(NS), np.nan) for _ in range(3))
    for j in range(len(NS)):
        paired = {name: c[:, j] for name, c in curves.items()
                  if np.isfinite(ours[:, j] - c[:, j]).sum() >= 2}  # {method: (states,)}
        if not paired:
            continue
        best = max(paired, key=lambda name: means[name][0][j])  # ties: the first
        d = ours[:, j] - paired[best]  # (states,)
        d = d[np.isfinite(d)]
        half = student_t.ppf(0.5 + PAIRED_LEVEL / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        mean[j], low[j], high[j] = d.mean(), d.mean() - half, d.mean() + half
    return mean, low, high


def print_states(r: dict) -> None:
    means = state_means(r)
    n_states = len(r["states"]["ours"])
    print(f"\nover {n_states} k-means random states (ours and the k-means baselines redrawn; "
          "HUME's fit fixed): precision at N, mean +- sd")
    print("| rule | " + " | ".join(str(n) for n in NS) + " |")
    print("|---" * (len(NS) + 1) + "|")
    for name, (m, sd) in means.items():
        print(f"| {name} | " + " | ".join(f"{fmt(a)} +- {b:.3f}" if np.isfinite(a) else "-"
                                       for a, b in zip(m, sd)) + " |")
    best = best_mean_baseline(means)
    print("| ours - best baseline (means) | " + " | ".join(
        fmt(o - b) if np.isfinite(o) and np.isfinite(b) else "-"
        for o, b in zip(means["ours"][0], best)) + " |")
    print(f"| ours - best baseline, paired over the states ({100 * PAIRED_LEVEL:.0f}% interval) | "
          + " | ".join(f"{fmt(m)} ({fmt(lo)}..{fmt(hi)})" if np.isfinite(m) else "-"
                       for m, lo, hi in zip(*paired_gap(r))) + " |")


def summary_seed_mapped(results: list[dict]) -> None:
    """One row per set: precision with the map fitted on the seeds themselves."""
    cols = (1, 4, 25)
    print("\n## the same seeds, map fitted on the seeds themselves (what training on them can "
          "inherit): ours and the best baseline under that map")
    print("| set | " + " | ".join(f"ours at {n} | best baseline at {n}" for n in cols) + " |")
    print("|---" * (1 + 2 * len(cols)) + "|")
    for r in results:
        cells = []
        for n in cols:
            j = NS.index(n)
            best = max(r["curves"][c]["seed_mapped"][j] for c in baselines(r))
            cells += [fmt(r["curves"]["ours"]["seed_mapped"][j]), fmt(best)]
        print(f"| {r['set']} | " + " | ".join(cells) + " |")


def ours_and_best(r: dict) -> tuple[np.ndarray, np.ndarray]:
    """(len(NS),) ours' precision at each N and the best label-free baseline's: their means
    over the k-means states (one state without --states: its curves)."""
    if "states" in r:
        means = state_means(r)
        return means["ours"][0], best_mean_baseline(means)
    return (np.array(r["curves"]["ours"]["precision"], float),
            np.array([b for b, _ in best_baseline(r)], float))


def state_wins(r: dict) -> int:
    """How many N of NS where ours' mean precision over the k-means states is at or above the
    best label-free baseline's mean (one state without --states: its curves)."""
    return int(sum(np.isfinite(o) and np.isfinite(b) and o >= b - 1e-9
                   for o, b in zip(*ours_and_best(r))))


def noise_counts(r: dict) -> tuple[int, int]:
    """How many N of NS where ours is below the best baseline beyond the k-means states' noise
    (paired_gap's interval wholly under 0), and above it beyond that noise (wholly over 0);
    (0, 0) for a run of one state (no interval)."""
    if "states" not in r:
        return 0, 0
    _, low, high = paired_gap(r)
    return int(np.sum(high < 0)), int(np.sum(low > 0))


def fits_table(runs: list[tuple[str, list[dict]]]) -> None:
    """Ours on several runs side by side, one column per run [(its --out, its sets' results)]
    (other HUME fits, or the same fits under another rule): per set, precision at 4 per cluster
    (mean over the k-means states); per run, the mean over the sets it holds, the set-N where
    ours' mean is at or above the best baseline's, the sets where it is at every N, and the
    set-states where the shipped table's interval (BIN_COUNTS) holds the measured precision."""
    j = NS.index(4)
    names = list(dict.fromkeys(r["set"] for _, rs in runs for r in rs))
    by_run = [{r["set"]: r for r in rs} for _, rs in runs]
    at4 = [{name: float(ours_and_best(r)[0][j]) for name, r in rs.items()} for rs in by_run]
    print(f"\n## ours on {len(runs)} runs (the first: --out; then --fits), precision at 4 per "
          "cluster, mean over the k-means states")
    print("| set | " + " | ".join(d for d, _ in runs) + " |")
    print("|---" * (len(runs) + 1) + "|")
    for name in names:
        print(f"| {name} | " + " | ".join(fmt(a[name]) if name in a else "-" for a in at4)
              + " |")
    print("| mean of the sets each holds | " + " | ".join(
        fmt(np.nanmean(list(a.values()))) for a in at4) + " |")
    wins = [[state_wins(r) for r in rs.values()] for rs in by_run]
    print("| set-N at or above the best baseline | " + " | ".join(
        f"{sum(w)} of {len(NS) * len(w)}" for w in wins) + " |")
    print("| sets at or above it at every N | " + " | ".join(
        f"{sum(x == len(NS) for x in w)} of {len(w)}" for w in wins) + " |")
    noise = [[noise_counts(r) for r in rs.values()] for rs in by_run]
    print(f"| set-N below it beyond the states' noise (paired {100 * PAIRED_LEVEL:.0f}% interval "
          "under 0) | " + " | ".join(f"{sum(b for b, _ in n)} of {len(NS) * len(n)}"
                                     for n in noise) + " |")
    print("| set-N above it beyond the states' noise (interval over 0) | " + " | ".join(
        f"{sum(a for _, a in n)} of {len(NS) * len(n)}" for n in noise) + " |")
    print("| sets never below it beyond the states' noise | " + " | ".join(
        f"{sum(b == 0 for b, _ in n)} of {len(n)}" for n in noise) + " |")
    checks = [[interval_check(r, BIN_COUNTS, FILL_COUNTS)[2:] for r in rs.values()]
              for rs in by_run]
    print("| set-states inside the shipped table's interval | " + " | ".join(
        f"{sum(c[0] for c in cs)} of {sum(c[1] for c in cs)}" for cs in checks) + " |")


def summary_states(results: list[dict]) -> None:
    """One row per set: ours and the best baseline at 4 over the k-means random states, and
    how many clusters held ours' seeds (the baselines seed every cluster)."""
    rs = [r for r in results if "states" in r]
    if not rs:
        return
    j = NS.index(4)
    print(f"\n## over {len(rs[0]['states']['ours'])} k-means random states: precision at 4 per "
          "cluster (mean +- sd, min..max), ours under the seeds' own map (mean), and N where "
          "ours' mean >= the best baseline's mean, and N where ours is below it beyond the "
          f"states' noise (paired {100 * PAIRED_LEVEL:.0f}% interval under 0); clusters holding "
          "ours' seeds, per state")
    print("| set | ours at 4 | ours at 4, own map (mean) | best baseline at 4 (mean) | "
          "N where ours >= best (means) | N below it beyond the noise | clusters with seeds, "
          "of k |")
    print("|---|---|---|---|---|---|---|")
    with warnings.catch_warnings():  # a state without seeds at 4: nan
        warnings.simplefilter("ignore", RuntimeWarning)
        for r in rs:
            means = state_means(r)
            ours = np.array(r["states"]["ours"], float)[:, j]
            own = np.nanmean(np.array(r["states"]["ours_own_map"], float)[:, j])
            best = best_mean_baseline(means)
            wins = state_wins(r)
            held = [sum(c["taken_at_4"] > 0 for c in st) for st in state_clusters(r)]
            print(f"| {r['set']} | {fmt(np.nanmean(ours))} +- {np.nanstd(ours):.3f} "
                  f"({fmt(np.nanmin(ours))}..{fmt(np.nanmax(ours))}) | {fmt(own)} | "
                  f"{fmt(best[j])} | {wins} of {len(NS)} | {noise_counts(r)[0]} of {len(NS)} | "
                  f"{', '.join(map(str, held))} of {r['k']} |")


def taught_means(r: dict) -> dict:
    """{rule: what its seeds teach (taught), mean over the k-means states where it depends on
    them}; {} for results written before the measure existed."""
    names = [n for n, c in r["curves"].items() if "taught" in c]
    per_state = r.get("states", {}).get("taught", {})
    out = {}
    for name in names:
        vals = [v for v in per_state.get(name, [r["curves"][name]["taught"]]) if v is not None]
        out[name] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out


def summary_taught(results: list[dict]) -> None:
    """One row per set: what each rule's top 4 seeds per cluster teach (taught), ours against
    the best baseline: precision and coverage in one figure."""
    rows = [(r, taught_means(r)) for r in results]
    rows = [(r, t) for r, t in rows if t]
    if not rows:
        return
    names = list(rows[0][1])
    print(f"\n## what the seeds teach: ACC on every row of label propagation from the top "
          f"{TEACH_N} seeds of each cluster over both spaces' {TEACH_NEIGHBOURS}-NN graph (mean "
          "over the k-means states); a cluster without seeds is a class never learned")
    print("| set | clusters with ours' seeds, of k | " + " | ".join(names)
          + " | ours - best baseline |")
    print("|---" * (len(names) + 3) + "|")
    wins = 0
    for r, t in rows:
        held = [sum(c["taken_at_4"] > 0 for c in st) for st in state_clusters(r)]
        best = max(v for n, v in t.items() if n not in ("ours", "hume rule"))
        wins += t["ours"] >= best - 1e-9
        print(f"| {r['set']} | {np.mean(held):.1f} of {r['k']} | "
              + " | ".join(fmt(t.get(n)) for n in names) + f" | {fmt(t['ours'] - best)} |")
    print(f"ours at or above the best baseline on {wins} of {len(rows)} sets")


def summary_table(results: list[dict]) -> None:
    """One row per set: what docs/seed_evidence.md's benchmark table shows."""
    cols = (1, 4, 25, 100)
    idx = [NS.index(n) for n in cols]
    print("\n## summary: precision at N seeds per cluster (seeds taken); best label-free "
          "baseline at the same N")
    print("| set | HUME ACC | consensus ACC (rows) | " + " | ".join(
        f"ours at {n} | best baseline at {n}" for n in cols) + " | N where ours >= best |")
    print("|---" * (3 + 2 * len(cols) + 1) + "|")
    for r in results:
        o, best = r["curves"]["ours"], best_baseline(r)
        wins = sum(np.isfinite(p) and np.isfinite(b) and p >= b - 1e-9
                   for p, (b, _) in zip(o["precision"], best))
        cells = []
        for j in idx:
            cells += [f"{fmt(o['precision'][j])} ({o['seeds'][j]})",
                      f"{fmt(best[j][0])} ({best[j][1]})"]
        print(f"| {r['set']} (N={r['n']}, k={r['k']}) | {fmt(r['ensemble']['acc'])} | "
              f"{fmt(r['consensus']['acc'])} ({100 * r['consensus']['coverage']:.0f}%) | "
              + " | ".join(cells) + f" | {wins} of {len(NS)} |")


def state_clusters(r: dict) -> list[list[dict]]:
    """[[cluster records] per k-means state] of a set's result (one state without --states)."""
    return r["states"]["clusters"] if "states" in r else [r["clusters"]]


SUPPORT_EDGES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 1.0)  # bins of a cluster's support


def support_records(results: list[dict]) -> list[tuple[str, dict]]:
    """[(set, cluster record)] over every set-state: the clusters whose top 4 are 4 candidates
    (none filled), with their support (records of runs before it was recorded: none)."""
    return [(r["set"], c) for r in results for state in state_clusters(r) for c in state
            if "support" in c and c["taken_at_4"] == 4 and not c.get("filled_at_4", 0)]


def support_bins(records: list[dict]) -> list[tuple[float, float, int, Optional[float]]]:
    """[(low, high, clusters, share of their top-4 seeds right)] per SUPPORT_EDGES bin (the
    last one holds 1.0; share None when empty)."""
    out = []
    for lo, hi in zip(SUPPORT_EDGES[:-1], SUPPORT_EDGES[1:]):
        inside = [c for c in records
                  if lo <= c["support"] < hi or (hi == SUPPORT_EDGES[-1] and c["support"] == hi)]
        share = sum(c["right_at_4"] for c in inside) / (4 * len(inside)) if inside else None
        out.append((lo, hi, len(inside), share))
    return out


def support_cut(records: list[dict]) -> float:
    """The highest bin edge below which a bin's seeds were right less often than wrong
    (share < 0.5; 0.0 when no bin is): SeedConfig.min_support's rule."""
    cut = 0.0
    for _, hi, n, share in support_bins(records):
        if n and share < 0.5:
            cut = hi
    return cut


def support_table(results: list[dict]) -> None:
    """Seeds at 4 right by their cluster's support (candidates / members, before the
    --min-support cut) over every set-state, the cut chosen on every set and leaving each set
    out (support_cut), against the shipped SeedConfig.min_support. Clusters under the cut
    give no seeds: run with --min-support 0 to see them."""
    records = support_records(results)
    if not records:
        return
    shipped = SeedConfig().min_support
    print(f"\n## a cluster's support (candidates / members): its top 4 seeds right, over every "
          f"set-state (clusters with 4 candidate seeds; this run's --min-support "
          f"{results[0].get('min_support', shipped)}: clusters under it give none)")
    print("| support | clusters | share of their top-4 seeds right |")
    print("|---|---|---|")
    for lo, hi, n, share in support_bins([c for _, c in records]):
        print(f"| [{lo:g}, {hi:g}{']' if hi == SUPPORT_EDGES[-1] else ')'} | {n} | {fmt(share)} |")
    sets = sorted({name for name, _ in records})
    loo = {name: support_cut([c for s, c in records if s != name]) for name in sets}
    print(f"cut (highest bin edge below which seeds were right less often than wrong): "
          f"{support_cut([c for _, c in records]):g} on every set; leaving each set out: "
          + ", ".join(f"{name} {v:g}" for name, v in loo.items())
          + f"; shipped min_support {shipped:g}")


def table_counts(results: list[dict]):
    """((right, clusters) per stability bin) over every set-state of `results`, clusters whose
    top 4 hold no filled seed (--shortage fill) only."""
    cl = [c for r in results for state in state_clusters(r) for c in state
          if not c.get("filled_at_4", 0)]
    return bin_counts([c["stability"] for c in cl], [c["right_at_4"] for c in cl],
                      [c["taken_at_4"] for c in cl])


def fill_counts(results: list[dict]) -> tuple[float, int]:
    """(right, clusters) of the clusters whose top 4 were all filled (--shortage fill) over
    every set-state of `results`: right sums their seeds' precision (FILL_COUNTS)."""
    cl = [c for r in results for state in state_clusters(r) for c in state
          if c.get("filled_at_4", 0) and c["filled_at_4"] >= c["taken_at_4"]]
    return (round(float(sum(c["right_at_4"] / c["taken_at_4"] for c in cl)), 2), len(cl))


def data_source(name: str) -> str:
    """The images a set is made from. Sets of one source share their rows (digits and its noisy
    and 5-restart copies; the CIFAR-10 pairs, their subsets, the swap and the EfficientNet
    pairs, all CIFAR-10 train images), so a set left out alone keeps its twins in the table."""
    for source, prefixes in (("digits", ("digits",)), ("fashion", ("fashion",)),
                             ("cifar10", ("cifar", "effnet"))):
        if name.startswith(prefixes):
            return source
    return name


def expected_precision_table(results: list[dict]) -> None:
    """The calibration table (BIN_COUNTS) from every set, and each set left out: the interval
    from the other sets' table against the precision measured at 4 per cluster; then each data
    source left out (data_source: every set of the same images), the stricter test of data
    unlike the table's. With --states, every k-means random state of a set is a draw: the
    table counts them all, and each state of the left-out set is checked against the
    interval."""
    table = table_counts(results)
    n_draws = sum(len(state_clusters(r)) for r in results)
    print(f"\n## expected precision: the table (clusters' seeds right / clusters holding seeds "
          f"at 4 per cluster, by the cluster's stability; {len(results)} sets, {n_draws} "
          "set-states)")
    edges = (0.0,) + STABILITY_EDGES + (1.0,)
    print("| stability | " + " | ".join(f"{a:.1f}-{b:.1f}" for a, b in zip(edges, edges[1:]))
          + " |")
    print("|---" * len(edges) + "|")
    print("| right / clusters | " + " | ".join(f"{r} / {t}" for r, t in table) + " |")
    print(f"BIN_COUNTS = {table}")
    fills = fill_counts(results)
    if fills[1]:
        print(f"clusters whose top 4 were all filled (--shortage fill): {fills[0]} right of "
              f"{fills[1]}\nFILL_COUNTS = {fills}")
    print("\n| left out | expected precision at 4 (90% interval), per state | measured, per "
          "state | inside |")
    def others(r: dict) -> list[dict]:  # the sets but r (by name: a set listed twice too)
        return [q for q in results if q["set"] != r["set"]]

    def elsewhere(r: dict) -> list[dict]:  # the sets of other images than r's
        return [q for q in results if data_source(q["set"]) != data_source(r["set"])]

    interval_rows(results, lambda r: table_counts(others(r)), "left-out set-states",
                  lambda r: fill_counts(others(r)))
    sources = {data_source(r["set"]) for r in results}
    if len(sources) < 2:
        return
    print(f"\n| left out with every set of its data ({', '.join(sorted(sources))}) | expected "
          "precision at 4 (90% interval), per state | measured, per state | inside |")
    interval_rows(results, lambda r: table_counts(elsewhere(r)),
                  "set-states left out with their data", lambda r: fill_counts(elsewhere(r)))


def shipped_table_check(results: list[dict]) -> None:
    """The table `seed` ships (BIN_COUNTS) against every set-state here: a test out of sample
    only where these fits are not the ones BIN_COUNTS was counted on (another --seed)."""
    print(f"\n## expected precision from the shipped table (BIN_COUNTS = {BIN_COUNTS}) against "
          "these fits (out of sample only when they are not the fits it was counted on)")
    print("\n| set | expected precision at 4 (90% interval), per state | measured, per state "
          "| inside |")
    interval_rows(results, lambda r: BIN_COUNTS, "set-states", lambda r: FILL_COUNTS)


def interval_rows(results: list[dict], counts_for, what: str, fill_for=lambda r: None) -> None:
    """Print each set's expected precision at 4 per state (the table counts_for(set) gives;
    filled seeds: fill_for(set), a set-state with filled seeds is skipped, "-", without one)
    against the measured one, and how many set-states lie inside the interval."""
    print("|---|---|---|---|")
    inside = total = 0
    for r in results:
        shown, meas, ok, checked = interval_check(r, counts_for(r), fill_for(r))
        inside, total = inside + ok, total + checked
        print(f"| {r['set']} | {'; '.join(shown)} | {'; '.join(meas)} | {ok} of {checked} |")
    print(f"inside the interval on {inside} of {total} {what}")


def interval_check(r: dict, counts, fill) -> tuple[list[str], list[str], int, int]:
    """One set's expected precision at 4 per state from the table `counts` (filled seeds:
    `fill`; a state with filled seeds and no fill table is not checked, "-") and the measured
    one, as printed, and how many of the checked states lie inside the interval:
    (shown, measured, inside, checked)."""
    shown, meas, ok, skipped = [], [], 0, 0
    for i, cl in enumerate(state_clusters(r)):  # state random_state + i: `seed`'s draws
        filled = [c.get("filled_at_4", 0) for c in cl]
        unchecked = any(filled) and not (fill and fill[1])  # filled seeds, no table
        skipped += unchecked
        est = None if unchecked else expected_precision(
            [c["stability"] for c in cl], [c["taken_at_4"] for c in cl], r["k"],
            counts=counts, filled=filled, fill_counts=fill,
            random_state=0 if "random_state" not in r else r["random_state"] + i
        )["overall"]  # (a NAME.json from before 2026-12-07: drawn at 0, as then)
        taken = sum(c["taken_at_4"] for c in cl)
        m = sum(c["right_at_4"] for c in cl) / taken if taken else np.nan
        ok += in_interval(est, m)
        shown.append("-" if est is None else
                     f"{est['expected']:.3f} ({est['low']:.3f}..{est['high']:.3f})")
        meas.append(fmt(m))
    return shown, meas, ok, len(meas) - skipped


def in_interval(est, measured: float) -> bool:
    """Whether a measured precision lies in the expected one's interval; the bounds are
    rounded to 4 places (expected_precision's), so the measurement is too: 7/9 = 0.77777...
    lies in an interval from 0.7778."""
    return est is not None and est["low"] <= round(float(measured), 4) <= est["high"]


def verdict_threshold(shares: dict, accs: dict):
    """The "unreliable below t" threshold on the share of samples with a restart majority: the
    midpoint between the highest share of a must-warn set (ACC < VERDICT_WARN_BELOW) and the
    lowest of a must-pass one (ACC >= VERDICT_PASS_FROM); None when they overlap or either
    group is empty."""
    warn = [v for s, v in shares.items() if accs[s] < VERDICT_WARN_BELOW]
    ok = [v for s, v in shares.items() if accs[s] >= VERDICT_PASS_FROM]
    if not warn or not ok or max(warn) >= min(ok):
        return None
    return (max(warn) + min(ok)) / 2


def majority_share(r: dict) -> Optional[float]:
    """A set's share of samples with a restart majority, as the verdict counts it; None for a
    k = 2 set of a run before 2026-12-07, whose NAME.json holds only agreement > 0.5 (for
    k >= 3 the same share)."""
    a = r["diagnostics"]["agreement"]
    if "majority" in a:
        return a["majority"]
    return None if r["k"] == 2 else a["above_0.5"]


def shipped_verdict(r: dict) -> Optional[str]:
    """The shipped verdict on a set's HUME fit, from its diagnostics (None: majority_share)."""
    share = majority_share(r)
    if share is None:
        return None
    a = {**r["diagnostics"]["agreement"], "majority": share,
         "majority_level": majority_level(r["k"])}
    return verdict({**r["diagnostics"], "agreement": a})["verdict"]


def verdict_calibration(results: list[dict]) -> None:
    """The verdict's threshold (hume.diagnostics.RELIABLE_MAJORITY) against HUME's fits here:
    each set's share of samples with a restart majority and ensemble ACC; the threshold chosen
    on the other sets (verdict_threshold) and how it judges the left-out set; how the shipped
    verdict (hume.diagnostics.verdict, from each set's diagnostics) judges each; and the
    threshold chosen on every set."""
    shares = {r["set"]: v for r in results if (v := majority_share(r)) is not None}
    accs = {r["set"]: r["ensemble"]["acc"] for r in results}
    print(f"\n## the verdict: 'unreliable' below a share of samples with a restart majority; it "
          f"must warn where HUME's ensemble ACC < {VERDICT_WARN_BELOW} and must pass where ACC "
          f">= {VERDICT_PASS_FROM} (between: either); t chosen leaving the set out")
    print(f"| set | k | HUME ACC | share with a majority (k = 2: agreement > {MAJORITY_K2:g}) "
          "| must | t without the set | judged "
          f"(left out) | shipped ({RELIABLE_MAJORITY:.2f}) |")
    print("|---|---|---|---|---|---|---|---|")
    wrong = {"left out": 0, "shipped": 0}
    for r in results:
        name, acc = r["set"], accs[r["set"]]
        if name not in shares:  # its share at k = 2 was not recorded
            print(f"| {name} | {r['k']} | {fmt(acc)} | - (k = 2, a run before 2026-12-07: "
                  "rerun with --reuse-only) | | | | |")
            continue
        v = shares[name]
        must = ("warn" if acc < VERDICT_WARN_BELOW else "pass" if acc >= VERDICT_PASS_FROM
                else "either")
        t = verdict_threshold({s: x for s, x in shares.items() if s != name}, accs)
        shipped = "pass" if shipped_verdict(r) == "reliable" else "warn"
        cells = []
        for what, thr in (("left out", t), ("shipped", RELIABLE_MAJORITY)):
            if thr is None:
                cells.append("no split")
                continue
            said = shipped if what == "shipped" else "pass" if v >= thr else "warn"
            bad = must != "either" and said != must
            wrong[what] += bad
            cells.append(said + (" WRONG" if bad else ""))
        print(f"| {name} | {r['k']} | {fmt(acc)} | {v:.3f} | {must} | {fmt(t)} | "
              + " | ".join(cells) + " |")
    print(f"wrong: {wrong['left out']} left out, {wrong['shipped']} with the shipped threshold; "
          f"t on every set: {fmt(verdict_threshold(shares, accs))}")


def main(argv=None) -> list[dict]:
    ap = recipe_parser(__doc__)
    ap.add_argument("--out", required=True, help="folder for each set's NAME.json, NAME.npz "
                    "(HUME, reused) and NAME_precision_curve.png")
    set_arguments(ap, DEFAULT_SETS)
    ap.add_argument("--ridge", type=float, default=0.0, help="0: the shipped default")
    ap.add_argument("--encoder-init", default=HumeConfig().encoder_init,
                    choices=ENCODER_INITS,
                    help="HUME's encoder init for the sets fitted here (a fit in OUT is "
                    "reused as it was made)")
    ap.add_argument("--draws", type=int, default=20, help="random-N draws")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--states", type=int, default=1,
                    help="k-means random states for ours and the k-means baselines (seed .. "
                    "seed + states - 1; 1: the curves above only). Each state is one draw: the "
                    "spread says how far one state's curve can be trusted, and ours against the "
                    "best baseline is judged state by state (a 90%% interval: wide with few "
                    "states)")
    ap.add_argument("--agreement-quantile", type=float,
                    default=SeedConfig().agreement_quantile,
                    help="ours' agreement floor (seed --agreement-quantile; 0: off) to compare "
                    "against the shipped default")
    ap.add_argument("--mode-size", type=int, default=SeedConfig().mode_size,
                    help="ours' mode (seed --mode-size; 0: ranked by kNN share, then "
                    "centrality) to compare against the shipped default")
    ap.add_argument("--anchor-parts", type=int, default=SeedConfig().anchor_parts,
                    help="ours' anchor from the largest of this many k-means parts of each "
                    "cluster (seed --anchor-parts; 1: anywhere) to compare against the shipped "
                    "default")
    ap.add_argument("--bulk-of", choices=BULK_OF, default=SeedConfig().bulk_of,
                    help="the rows split into --anchor-parts parts (seed --bulk-of; members: "
                    "the rule before) to compare against the shipped default")
    ap.add_argument("--min-support", type=float, default=SeedConfig().min_support,
                    help="ours' least share of a cluster's members that are candidates for it "
                    "to give seeds (seed --min-support; 0: off) to compare against the shipped "
                    "default")
    ap.add_argument("--graph-partition", action=argparse.BooleanOptionalAction,
                    default=SeedConfig().graph_partition,
                    help="ours with the spectral partition of both spaces' kNN graph (seed "
                    "--graph-partition; --no-graph-partition: k-means partitions only, the rule "
                    "before) to compare against the shipped default")
    ap.add_argument("--shortage", choices=RULE_SHORTAGES["consensus"],
                    default=SeedConfig().shortage,
                    help="ours' clusters short of candidates (seed --shortage; fill: topped up "
                    "from their cores) to compare against the shipped default")
    ap.add_argument("--reuse-only", action="store_true",
                    help="only the sets already fitted in OUT (re-analyse, no HUME)")
    ap.add_argument("--fits", nargs="+", default=[], metavar="DIR",
                    help="with --tables-only: the --out folders of other runs (other HUME fits, "
                    "or the same fits under another rule); their NAME.json and OUT's go side "
                    "by side in one table (ours' precision at 4, the set-N at or above the best "
                    "baseline, and below or above it beyond the k-means states' noise, the "
                    "shipped table's interval)")
    ap.add_argument("--tables-only", action="store_true",
                    help="print the tables from the NAME.json that earlier runs wrote to OUT "
                    "(sets analysed in separate runs, one summary and calibration); nothing is "
                    "fitted or analysed, the other options are not read")
    args = ap.parse_args(argv)
    if args.fits and not args.tables_only:
        ap.error("--fits reads earlier runs' tables: add --tables-only")
    missing = [d for d in args.fits if not Path(d).is_dir()]
    if missing:
        ap.error(f"--fits: no such folder: {', '.join(missing)} (give the --out of earlier runs)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    if not args.tables_only:
        check_sets([n for n in args.sets if not args.reuse_only or (out / f"{n}.npz").exists()],
                   args)
    for name in args.sets:
        if args.tables_only:
            r = read_table(out, name)
            if r is None:
                continue
        else:
            if args.reuse_only and not (out / f"{name}.npz").exists():
                continue
            r = analyse(name, fit_set(name, args, out), args)  # fits are reused from OUT
            (out / f"{name}.json").write_text(json.dumps(r, indent=1))
            img = plot_curves(np.array(NS), {c: np.array(v["precision"]) for c, v in
                                             r["curves"].items()}, f"{name}: seed precision")
            (out / f"{name}_precision_curve.png").write_bytes(png_bytes(img))
        results.append(r)
        print_set(r)
        if "states" in r:
            print_states(r)
    summary_table(results)
    summary_seed_mapped(results)
    summary_states(results)
    summary_taught(results)
    if len(results) > 2:
        verdict_calibration(results)
        expected_precision_table(results)
        support_table(results)
    wrong_table(results)
    if results:
        shipped_table_check(results)
    if args.fits:
        fits_table([(str(out), results)] + [(d, read_tables(Path(d), args.sets))
                                             for d in args.fits])
    return results


def read_table(folder: Path, name: str) -> Optional[dict]:
    """The NAME.json an earlier run wrote to `folder` for set `name` (None: it holds none)."""
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_tables(folder: Path, sets: list[str]) -> list[dict]:
    """read_table for each of `sets` that `folder` holds."""
    return [r for r in (read_table(folder, n) for n in sets) if r is not None]


if __name__ == "__main__":
    run_recipe(main)
