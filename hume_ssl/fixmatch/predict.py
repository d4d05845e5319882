"""`hume-ssl predict`: label every image of a split with a model exported by train-fixmatch."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hume_ssl.core import distributed
from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    check_not_other_run,
    check_writable_dir,
    read_json,
)
from hume_ssl.core.metrics import ACCURACY_KIND, accuracy_interval, label_accuracy
from hume_ssl.core.params import check_value
from hume_ssl.data.datasets import same_dataset
from hume_ssl.data.images import load_split
from hume_ssl.models.classifier import (
    build_classifier,
    init_classifier,
    resolve_init,
    ssl_classifier,
)
from hume_ssl.train.evaluate import batched_forward
from hume_ssl.train.finite import all_finite
from hume_ssl.train.loop import say_warning

# A predict's files, its summary first: a predict removes an earlier one's files from its folder
# and writes the summary last, so a folder with predictions.json holds one finished predict.
PREDICTION_FILES = ("predictions.json", "labels.npy", "confidence.npy", "predictions.csv")


def _architecture(meta: dict) -> torch.nn.Module:
    """The exported model's network with random weights (model.pt is loaded into it): the
    init's backbone plus head when it came from a features backbone, else by its arch."""
    init = meta.get("init")
    if init and init.startswith("ssl:"):  # the pretrain run may be gone: its arch is in meta
        return ssl_classifier(meta["arch"], int(meta["k"]))
    if init:
        spec = resolve_init(init, meta.get("model_input_size"), check_weights=False)
        return init_classifier(spec, int(meta["k"]), random_weights=True)[0]
    return build_classifier(meta["arch"], int(meta["k"]), input_size=meta.get("model_input_size"))


def _model_folder(path: Path) -> Path:
    """The train-fixmatch run folder `--model` names (its model.pt is accepted too); a folder
    whose training has not finished (a checkpoint, no model.pt) says how to finish it."""
    if path.is_file():
        if path.name == "model.pt":
            return path.parent
        raise HumeSSLError(
            f"--model takes the run folder of train-fixmatch (holding model.pt and model.json), "
            f"not {path.name}; pass --model {path.parent}."
        )
    if not path.is_dir():
        raise HumeSSLError(f"--model {path} (Python: model_dir): folder not found; pass the --out "
                           "of train-fixmatch.")
    if (path / "backbone.json").exists() and not (path / "model.json").exists():
        raise HumeSSLError(
            f"{path} is a pretrain run (backbone.pt: an encoder, no classifier): train one on "
            f"your seeds with `hume-ssl train-fixmatch --seeds SEEDS --init ssl:{path} --out "
            "RUN`, then predict with --model RUN.")
    exported = (path / "model.pt").exists() and (path / "model.json").exists()
    if not exported and (path / "checkpoint.pt").exists():  # (model.json is written last)
        raise HumeSSLError(
            f"{path} holds a checkpoint but no model.json (written last): its training has not "
            "finished. If it was stopped, finish it with the same train-fixmatch command plus "
            f"--resume (--out {path}), then predict with it; if it diverged, a resume repeats "
            "the same steps: train anew with what its error suggested (a lower --lr)."
        )
    return path


PREDICT_BATCH, PREDICT_BATCH_BOUNDS = 1024, "[1, inf)"  # images per forward pass of `predict`


