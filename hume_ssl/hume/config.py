"""HUME's configuration: one typed dataclass whose fields carry their defaults (chosen on
evidence), units and help (hume_ssl.core.params.setting); the CLI options are built from them.

See README.md "HUME defaults", docs/hume_evidence.md "The defaults" and recipes/bench_hume.py
for the measurements behind them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from hume_ssl.core.device import DEVICE_HELP
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.params import (
    check_bounds,
    check_known,
    is_whole,
    rename_params,
    renamed_fields,
    setting,
)

SOLVE_FORMS = ("auto", "primal", "smoother")  # inner_solve's values (hume_ssl.hume.ridge)
LANE = 8  # restarts computed side by side: every restart's matmuls have LANE*k columns
SCORE_ROWS_MIN, SCORE_ROWS_PER_CLASS = 100_000, 400  # score_rows 0: every row up to max(MIN,
# PER_CLASS x k) rows
CV_FOLDS = 10  # folds of the label-free restart score

ENCODER_INITS = ("gaussian", "kmeans")  # HumeConfig.encoder_init's values (engine.init_encoders)
TRAIN_FRACTION = 0.9  # train_fraction's default: the share of a subset the inner model is fit on
GPU_MEMORY_SHARE = 0.8  # memory_budget_gib 0 on a GPU: this share of its free memory


def bad(msg: str) -> None:
    raise HumeSSLError(msg)


@renamed_fields(memory_budget_gb="memory_budget_gib")

@dataclass
class HumeConfig:
    """HUME's settings, each field with its default, unit and help (`hume-ssl label --help`
    shows them); `validate(n_samples)` checks them before any work."""

    k: int = setting(10, "Number of classes (clusters) to find.", bounds="[2, inf)")
    n_restarts: int = setting(100, "Number of HUME restarts (task encoders, R), run batched.",
                              flag="--restarts", unit="restarts", bounds="[1, inf)")
    n_steps: int = setting(300, "Outer (task-encoder) optimisation steps per restart.",
                           flag="--steps", unit="steps", bounds="[1, inf)")
    n_subsets: int = setting(1, "(train, held-out) subset splits per outer step (S), shared by "
                             "restarts.", flag="--subsets", unit="splits", bounds="[1, inf)")
    subset_size: int = setting(10_000, f"Samples per subset (capped at N); {TRAIN_FRACTION:.0%} "
                               f"train, {1 - TRAIN_FRACTION:.0%} held out.", unit="samples",
                               bounds="[4, inf)")
    train_fraction: float = setting(TRAIN_FRACTION, "Share of each subset the inner model is fit "
                                    "on.", bounds="(0, 1)", flag=None)
    encoder_init: str = setting(
        "kmeans", "How each restart's task encoder starts: kmeans (the orthonormalised "
        "centres of a short k-means of space 1, its own seeding per restart) or gaussian (a "
        "random Gaussian draw, the default before 0.2). With kmeans, seed's consensus rule "
        "lets HUME's partition stand for k-means of space 1, which it then leaves out "
        "(gaussian: both count).",
        flag="--encoder-init")
    lr: float = setting(3e-2, "Adam learning rate of the task encoder.", bounds="(0, inf)")
    tau: float = setting(0.1, "Sparsemax temperature (logits are cosines: phi1 and the rows of "
                         "W are unit).", bounds="(0, inf)")
    anneal_steps: tuple[int, ...] = setting(
        (), "Outer steps at which lr and tau are multiplied by anneal_factor.", flag=None)
    anneal_factor: float = setting(0.1, "Factor of lr and tau at each anneal step.",
                                   bounds="(0, inf)", flag=None)
    gamma: float = setting(3.0, "Weight of the label-balance entropy term (the entropy of the "
                           "mean label distribution, nats).", bounds="[0, inf)")
    ridge: float = setting(0.1, "Inner ridge penalty, relative to the mean Gram eigenvalue of "
                           "phi2.", bounds="(0, inf)")
    inner_solve: str = setting(
        "auto", "How the inner ridge fit predicts held-out rows: primal (through the D x D "
        "system, D = d2 + 1), smoother (an n_te x n_tr map per split), or auto (the one with "
        "fewer multiply-adds for the data's shape).", flag=None)
    grad_clip: float = setting(1.0, "Largest gradient norm, per restart.", bounds="(0, inf)",
                               flag=None)
    center: bool = setting(True, "Subtract each space's mean (over the fit rows) before "
                           "normalising.", flag=None)
    normalize_phi1: bool = setting(True, "L2-normalise the rows of space 1.", flag=None)
    normalize_phi2: bool = setting(True, "L2-normalise the rows of space 2.", flag=None)
    cv_folds: int = setting(CV_FOLDS, "Folds of the label-free restart score.", bounds="[2, inf)",
                            flag=None)
    score_rows: int = setting(
        0, "Rows the label-free restart score is computed on (0: automatic: every row up to "
        f"max({SCORE_ROWS_MIN:,}, {SCORE_ROWS_PER_CLASS} x k) rows, a random subset of that many "
        f"above; else that many, at least two per fold of the score: {2 * CV_FOLDS} with its "
        f"{CV_FOLDS} folds).", unit="rows", bounds="[0, inf)")
    chunk_size: int = setting(0, f"HUME restarts per results file, rounded up to lanes of {LANE} "
                              "(0: all that fit the memory budget); results do not depend on it.",
                              unit="restarts", bounds="[0, inf)")
    memory_budget_gib: float = setting(
        0.0, "Memory HUME may use: both spaces held on the device, the inner solver's "
        "matrices, and per restart of a chunk its encoder, its Adam state and its share of the "
        "graph kept for backward (on a GPU a chunk's lanes run in one graph; on the CPU one lane "
        f"at a time); 0: {GPU_MEMORY_SHARE:.0%} of free GPU memory, no limit on the CPU.",
        unit="GiB",
        bounds="[0, inf)", deprecated=("--memory-budget-gb",))
    checkpoint_every: int = setting(20, "Outer steps between checkpoints inside a chunk (0: "
                                    "none).", unit="steps", bounds="[0, inf)", flag=None)
    device: str = setting("auto", DEVICE_HELP)
    random_state: int = setting(0, "Random seed (subset draws and every restart's init; in "
                                "`seed`, also the consensus rule's k-means).",
                                bounds="[0, inf)", deprecated=("--seed",))
    extra: Optional[dict] = setting(None, "Free-form notes recorded in config.json (a dict).",
                                    flag=None)

    def __post_init__(self):
        steps = self.anneal_steps  # a list from JSON, a range, an array: any iterable
        if not isinstance(steps, (str, bytes)) and hasattr(steps, "__iter__"):
            self.anneal_steps = tuple(  # whole numbers as int, 100.0 too (others: validate)
                int(v) if is_whole(v) or (isinstance(v, float) and v.is_integer()) else v
                for v in steps)

    def validate(self, n_samples: int | None = None) -> HumeConfig:
        """Check every field against its declared range (errors name the command-line flag),
        then what no single field's range says; changes nothing."""
        check_bounds(self)  # whole numbers, nan, inf and each field's interval
        if self.encoder_init not in ENCODER_INITS:
            bad(f"--encoder-init {self.encoder_init!r}: use {' or '.join(ENCODER_INITS)}.")
        if n_samples is not None and self.k >= n_samples:  # k = N: each sample its own class
            bad(f"--k {self.k} is {'larger than' if self.k > n_samples else 'equal to'} the "
                f"number of samples ({n_samples}); lower --k (at most {n_samples - 1}).")
        if 0 < self.score_rows < 2 * self.cv_folds:
            bad(f"--score-rows {self.score_rows}: use 0 (automatic) or at least "
                f"{2 * self.cv_folds} (two rows per fold of the score).")
        steps = self.anneal_steps
        if not isinstance(steps, tuple) or not all(
                is_whole(v) and 0 <= v < self.n_steps for v in steps) or len(set(steps)) < len(
                steps):  # (a step twice: annealed once, yet twice on resume)
            bad(f"anneal_steps={steps!r}: give distinct whole-number outer steps in 0.."
                f"{self.n_steps - 1} (n_steps {self.n_steps}), e.g. ({self.n_steps // 2},).")
        if self.extra is not None and not isinstance(self.extra, dict):
            bad(f"extra={self.extra!r}: give a dict of notes (or None).")
        if self.inner_solve not in SOLVE_FORMS:  # Python only: no flag
            bad(f"inner_solve={self.inner_solve!r}: use {', '.join(SOLVE_FORMS)}.")
        return self

    def split_sizes(self, n_rows: int) -> tuple[int, int]:
        """(n, n_tr): rows per subset (subset_size capped at N) and train rows of each split."""
        n = min(n_rows, self.subset_size)
        return n, min(max(int(round(n * self.train_fraction)), 2), n - 1)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **overrides) -> HumeConfig:
        overrides = rename_params(overrides, self.RENAMED)
        check_known(overrides, self.field_names(), "HUME")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["anneal_steps"] = list(self.anneal_steps)
        return d
