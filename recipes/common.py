"""What the recipes share: the CIFAR-10 recipes' data options and a CPU-sized subset of the
shared copy, the options of the recipes on seed_benchmark's sets, and the error handling.

    ap = data_parser(__doc__)        # --shared --out --device --subset --test-subset --size --seed
    data = cifar10_data(args)        # npz:... of the shared CIFAR-10, or of a resized subset
    set_arguments(ap, sets)          # --sets --phi1 --phi2 --labels --restarts --steps
    run_recipe(main)                 # a HumeSSLError is one line and exit 2, as in the CLI
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

SHARED_DATA = Path(os.environ.get("HUME_SSL_SHARED",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))


def run_recipe(main) -> None:
    """Run a recipe's main(): a HumeSSLError (bad input, a budget too small) prints one line
    on stderr and exits with status 2, as the `hume-ssl` commands do; Ctrl-C or SIGTERM (the
    trainers checkpoint, then stop) one line and status 130; no traceback."""
    from hume_ssl.core.errors import HumeSSLError

    try:
        main()
    except HumeSSLError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt as e:
        print(f"interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def recipe_parser(doc: str) -> argparse.ArgumentParser:
    """A recipe's parser with --shared (../shared/data, or $HUME_SSL_SHARED)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", default=SHARED_DATA, help="../shared/data (or $HUME_SSL_SHARED)")
    return ap


def set_arguments(ap: argparse.ArgumentParser, sets: list[str]) -> None:
    """The options of the recipes that fit HUME on seed_benchmark's sets (its load_set and
    hume_overrides read them): --sets (default `sets`), --phi1/--phi2/--labels (the user set),
    --restarts, --steps."""
    ap.add_argument("--sets", nargs="+", default=list(sets))
    ap.add_argument("--phi1"), ap.add_argument("--phi2"), ap.add_argument("--labels")
    ap.add_argument("--restarts", type=int, default=0, help="0: the seed default (100)")
    ap.add_argument("--steps", type=int, default=0, help="0: the seed default (300)")


def data_parser(doc: str) -> argparse.ArgumentParser:
    ap = recipe_parser(doc)
    ap.add_argument("--out", required=True, help="a new folder for the run folders")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--subset", type=int, default=0, help="train images (0: all)")
    ap.add_argument("--test-subset", type=int, default=0, help="test images (0: all)")
    ap.add_argument("--size", type=int, default=0, help="resize to this side (0: 32)")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def cifar10_data(args) -> str:
    """The dataset spec the recipe runs on: the shared copy, or a subset written to OUT/_data."""
    shared = Path(args.shared)
    if args.subset or args.test_subset or args.size:
        return subset_npz(shared, Path(args.out) / "_data", args.subset, args.test_subset,
                          args.size, args.seed)
    return f"npz:{shared}/cifar10_{{split}}_jpeg.npz"


def subset_npz(shared: Path, out: Path, n_train: int, n_test: int, size: int, seed: int) -> str:
    """Write a decoded (optionally resized) random subset as npz:{out}/cifar_{split}.npz."""
    import torch
    import torch.nn.functional as F

    from hume_ssl.data.images import load_split

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        s = load_split(f"npz:{shared}/cifar10_{{split}}_jpeg.npz", split)
        idx = np.sort(rng.permutation(len(s.images))[:n] if n else np.arange(len(s.images)))
        x = s.images[idx]
        if size and size != x.shape[1]:
            t = torch.from_numpy(x).permute(0, 3, 1, 2).float()
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True)
            x = t.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
        np.savez(out / f"cifar_{split}.npz", images=x, labels=s.labels[idx])
    return f"npz:{out}/cifar_{{split}}.npz"
