"""The `hume-ssl` command line: a thin shell that parses, calls the Python API and prints.

Each command lives in its own section; all work happens in the modules it calls.
"""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hume_ssl.cli.progress import fixmatch_progress, hume_progress, pretrain_progress
from hume_ssl.core import distributed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.fixmatch.config import FixMatchConfig

app = typer.Typer(
    help="hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# messages and progress on stderr, results on stdout; never wrapped, so a script can read paths
console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)


@app.callback()
def _root() -> None:
    """hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch."""


def main() -> None:
    try:
        app()
    except HumeSSLError as e:
        prefix = f"rank {distributed.rank()}: " if distributed.world_size() > 1 else ""
        console.print(f"[bold red]{prefix}error:[/] {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/]: finished chunks are kept; re-run the same command to resume."
        )
        sys.exit(130)


# HUME's resource options, shared by `label` and `seed`
CHUNK_SIZE = typer.Option(
    0, help="HUME restarts per results file, rounded up to lanes of 8 (0: all that fit the "
    "memory budget); results do not depend on it."
)
MEMORY_BUDGET_GB = typer.Option(
    0.0, help="Memory HUME may use, GiB (features on the device, one lane's work, the chunk's "
    "encoders); 0: 80% of free GPU memory, no limit on the CPU."
)
SCORE_ROWS = typer.Option(
    0, help="Rows the label-free restart score is computed on (0: all, at most "
    "max(100,000, 400 x k))."
)


