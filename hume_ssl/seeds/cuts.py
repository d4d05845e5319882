"""Why a consensus cluster gives fewer seeds than asked (hume_ssl.seeds.consensus): the cut it
falls under (--min-stability, --min-support), too few candidates, or no accepted cluster."""

from __future__ import annotations

from typing import Optional

from hume_ssl.seeds.config import SeedConfig


def cut_by(cfg: SeedConfig, cluster: dict) -> Optional[tuple[str, str]]:
    """The cut that bars an accepted cluster from seeds, candidates and fill alike, as (kind,
    words) (None: none): kind "stability", less stable than min_stability, or "support", with
    less support (its candidates / its members) than min_support (such clusters' seeds were
    right about half the time on the benchmark)."""
    if cluster["stability"] < cfg.min_stability:
        return ("stability", f"stability {cluster['stability']:.4f} < --min-stability "
                f"{cfg.min_stability:g}")
    if cluster["support"] < cfg.min_support:
        return ("support", f"support {cluster['support']:.4f} < --min-support "
                f"{cfg.min_support:g}")
    return None


def gives_no_seeds(cfg: SeedConfig, cluster: dict) -> bool:
    """Whether an accepted cluster falls under a cut (cut_by)."""
    return cut_by(cfg, cluster) is not None


def short_cause(cfg: SeedConfig, cluster: Optional[dict], seeds: int
                ) -> Optional[tuple[str, str]]:
    """Why a class holds fewer than per_class seeds, as (kind, words) (None: it does not):
    "no cluster" (cluster None: no accepted cluster), the cut it fell under ("stability" or
    "support": cut_by), "filled" (shortage fill: too few candidates and no more of its own
    rows to top it up) or "candidates" (too few candidates)."""
    if seeds >= cfg.per_class:
        return None
    if cluster is None:
        return ("no cluster", "no cluster: every other one overlapped an accepted one by more "
                f"than {cfg.max_overlap:g} (Jaccard)")
    cut = cut_by(cfg, cluster)
    if cut is not None:
        return cut
    if cfg.shortage == "fill":
        return ("filled", f"{cluster['candidates']} candidates + {cluster['filled']} filled: "
                "no more rows")
    return ("candidates", f"{cluster['candidates']} candidates")


def why_short(cfg: SeedConfig, cluster: Optional[dict], seeds: int) -> Optional[str]:
    """short_cause's words, for the warning and seeds.json (None: not short)."""
    cause = short_cause(cfg, cluster, seeds)
    return None if cause is None else cause[1]
