"""What each command reads and writes (files, folders, the dataset) besides its config: one
dataclass per command, each field with its default and help (hume_ssl.core.params.setting).
The settings of the work itself live in the stage configs (HumeConfig, SeedConfig,
FixMatchConfig, PretrainConfig); hume_ssl.cli.options builds the options from both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from hume_ssl.core.device import DEVICE_HELP
from hume_ssl.core.params import setting
from hume_ssl.data.datasets import dataset_names
from hume_ssl.data.images import IMAGE_SIZE_BOUNDS
from hume_ssl.features.extract import BATCH_SIZE, LOADER_BOUNDS, MAX_WORKERS
from hume_ssl.fixmatch.predict import PREDICT_BATCH, PREDICT_BATCH_BOUNDS
from hume_ssl.models.backbones import BACKBONE_HELP, DEFAULT_BACKBONES
from hume_ssl.seeds.choose_k import K_RANGE, MAX_RESTARTS

DATA_ROOT = ("Where datasets live / download to (default $HUME_SSL_DATA, else "
             "~/.cache/hume-ssl/data).")
STRICT = "Fail on an unreadable image file instead of skipping it."
IMAGE_SIZE = ("Resize (shorter side) + center-crop every image to this size first; needed when "
              "images are not all square of one size.")
CACHE_DIR = "Feature cache folder (default $HUME_SSL_CACHE, else ~/.cache/hume-ssl)."
DATASET = (f"Dataset: a registry name ({', '.join(n for n in dataset_names() if ':' not in n)}), "
           "imagefolder:PATH or npz:PATH ({split} in PATH is replaced by the split).")

SPLITS = "train, test or train+test (train rows first)"  # what every --split takes

@dataclass
class LabelInputs:
    phi1: Path = setting(..., "Space-1 features (N x d1 .npy): the task encoder's space.")
    phi2: Path = setting(..., "Space-2 features (N x d2 .npy): the linear model's space.")
    out: Path = setting(..., "Run folder (created; re-running resumes from it).")
    labels: Optional[Path] = setting(None, "True labels (N ints .npy), for metrics only.")
    phi1_test: Optional[Path] = setting(None, "Space-1 features of held-out samples.")
    phi2_test: Optional[Path] = setting(None, "Space-2 features of held-out samples.")
    labels_test: Optional[Path] = setting(None, "True labels of the test rows (metrics).")
    transductive: bool = setting(False, "Fit on train+test rows (default: fit on train rows, "
                                 "then label test rows with the learned encoders).")


@dataclass
class FeatureInputs:
    """`features`, and the extraction options of `seed`."""

    dataset: Optional[str] = setting(..., DATASET, argument=True)
    backbone: str = setting("dinov2_vitb14", BACKBONE_HELP)
    weights: Optional[Path] = setting(None, "Local weights file (.pth/.safetensors) instead of "
                                      "the pretrained download.")
    split: str = setting("train", SPLITS + ".")
    data_root: Optional[Path] = setting(None, DATA_ROOT)
    cache_dir: Optional[Path] = setting(None, CACHE_DIR)
    device: str = setting("auto", DEVICE_HELP)
    num_workers: Optional[int] = setting(None, "DataLoader worker processes that decode and "
                                         "resize images (default: up to "
                                         f"{MAX_WORKERS['cuda']} on GPU; on CPU half the cores, "
                                         f"1 to {MAX_WORKERS['cpu']}).",
                                         bounds=LOADER_BOUNDS["num_workers"])
    batch_size: Optional[int] = setting(None, "Images per forward pass (default "
                                        f"{BATCH_SIZE['cuda']} on GPU, {BATCH_SIZE['cpu']} on "
                                        "CPU).", unit="images", bounds=LOADER_BOUNDS["batch_size"])
    input_size: Optional[int] = setting(None, "Override the crop size, keeping the crop "
                                        "fraction (default: the backbone's own; pixels:SIZE "
                                        "keeps its SIZE; a ViT's: a multiple of its patch).",
                                        unit="pixels", bounds=LOADER_BOUNDS["input_size"])
    random_init: bool = setting(False, "Random weights (seed 0), for tests and baselines.")
    strict: bool = setting(False, STRICT)
    force: bool = setting(False, "Extract again even when the cache holds these features.",
                          flags=("--force",))

    def extract_kw(self) -> dict:
        """The keywords `seed` passes on to extract_features."""
        return {"cache_dir": self.cache_dir, "device": self.device,
                "num_workers": self.num_workers, "batch_size": self.batch_size,
                "data_root": self.data_root, "input_size": self.input_size,
                "strict": self.strict}


@dataclass
class SeedInputs:
    dataset: Optional[str] = setting(None, "Dataset (cifar10, imagefolder:PATH, npz:PATH, ...); "
                                     "optional with --phi1/--phi2.", argument=True)
    backbones: str = setting(",".join(DEFAULT_BACKBONES), "A,B: space 1 (task encoder), space "
                             "2 (linear model, kNN); NAME@FILE: local weights.")
    phi1: Optional[Path] = setting(None, "Space-1 features file instead of a backbone.")
    phi2: Optional[Path] = setting(None, "Space-2 features file instead of a backbone.")
    labels: Optional[Path] = setting(None, "Ground truth (N ints .npy), report only.")
    k: Optional[str] = setting(None, "Number of classes, a whole number, at least 2, below N "
                               "(default: the dataset's), or 'auto' to "
                               "pick it: one HUME fit of --restarts (at least 2; at "
                               f"most {MAX_RESTARTS} are used) per k of --k-range, the k "
                               "whose restarts agree most (mean pairwise ARI); check its "
                               "table.")
    k_range: Optional[str] = setting(None, "Range of k tried by --k auto (inclusive), LO-HI "
                                     f"[default: {K_RANGE}]; cut at N - 1 (N: the samples).")
    out: Path = setting(Path("runs/seed"), "Run folder: hume/ and seeds/ go in it (re-running "
                        "resumes).")


@dataclass
class FixMatchInputs:
    out: Path = setting(..., "Run folder (config.json, metrics.csv, checkpoint.pt, model.pt, "
                        "model.json).")
    seeds: Optional[Path] = setting(None, "Seeds folder (indices.npy, pseudo_labels.npy, "
                                    "seeds.json) from the seeds stage.")
    indices: Optional[Path] = setting(None, "Seed indices (.npy), or a CSV of `index,label` rows "
                                      "(instead of --seeds); an exported CSV is checked against "
                                      "the images by its seeds_origin.json.")
    seed_labels: Optional[Path] = setting(None, "Training labels of the seeds (.npy, ints "
                                          "0..k-1) for --indices FILE.npy.",
                                          deprecated=("--labels",))
    dataset: Optional[str] = setting(None, "The images the seeds index (a registry name, "
                                     "imagefolder:PATH or npz:PATH): needed with --indices and "
                                     "for seeds of feature files; with a seeds folder, only its "
                                     "own images under another name (their order fingerprint "
                                     "must match).")
    data_root: Optional[Path] = setting(None, DATA_ROOT)
    image_size: Optional[int] = setting(None, IMAGE_SIZE + " predict applies it too.",
                                        unit="pixels", bounds=IMAGE_SIZE_BOUNDS)
    k: Optional[int] = setting(None, "Classes the model outputs, for --indices seeds (default: "
                               "the dataset's classes; a seeds folder's seeds.json gives it).",
                               bounds="[2, inf)")
    resume: bool = setting(False, "Continue the run in --out from its checkpoint.",
                           flags=("--resume/--no-resume",))


@dataclass
class PretrainInputs:
    dataset: str = setting(..., "Dataset name (registry name, imagefolder:PATH or "
                           "npz:/path/name_{split}.npz).", argument=True)
    out: Path = setting(..., "Run folder: checkpoint, metrics, backbone.pt/.json.")
    split: str = setting("train", f"Split to learn from: {SPLITS} (labels are never used; the "
                         "kNN monitor runs only when the test split is not learned from).")
    image_size: Optional[int] = setting(None, IMAGE_SIZE, unit="pixels", bounds=IMAGE_SIZE_BOUNDS)
    data_root: Optional[Path] = setting(None, DATA_ROOT)
    resume: bool = setting(False, "Continue the run in --out from its checkpoint.",
                           flags=("--resume/--no-resume",))
    strict: bool = setting(False, STRICT)


@dataclass
class PredictInputs:
    dataset: str = setting(..., DATASET, argument=True)
    model: Path = setting(..., "Run folder of train-fixmatch (model.pt + model.json).")
    split: str = setting("test", f"Split to label: {SPLITS}.")
    out: Optional[Path] = setting(None, "Output folder (default: MODEL/predictions_SPLIT).")
    device: str = setting("auto", DEVICE_HELP)
    batch_size: int = setting(PREDICT_BATCH, "Images per forward pass.", unit="images",
                              bounds=PREDICT_BATCH_BOUNDS)
    data_root: Optional[Path] = setting(None, DATA_ROOT)


@dataclass
class ExportInputs:
    seeds: Path = setting(..., "A seeds folder (seeds.json) or an edited index,label CSV.",
                          argument=True)
    format: str = setting(..., "usb (train_usb.py: USB on the pseudo-labels) | torchssl "
                          "(indices; TorchSSL takes ground truth at them) | csv",
                          flags=("--format",))
    out: Optional[Path] = setting(None, "Output folder (default: SEEDS/export-FORMAT; for a "
                                               "CSV, export-FORMAT beside it).")
    dataset: Optional[str] = setting(None, "Dataset of a CSV's indices (an exported CSV's "
                                     "seeds_origin.json names it), or of a seeds folder whose "
                                     "seeds.json names none (seeds of feature files); --format "
                                     "csv needs none.")
    data_root: Optional[Path] = setting(None, DATA_ROOT)


@dataclass
class DemoInputs:
    out: Path = setting(Path("hume-ssl-demo"), "Folder for every output of the demo (the feature "
                        "cache too); a re-run reuses the finished steps.")
    quick: bool = setting(False, "Tiny budgets (about 20 s in all on a CPU): checks that every "
                          "step runs; its figures mean nothing.")
    # device and seed_rule: DemoSettings' defaults, written here so that the command line's
    # start does not load the demo's pipeline (tests/demo/test_demo.py keeps them equal)
    device: str = setting("auto", DEVICE_HELP)
    seed_rule: str = setting("hume", "The seed rule the demo runs: hume (its "
                             "default: chosen on the digits' labels: docs/demo_evidence.md) or "
                             "consensus (seed's default).")
