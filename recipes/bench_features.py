"""Feature-extraction speed: hume-ssl's pipeline vs a plain per-image PIL pipeline.

    python recipes/bench_features.py                       # CPU defaults: ~2-3 minutes
    python recipes/bench_features.py --device cuda --n 20000 --vit-n 20000

Both pipelines read the same shared CIFAR-10 JPEG copy (a shuffled subset), run the same frozen
model, and use the same number of DataLoader workers. hume-ssl decodes in workers, moves uint8
batches to the device and resizes/normalises there (bf16 autocast on GPU). The baseline is the
torchvision ImageFolder way: per-image PIL decode -> Resize -> CenterCrop -> ToTensor ->
Normalize in the workers, fp32 forward. Prints images/s and the ratio.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import SHARED_DATA, run_recipe
from PIL import Image

from hume_ssl.data.datasets import load_dataset
from hume_ssl.features.extract import extract_features, loader_sizes, resolve_device
from hume_ssl.models.backbones import load_backbone, resolve_backbone


class PilJpegDataset(torch.utils.data.Dataset):
    """The baseline: one PIL image at a time through torchvision transforms."""

    def __init__(self, path: Path, rows: np.ndarray, transform):
        z = np.load(path)
        self.data, self.off = z["jpeg_bytes"], z["offsets"]
        self.rows, self.transform = rows, transform

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, j):
        i = self.rows[j]
        img = Image.open(io.BytesIO(self.data[self.off[i]:self.off[i + 1]].tobytes()))
        return self.transform(img.convert("RGB"))


def baseline(path, rows, spec, weights, dev, batch_size, workers) -> float:
    from torchvision import transforms as T

    b = resolve_backbone(spec, weights)
    p = b.preprocessing
    interp = {"bilinear": T.InterpolationMode.BILINEAR,
              "bicubic": T.InterpolationMode.BICUBIC}[p.interpolation]
    tf = T.Compose([T.Resize(p.resize_size, interpolation=interp), T.CenterCrop(p.input_size),
                    T.ToTensor(), T.Normalize(p.mean, p.std)])
    model = load_backbone(b, device=dev)
    loader = torch.utils.data.DataLoader(PilJpegDataset(path, rows, tf), batch_size=batch_size,
                                         num_workers=workers)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for x in loader:
            model(x.to(dev)).cpu()
    return len(rows) / (time.perf_counter() - t0)


def ours(ds, spec, weights, dev, batch_size, workers) -> float:
    with tempfile.TemporaryDirectory() as cache:
        fs = extract_features(ds, ds.split, spec, weights, cache_dir=cache, device=str(dev),
                              batch_size=batch_size, num_workers=workers, progress=False)
        assert fs.features.shape[0] == len(ds)
        return float(fs.meta["images_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA,
                    help="folder with cifar10_train_jpeg.npz and squeezenet1_1_imagenet.pth "
                    "(../shared/data, or $HUME_SSL_SHARED)")
    ap.add_argument("--n", type=int, default=384, help="images for SqueezeNet")
    ap.add_argument("--vit-n", type=int, default=96, help="images for the ViT-B")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers, both "
                    "pipelines (default: `features`' own, by device and cores)")
    ap.add_argument("--batch-size", type=int, default=None, help="images per batch, both "
                    "pipelines (default: `features`' own, by device)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's "
                    "default, as `features` runs)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    bs, workers = loader_sizes(dev, a.batch_size, a.workers)
    path = a.data / "cifar10_train_jpeg.npz"
    full = load_dataset(f"npz:{path}", "train")
    rng = np.random.default_rng(0)
    weights = str(a.data / "squeezenet1_1_imagenet.pth")
    cases = [("squeezenet1_1 (pretrained file)", "torchvision:squeezenet1_1", weights, a.n),
             ("vit_base_patch16_224 (random init)", "timm:vit_base_patch16_224", "random",
              a.vit_n)]
    print(f"device {dev}, {workers} workers, batch {bs}, torch threads "
          f"{torch.get_num_threads()}")
    print(f"{'model':38s} {'N':>6s} {'hume-ssl img/s':>15s} {'PIL baseline':>13s} {'ratio':>6s}")
    for label, spec, w, n in cases:
        rows = np.sort(rng.choice(len(full), n, replace=False))
        ds = full.subset(rows)
        r_base = baseline(path, rows, spec, w, dev, bs, workers)
        r_ours = ours(ds, spec, w, dev, bs, workers)
        print(f"{label:38s} {n:6d} {r_ours:15.1f} {r_base:13.1f} {r_ours / r_base:6.2f}")


if __name__ == "__main__":
    run_recipe(main)