def predict_run(
    model_dir: str | Path,
    dataset: str,
    split: str = "test",
    out: Optional[str | Path] = None,
    device: str = "auto",
    batch_size: int = PREDICT_BATCH,
    data_root: Optional[str | Path] = None,
    callback=None,
) -> dict:
    """Label and confidence for every image of `dataset:split` with an exported model.
    `callback("predict", {"done": images, "total": N})` before the first batch (done 0) and
    after every batch (progress)."""
    distributed.one_process("predict", "one GPU labels a split in minutes")
    check_value("--batch-size", batch_size, PREDICT_BATCH_BOUNDS, whole=True)
    model_dir = _model_folder(Path(model_dir))
    meta = read_json(model_dir / "model.json")
    dev = resolve_device(device)
    model = _architecture(meta)
    try:
        state = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # torch's own text advises weights_only=False: unsafe, not ours
        raise HumeSSLError(
            f"cannot load {model_dir / 'model.pt'} ({type(e).__name__}: not a state dict of "
            f"this model's {meta.get('arch')} network: damaged, or from another run); re-export "
            "it with train-fixmatch (a new --out).") from None
    if not all_finite(state.values()):
        raise HumeSSLError(
            f"{model_dir / 'model.pt'} holds NaN or inf weights: the training diverged, and "
            "its labels would be meaningless; train again with a lower --lr."
        )
    out = Path(out) if out else model_dir / f"predictions_{split}"
    check_not_other_run(out, None, "predict's folder")  # (its labels.npy: HUME's replaced)
    check_writable_dir(out, create=False)  # before the work (before: after it)
    model.to(dev)
    data = load_split(dataset, split, data_root, meta.get("image_size"))  # as in training
    if data.skipped:  # no row for them: the rows are the readable files, listed in order
        say_warning(callback, f"{data.skipped} unreadable image files of {dataset}:{split} "
                    "skipped: they have no row (predictions.json skipped_unreadable).")
    size = meta.get("model_input_size")  # resized on the device (an --init backbone's size)
    if not size and list(data.images.shape[1:3]) != list(meta["input_size"]):
        raise HumeSSLError(
            f"{dataset}:{split} images are {data.images.shape[1:3]} px but the model "
            f"expects {meta['input_size']}; resize the images first."
        )
    norm = meta["normalization"]
    n = len(data.images)
    if callback:  # the display starts its clock now, not after the first batch
        callback("predict", {"done": 0, "total": n})
    logits = predict_logits(
        model, data.images, torch.tensor(norm["mean"]), torch.tensor(norm["std"]), dev,
        batch_size, input_size=size,
        progress=callback and (lambda done: callback("predict", {"done": done, "total": n})),
    )
    probs = torch.softmax(logits, 1)
    conf, lab = (t.cpu().numpy() for t in probs.max(1))
    check_writable_dir(out)
    earlier = out / "predictions.json"
    if earlier.is_file():  # the default folder is the same for any data of this split
        try:
            before = read_json(earlier)
        except (HumeSSLError, OSError, ValueError):  # damaged: replaced all the same
            before = {}
        if before.get("split") != split or not same_dataset(before.get("dataset"), dataset):
            say_warning(callback, f"{out} held the predictions of {before.get('dataset')}:"
                        f"{before.get('split')} ({before.get('n')} images); they are replaced.")
    for name in PREDICTION_FILES:  # an earlier predict's: its summary goes first, and a run
        (out / name).unlink(missing_ok=True)  # killed below leaves no summary of mixed files
    atomic_save_npy(out / "labels.npy", lab.astype(np.int64))
    atomic_save_npy(out / "confidence.npy", conf.astype(np.float32))
    atomic_write_bytes(out / "predictions.csv",
                       predictions_csv(lab, conf, meta.get("class_names"), data.sample_ids))
    # models exported before label_ids_are_classes: the words of label_ids say the same
    aligned = bool(meta.get("label_ids_are_classes", meta["label_ids"].startswith("ground")))
    summary = {"out": str(out.resolve()), "n": int(len(lab)), "dataset": dataset,
               "split": split, "model": str(model_dir.resolve()),
               "label_ids_are_classes": aligned,  # else cluster ids: the seeds' pseudo-labels
               "skipped_unreadable": data.skipped}
    if data.labels is not None:
        truth = data.labels  # (N,) the data's class ids
        if aligned:  # the model's ids are its classes: compare by name where names differ
            truth, unknown = truth_in_model_ids(truth, data.classes, meta.get("class_names"))
            if unknown is not None:
                summary["classes_matched_by_name"] = True
                summary["classes_not_in_model"] = unknown  # their images count as wrong
        summary["acc_kind"] = ACCURACY_KIND[aligned]
        summary["acc"] = label_accuracy(lab, truth, aligned)
        # how far the figure goes: (before: said like a test accuracy in both cases)
        trained = set(str(meta.get("split", "")).split("+"))  # train+test: both parts
        summary["acc_on_training_images"] = bool(
            same_dataset(meta.get("dataset"), dataset) and trained & set(split.split("+")))
        summary["acc_interval"] = (None if summary["acc_on_training_images"] else  # nothing new
                                   accuracy_interval(summary["acc"], len(truth)))
        classes = len(np.unique(truth[truth >= 0]))
        if classes > int(meta["k"]):
            other = ("" if same_dataset(meta.get("dataset"), dataset)
                     else f" (the model was trained on {meta.get('dataset')})")
            say_warning(callback, f"the model has {meta['k']} classes, {dataset}:{split} "
                        f"{classes}: images of the other {classes - int(meta['k'])} classes "
                        f"cannot be labeled right{other}.")
    atomic_write_json(out / "predictions.json", summary)  # last: the folder is complete
    return summary


def truth_in_model_ids(truth: np.ndarray, classes: Optional[list[str]],
                       model_classes: Optional[list[str]]) -> tuple[np.ndarray, Optional[list]]:
    """The data's class ids (N,) as the model's class ids, matched by name when both name their
    classes and the names or their order differ (an image folder lists its classes in another
    order than the npz the model was trained on): (ids, the data's class names the model does
    not know, whose images get -1: never right), or (truth, None) when nothing needs matching."""
    if not classes or not model_classes or list(classes) == list(model_classes):
        return truth, None
    index = {name: i for i, name in enumerate(model_classes)}
    mapped = np.array([index.get(name, -1) for name in classes], np.int64)  # data id -> model's
    return mapped[truth], [name for name in classes if name not in index]


def predictions_csv(lab: np.ndarray, conf: np.ndarray, class_names: Optional[list[str]],
                    sample_ids: Optional[list[str]]) -> bytes:
    """`index,label,confidence[,class_name][,sample_id]`: one row per image in the split's
    order; sample_id (an image folder's file path, an npz's name) traces a row to its image.
    Quoted where a name holds a comma."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "label", "confidence", *(["class_name"] if class_names else []),
                *(["sample_id"] if sample_ids else [])])
    for i, (a, c) in enumerate(zip(lab, conf)):
        w.writerow([i, int(a), f"{c:.6f}", *([class_names[a]] if class_names else []),
                    *([sample_ids[i]] if sample_ids else [])])
    return buf.getvalue().encode()


def predict_logits(
    model: torch.nn.Module,
    images: np.ndarray,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
    batch_size: int = 1024,
    bf16: bool = True,
    input_size: Optional[int] = None,
    progress=None,
) -> torch.Tensor:
    """Logits (N, k) float32 on the device for (N,H,W,3) uint8 images, without augmentation
    (resized on the device to input_size x input_size when given); `progress(images done)`
    after every batch."""
    model.eval()
    return batched_forward(model, images, mean, std, device, batch_size, bf16,
                           input_size=input_size, progress=progress)
