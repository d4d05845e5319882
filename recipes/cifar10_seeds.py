"""Seeds on the full shared CIFAR-10 train split, against two baselines on the same features.

    python recipes/cifar10_seeds.py                          # GPU if available, else CPU
    python recipes/cifar10_seeds.py --restarts 20 --input-size 128   # a CPU-sized run
    python recipes/cifar10_seeds.py --space1 ssl:runs/cifar10/ssl --space2 torchvision:squeezenet1_1

Spaces: SqueezeNet's global-average-pooled features (space 1, 512-d) and its ImageNet logits
(space 2, 1,000-d) from ../shared/data/squeezenet1_1_imagenet.pth, the only real pretrained
pair available offline (weak: ~41% k-means ACC); `--space1/--space2` take any backbone spec,
e.g. `ssl:RUN` from `hume-ssl pretrain` (`torchvision:squeezenet1_1*` get the shared weights;
`--input-size` applies to the pretrained ImageNet models only). Prints, for N = 1, 4, 25, 100,
400 seeds per cluster, the precision of
    ours      the `hume-ssl seed` rule (agreement + kNN consistency, ranked)
    random    the HUME ensemble's labels with no selection (random N per cluster)
    k-means   k-means on space 2, the N samples nearest each centroid
each after a Hungarian map of clusters to classes fitted on the whole labeling, plus the
ensemble's ACC/ARI/NMI next to k-means on each space.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from hume_ssl.core.knn import knn_consistency, knn_search, l2_normalise
from hume_ssl.core.metrics import clustering_metrics, hungarian_map
from hume_ssl.features.extract import extract_features
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.estimator import Hume
from hume_ssl.seeds.selection import SeedSelector

NS = (1, 4, 25, 100, 400)


def precision(idx_by_cluster: dict[int, np.ndarray], mapping: dict, truth: np.ndarray, n: int):
    hits = total = 0
    for c, idx in idx_by_cluster.items():
        top = idx[:n]
        hits += int((truth[top] == mapping.get(c, -1)).sum())
        total += len(top)
    return hits / max(total, 1), total


def main():
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--shared", default=os.environ.get("HUME_SSL_SHARED", here.parent / "shared" / "data")
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--restarts", type=int, default=0, help="0: 100 on GPU, 20 on CPU")
    ap.add_argument("--input-size", type=int, default=0, help="0: 224 on GPU, 128 on CPU (px)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--num-workers", type=int, default=2)
    ap.add_argument("--knn", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--space1", default="torchvision:squeezenet1_1", help="backbone spec")
    ap.add_argument("--space2", default="torchvision:squeezenet1_1:logits", help="backbone spec")
    args = ap.parse_args()
    import torch

    gpu = args.device != "cpu" and torch.cuda.is_available()
    restarts = args.restarts or (100 if gpu else 20)
    size = args.input_size or (224 if gpu else 128)
    shared = Path(args.shared)
    data = f"npz:{shared}/cifar10_{{split}}_jpeg.npz"
    w = str(shared / "squeezenet1_1_imagenet.pth")
    t0 = time.perf_counter()
    kw = dict(cache_dir=args.cache_dir, device=args.device, num_workers=args.num_workers)

    def feats(spec):
        if spec.startswith("ssl:"):
            return extract_features(data, "train", spec, **kw)
        weights = w if spec.startswith("torchvision:squeezenet1_1") else None
        return extract_features(data, "train", spec, weights, input_size=size, **kw)

    f1, f2 = feats(args.space1), feats(args.space2)
    t_feat = time.perf_counter() - t0
    x1, x2, y = np.asarray(f1.features), np.asarray(f2.features), f1.labels
    print(
        f"features: {args.space1} / {args.space2}: N={len(y)}, d1={x1.shape[1]}, "
        f"d2={x2.shape[1]}, {size}px (ImageNet models), "
        f"{t_feat:.0f} s ({'cached' if f1.cached and f2.cached else 'extracted'})"
    )

    t = time.perf_counter()
    m = Hume(HumeConfig(k=10, n_restarts=restarts, random_state=args.seed, device=args.device)).fit(
        x1, x2
    )
    t_hume = time.perf_counter() - t
    nbrs, backend = knn_search(x2, args.knn)
    share = knn_consistency(m.labels_, nbrs)

    print(f"\n## clustering on the full train split (HUME: {restarts} restarts, {t_hume:.0f} s)")
    print("| method | ACC | ARI | NMI |")
    print("|---|---|---|---|")
    ens = clustering_metrics(m.labels_, y)
    print(f"| HUME ensemble | {ens['acc']:.4f} | {ens['ari']:.4f} | {ens['nmi']:.4f} |")
    best = clustering_metrics(m.labelings_[m.best_restart_], y)
    print(
        f"| HUME best-score restart | {best['acc']:.4f} | {best['ari']:.4f} | {best['nmi']:.4f} |"
    )
    km = {}
    for name, x in (("space 1", x1), ("space 2", x2)):
        xn = l2_normalise(x)
        km[name] = KMeans(10, n_init=3, random_state=args.seed).fit(xn)
        r = clustering_metrics(km[name].labels_, y)
        print(f"| k-means {name} | {r['acc']:.4f} | {r['ari']:.4f} | {r['nmi']:.4f} |")

    # rankings up to 400 per cluster
    ours = SeedSelector(per_class=400).fit(m.labels_, m.agreement_, share, m.margins_, k=10)
    ours_rank = ours.ranking()
    rng = np.random.default_rng(args.seed)
    rand_rank = {c: rng.permutation(np.nonzero(m.labels_ == c)[0]) for c in range(10)}
    kmo = km["space 2"]
    x2n = l2_normalise(x2)
    dist = ((x2n - kmo.cluster_centers_[kmo.labels_]) ** 2).sum(1)
    km_rank = {
        c: np.nonzero(kmo.labels_ == c)[0][np.argsort(dist[kmo.labels_ == c])] for c in range(10)
    }
    map_h = hungarian_map(m.labels_, y)
    map_k = hungarian_map(kmo.labels_, y)
    print(
        f"\n## seed precision (kNN: {backend}); candidates per cluster {ours.candidates_.tolist()}"
    )
    print("| seeds per cluster | ours | HUME random N | k-means nearest N |")
    print("|---|---|---|---|")
    for n in NS:
        p_o, t_o = precision(ours_rank, map_h, y, n)
        p_r, _ = precision(rand_rank, map_h, y, n)
        p_k, _ = precision(km_rank, map_k, y, n)
        print(f"| {n} | {p_o:.4f} ({t_o} seeds) | {p_r:.4f} | {p_k:.4f} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
