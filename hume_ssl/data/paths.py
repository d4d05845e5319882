"""Datasets named by a path, `imagefolder:PATH` and `npz:PATH`: which file or folder holds each
split (a `{split}` placeholder, or train/ and test/ sub-folders; else the path is the train
split), and one class list for every split of an image folder."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.folder import folder_layout, load_folder
from hume_ssl.data.image_dataset import ImageDataset
from hume_ssl.data.npz import load_npz


def has_splits(path: str, is_dir: bool) -> bool:
    """Whether `path` names per-split files or folders: a `{split}` placeholder, or a folder
    with a train/ sub-folder."""
    return "{split}" in path or (is_dir and (Path(path).expanduser() / "train").is_dir())


def split_path(path: str, split: str) -> Path:
    """The file or folder of one split of a path that has splits (see `has_splits`)."""
    if "{split}" in path:
        return Path(path.replace("{split}", split)).expanduser()
    return Path(path).expanduser() / split


def split_paths(name: str, path: str, split: str, is_dir: bool) -> list[tuple[str, Path]]:
    """`{split}` in the path is replaced by the split; a folder with train/ and test/ sub-folders
    is split by them; otherwise the path is the one split, loaded as `train`."""
    if has_splits(path, is_dir):
        return [(s, split_path(path, s)) for s in split.split("+")]
    p = Path(path).expanduser()
    if split != "train":
        if not p.exists():  # (for train, the loader says what it expected)
            raise HumeSSLError(f"{name}: {'folder' if is_dir else 'file'} not found: {p}.")
        raise HumeSSLError(f"{name}: {p} is a single split, 'train', not {split!r}: pass "
                           "--split train (Python: split='train'), or put a "
                           "{split} placeholder in the path (e.g. npz:/x/data_{split}.npz) or "
                           "train/ and test/ sub-folders in it.")
    return [("train", p)]


def shared_classes(path: str) -> Optional[list[str]]:
    """The class names of an image folder with splits: the sorted union of the train and test
    folders' class folders, so that a class name has one id in every split (test/ lacking a
    class does not shift the ids after it). None for a single folder, or no class folders."""
    if not has_splits(path, is_dir=True):
        return None
    per_split: dict[str, set[str]] = {}
    for s in ("train", "test"):
        d = split_path(path, s)
        if d.is_dir():
            per_split[s] = {p.name for p in folder_layout(d)[0] or []}
    names = set().union(*per_split.values())
    only_test = sorted(names - per_split.get("train", names))
    if only_test:  # k from the class list counts them, though train holds none of them
        warnings.warn(f"{path}: class folders only in test/: {', '.join(only_test)}; they count "
                      "among the classes (pass --k to leave them out).", stacklevel=2)
    return sorted(names) or None


def load_path(name: str, split: str, root: Path, strict: bool) -> list[ImageDataset]:
    """`imagefolder:PATH` and `npz:PATH` (PATH absolute): the file or folder of each split."""
    kind, _, path = name.partition(":")
    parts = split_paths(name, path, split, is_dir=kind == "imagefolder")
    if kind == "imagefolder":
        classes = shared_classes(path)  # (k,) names: one id per name in every split
        return [load_folder(p, name, s, strict, classes) for s, p in parts]
    return [load_npz(p, name, s) for s, p in parts]
