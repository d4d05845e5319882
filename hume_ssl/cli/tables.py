"""What the commands print to stdout: `label`'s, `seed`'s and `demo`'s tables and the
label-free diagnostics block. Tables fold, never cut, on narrow terminals."""

from __future__ import annotations

from typing import Optional

from rich.table import Table

from hume_ssl.cli.consoles import out_console
from hume_ssl.hume.diagnostics import MAJORITY_K2
from hume_ssl.seeds.calibration import SCOPE


def label_table(n_restarts: int, seconds: float, model, m: dict) -> Table:
    """`label`'s table: the ensemble and the best restart (and the test rows), with ACC, ARI
    and NMI where ground truth was given (`m`: metrics.json's figures)."""
    table = Table(title=f"HUME: {n_restarts} restarts in {seconds:.1f} s")
    for col in ("", "score", "ACC", "ARI", "NMI"):
        table.add_column(col, overflow="fold")

    def fmt(d, key):
        return f"{d[key]:.4f}" if d else "-"

    b = model.best_restart_
    rows = [("ensemble", "-", m.get("ensemble")),
            (f"best restart (#{b})", f"{model.scores_[b]:.4f}", m.get("best_restart"))]
    if model.test_labels_ is not None:  # the --phi1-test rows
        rows += [("test: ensemble", "-", m.get("test_ensemble")),
                 (f"test: best restart (#{b})", "-", m.get("test_best_restart"))]
    for name, score, d in rows:
        table.add_row(name, score, fmt(d, "acc"), fmt(d, "ari"), fmt(d, "nmi"))
    if "restart_acc_mean" in m:
        table.add_row(
            "restarts mean", f"{model.scores_.mean():.4f}", f"{m['restart_acc_mean']:.4f}", "", ""
        )
    return table


def demo_table(r: dict) -> Table:
    """The demo's one table: seeds, verdict, final accuracy against k-means, and the paths."""
    sec = r["seconds"]
    table = Table(title=f"hume-ssl demo: {r['dataset']} in {sec['total']:.0f} s (ground truth "
                  "used for these figures only)", show_lines=False)
    for col in ("step", "result", "outputs"):  # a path folds, never cut (80 columns when piped)
        table.add_column(col, overflow="fold")
    p = r["paths"]
    km = r["kmeans_test_acc"]
    reused = r.get("reused_steps", [])
    earlier = lambda step: " by an earlier run, reused" if step in reused else ""  # noqa: E731
    table.add_row("pretrain", f"space 1 learned in {sec['pretrain']:.0f} s"
                  f"{earlier('pretrain')} (kNN-200 test accuracy "
                  f"{num(r['pretrain_knn_acc'], 3)})", f"ssl:{p['pretrain']}")
    table.add_row("seed", f"{r['n_seeds']} seeds {r['seeds_per_class']}, precision "
                  f"{num(r['seed_precision'], 3)} (HUME ensemble ACC "
                  f"{num(r['hume_ensemble_acc'], 3)}) in {sec['seed']:.0f} s", p["seeds"])
    table.add_row("verdict", r["verdict"], f"{p['seed']}/hume")
    table.add_row("train-fixmatch", f"{r['fixmatch_steps']} steps in {sec['fixmatch']:.0f} s"
                  f"{earlier('fixmatch')}", p["fixmatch"])
    table.add_row("predict", f"test ACC {num(r['test_acc'], 3)}", p["predictions"])
    table.add_row("k-means", f"test ACC {num(km['pixels'], 3)} on the pixels, "
                  f"{num(km['space 1'], 3)} on space 1", "")
    table.add_row("summary", "", p["summary"])
    return table


def sampling(interval: Optional[list[float]], n: int) -> str:
    """" (95% 0.810..0.825 from the 10000 images' sampling alone, not run to run)" after an
    accuracy, from its core.metrics.accuracy_interval; "" without one."""
    if not interval:
        return ""
    return (f" (95% {interval[0]:.3f}..{interval[1]:.3f} from the {n} images' sampling alone, "
            "not run to run)")


