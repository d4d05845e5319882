"""Benchmark FixMatch's data path and training speed.

  python recipes/bench_fixmatch.py throughput [--batch 64 --mu 7 --steps 50 --arch wrn28_2]
      training steps/s of train-fixmatch's own step (FixMatchTrainer.train_step: shipped
      defaults, EMA, lr schedule, loss) with its on-device batched augmentation, against the
      same trainer fed by a per-image PIL/torchvision DataLoader (2 workers); plus
      augmentation-only images/s. On CPU use a smaller batch (e.g. --batch 4 --mu 7 --steps 5).
  python recipes/bench_fixmatch.py cifar10 --seeds DIR --steps 4096 --out runs/bench_fm
      a fixed short budget on the shared CIFAR-10 (npz) from given seeds; prints test ACC.

Data: ../shared/data/cifar10_{train,test}_jpeg.npz (or $HUME_SSL_SHARED).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from common import SHARED_DATA, run_recipe

from hume_ssl.augment.pixels import normalize, to_float
from hume_ssl.augment.randaugment import strong_augment, weak_augment
from hume_ssl.data.images import load_split
from hume_ssl.fixmatch.config import FixMatchConfig
from hume_ssl.fixmatch.trainer import FixMatchTrainer

SEEDS_PER_CLASS, CLASSES = 4, 10  # the labeled images the trainer draws from (random labels)


def _dataset(n: int) -> np.ndarray:
    path = SHARED_DATA / "cifar10_train_jpeg.npz"
    if path.exists():
        return load_split(f"npz:{SHARED_DATA}/cifar10_{{split}}_jpeg.npz", "train").images[:n]
    print(f"({path} missing: random images)")
    return np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


class _PILSet(torch.utils.data.Dataset):
    """Per-image PIL pipeline: flip + reflect-pad crop (weak), + RandAugment(2) + cutout;
    returns (image (3, H, W) float in [0, 1], index)."""

    def __init__(self, images: np.ndarray, strong: bool, cfg: FixMatchConfig):
        import torchvision.transforms as T
        pad = round(cfg.translate * images.shape[1])
        weak = [T.RandomHorizontalFlip(), T.RandomCrop(images.shape[1], padding=pad,
                                                       padding_mode="reflect")]
        extra = [T.RandAugment(num_ops=cfg.randaugment_ops)] if strong else []
        area = cfg.cutout ** 2  # RandomErasing's scale: a share of the area, not the side
        post = [T.ToTensor()] + ([T.RandomErasing(p=1.0, scale=(area, area), ratio=(1, 1),
                                                  value=0.5)] if strong else [])
        self.images, self.tf = images, T.Compose(weak + extra + post)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image
        return self.tf(Image.fromarray(self.images[i])), i


class _PairSet(torch.utils.data.Dataset):
    def __init__(self, images, cfg):
        self.w, self.s = _PILSet(images, False, cfg), _PILSet(images, True, cfg)

    def __len__(self):
        return len(self.w)

    def __getitem__(self, i):
        return self.w[i][0], self.s[i][0], i


def _trainer(args, images: np.ndarray, out: str) -> FixMatchTrainer:
    """train-fixmatch's trainer at its shipped defaults, but --arch/--batch/--mu, on `images`
    with 4 random images per class labeled at random and every other image unlabeled (the seeds
    left out of the unlabeled pool, as train-fixmatch's include_seeds_in_unlabeled=False)."""
    cfg = FixMatchConfig(arch=args.arch, batch_size=args.batch, mu=args.mu,
                         steps=args.warmup + args.steps).resolve()
    rng = np.random.default_rng(0)
    lab = rng.choice(len(images), SEEDS_PER_CLASS * CLASSES, replace=False)
    unlabeled = np.setdiff1d(np.arange(len(images)), lab)  # (N - 40,)
    return FixMatchTrainer(cfg, images, lab, np.arange(len(lab)) % CLASSES, unlabeled,
                           CLASSES, out)


def _loader_batches(trainer: FixMatchTrainer, images: np.ndarray, draws: int):
    """A `_batch` for `trainer` that reads its batches from per-image PIL DataLoaders (2
    workers each, drawn with replacement as the trainer draws): (x, labels, unlabeled ids)."""
    cfg, dev, bl, bu = trainer.cfg, trainer.device, trainer.bl, trainer.bu
    lab_idx = trainer.lab_idx.cpu().numpy()

    def loader(ds, batch):
        sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=batch * draws)
        return iter(torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler,
                                                num_workers=2, drop_last=True))

    it_l = loader(_PILSet(images[lab_idx], False, cfg), bl)
    unl = trainer.unl_idx.cpu()  # (U,) the trainer's unlabeled pool
    it_u = loader(_PairSet(images[unl.numpy()], cfg), bu)

    def batch():
        xl, j = next(it_l)
        uw, us, ui = next(it_u)
        x = normalize(torch.cat([xl, uw, us]).to(dev, non_blocking=True), trainer.mean,
                      trainer.std)
        if trainer.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, trainer.lab_y[j.to(dev)], unl[ui].to(dev)  # ids of the whole set

    return batch


def _steps_per_s(trainer: FixMatchTrainer, warmup: int, steps: int) -> float:
    for i in range(warmup + steps):
        if i == warmup:
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        trainer.train_step()
    float(trainer.acc["loss_x"])  # wait for the device
    return steps / (time.perf_counter() - t0)


def throughput(args) -> None:
    images = _dataset(args.n)
    results = {}
    with tempfile.TemporaryDirectory() as out:
        ours = _trainer(args, images, out)
        results["train-fixmatch (on-device batched aug)"] = _steps_per_s(ours, args.warmup,
                                                                         args.steps)
        base = _trainer(args, images, out)
        base._batch = _loader_batches(base, images, args.warmup + args.steps + 1)
        results["same trainer, PIL/torchvision DataLoader (2 workers)"] = _steps_per_s(
            base, args.warmup, args.steps)
    cfg, dev, bu = ours.cfg, ours.device, ours.bu

    # augmentation alone, images/s (weak + strong of bu images)
    g = torch.Generator(device=dev).manual_seed(0)
    xu = to_float(torch.from_numpy(images[:bu].transpose(0, 3, 1, 2).copy()).to(dev))
    for _ in range(2):
        strong_augment(xu, g, cfg.randaugment_ops, cfg.cutout, cfg.translate)
        weak_augment(xu, g, cfg.translate)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        strong_augment(xu, g, cfg.randaugment_ops, cfg.cutout, cfg.translate)
        weak_augment(xu, g, cfg.translate)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    aug_ours = args.steps * bu / (time.perf_counter() - t0)
    ds = _PairSet(images, cfg)
    t0 = time.perf_counter()
    for i in range(min(args.steps * bu, 2000)):
        ds[i % len(ds)]
    aug_pil = min(args.steps * bu, 2000) / (time.perf_counter() - t0)

    print(f"device {dev}, arch {cfg.arch}, batch {ours.bl}+{2 * bu} (labeled + weak/strong "
          f"unlabeled), {args.steps} timed steps, torch threads {torch.get_num_threads()}")
    for k, v in results.items():
        print(f"  {k:52s} {v:8.3f} steps/s")
    names = list(results)
    ratio = results[names[0]] / results[names[1]]
    print(f"  {'ratio train-fixmatch / DataLoader':52s} {ratio:8.2f}x")
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
    run_recipe(main)
