"""The `hume-ssl` command line: a thin shell that parses, calls the Python API and prints.

The options are built from the configs' fields (hume_ssl.cli.options): each default, unit and
help is written once, in the config (or, for a command's files, in hume_ssl.cli.inputs).
"""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from hume_ssl.cli.inputs import (
    ExportInputs,
    FeatureInputs,
    FixMatchInputs,
    LabelInputs,
    PredictInputs,
    PretrainInputs,
    SeedInputs,
)
from hume_ssl.cli.options import command
from hume_ssl.cli.progress import fixmatch_progress, hume_progress, pretrain_progress
from hume_ssl.core import distributed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.fixmatch.config import FixMatchConfig
from hume_ssl.hume.config import HumeConfig
from hume_ssl.pretrain.config import PretrainConfig
from hume_ssl.seeds.config import SeedConfig

app = typer.Typer(
    help="hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# messages and progress on stderr, results on stdout; never wrapped, so a script can read paths
console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)

HUME_RESOURCES = ["chunk_size", "memory_budget_gib", "score_rows", "device", "random_state"]


@app.callback()
def _root() -> None:
    """hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch."""


def main() -> None:
    app()


def _handle_errors(fn):
    """The one error handler: a HumeSSLError is one red line and exit 2; a Ctrl-C says where the
    work was kept and the command that resumes it (exit 130)."""

    @functools.wraps(fn)
    def wrapper(**sections):
        try:
            return fn(**sections)
        except HumeSSLError as e:
            prefix = f"rank {distributed.rank()}: " if distributed.world_size() > 1 else ""
            console.print(f"[bold red]{prefix}error:[/] {e}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            io = [s for s in sections.values() if hasattr(s, "out")]
            out = io[0].out if io else None
            if io and hasattr(io[0], "resume"):
                console.print(f"[yellow]stopped[/]: checkpoint saved in {out}; add --resume to "
                              "the same command to continue.")
            else:
                where = f"in {out}" if out else "in the feature cache"
                again = "hume-ssl " + shlex.join(sys.argv[1:])
                console.print(f"[yellow]interrupted[/]: the work finished so far is kept {where}; "
                              f"run the same command again to resume it: {again}")
            raise typer.Exit(130) from None

    return wrapper


def cli_command(name=None, **sections):
    """A command of `app` with options built from `sections` and the one error handler."""
    return lambda fn: command(app, name, **sections)(_handle_errors(fn))


# ---------------------------------------------------------------------------- label
@cli_command(io=(LabelInputs, None), cfg=(HumeConfig, ["k", "n_restarts", "n_steps", "n_subsets",
                                                      "subset_size", "lr", "tau", "gamma", "ridge",
                                                      *HUME_RESOURCES]))
def label(io: LabelInputs, cfg: HumeConfig) -> None:
    """Run HUME on two feature matrices of the same N samples and write an aligned ensemble."""
    from hume_ssl.hume.run import label_run

    with hume_progress(console) as cb:
        res = label_run(io.phi1, io.phi2, io.out, cfg, labels=io.labels, phi1_test=io.phi1_test,
                        phi2_test=io.phi2_test, labels_test=io.labels_test,
                        transductive=io.transductive, callback=cb)
    if res.get("rank"):  # torchrun: rank 0 prints
        return
    model, m = res["model"], res.get("metrics")
    table = Table(title=f"HUME: {cfg.n_restarts} restarts in {res['seconds']:.1f} s")
    for col in ("", "score", "ACC", "ARI", "NMI"):
        table.add_column(col)

    def fmt(d, key):
        return f"{d[key]:.4f}" if d else "-"

    b = model.best_restart_
    for name, score, d in (("ensemble", "-", m and m["ensemble"]),
                           (f"best restart (#{b})", f"{model.scores_[b]:.4f}",
                            m and m["best_restart"])):
        table.add_row(name, score, fmt(d, "acc"), fmt(d, "ari"), fmt(d, "nmi"))
    if m:
        table.add_row(
            "restarts mean", f"{model.scores_.mean():.4f}", f"{m['restart_acc_mean']:.4f}", "", ""
        )
    out_console.print(table)
    _print_diagnostics(res["diagnostics"])
    out_console.print(
        f"mean agreement {res['mean_agreement']:.3f}; outputs in {res['out']}/ "
        "(labels.npy, labelings.npy, agreement.npy, scores.npy, margins.npy, "
        "encoders.npy, config.json" + (", metrics.json)" if m else ")")
    )


# ---------------------------------------------------------------------------- features
@cli_command(io=(FeatureInputs, None))
def features(io: FeatureInputs) -> None:
    """Extract frozen-backbone features of every image (cached: a repeat call is instant).

    Prints the cache path, N (images), d (features per image) and the speed in images/s.
    """
    from hume_ssl.features.extract import extract_features

    fs = extract_features(io.dataset, io.split, io.backbone,
                          str(io.weights) if io.weights else None, **io.extract_kw(),
                          progress=True, random_init=io.random_init, strict=io.strict,
                          force=io.force)
    m = fs.meta
    speed = (f"cached (extracted at {m['images_per_s']:.1f} images/s)" if fs.cached
             else f"{m['images_per_s']:.1f} images/s")
    skipped = (m.get("dataset_info") or {}).get("skipped")
    out_console.print(
        f"{fs.path}\nN={fs.n} images, d={fs.dim} features, {speed}"
        + (f", {skipped} unreadable files skipped" if skipped else "")
    )


# ---------------------------------------------------------------------------- train-fixmatch
@cli_command("train-fixmatch", io=(FixMatchInputs, None), cfg=(FixMatchConfig, [
    "steps", "budget_minutes", "init", "input_size", "recipe", "encoder_lr_scale", "arch",
    "batch_size", "mu", "lr", "warmup", "layer_decay", "micro_batches", "probe", "threshold",
    "weight_decay", "lambda_u", "ema_decay", "eval_every", "checkpoint_every", "log_every",
    "device", "compile", "oracle_labels", "random_state"]))
def train_fixmatch(io: FixMatchInputs, cfg: FixMatchConfig) -> None:
    """Train FixMatch from seeds (pseudo-labels) + all other train images; evaluate on test."""
    from hume_ssl.fixmatch.run import train_fixmatch_run

    with fixmatch_progress(console) as cb:
        res = train_fixmatch_run(io.out, cfg, seeds=io.seeds, indices=io.indices,
                                 seed_labels=io.seed_labels, dataset=io.dataset,
                                 resume=io.resume, callback=cb, data_root=io.data_root)
    med = res["test_acc_median"]
    msg = f"{res['steps']} steps in {res['seconds']:.1f} s on {res['device']}"
    if med is not None:
        msg += (
            f"; test {res['test_acc_kind']}: median of last {res['test_acc_median_of']} "
            f"evals {med:.4f} (last {res['test_acc_last']:.4f})"
        )
    if res.get("probe_test_acc") is not None:
        msg += f"; linear probe on the seeds {res['probe_test_acc']:.4f}"
        if res.get("below_probe"):
            msg += " (FixMatch ended BELOW its probe: more steps, or keep the probe)"
    out_console.print(msg)
    out_console.print(
        f"outputs in {res['out']}/ (model.pt, model.json, metrics.csv, metrics.json, "
        "config.json, checkpoint.pt)"
    )


# ---------------------------------------------------------------------------- pretrain
@cli_command(io=(PretrainInputs, None), cfg=(PretrainConfig, [
    "method", "arch", "epochs", "budget_minutes", "batch_size", "lr", "head", "temperature",
    "symmetric", "knn_every", "checkpoint_every", "device", "compile", "random_state"]))
def pretrain(io: PretrainInputs, cfg: PretrainConfig) -> None:
    """Learn a representation from the dataset's own images (MoCo v2 or SimCLR); use it as
    ssl:OUT in `features` and `seed`."""
    from hume_ssl.pretrain.run import pretrain_run

    with pretrain_progress(console) as cb:
        res = pretrain_run(io.dataset, io.out, cfg, split=io.split, resume=io.resume,
                           callback=cb, image_size=io.image_size)
    msg = f"{res['steps']} steps ({res['epochs']:.1f} epochs) in {res['seconds']:.1f} s"
    if res["knn_acc_last"] is not None:
        msg += f"; kNN-200 test accuracy {res['knn_acc_last']:.4f}"
    out_console.print(msg)
    out_console.print(f"backbone: ssl:{res['out']}  (use it in `hume-ssl features` / `seed`)")


# ---------------------------------------------------------------------------- predict
@cli_command(io=(PredictInputs, None))
def predict(io: PredictInputs) -> None:
    """Write a label and a confidence (max softmax probability) for every image of a split."""
    from hume_ssl.fixmatch.predict import predict_run

    res = predict_run(io.model, io.dataset, io.split, io.out, io.device, io.batch_size,
                      io.data_root)
    acc = f"; {res['acc_kind']} vs ground truth {res['acc']:.4f}" if "acc" in res else ""
    out_console.print(
        f"{res['n']} images labeled{acc}; outputs in {res['out']}/ "
        "(predictions.csv, labels.npy, confidence.npy)"
    )


# ---------------------------------------------------------------------------- seed
@cli_command(
    io=(SeedInputs, None),
    rule=(SeedConfig, ["per_class", "n_neighbors", "knn_space", "min_agreement", "min_knn",
                       "shortage", "ranking"]),
    hume=(HumeConfig, ["n_restarts", "n_steps", *HUME_RESOURCES]),
    extract=(FeatureInputs, ["data_root", "cache_dir", "num_workers", "batch_size",
                             "input_size", "device"]),
)
def seed(io: SeedInputs, rule: SeedConfig, hume: HumeConfig, extract: FeatureInputs) -> None:
    """Pick reliable pseudo-labeled seeds: HUME ensemble + agreement + kNN consistency."""
    from hume_ssl.seeds.run import seed_run

    bb = tuple(b.strip() for b in io.backbones.split(","))
    if len(bb) != 2:
        raise HumeSSLError(f"--backbones {io.backbones!r}: give exactly two, as A,B.")
    base = {n: getattr(hume, n) for n in ["n_restarts", "n_steps", *HUME_RESOURCES]}
    with hume_progress(console) as cb:
        res = seed_run(io.out, io.dataset, bb, io.phi1, io.phi2, io.labels, None, rule,
                       extract.extract_kw(), hume_callback=cb, log=console.print,
                       hume_defaults=base, k=io.k, k_range=io.k_range)
    if res.get("rank"):  # torchrun: rank 0 prints
        return
    table = Table(title=f"{res['n_seeds']} seeds in {res['seeds_dir']}")
    for col in ("cluster", "seeds", "size", "mean agreement", "mean kNN", "candidates", ""):
        table.add_column(col)
    for c, n in enumerate(res["per_class"]):
        cl = res["diagnostics"]["clusters"][c]
        table.add_row(str(c), str(n) + (" (short)" if c in res["short_classes"] else ""),
                      str(cl["size"]), _num(cl["mean_agreement"], 3), _num(cl["mean_knn"], 3),
                      str(cl["candidates"]), "" if cl["reliable"] else "[yellow]weak[/]")
    out_console.print(table)
    _print_diagnostics(res["diagnostics"])
    if "report" in res:
        r = res["report"]
        out_console.print(
            f"ensemble ACC {_num(r['ensemble_acc'])}; seed precision "
            f"{_num(r['seed_precision'])}; precision at n per class: "
            + ", ".join(f"{n}: {_num(p, 3)}" for n, p in r["precision_at_per_class"].items())
        )
    if res.get("empty_reason"):
        console.print(f"[bold yellow]warning:[/] no seeds in {res['seeds_dir']}: "
                      f"{res['empty_reason']}")
    out_console.print(f"kNN backend: {'; '.join(res['knn_backend'])}")


# ---------------------------------------------------------------------------- export
@cli_command(io=(ExportInputs, None))
def export(io: ExportInputs) -> None:
    """Write seeds for other SSL codebases (USB, TorchSSL, FixMatch) or as a CSV."""
    from hume_ssl.seeds.export import ORACLE_WARNING, export_seeds, load_any_seeds

    s = load_any_seeds(io.seeds, io.dataset)
    seeds = Path(io.seeds)
    target = io.out or (seeds if seeds.is_dir() else seeds.parent) / f"export-{io.format}"
    files = export_seeds(s, io.format, target)
    if io.format != "csv":
        console.print(f"[bold yellow]{ORACLE_WARNING}[/]")
    out_console.print("wrote " + ", ".join(str(f) for f in files))


# ---------------------------------------------------------------------------- printing
def _print_diagnostics(d: dict) -> None:
    """The label-free diagnostics block `label` and `seed` print (stored in their JSON)."""
    a, ari, sc = d["agreement"], d["pairwise_ari"], d["scores"]
    out_console.print(
        f"diagnostics ({d['n_restarts']} restarts, no labels used): majority agreement on "
        f"{100 * a['above_0.5']:.1f}% of samples, >= 0.9 on {100 * a['at_least_0.9']:.1f}%, all "
        f"on {100 * a['all_1.0']:.1f}%; mean pairwise ARI "
        + (_num(ari["mean"], 3) if ari["mean"] is not None else f"- ({ari['reason']})")
        + f"; restart scores {sc['min']:.3f}..{sc['max']:.3f} (median {sc['median']:.3f})"
    )
    color = {"reliable": "green", "uncertain": "yellow", "unreliable": "bold red"}[d["verdict"]]
    out_console.print(f"verdict: [{color}]{d['verdict']}[/]: {d['message']}")


def _num(v, digits: int = 4) -> str:
    """A float for a table, or "-" where it is undefined (None)."""
    return "-" if v is None else f"{v:.{digits}f}"
