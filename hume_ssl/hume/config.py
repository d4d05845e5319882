"""HUME's configuration: one typed dataclass, units in comments, defaults chosen on evidence.

See README.md "HUME defaults" and recipes/bench_hume.py for the measurements behind them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hume_ssl.core.errors import HumeSSLError


@dataclass
class HumeConfig:
    k: int = 10  # number of classes (clusters) to find
    n_restarts: int = 100  # independent task encoders (R); all run batched
    n_steps: int = 300  # outer (task-encoder) optimisation steps per restart
    n_subsets: int = 1  # (train, held-out) subset splits per outer step (S), shared by restarts
    subset_size: int = 10_000  # samples per subset (capped at N); 90% train / 10% held out
    train_fraction: float = 0.9  # share of each subset the inner model is fit on
    lr: float = 3e-2  # Adam learning rate of the task encoder (per step)
    tau: float = 0.1  # sparsemax temperature on cosine logits (phi1 and rows of W are unit)
    anneal_steps: tuple[int, ...] = ()  # steps where lr *= anneal_factor and tau *= anneal_factor
    anneal_factor: float = 0.1
    gamma: float = 3.0  # weight of the entropy (nats) of the mean label distribution
    ridge: float = 0.1  # inner ridge penalty, relative to the mean Gram eigenvalue of phi2
    grad_clip: float = 1.0  # max gradient norm, per restart
    center: bool = True  # subtract each space's mean (over the fit rows) before normalising
    normalize_phi1: bool = True  # L2-normalise rows of space 1
    normalize_phi2: bool = True  # L2-normalise rows of space 2
    cv_folds: int = 10  # folds of the label-free restart score
    score_rows: int = 0  # rows the score is computed on (0: all, up to max(100,000, 400 k))
    chunk_size: int = 0  # restarts per chunk, rounded up to whole lanes of 8 (0: all)
    memory_budget_gb: float = 0.0  # working-memory budget of one lane, GiB (0: automatic)
    checkpoint_every: int = 20  # outer steps between checkpoints inside a chunk (0: none)
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    random_state: int = 0
    extra: dict = field(default_factory=dict)  # free-form notes recorded in config.json

    def validate(self, n_samples: int | None = None) -> HumeConfig:
        def bad(msg: str) -> None:
            raise HumeSSLError(msg)

        if self.k < 2:
            bad(f"k={self.k}: need at least 2 classes; pass --k 2 or more.")
        if n_samples is not None and self.k > n_samples:
            bad(f"k={self.k} is larger than the number of samples ({n_samples}); lower --k.")
        if self.n_restarts < 1:
            bad(f"n_restarts={self.n_restarts}: need at least 1 restart.")
        if self.n_steps < 1:
            bad(f"n_steps={self.n_steps}: need at least 1 outer step.")
        if self.n_subsets < 1:
            bad(f"n_subsets={self.n_subsets}: need at least 1 subset per step.")
        if not 0.0 < self.train_fraction < 1.0:
            bad(f"train_fraction={self.train_fraction}: must lie strictly between 0 and 1.")
        if self.subset_size < 4:
            bad(f"subset_size={self.subset_size}: need at least 4 samples per subset.")
        if self.tau <= 0 or self.lr <= 0 or self.ridge <= 0:
            bad("tau, lr and ridge must be positive.")
        if self.score_rows < 0 or 0 < self.score_rows < 2 * self.cv_folds:
            bad(f"score_rows={self.score_rows}: use 0 (automatic) or at least 2 x cv_folds.")
        if self.memory_budget_gb < 0 or self.chunk_size < 0:
            bad("memory_budget_gb and chunk_size must be 0 (automatic) or positive.")
        if self.cv_folds < 2:
            bad(f"cv_folds={self.cv_folds}: need at least 2 folds.")
        return self

    def split_sizes(self, n_rows: int) -> tuple[int, int]:
        """(n, n_tr): rows per subset (subset_size capped at N) and train rows of each split."""
        n = min(n_rows, self.subset_size)
        return n, min(max(int(round(n * self.train_fraction)), 2), n - 1)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **overrides) -> HumeConfig:
        unknown = sorted(set(overrides) - set(self.field_names()))
        if unknown:
            raise HumeSSLError(
                f"unknown HUME option(s) {unknown}; valid: {', '.join(self.field_names())}."
            )
        if "anneal_steps" in overrides:
            overrides["anneal_steps"] = tuple(int(s) for s in overrides["anneal_steps"])
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["anneal_steps"] = list(self.anneal_steps)
        return d
