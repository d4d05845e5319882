"""The self-supervised backbone artifact: what `pretrain` exports and `ssl:RUN` loads.

    RUN/backbone.pt     plain state dict of the encoder (torchvision layout, no head)
    RUN/backbone.json   {"format": FORMAT, "arch", "feature_dim", "method", "dataset", "split",
                         "steps", "epochs", "knn_acc",
                         "preprocessing": {input_size, resize_size, interpolation, mean, std}}
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import atomic_save_state_dict, atomic_write_json

FORMAT = "hume-ssl-ssl-backbone/1"


def write_backbone(out: str | Path, encoder: nn.Module, meta: dict) -> Path:
    """Write backbone.pt (weights) then backbone.json (`meta` plus the format tag) into `out`."""
    out = Path(out)
    atomic_save_state_dict(out / "backbone.pt", encoder)
    atomic_write_json(out / "backbone.json", {"format": FORMAT, **meta})
    return out


def read_backbone_meta(path: str | Path) -> tuple[dict, Path]:
    """(backbone.json contents, backbone.pt path) of a pretrain run folder (or its backbone.pt)."""
    p = Path(path).expanduser()
    folder = p.parent if p.suffix == ".pt" else p
    meta_path, weights = folder / "backbone.json", folder / "backbone.pt"
    if not meta_path.is_file() or not weights.is_file():
        raise HumeSSLError(f"ssl:{path}: no backbone.json + backbone.pt in {folder}; pass the "
                           "--out folder of a finished `hume-ssl pretrain` run.")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as e:
        raise HumeSSLError(f"{meta_path} is not valid JSON ({e}).") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HumeSSLError(f"{meta_path} is not a hume-ssl pretrain backbone ({FORMAT}).")
    return meta, weights
