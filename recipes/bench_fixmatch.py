"""Benchmark FixMatch's data path and training speed.

  python recipes/bench_fixmatch.py throughput [--batch 64 --mu 7 --steps 50 --arch wrn28_2]
      training steps/s with our on-device batched augmentation vs a per-image PIL/torchvision
      DataLoader (2 workers) feeding the same model and loss, plus augmentation-only images/s.
      On CPU use a smaller batch (e.g. --batch 4 --mu 7 --steps 5).
  python recipes/bench_fixmatch.py cifar10 --seeds DIR --steps 4096 --out runs/bench_fm
      a fixed short budget on the shared CIFAR-10 (npz) from given seeds; prints test ACC.

Data: ../shared/data/cifar10_{train,test}_jpeg.npz (or HUME_SSL_DATA).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from hume_ssl.augment.pixels import normalize, to_float
from hume_ssl.augment.randaugment import strong_augment, weak_augment
from hume_ssl.data.images import channel_stats, load_split
from hume_ssl.fixmatch.config import FixMatchConfig
from hume_ssl.fixmatch.loss import fixmatch_loss
from hume_ssl.fixmatch.recipes import param_groups
from hume_ssl.models.wrn import build_model

DATA = Path(os.environ.get("HUME_SSL_DATA",
                          Path(__file__).resolve().parents[2] / "shared" / "data"))


def _dataset(n: int) -> np.ndarray:
    path = DATA / "cifar10_train_jpeg.npz"
    if path.exists():
        return load_split(f"npz:{DATA}/cifar10_{{split}}_jpeg.npz", "train").images[:n]
    print(f"({path} missing: random images)")
    return np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


class _PILSet(torch.utils.data.Dataset):
    """Per-image PIL pipeline: flip + reflect-pad crop (weak), + RandAugment(2) + cutout."""

    def __init__(self, images: np.ndarray, strong: bool):
        import torchvision.transforms as T
        weak = [T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4, padding_mode="reflect")]
        extra = [T.RandAugment(num_ops=2)] if strong else []
        post = [T.ToTensor()] + ([T.RandomErasing(p=1.0, scale=(0.25, 0.25), ratio=(1, 1),
                                                  value=0.5)] if strong else [])
        self.images, self.tf = images, T.Compose(weak + extra + post)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image
        img = Image.fromarray(self.images[i])
        return self.tf(img)


class _PairSet(torch.utils.data.Dataset):
    def __init__(self, images):
        self.w, self.s = _PILSet(images, False), _PILSet(images, True)

    def __len__(self):
        return len(self.w)

    def __getitem__(self, i):
        return self.w[i], self.s[i]


def _train_step(model, opt, x, bl, bu, y):
    logits = model(x)
    out = fixmatch_loss(logits[:bl], y, logits[bl:bl + bu], logits[bl + bu:], 0.95, 1.0)
    opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    opt.step()
    return out["loss"]


def throughput(args) -> None:
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    images = _dataset(args.n)
    mean, std = (torch.tensor(v, dtype=torch.float32, device=dev) for v in channel_stats(images))
    bl, bu = args.batch, args.batch * args.mu
    y = torch.randint(0, 10, (bl,), device=dev)
    amp = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")
    cl = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    results = {}

    def run(name, next_batch):
        torch.manual_seed(0)
        model = build_model(args.arch, 10).to(dev).to(memory_format=cl)
        opt = torch.optim.SGD(param_groups(model, 5e-4), lr=0.03, momentum=0.9, nesterov=True)
        for i in range(args.warmup + args.steps):
            if i == args.warmup:
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            x = next_batch().contiguous(memory_format=cl)
            with torch.autocast(**amp):
                loss = _train_step(model, opt, x, bl, bu, y)
        loss.item()
        results[name] = args.steps / (time.perf_counter() - t0)

    data = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).to(dev)
    g = torch.Generator(device=dev).manual_seed(0)

    def ours():
        li = torch.randint(0, len(data), (bl,), generator=g, device=dev)
        ui = torch.randint(0, len(data), (bu,), generator=g, device=dev)
        xu = to_float(data[ui])
        x = torch.cat([weak_augment(to_float(data[li]), g), weak_augment(xu, g),
                       strong_augment(xu, g)])
        return normalize(x, mean, std)

    run("ours (on-device batched aug)", ours)

    lab = torch.utils.data.DataLoader(_PILSet(images, False), batch_size=bl, shuffle=True,
                                      num_workers=2, drop_last=True, persistent_workers=True)
    unl = torch.utils.data.DataLoader(_PairSet(images), batch_size=bu, shuffle=True,
                                      num_workers=2, drop_last=True, persistent_workers=True)
    it_l, it_u = iter(lab), iter(unl)

    def loader():
        nonlocal it_l, it_u
        try:
            xl = next(it_l)
        except StopIteration:
            it_l = iter(lab)
            xl = next(it_l)
        try:
            uw, us = next(it_u)
        except StopIteration:
            it_u = iter(unl)
            uw, us = next(it_u)
        x = torch.cat([xl, uw, us]).to(dev, non_blocking=True)
        return normalize(x, mean, std)

    run("PIL/torchvision DataLoader (2 workers)", loader)

    # augmentation alone, images/s (weak + strong of bu images)
    xu = to_float(data[:bu])
    for _ in range(2):
        strong_augment(weak_augment(xu, g), g)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        strong_augment(xu, g)
        weak_augment(xu, g)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    aug_ours = args.steps * bu / (time.perf_counter() - t0)
    ds = _PairSet(images)
    t0 = time.perf_counter()
    for i in range(min(args.steps * bu, 2000)):
        ds[i % len(ds)]
    aug_pil = min(args.steps * bu, 2000) / (time.perf_counter() - t0)

    print(f"device {dev}, arch {args.arch}, batch {bl}+{2 * bu} (labeled + weak/strong "
          f"unlabeled), {args.steps} timed steps, torch threads {torch.get_num_threads()}")
    for k, v in results.items():
        print(f"  {k:42s} {v:8.3f} steps/s")
    names = list(results)
    ratio = results[names[0]] / results[names[1]]
    print(f"  {'ratio ours / DataLoader':42s} {ratio:8.2f}x")
    print(f"  augmentation only, weak+strong pairs/s: ours {aug_ours:,.0f} (one process), "
          f"PIL {aug_pil:,.0f} (one process)")


def cifar10(args) -> None:
    from hume_ssl.fixmatch.run import train_fixmatch_run
    cfg = FixMatchConfig(steps=args.steps, arch=args.arch, batch_size=args.batch, mu=args.mu,
                         eval_every=max(args.steps // 10, 1), log_every=64)
    t0 = time.perf_counter()
    res = train_fixmatch_run(args.out, cfg, seeds=args.seeds)
    print(f"{res['steps']} steps in {time.perf_counter() - t0:.0f} s on {res['device']}: test "
          f"{res['test_acc_kind']} median(last {res['test_acc_median_of']}) "
          f"{res['test_acc_median']:.4f}, last {res['test_acc_last']:.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", choices=["throughput", "cifar10"])
    p.add_argument("--batch", type=int, default=64, help="labeled images per step")
    p.add_argument("--mu", type=int, default=7)
    p.add_argument("--steps", type=int, default=50, help="timed steps (throughput) / budget")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--arch", default="wrn28_2")
    p.add_argument("--n", type=int, default=5000, help="images loaded for throughput")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--seeds", help="seeds folder (cifar10 mode)")
    p.add_argument("--out", default="runs/bench_fixmatch")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    throughput(args) if args.mode == "throughput" else cifar10(args)


if __name__ == "__main__":
    main()