# ---------------------------------------------------------------------------- label
@app.command()
def label(
    phi1: Path = typer.Option(
        ..., help="Space-1 features (N x d1 .npy): the task encoder's space."
    ),
    phi2: Path = typer.Option(
        ..., help="Space-2 features (N x d2 .npy): the linear model's space."
    ),
    out: Path = typer.Option(..., help="Run folder (created; re-running resumes from it)."),
    k: int = typer.Option(10, help="Number of classes to find."),
    restarts: int = typer.Option(100, help="Number of HUME restarts (task encoders), run batched."),
    steps: int = typer.Option(300, help="Outer optimisation steps per restart."),
    subsets: int = typer.Option(1, help="Train/held-out subset splits per outer step."),
    subset_size: int = typer.Option(10_000, help="Samples per subset (capped at N)."),
    lr: float = typer.Option(3e-2, help="Adam learning rate of the task encoder."),
    tau: float = typer.Option(0.1, help="Sparsemax temperature (logits are cosines)."),
    gamma: float = typer.Option(3.0, help="Weight of the label-balance entropy term."),
    ridge: float = typer.Option(
        0.1, help="Inner ridge penalty, relative to the mean Gram eigenvalue."
    ),
    seed: int = typer.Option(0, help="Random seed (subset draws and every restart's init)."),
    labels: Optional[Path] = typer.Option(
        None, help="True labels (N ints .npy), for metrics only."
    ),
    phi1_test: Optional[Path] = typer.Option(None, help="Space-1 features of held-out samples."),
    phi2_test: Optional[Path] = typer.Option(None, help="Space-2 features of held-out samples."),
    labels_test: Optional[Path] = typer.Option(
        None, help="True labels of the test rows (metrics)."
    ),
    transductive: bool = typer.Option(
        False,
        help="Fit on train+test rows (default: fit on train "
        "rows, then label test rows with the learned encoders).",
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    chunk_size: int = CHUNK_SIZE,
    memory_budget_gb: float = MEMORY_BUDGET_GB,
    score_rows: int = SCORE_ROWS,
) -> None:
    """Run HUME on two feature matrices of the same N samples and write an aligned ensemble."""
    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.hume.run import label_run

    cfg = HumeConfig(
        k=k,
        n_restarts=restarts,
        n_steps=steps,
        n_subsets=subsets,
        subset_size=subset_size,
        lr=lr,
        tau=tau,
        gamma=gamma,
        ridge=ridge,
        random_state=seed,
        device=device,
        chunk_size=chunk_size,
        memory_budget_gb=memory_budget_gb,
        score_rows=score_rows,
    )
    with hume_progress(console) as cb:
        res = label_run(
            phi1,
            phi2,
            out,
            cfg,
            labels=labels,
            phi1_test=phi1_test,
            phi2_test=phi2_test,
            labels_test=labels_test,
            transductive=transductive,
            callback=cb,
        )
    if res.get("rank"):  # torchrun: rank 0 prints
        return
    model = res["model"]
    table = Table(title=f"HUME: {cfg.n_restarts} restarts in {res['seconds']:.1f} s")
    for col in ("", "score", "ACC", "ARI", "NMI"):
        table.add_column(col)
    m = res.get("metrics")

    def fmt(d, key):
        return f"{d[key]:.4f}" if d else "-"

    table.add_row(
        "ensemble",
        "-",
        fmt(m and m["ensemble"], "acc"),
        fmt(m and m["ensemble"], "ari"),
        fmt(m and m["ensemble"], "nmi"),
    )
    b = model.best_restart_
    table.add_row(
        f"best restart (#{b})",
        f"{model.scores_[b]:.4f}",
        fmt(m and m["best_restart"], "acc"),
        fmt(m and m["best_restart"], "ari"),
        fmt(m and m["best_restart"], "nmi"),
    )
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
@app.command()
def features(
    dataset: str = typer.Argument(
        ...,
        help="cifar10, cifar100, cifar100-20, stl10, fashion-mnist, "
        "imagefolder:PATH or npz:PATH ({split} in PATH is replaced by "
        "the split).",
    ),
    backbone: str = typer.Option(
        "dinov2_vitb14",
        help="dinov2_vit{s,b,l,g}14, clip_vit_b16, "
        "clip_vit_l14, timm:NAME, torchvision:NAME[:logits]; "
        "NAME@FILE loads local weights.",
    ),
    weights: Optional[Path] = typer.Option(
        None, help="Local weights file (.pth/.safetensors) instead of the pretrained download."
    ),
    split: str = typer.Option("train", help="train, test or train+test (train rows first)."),
    data_root: Optional[Path] = typer.Option(
        None,
        help="Where datasets live / download to "
        "(default $HUME_SSL_DATA, else "
        "~/.cache/hume-ssl/data).",
    ),
    cache_dir: Optional[Path] = typer.Option(
        None, help="Feature cache folder (default $HUME_SSL_CACHE, else ~/.cache/hume-ssl)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    num_workers: Optional[int] = typer.Option(
        None,
        help="DataLoader worker processes that "
        "decode and resize images (default: 8 on GPU, "
        "half the CPU cores on CPU).",
    ),
    batch_size: Optional[int] = typer.Option(
        None, help="Images per forward pass (default 256 on GPU, 64 on CPU)."
    ),
    input_size: Optional[int] = typer.Option(
        None,
        help="Override the crop size in pixels "
        "(keeps the crop fraction; default: the "
        "backbone's own).",
    ),
    random_init: bool = typer.Option(
        False, help="Random weights (seed 0), for tests and baselines."
    ),
    strict: bool = typer.Option(
        False, help="Fail on an unreadable image file instead of skipping it."
    ),
    force: bool = typer.Option(
        False, "--force", help="Extract again even when the cache holds these features."
    ),
) -> None:
    """Extract frozen-backbone features of every image (cached: a repeat call is instant).

    Prints the cache path, N (images), d (features per image) and the speed in images/s.
    """
    from hume_ssl.features.extract import extract_features

    fs = extract_features(
        dataset,
        split,
        backbone,
        str(weights) if weights else None,
        cache_dir=cache_dir,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        data_root=data_root,
        progress=True,
        random_init=random_init,
        strict=strict,
        input_size=input_size,
        force=force,
    )
    m = fs.meta
    speed = (
        f"cached (extracted at {m['images_per_s']:.1f} images/s)"
        if fs.cached
        else f"{m['images_per_s']:.1f} images/s"
    )
    skipped = (m.get("dataset_info") or {}).get("skipped")
    out_console.print(
        f"{fs.path}\nN={fs.n} images, d={fs.dim} features, {speed}"
        + (f", {skipped} unreadable files skipped" if skipped else "")
    )


# ---------------------------------------------------------------------------- train-fixmatch
@app.command("train-fixmatch")
def train_fixmatch(
    out: Path = typer.Option(
        ..., help="Run folder (config.json, metrics.csv, checkpoint.pt, model.pt, model.json)."
    ),
    seeds: Optional[Path] = typer.Option(
        None, help="Seeds folder (indices.npy, pseudo_labels.npy, seeds.json) from the seeds stage."
    ),
    indices: Optional[Path] = typer.Option(
        None, help="Seed indices (.npy), or a CSV of `index,label` rows (instead of --seeds)."
    ),
    seed_labels: Optional[Path] = typer.Option(
        None, "--seed-labels",
        help="Training labels of the seeds (.npy, ints 0..k-1) for --indices FILE.npy.",
    ),
    old_labels: Optional[Path] = typer.Option(
        None, "--labels", hidden=True, help="Deprecated name of --seed-labels (until 0.3)."
    ),
    dataset: Optional[str] = typer.Option(
        None,
        help="Dataset name (registry name or npz:/path/name_{split}.npz); overrides seeds.json.",
    ),
    data_root: Optional[Path] = typer.Option(
        None, help="Dataset root (default $HUME_SSL_DATA, else ~/.cache/hume-ssl/data)."
    ),
    steps: int = typer.Option(
        2**20, help="Training steps (optimizer updates); paper: 2^20; an upper bound under "
        "--budget-minutes."
    ),
    budget_minutes: Optional[float] = typer.Option(
        None, help="Wall-clock budget in minutes: the number of steps is fitted to it (the "
        "cosine schedule ends inside it, with its evaluations)."
    ),
    init: Optional[str] = typer.Option(
        None, help="Start from a pretrained encoder plus a fresh linear head: ssl:RUN (a "
        "`hume-ssl pretrain` folder) or torchvision:NAME@WEIGHTS_FILE. Fixes the architecture."
    ),
    encoder_lr_scale: float = typer.Option(
        0.1, help="With --init: the encoder's learning rate is --lr times this (the head's: --lr)."
    ),
    arch: Optional[str] = typer.Option(
        None, help="wrn28_2 (default without --init) | wrn28_8 | resnet18_cifar | "
        "torchvision:NAME (| wrn10_1 for smoke tests); with --init, the init's."
    ),
    batch_size: int = typer.Option(64, help="Labeled images per step, global over GPUs."),
    mu: int = typer.Option(7, help="Unlabeled images per labeled image in a step."),
    lr: float = typer.Option(0.03, help="SGD learning rate at step 0 (cosine decay to step K)."),
    threshold: float = typer.Option(0.95, help="Pseudo-label confidence threshold (probability)."),
    weight_decay: float = typer.Option(
        FixMatchConfig.weight_decay, help="L2 coefficient on conv/linear weights (not BN or "
        "biases); the paper: 5e-4, 1e-3 for CIFAR-100 with wrn28_8."
    ),
    lambda_u: float = typer.Option(
        FixMatchConfig.lambda_u, help="Weight of the unlabeled (pseudo-label) loss."
    ),
    ema_decay: float = typer.Option(
        FixMatchConfig.ema_decay, help="EMA decay of the weights per step (the EMA model is "
        "evaluated and exported), in [0, 1)."
    ),
    eval_every: int = typer.Option(1024, help="Steps between test evaluations (EMA model)."),
    checkpoint_every: int = typer.Option(
        2048, help="Steps between checkpoints (also on SIGTERM/SIGINT and at the end)."
    ),
    log_every: int = typer.Option(64, help="Steps between metrics.csv rows (host syncs)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1 (torchrun: per process)."),
    compile: bool = typer.Option(False, "--compile/--no-compile",
                                 help="torch.compile the model."),
    oracle_labels: bool = typer.Option(
        False,
        "--oracle-labels/--pseudo-labels",
        help="Use ground truth at the seed indices instead of pseudo-labels (comparison only).",
    ),
    resume: bool = typer.Option(
        False, "--resume/--no-resume", help="Continue the run in --out from its checkpoint."
    ),
    random_state: int = typer.Option(
        0, "--random-state",
        help="Random seed of weights, batches and augmentations (--seeds is the seeds folder).",
    ),
    old_seed: Optional[int] = typer.Option(
        None, "--seed", hidden=True, help="Deprecated name of --random-state (until 0.3)."
    ),
) -> None:
    """Train FixMatch from seeds (pseudo-labels) + all other train images; evaluate on test."""
    seed_labels = _renamed("--labels", "--seed-labels", old_labels, seed_labels)
    random_state = _renamed("--seed", "--random-state", old_seed, random_state)
    from hume_ssl.fixmatch.run import train_fixmatch_run

    cfg = FixMatchConfig(
        arch=arch,
        init=init,
        encoder_lr_scale=encoder_lr_scale,
        budget_minutes=budget_minutes,
        steps=steps,
        batch_size=batch_size,
        mu=mu,
        lr=lr,
        threshold=threshold,
        weight_decay=weight_decay,
        lambda_u=lambda_u,
        ema_decay=ema_decay,
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        device=device,
        compile=compile,
        oracle_labels=oracle_labels,
        random_state=random_state,
    )
    try:
        with fixmatch_progress(console) as cb:
            res = train_fixmatch_run(
                out,
                cfg,
                seeds=seeds,
                indices=indices,
                labels=seed_labels,
                dataset=dataset,
                resume=resume,
                callback=cb,
                data_root=data_root,
            )
    except KeyboardInterrupt:
        console.print(
            f"[yellow]stopped[/]: checkpoint saved in {out}; add --resume to the same "
            "command to continue."
        )
        sys.exit(130)
    med = res["test_acc_median"]
    msg = f"{res['steps']} steps in {res['seconds']:.1f} s on {res['device']}"
    if med is not None:
        msg += (
            f"; test {res['test_acc_kind']}: median of last {res['test_acc_median_of']} "
            f"evals {med:.4f} (last {res['test_acc_last']:.4f})"
        )
    out_console.print(msg)
    out_console.print(
        f"outputs in {res['out']}/ (model.pt, model.json, metrics.csv, metrics.json, "
        "config.json, checkpoint.pt)"
    )


# ---------------------------------------------------------------------------- pretrain
@app.command()
def pretrain(
    dataset: str = typer.Argument(
        ..., help="Dataset name (registry name, imagefolder:PATH or npz:/path/name_{split}.npz)."
    ),
    out: Path = typer.Option(..., help="Run folder: checkpoint, metrics, backbone.pt/.json."),
    method: str = typer.Option(
        "mocov2", help="Self-supervised method: mocov2 (momentum queue) or simclr (in-batch)."
    ),
    arch: str = typer.Option(
        "resnet18_cifar",
        help="resnet18_cifar | resnet34_cifar | resnet50_cifar (3x3 stem, for 32-64 px) or "
        "torchvision:NAME (e.g. torchvision:resnet50 for larger images).",
    ),
    split: str = typer.Option("train", help="Split to learn from (labels are never used)."),
    image_size: Optional[int] = typer.Option(
        None, help="Resize (shorter side) + center-crop every image to this many pixels first; "
        "needed when images are not all square of one size.",
    ),
    epochs: int = typer.Option(200, help="Passes over the split."),
    budget_minutes: Optional[float] = typer.Option(
        None, help="Wall-clock budget in minutes: the number of epochs is fitted to it."
    ),
    batch_size: int = typer.Option(512, help="Images per step (two views each)."),
    lr: Optional[float] = typer.Option(
        None, help="SGD learning rate at step 0, cosine decay to 0 [default: the method's at "
        "batch 512 (mocov2 0.06, simclr 0.24), scaled linearly with the batch]."
    ),
    head: Optional[str] = typer.Option(
        None, help="Projection head: mlp, mlp_bn or linear [default: mocov2 mlp, simclr mlp_bn]."
    ),
    temperature: Optional[float] = typer.Option(
        None, help="Contrastive temperature (logits are cosines / T) [default: mocov2 0.1, "
        "simclr 0.5]."
    ),
    symmetric: bool = typer.Option(
        True, "--symmetric/--asymmetric",
        help="mocov2: contrast both view orders per step (the demo's symmetric loss) or one.",
    ),
    knn_every: int = typer.Option(10, help="Epochs between kNN-200 evaluations on the test split."),
    checkpoint_every: int = typer.Option(1000, help="Steps between checkpoints."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1."),
    compile: bool = typer.Option(False, "--compile/--no-compile",
                                 help="torch.compile the model."),
    resume: bool = typer.Option(
        False, "--resume/--no-resume", help="Continue the run in --out from its checkpoint."
    ),
    seed: int = typer.Option(0, help="Random seed (weights, batches, augmentations)."),
) -> None:
    """Learn a representation from the dataset's own images (MoCo v2 or SimCLR); use it as
    ssl:OUT in `features` and `seed`."""
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    cfg = PretrainConfig(method=method, arch=arch, epochs=epochs, budget_minutes=budget_minutes,
                         batch_size=batch_size, lr=lr, head=head, temperature=temperature,
                         symmetric=symmetric, knn_every=knn_every,
                         checkpoint_every=checkpoint_every, device=device, compile=compile,
                         random_state=seed)
    try:
        with pretrain_progress(console) as cb:
            res = pretrain_run(dataset, out, cfg, split=split, resume=resume, callback=cb,
                               image_size=image_size)
    except KeyboardInterrupt:
        console.print(f"[yellow]stopped[/]: checkpoint saved in {out}; add --resume to the same "
                      "command to continue.")
        sys.exit(130)
    msg = f"{res['steps']} steps ({res['epochs']:.1f} epochs) in {res['seconds']:.1f} s"
    if res["knn_acc_last"] is not None:
        msg += f"; kNN-200 test accuracy {res['knn_acc_last']:.4f}"
    out_console.print(msg)
    out_console.print(f"backbone: ssl:{res['out']}  (use it in `hume-ssl features` / `seed`)")


# ---------------------------------------------------------------------------- predict
@app.command()
def predict(
    dataset: str = typer.Argument(
        ..., help="Dataset name (registry name or npz:/path/name_{split}.npz)."
    ),
    model: Path = typer.Option(..., help="Run folder of train-fixmatch (model.pt + model.json)."),
    split: str = typer.Option("test", help="Split to label."),
    out: Optional[Path] = typer.Option(
        None, help="Output folder (default: MODEL/predictions_SPLIT)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda, ..."),
    batch_size: int = typer.Option(1024, help="Images per forward pass."),
    data_root: Optional[Path] = typer.Option(
        None, help="Dataset root (default $HUME_SSL_DATA, else ~/.cache/hume-ssl/data)."
    ),
) -> None:
    """Write a label and a confidence (max softmax probability) for every image of a split."""
    from hume_ssl.fixmatch.predict import predict_run

    res = predict_run(model, dataset, split, out, device, batch_size, data_root)
    acc = f"; {res['acc_kind']} vs ground truth {res['acc']:.4f}" if "acc" in res else ""
    out_console.print(
        f"{res['n']} images labeled{acc}; outputs in {res['out']}/ "
        "(predictions.csv, labels.npy, confidence.npy)"
    )


# ---------------------------------------------------------------------------- seed
@app.command()
def seed(
    dataset: Optional[str] = typer.Argument(
        None,
        help="Dataset (cifar10, imagefolder:PATH, npz:PATH, ...); optional with --phi1/--phi2.",
    ),
    per_class: int = typer.Option(4, help="Seeds per cluster (N best per predicted class)."),
    backbones: str = typer.Option(
        "dinov2_vitg14,clip_vit_l14",
        help="A,B: space 1 (task encoder), space 2 (linear model, kNN); NAME@FILE: local weights.",
    ),
    phi1: Optional[Path] = typer.Option(None, help="Space-1 features file instead of a backbone."),
    phi2: Optional[Path] = typer.Option(None, help="Space-2 features file instead of a backbone."),
    labels: Optional[Path] = typer.Option(None, help="Ground truth (N ints .npy), report only."),
    k: Optional[str] = typer.Option(
        None, help="Number of classes (default: the dataset's), or 'auto' to pick it by score."
    ),
    k_range: str = typer.Option("2-20", help="Range of k tried by --k auto (inclusive)."),
    restarts: int = typer.Option(100, help="HUME restarts (batched)."),
    steps: int = typer.Option(300, help="HUME outer steps per restart."),
    knn: int = typer.Option(50, help="Neighbours for kNN consistency (self excluded)."),
    knn_space: str = typer.Option("phi2", help="phi2, phi1, or both (a majority in each)."),
    min_agreement: float = typer.Option(0.5, help="Candidates need agreement above this share."),
    min_knn: float = typer.Option(0.5, help="... and kNN consistency above this share."),
    shortage: str = typer.Option("fewer", help="Clusters short of candidates: fewer | relax."),
    ranking: str = typer.Option(
        "product", help="Order of candidates within a cluster: product (agreement x kNN "
        "consistency), agreement, or knn; then margin."
    ),
    out: Path = typer.Option(
        Path("runs/seed"), help="Run folder: hume/ and seeds/ go in it (re-running resumes)."
    ),
    chunk_size: int = CHUNK_SIZE,
    memory_budget_gb: float = MEMORY_BUDGET_GB,
    score_rows: int = SCORE_ROWS,
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed_: int = typer.Option(0, "--seed", help="Random seed."),
    data_root: Optional[Path] = typer.Option(None, help="Dataset root (else $HUME_SSL_DATA)."),
    cache_dir: Optional[Path] = typer.Option(None, help="Feature cache (else $HUME_SSL_CACHE)."),
    num_workers: Optional[int] = typer.Option(None, help="Image-decoding worker processes."),
    batch_size: Optional[int] = typer.Option(None, help="Images per feature batch."),
    input_size: Optional[int] = typer.Option(None, help="Override backbone input size (px)."),
) -> None:
    """Pick reliable pseudo-labeled seeds: HUME ensemble + agreement + kNN consistency."""
    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.seeds.run import SeedConfig, choose_k, seed_run

    bb = tuple(b.strip() for b in backbones.split(","))
    if len(bb) != 2:
        raise HumeSSLError(f"--backbones {backbones!r}: give exactly two, as A,B.")
    feature_kw = {
        "cache_dir": cache_dir,
        "device": device,
        "num_workers": num_workers,
        "batch_size": batch_size,
        "data_root": data_root,
        "input_size": input_size,
    }
    cfg = SeedConfig(
        per_class=per_class,
        n_neighbors=knn,
        knn_space=knn_space,
        min_agreement=min_agreement,
        min_knn=min_knn,
        shortage=shortage,
        ranking=ranking,
    ).validate()  # every option checked before features, HUME or `--k auto` do any work
    hume = None
    base = dict(n_restarts=restarts, n_steps=steps, random_state=seed_, device=device,
                chunk_size=chunk_size, memory_budget_gb=memory_budget_gb, score_rows=score_rows)
    HumeConfig(k=2, **base).validate()
    if k == "auto":
        k_val = choose_k(out, dataset, bb, phi1, phi2, k_range, base, feature_kw, log=console.print)
        hume = HumeConfig(k=k_val, **base)
    elif k is not None:
        try:
            hume = HumeConfig(k=int(k), **base)
        except ValueError:
            raise HumeSSLError(f"--k {k!r}: give a whole number or 'auto'.") from None
    with hume_progress(console) as cb:
        res = seed_run(
            out,
            dataset,
            bb,
            phi1,
            phi2,
            labels,
            hume,
            cfg,
            feature_kw,
            hume_callback=cb,
            log=console.print,
            hume_defaults=base,
        )
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


def _renamed(old: str, new: str, old_value, value):
    """A renamed option's old name still works for one release, with a warning."""
    if old_value is None:
        return value
    console.print(f"[yellow]deprecated:[/] {old} is now {new}; the old name goes in 0.3.")
    return old_value


def _num(v, digits: int = 4) -> str:
    """A float for a table, or "-" where it is undefined (None)."""
    return "-" if v is None else f"{v:.{digits}f}"


# ---------------------------------------------------------------------------- export
@app.command()
def export(
    seeds: Path = typer.Argument(
        ..., help="A seeds folder (seeds.json) or an edited index,label CSV."
    ),
    format: str = typer.Option(..., "--format", help="usb | torchssl | fixmatch | csv"),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: SEEDS/export-FORMAT)."),
    dataset: Optional[str] = typer.Option(None, help="Dataset of a CSV's indices."),
) -> None:
    """Write seeds for other SSL codebases (USB, TorchSSL, FixMatch) or as a CSV."""
    from hume_ssl.seeds.export import ORACLE_WARNING, export_seeds, load_any_seeds

    s = load_any_seeds(seeds, dataset)
    target = (
        out or (Path(seeds) if Path(seeds).is_dir() else Path(seeds).parent) / f"export-{format}"
    )
    files = export_seeds(s, format, target)
    if format != "csv":
        console.print(f"[bold yellow]{ORACLE_WARNING}[/]")
    out_console.print("wrote " + ", ".join(str(f) for f in files))


# ---------------------------------------------------------------------------- errors
def _clear_errors(fn):
    """Print a HumeSSLError as one red line and exit 2, and a Ctrl-C as where the work was
    kept and the command that resumes it (exit 130), however the command is invoked."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HumeSSLError as e:
            console.print(f"[bold red]error:[/] {e}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            out = kwargs.get("out")
            where = f"in {out}" if out else "in the feature cache"
            again = "hume-ssl " + shlex.join(sys.argv[1:])
            console.print(f"[yellow]interrupted[/]: the work finished so far is kept {where}; "
                          f"run the same command again to resume it: {again}")
            raise typer.Exit(130) from None

    return wrapper


for _cmd in app.registered_commands:
    _cmd.callback = _clear_errors(_cmd.callback)

