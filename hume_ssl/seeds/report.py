"""What a person reviews about seeds: contact sheets, precision against ground truth, a plot.

Precision is measured after a Hungarian map of clusters to classes fitted on the whole
partition the seeds' labels come from, for reporting only; report.json adds the seeds'
precision under the map fitted on the seeds themselves (what a classifier trained on them can
inherit: a cluster's seeds of one consistent class count as right even where the rest of the
cluster outvotes them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hume_ssl.core.io import atomic_write_bytes
from hume_ssl.core.metrics import cluster_acc, contingency, hungarian_map
from hume_ssl.core.plot import png_bytes


def contact_sheet(
    images: list[np.ndarray], tile: int = 64, cols: int = 8, caption: str = "",
    labels: Optional[list[str]] = None,
) -> Image.Image:
    """A grid of (H, W, 3) uint8 images, each resized to `tile` px, with a caption strip; each
    tile's label (e.g. its dataset index), when given, in a white box at its bottom left."""
    cols = max(1, min(cols, len(images)))
    rows = max(1, -(-len(images) // cols))
    top = 16 if caption else 0
    width = max(cols * tile, 4 + ImageFont.load_default().getbbox(caption)[2] if caption
                else 0)  # a few tiles: the caption whole
    sheet = Image.new("RGB", (width, rows * tile + top), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if caption:
        draw.text((2, 2), caption, fill=(0, 0, 0))
    for i, im in enumerate(images):
        x, y = (i % cols) * tile, top + (i // cols) * tile
        sheet.paste(Image.fromarray(im).resize((tile, tile), Image.BILINEAR), (x, y))
        if labels is not None:
            left, up, right, down = draw.textbbox((0, 0), labels[i])
            box = (x, y + tile - (down - up) - 3, x + (right - left) + 3, y + tile)
            draw.rectangle(box, fill=(255, 255, 255))
            draw.text((box[0] + 1 - left, box[1] + 1 - up), labels[i], fill=(0, 0, 0))
    return sheet


REPORT_JSON, CURVE_PNG = "report.json", "precision_curve.png"  # seed_report's files
SHEETS = "contact_sheets"  # the seeds folder's sub-folder of write_contact_sheets


def remove_stale(seeds_dir: Path) -> None:
    """Remove what describes a seeds folder's earlier seeds: seed_report's files and the
    contact sheets (a run writes them again only with ground truth, or images)."""
    for name in (REPORT_JSON, CURVE_PNG):
        (Path(seeds_dir) / name).unlink(missing_ok=True)
    _remove_sheets(Path(seeds_dir) / SHEETS)


def _remove_sheets(out_dir: Path) -> None:
    for old in Path(out_dir).glob("cluster_*.png"):
        old.unlink()


def write_contact_sheets(
    out_dir: Path,
    ranking: dict[int, np.ndarray],
    get_image: Callable[[int], np.ndarray],
    max_per_sheet: int = 64,
) -> list[Path]:
    """One PNG per cluster with seeds; sheets of an earlier run into the same folder are
    removed first, so no sheet shows a cluster that now has no seeds."""
    _remove_sheets(out_dir)
    paths = []
    for c, idx in ranking.items():
        if len(idx) == 0:
            continue
        shown = idx[:max_per_sheet]
        sheet = contact_sheet(
            [get_image(int(i)) for i in shown],
            caption=f"cluster {c}: {len(idx)} seeds (best first; on each, its index as in "
                    "seeds.csv)",
            labels=[str(int(i)) for i in shown],
        )
        paths.append(atomic_write_bytes(out_dir / f"cluster_{c:03d}.png", png_bytes(sheet)))
    return paths


def precision_curve(
    ranked: dict[int, np.ndarray],
    cluster_to_class: dict[int, int],
    truth: np.ndarray,
    max_per_class: int = 400,
    ns=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision of the top-n seeds of every cluster, n = 1..max_per_class (or the given `ns`).

    Returns (n (M,), precision (M,), seeds taken (M,)). A cluster with fewer ranked
    candidates than n contributes what it has.
    """
    ns = np.arange(1, max_per_class + 1) if ns is None else np.asarray(ns)
    prec, taken = np.zeros(len(ns)), np.zeros(len(ns), np.int64)
    for j, n in enumerate(ns):
        hits = total = 0
        for c, idx in ranked.items():
            top = idx[:n]
            hits += int((truth[top] == cluster_to_class.get(c, -1)).sum())
            total += len(top)
        prec[j], taken[j] = (hits / total if total else np.nan), total
    return ns, prec, taken


def plot_curve(ns: np.ndarray, prec: np.ndarray, title: str, size=(640, 400),
               lo: float | None = None, width: int = 2) -> Image.Image:
    """A plain line plot (PIL only) of precision against seeds per class, log-x axis."""
    w, h = size
    left, right, top, bottom = 56, 16, 28, 40
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((left, 6), title, fill=(0, 0, 0))
    if lo is None:
        lo = float(np.floor(np.nanmin(prec) * 10) / 10) if np.isfinite(prec).any() else 0.0
        lo = min(lo, 0.9)
    d.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    for tick in np.linspace(lo, 1, 5):
        _, y = _xy(1, tick, ns, size, lo)
        d.line([left - 4, y, left, y], fill=(0, 0, 0))
        d.text((4, y - 6), f"{tick:.2f}", fill=(0, 0, 0))
    for n in (1, 4, 10, 25, 100, 400):
        if n <= ns[-1]:
            x, _ = _xy(n, lo, ns, size, lo)
            d.line([x, h - bottom, x, h - bottom + 4], fill=(0, 0, 0))
            d.text((x - 6, h - bottom + 6), str(n), fill=(0, 0, 0))
    d.text((w // 2 - 60, h - 16), "seeds per cluster (log)", fill=(0, 0, 0))
    _draw_line(d, ns, prec, size, lo, PALETTE[0], width)
    return img


PALETTE = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127))


def plot_curves(ns: np.ndarray, curves: dict[str, np.ndarray], title: str,
                size=(720, 440)) -> Image.Image:
    """Several precision curves on one log-x plot (the first one thick), with a legend."""
    names = list(curves)
    lo = min(0.9, min(float(np.floor(np.nanmin(c) * 10) / 10) for c in curves.values()
                      if np.isfinite(c).any()))
    img = plot_curve(ns, np.where(np.isfinite(curves[names[0]]), curves[names[0]], np.nan),
                     title, size, lo=lo, width=3)
    d = ImageDraw.Draw(img)
    for j, name in enumerate(names):
        colour = PALETTE[j % len(PALETTE)]
        if j:
            _draw_line(d, ns, curves[name], size, lo, colour, 1)
        d.text((size[0] - 230, 34 + 12 * j), name[:36], fill=colour)
    return img


def _xy(n, p, ns, size, lo):
    w, h = size
    left, right, top, bottom = 56, 16, 28, 40
    x = left + (np.log(n) / np.log(ns[-1] if ns[-1] > 1 else 2)) * (w - left - right)
    y = top + (1 - (p - lo) / (1 - lo)) * (h - top - bottom)
    return float(x), float(y)


def _draw_line(d, ns, prec, size, lo, colour, width):
    pts = [_xy(n, p, ns, size, lo) for n, p in zip(ns, prec) if np.isfinite(p)]
    if len(pts) > 1:
        d.line(pts, fill=colour, width=width)


WRONG_KINDS = {  # why a cluster's seeds are wrong (wrong_kind), in words; "commonest": a
    # tie goes to the lowest class (before: "most seeds", said of 1 wrong seed in 2 as well)
    "mixed": "the seeds mix classes, their commonest the class the map gives",
    "largest": "the seeds' commonest class is the members' largest; the map names the cluster "
               "after another",
    "second": "the seeds' commonest class is the members' second largest; the map names the "
              "cluster after another",
    "other": "the seeds' commonest class is outside the members' two largest"}


def wrong_kind(seed_classes, mapped: int, member_classes) -> Optional[str]:
    """Why a cluster's seeds are wrong, a key of WRONG_KINDS (None: every seed is of class
    `mapped`, the class the whole-partition map gives the cluster): the seeds' most common
    true class (seed_classes (S,), ties: the lowest) against `mapped` and the members' two
    largest classes (member_classes [[class, share], ...], largest first)."""
    seed_classes = np.asarray(seed_classes, np.int64)
    if len(seed_classes) == 0 or (seed_classes == mapped).all():
        return None
    seeds = int(np.bincount(seed_classes).argmax())
    largest = [int(cls) for cls, _ in member_classes]
    if seeds == mapped:
        return "mixed"
    if seeds in largest:
        return "largest" if seeds == largest[0] else "second"
    return "other"


def describe_wrong(c: dict) -> Optional[str]:
    """One cluster_anatomy record in words where its seeds are wrong (None where they are not,
    or where the record holds no `wrong`)."""
    if not c.get("wrong"):
        return None
    members = ", ".join(f"{cls} {100 * share:.0f}%" for cls, share in c["member_classes"])
    return (f"cluster {c['cluster']}: seeds {c['seed_classes']}, mapped to {c['mapped_class']}; "
            f"members {members}: {WRONG_KINDS[c['wrong']]}")


def cluster_anatomy(partition: np.ndarray, truth: np.ndarray, seeds: dict[int, np.ndarray],
                    mapping: dict[int, int]) -> list[dict]:
    """Per cluster holding seeds (seeds {cluster: its seeds' indices, best first}): {cluster,
    mapped_class (mapping's; -1: none), seed_classes (the seeds' true classes), right,
    member_classes [[class, share], ...] (the two largest among the rows partition (N,) puts
    in it), wrong (wrong_kind)}. A cluster whose seeds are the class most of its rows are, under
    a map that names it after another, is one of a class split over two clusters: no seed
    taken from its majority is right there."""
    held = [int(c) for c, idx in seeds.items() if len(idx)]
    if not held:
        return []
    cov = partition >= 0
    table = contingency(partition[cov], truth[cov], max(int(partition.max()), max(held)) + 1,
                        int(truth.max()) + 1)  # (clusters, classes): one pass over the rows
    out = []
    for c in held:
        idx, counts = seeds[c], table[c]
        largest = [int(j) for j in np.argsort(-counts, kind="stable")[:2] if counts[j]]
        members = [[j, round(float(counts[j] / counts.sum()), 3)] for j in largest]
        mapped = int(mapping.get(int(c), -1))
        classes = np.asarray(truth[idx], np.int64)
        out.append({"cluster": int(c), "mapped_class": mapped,
                    "seed_classes": classes.tolist(), "right": int((classes == mapped).sum()),
                    "member_classes": members, "wrong": wrong_kind(classes, mapped, members)})
    return out


def seed_report(
    out_dir: Path,
    partition: np.ndarray,
    truth: np.ndarray,
    indices: np.ndarray,
    pseudo: np.ndarray,
    ranked_400: dict[int, np.ndarray],
    test: Optional[dict] = None,
    hume_labels: Optional[np.ndarray] = None,
) -> dict:
    """report.json + precision_curve.png; returns the report dict. partition (N,): the cluster
    of every row the seeds' labels refer to (-1: none; mapped to classes on the rest);
    hume_labels (N,): HUME's ensemble, for its ACC (default: the partition)."""
    from hume_ssl.core.io import atomic_write_json

    cov = partition >= 0
    m = hungarian_map(partition[cov], truth[cov])
    ensemble = partition if hume_labels is None else hume_labels
    mapped = np.array([m.get(int(c), -1) for c in pseudo])
    correct = mapped == truth[indices]
    longest = max((len(r) for r in ranked_400.values()), default=1)  # past it: no new seeds
    ns, prec, taken = precision_curve(ranked_400, m, truth, max(1, min(400, longest)))
    marks = {str(n): (float(prec[n - 1]) if np.isfinite(prec[n - 1]) else None)
             for n in (1, 4, 15, 25, 100, 400) if n <= len(prec)}
    report = {
        "note": "precision after a Hungarian map of clusters to classes fitted on the whole "
        "partition the seeds come from; ground truth is used for this report only",
        "ensemble_acc": cluster_acc(ensemble, truth),
        "partition_acc": cluster_acc(partition[cov], truth[cov]) if cov.any() else None,
        "partition_coverage": float(cov.mean()),
        "n_seeds": int(len(indices)),
        "seed_precision": float(correct.mean()) if len(correct) else None,
        "seed_precision_own_map": cluster_acc(pseudo, truth[indices]) if len(indices) else None,
        "wrong_seeds": indices[~correct].tolist(),
        "cluster_to_class": {str(k): v for k, v in m.items()},
        "clusters": cluster_anatomy(partition, truth, {int(c): indices[pseudo == c]
                                                       for c in np.unique(pseudo)}, m),
        "wrong_kinds": WRONG_KINDS,
        "precision_at_per_class": marks,
        "curve": {"per_class": ns.tolist(), "precision": prec.tolist(), "seeds": taken.tolist()},
    }
    if test:
        report.update(test)
    atomic_write_json(out_dir / REPORT_JSON, report)
    img = plot_curve(ns, prec, f"seed precision (ensemble ACC {report['ensemble_acc']:.3f})")
    atomic_write_bytes(out_dir / CURVE_PNG, png_bytes(img))
    return report