def expected_line(est: dict, n_seeds: int, n_clusters: int, caveat: Optional[str] = None
                  ) -> str:
    """`seed`'s line of the expected precision of `n_seeds` seeds in `n_clusters` clusters. Its
    interval holds values the precision can take (hume_ssl.seeds.calibration: a cluster's seeds
    are right or wrong together): with few clusters it may leave out the mean, and says so;
    `caveat` (the estimate's, e.g. a --per-class past the calibrated 4) ends the line."""
    odd = not est["low"] <= est["expected"] <= est["high"]
    return (f"expected seed precision {num(est['expected'], 3)} (90% interval "
            f"{num(est['low'], 3)}..{num(est['high'], 3)}"
            + (f", of the few values {n_seeds} seed(s) in {n_clusters} cluster(s) can take: a "
               "cluster's seeds are right or wrong together" if odd else "")
            + f"; chance-corrected {num(est['chance_corrected'], 3)}): label-free, from each "
            f"cluster's stability, {SCOPE}" + (f"; {caveat}" if caveat else ""))


def seed_table(res: dict) -> Table:
    """Per seed cluster: its seeds and what they rest on (the rule's own evidence)."""
    table = Table(title=f"{res['n_seeds']} seeds in {res['seeds_dir']}")
    short = lambda c, n: str(n) + (" (short)" if c in res["short_classes"] else "")  # noqa: E731
    if res["rule"] == "consensus":
        table.caption = "chance right: of the cluster's label (its seeds right or wrong together)"
        for col in ("cluster", "seeds", "size", "agreed from", "stability", "core",
                    "candidates"):  # narrow terminals (80 columns when piped) fold, never cut
            table.add_column(col, overflow="fold")
        table.add_column("chance right (90%)", no_wrap=True)
        for cl in res["clusters"]:
            e = cl["expected_precision"]
            table.add_row(str(cl["cluster"]), short(cl["cluster"], cl["seeds"]), str(cl["size"]),
                          f"{cl['source']} {cl['source_id']}", num(cl["stability"], 3),
                          str(cl["core"]), str(cl["candidates"]),
                          f"{num(e['expected'], 2)} ({num(e['low'], 2)}..{num(e['high'], 2)})"
                          if cl["seeds"] else "- (no seeds)")
        return table
    for col in ("cluster", "seeds", "size", "mean agreement", "mean kNN", "candidates", ""):
        table.add_column(col, overflow="fold")
    for c, n in enumerate(res["per_class"]):
        cl = res["diagnostics"]["clusters"][c]
        table.add_row(str(c), short(c, n), str(cl["size"]), num(cl["mean_agreement"], 3),
                      num(cl["mean_knn"], 3), str(cl["candidates"]),
                      "" if cl["reliable"] else "[yellow]weak[/]")
    return table


def print_diagnostics(d: dict) -> None:
    """The label-free diagnostics block `label` and `seed` print (stored in their JSON)."""
    a, ari, sc = d["agreement"], d["pairwise_ari"], d["scores"]
    out_console.print(
        f"diagnostics ({d['n_restarts']} restarts, no labels used): majority agreement on "
        f"{100 * a['majority']:.1f}% of samples"
        + (f" (agreement > {a['majority_level']:g}: with 2 classes half the votes is chance)"
           if a["majority_level"] == MAJORITY_K2 else "")
        + f", >= 0.9 on {100 * a['at_least_0.9']:.1f}%, all "
        f"on {100 * a['all_1.0']:.1f}%; mean pairwise ARI "
        + (num(ari["mean"], 3) if ari["mean"] is not None else f"- ({ari['reason']})")
        + f"; restart scores {sc['min']:.3f}..{sc['max']:.3f} (median {sc['median']:.3f})"
    )
    color = {"reliable": "green", "uncertain": "yellow", "unreliable": "bold red"}[d["verdict"]]
    out_console.print(f"verdict on HUME's clustering: [{color}]{d['verdict']}[/]: {d['message']}")


def num(v, digits: int = 4) -> str:
    """A float for a table, or "-" where it is undefined (None)."""
    return "-" if v is None else f"{v:.{digits}f}"
