"""The `hume-ssl` command line: a thin shell that parses, calls the Python API and prints.

The options are built from the configs' fields (hume_ssl.cli.options): each default, unit and
help is written once, in the config (or, for a command's files, in hume_ssl.cli.inputs).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import typer

from hume_ssl.cli.consoles import console, out_console
from hume_ssl.cli.errors import handle_errors
from hume_ssl.cli.inputs import (
    DemoInputs,
    ExportInputs,
    FeatureInputs,
    FixMatchInputs,
    LabelInputs,
    PredictInputs,
    PretrainInputs,
    SeedInputs,
)
from hume_ssl.cli.options import PlainHelp, command
from hume_ssl.cli.progress import (
    fixmatch_progress,
    hume_progress,
    predict_progress,
    pretrain_progress,
)
from hume_ssl.cli.tables import (
    demo_table,
    expected_line,
    label_table,
    num,
    print_diagnostics,
    sampling,
    seed_table,
)
from hume_ssl.core import distributed
from hume_ssl.core.versions import versions
from hume_ssl.fixmatch.config import FixMatchConfig
from hume_ssl.hume.config import HumeConfig
from hume_ssl.pretrain.config import PretrainConfig
from hume_ssl.seeds.config import SeedConfig

PIPELINE = ["demo", "pretrain", "features", "label", "seed", "export", "train-fixmatch",
            "predict"]  # the order `hume-ssl --help` lists the commands in


class _PipelineOrder(PlainHelp, typer.core.TyperGroup):
    """Lists the commands in the pipeline's order (PIPELINE), not the order they are defined in."""

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: PIPELINE.index(n) if n in PIPELINE else len(PIPELINE))


app = typer.Typer(
    cls=_PipelineOrder,
    help="hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

HUME_RESOURCES = ["chunk_size", "memory_budget_gib", "score_rows", "device", "random_state"]
SEED_HUME = ["n_restarts", "n_steps", "encoder_init", *HUME_RESOURCES]  # seed's HUME options


def _print_version(value: bool) -> None:
    if value:
        v = versions(optional=False)  # importing timm would take seconds
        out_console.print(f"hume-ssl {v['hume_ssl']} (torch {v['torch']}, python "
                          f"{v['python']})", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version,
                                       is_eager=True, metavar="", help="Print the versions of "
                                       "hume-ssl, torch and python, and exit.")) -> None:
    """hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch."""
    warnings.formatwarning = _one_line_warning
    if distributed.rank():  # torchrun: rank 0 shows every warning, ours and others', once
        warnings.simplefilter("ignore")  # (errors: every rank, as it stops)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Our own warnings as one line ("warning: ..."); other packages' keep their source."""
    if f"{os.sep}hume_ssl{os.sep}" in str(filename):
        return f"warning: {message}\n"
    return _default_format(message, category, filename, lineno, line)


_default_format = warnings.formatwarning


def main() -> None:
    app()


def cli_command(name=None, **sections):
    """A command of `app` with options built from `sections` and the one error handler."""
    return lambda fn: command(app, name, **sections)(handle_errors(fn))


# ---------------------------------------------------------------------------- label
@cli_command(io=(LabelInputs, None), cfg=(HumeConfig, ["k", "n_restarts", "n_steps", "n_subsets",
                                                      "subset_size", "lr", "tau", "gamma", "ridge",
                                                      "encoder_init", *HUME_RESOURCES]))
def label(io: LabelInputs, cfg: HumeConfig) -> None:
    """Run HUME on two feature matrices of the same N samples and write an aligned ensemble."""
    from hume_ssl.core.io import read_json
    from hume_ssl.hume.run import label_run

    with hume_progress(console) as cb:
        res = label_run(io.phi1, io.phi2, io.out, cfg, labels=io.labels, phi1_test=io.phi1_test,
                        phi2_test=io.phi2_test, labels_test=io.labels_test,
                        transductive=io.transductive, callback=cb)
    if res.get("rank"):  # torchrun: rank 0 prints
        return
    model, m = res["model"], res.get("metrics") or {}
    out_console.print(label_table(cfg.n_restarts, res["seconds"], model, m))
    print_diagnostics(res["diagnostics"])
    written = read_json(Path(res["out"]) / "config.json")["outputs"]  # the run's own record
    out_console.print(f"mean agreement {res['mean_agreement']:.3f}; outputs in {res['out']}/ "
                      f"({', '.join(written)})")


# ---------------------------------------------------------------------------- features
@cli_command(io=(FeatureInputs, None))
def features(io: FeatureInputs) -> None:
    """Extract frozen-backbone features of every image (cached: a repeat call is instant).

    Prints the cache path, N (images), d (features per image) and the speed in images/s.
    """
    from hume_ssl.features.extract import extract_features

    fs = extract_features(io.dataset, io.split, io.backbone,
                          str(io.weights) if io.weights else None, **io.extract_kw(),
                          progress=True, random_init=io.random_init, force=io.force)
    if distributed.rank():  # torchrun: rank 0 prints
        return
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
                                 resume=io.resume, callback=cb, data_root=io.data_root,
                                 image_size=io.image_size, k=io.k)
    if distributed.rank():  # torchrun: rank 0 prints
        return
    med = res["test_acc_median"]
    msg = (f"{res['steps_this_run']} steps in {res['seconds']:.1f} s on {res['device']}"
           + (f" (resumed: {res['steps']} steps in all)"
              if res["steps"] != res["steps_this_run"] else "")
           if res["steps_this_run"] else f"the run had finished ({res['steps']} steps): "
           "nothing left to train")
    if med is not None:
        msg += (
            f"; test {res['test_acc_kind']} on {res['n_test']} images: "
            + (f"median of the last {res['test_acc_median_of']} evaluations {med:.4f} (last "
               f"{res['test_acc_last']:.4f})" if res["test_acc_median_of"] > 1
               else f"{med:.4f} (one evaluation)")
            + sampling(res.get("test_acc_interval"), res["n_test"])
        )
    elif res.get("n_test") is None:  # (before: nothing said the model was never evaluated)
        msg += "; not evaluated: the data has no test split"
    if res.get("probe_test_acc") is not None:
        msg += f"; linear probe on the seeds {res['probe_test_acc']:.4f}"
        if res.get("below_probe"):
            msg += " (FixMatch ended BELOW its probe: more steps, or keep the probe)"
    out_console.print(msg)
    out_console.print(
        f"outputs in {res['out']}/ (model.pt, model.json, metrics.csv, metrics.json, "
        "curves.png, config.json, checkpoint.pt)"
    )


# ---------------------------------------------------------------------------- pretrain
@cli_command(io=(PretrainInputs, None), cfg=(PretrainConfig, [
    "method", "arch", "epochs", "budget_minutes", "batch_size", "lr", "head", "temperature",
    "symmetric", "bn_splits", "knn_every", "log_every", "checkpoint_every", "device", "compile",
    "random_state"]))
def pretrain(io: PretrainInputs, cfg: PretrainConfig) -> None:
    """Learn a representation from the dataset's own images (MoCo v2 or SimCLR); use it as
    ssl:OUT in `features` and `seed`."""
    from hume_ssl.pretrain.run import pretrain_run

    with pretrain_progress(console) as cb:
        res = pretrain_run(io.dataset, io.out, cfg, split=io.split, resume=io.resume,
                           callback=cb, image_size=io.image_size, data_root=io.data_root,
                           strict=io.strict)
    if res.get("rank"):  # torchrun: rank 0 prints
        return
    msg = (f"{res['steps']} steps ({res['epochs']:.1f} epochs) in {res['seconds']:.1f} s"
           if res["steps_this_run"] else f"the run had finished ({res['steps']} steps, "
           f"{res['epochs']:.1f} epochs): nothing left to train")
    if res["knn_acc_last"] is not None:
        msg += f"; kNN-{res['knn_neighbors_used']} test accuracy {res['knn_acc_last']:.4f}"
    out_console.print(msg)
    out_console.print(f"backbone: ssl:{res['out']}  (use it in `hume-ssl features` / `seed`)")


# ---------------------------------------------------------------------------- predict
@cli_command(io=(PredictInputs, None))
def predict(io: PredictInputs) -> None:
    """Write a label and a confidence (max softmax probability) for every image of a split."""
    from hume_ssl.fixmatch.predict import PREDICTION_FILES, predict_run

    with predict_progress(console) as cb:
        res = predict_run(io.model, io.dataset, io.split, io.out, io.device, io.batch_size,
                          io.data_root, callback=cb)
    acc = (f"; {res['acc_kind']} vs ground truth {res['acc']:.4f} on these {res['n']} images"
           + sampling(res.get("acc_interval"), res["n"])
           + (" (the split the model trained on: not a test accuracy)"
              if res.get("acc_on_training_images") else "") if "acc" in res else "")
    if res.get("classes_matched_by_name"):
        unknown = res["classes_not_in_model"]
        acc += (" (classes matched to the model's by name" + (
            f"; not among the model's classes, counted wrong: {', '.join(unknown)}"
            if unknown else "") + ")")
    skipped = res.get("skipped_unreadable")
    out_console.print(
        f"{res['n']} images labeled{acc}"
        + (f" ({skipped} unreadable files skipped: no row)" if skipped else "")
        + f"; outputs in {res['out']}/ ({', '.join(PREDICTION_FILES)})"
    )


# ---------------------------------------------------------------------------- seed
@cli_command(
    io=(SeedInputs, None),
    rule=(SeedConfig, ["per_class", "rule", "n_neighbors", "min_knn", "min_stability",
                       "min_support", "kmeans_states", "agreement_quantile", "mode_size",
                       "anchor_parts", "bulk_of", "graph_partition", "knn_space",
                       "min_agreement", "shortage", "ranking"]),
    hume=(HumeConfig, SEED_HUME),
    extract=(FeatureInputs, ["data_root", "cache_dir", "num_workers", "batch_size",
                             "input_size", "device", "strict"]),
)
def seed(io: SeedInputs, rule: SeedConfig, hume: HumeConfig, extract: FeatureInputs) -> None:
    """Pick reliable pseudo-labeled seeds: the cores of the clusters HUME and k-means of both
    spaces agree on (--rule consensus), or HUME's agreement + kNN consistency (--rule hume)."""
    from hume_ssl.seeds.run import seed_run

    base = {n: getattr(hume, n) for n in SEED_HUME}
    with hume_progress(console) as cb:
        res = seed_run(io.out, io.dataset, io.backbones, io.phi1, io.phi2, io.labels, None, rule,
                       extract.extract_kw(), hume_callback=cb, log=console.print,
                       hume_defaults=base, k=io.k, k_range=io.k_range)
    if res.get("rank"):  # torchrun: rank 0 prints
        return
    out_console.print(seed_table(res))
    print_diagnostics(res["diagnostics"])
    est = (res.get("expected_precision") or {}).get("overall")
    if est:
        out_console.print(expected_line(est, res["n_seeds"],
                                        sum(1 for cl in res["clusters"] if cl["seeds"]),
                                        res["expected_precision"].get("caveat")))
    if "report" in res:
        r = res["report"]
        out_console.print(
            f"ensemble ACC {num(r['ensemble_acc'])}; seed precision "
            f"{num(r['seed_precision'])}; precision at n per class: "
            + ", ".join(f"{n}: {num(p, 3)}" for n, p in r["precision_at_per_class"].items())
        )
        for line in r.get("wrong", []):
            out_console.print(f"wrong seeds (ground truth, report.json): {line}", markup=False)
    if res.get("empty_reason"):
        console.print(f"[bold yellow]warning:[/] no seeds in {res['seeds_dir']}: "
                      f"{res['empty_reason']}")
    out_console.print(f"kNN backend: {'; '.join(res['knn_backend'])}")


# ---------------------------------------------------------------------------- export
@cli_command(io=(ExportInputs, None))
def export(io: ExportInputs) -> None:
    """Write seeds for other SSL codebases: USB (a train_usb.py that trains on the
    pseudo-labels), TorchSSL (indices; it takes ground truth at them), or a CSV."""
    distributed.one_process("export", "it only writes a few files")
    from hume_ssl.seeds.export import LABELS_USED, export_run

    files = export_run(io.seeds, io.format, io.out, io.dataset, io.data_root)
    color = "bold yellow" if io.format == "torchssl" else "green"
    console.print(f"[{color}]labels the consumer uses:[/] {LABELS_USED[io.format]}")
    out_console.print("wrote " + ", ".join(str(f) for f in files))


# ---------------------------------------------------------------------------- demo
@cli_command(io=(DemoInputs, None))
def demo(io: DemoInputs) -> None:
    """The whole pipeline on scikit-learn's digits, offline: pretrain -> seed ->
    train-fixmatch -> predict (a few minutes on 2 CPU cores), then one table."""
    from hume_ssl.demo.run import DemoSettings, demo_run

    settings = (DemoSettings.quick if io.quick else DemoSettings)(device=io.device,
                                                                  seed_rule=io.seed_rule)
    r = demo_run(io.out, settings, log=lambda m: console.print(f"[dim]{m}[/]"))
    out_console.print(demo_table(r))
    if io.quick:
        console.print("[yellow]--quick: tiny budgets; the figures above mean nothing.[/]")
