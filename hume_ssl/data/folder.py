"""`imagefolder:PATH` datasets: a folder of images, flat (unlabeled) or one sub-folder per class.
Files are listed once (sorted paths are the sample ids), checked by their header, and decoded
when read; hidden files and folders (.*, __MACOSX) are passed over."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.identity import content_digest, files_digest
from hume_ssl.data.image_dataset import ImageDataset
from hume_ssl.data.rgb import to_rgb_uint8

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                    ".gif")


def _hidden(name: str) -> bool:
    """Names an image folder passes over everywhere: dot-files and -folders, macOS's __MACOSX."""
    return name.startswith(".") or name == "__MACOSX"


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS


def _walk(d: Path) -> Iterator[Path]:
    """The files below `d`, hidden paths passed over, in no set order."""
    return (p for p in d.rglob("*") if p.is_file() and
            not any(_hidden(part) for part in p.relative_to(d).parts))


def _files_under(d: Path) -> list[Path]:
    return sorted(_walk(d))


def _holds_image(d: Path) -> bool:
    return any(_is_image(p) for p in _walk(d))  # stops at the first image


def folder_layout(root: Path) -> tuple[Optional[list[Path]], list[str]]:
    """(the class folders of `root`: its sub-folders holding an image file, sorted; or None for
    a flat, unlabeled folder, the names of the sub-folders passed over as holding no image).
    Hidden folders (.*, __MACOSX) are not classes. Raises on images beside class folders, and
    on a folder that only wraps the class folders one level down."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p.name))
    class_dirs = [d for d in subdirs if _holds_image(d)]
    if not class_dirs:
        return None, []
    empty = [d.name for d in subdirs if d not in class_dirs]
    stray = sorted(p.name for p in root.iterdir()
                   if p.is_file() and _is_image(p) and not _hidden(p.name))
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise HumeSSLError(f"{root}: {len(stray)} image file(s) beside the class folders "
                           f"({shown}); move them into a class folder or remove them (a folder "
                           "is either class sub-folders only, or flat and unlabeled).")
    if len(class_dirs) == 1:
        _check_not_a_wrapper(root, class_dirs[0])
    return class_dirs, empty


def _check_not_a_wrapper(root: Path, inner: Path) -> None:
    """One class folder whose images all sit in its own sub-folders: `root` wraps the class
    folders (wrap/images/<classes>/), which would read as a single class."""
    if any(_is_image(p) for p in inner.iterdir() if p.is_file() and not _hidden(p.name)):
        return
    nested = [d.name for d in sorted(inner.iterdir()) if d.is_dir() and not _hidden(d.name)]
    raise HumeSSLError(f"{root} holds one folder, {inner.name}/, whose sub-folders "
                       f"({', '.join(nested[:5])}{' ...' if len(nested) > 5 else ''}) look like "
                       f"the class folders: pass imagefolder:{inner} instead.")


def _list_folder(root: Path, strict: bool, classes: Optional[list[str]] = None
                 ) -> tuple[list[Path], list[Optional[int]], Optional[list[str]], dict,
                            Optional[tuple[int, int]]]:
    """(files, their class ids, class names, counts of files passed over, the (H, W) every
    image has or None): readable images only, each checked by its header. `classes`: the names
    that give the ids (every split's class folders), else this folder's own class folders."""
    class_dirs, empty = folder_layout(root)
    if class_dirs is None:
        groups = [(None, _files_under(root))]
    else:
        classes = classes or [d.name for d in class_dirs]
        groups = [(classes.index(d.name), _files_under(d)) for d in class_dirs]
    if empty:
        warnings.warn(f"{root}: sub-folders with no image file are not classes: "
                      f"{', '.join(empty)} (dataset info['empty_folders']).", stacklevel=2)
    files, labels, skipped, ignored, sizes = [], [], [], 0, set()
    for c, paths in groups:
        for p in paths:
            if not _is_image(p):
                ignored += 1
                continue
            try:  # header only: cheap, catches non-images and empty files
                with Image.open(p) as im:
                    sizes.add(im.size[::-1])  # (H, W)
            except (UnidentifiedImageError, OSError, ValueError,
                    Image.DecompressionBombError) as e:  # the bomb: more pixels than PIL opens
                if strict:
                    raise HumeSSLError(f"unreadable image {p}: {e}. Remove or fix it, or drop "
                                       "--strict to skip unreadable files.") from e
                skipped.append(str(p.relative_to(root)))
                continue
            files.append(p)
            labels.append(c)
    counts = {"skipped_unreadable": skipped, "ignored_non_image": ignored, "empty_folders": empty}
    return (files, labels, classes if class_dirs else None, counts,
            sizes.pop() if len(sizes) == 1 else None)


def load_folder(root: Path, name: str, split: str, strict: bool,
                 classes: Optional[list[str]] = None) -> ImageDataset:
    if root.is_file():
        raise HumeSSLError(f"{name}: {root} is a file, not a folder; give the folder that holds "
                           "the images (an .npz file is read as npz:PATH).")
    if not root.is_dir():
        raise HumeSSLError(f"{name}: folder not found: {root}.")
    files, labels, classes, counts, size = _list_folder(root, strict, classes)
    if not files:
        raise HumeSSLError(f"{name}: no readable images in {root} (extensions "
                           f"{', '.join(IMAGE_EXTENSIONS)}; {counts['ignored_non_image']} other "
                           f"files, {len(counts['skipped_unreadable'])} unreadable).")
    ids = [str(p.relative_to(root)) for p in files]

    def get(i: int) -> np.ndarray:
        try:
            with Image.open(files[i]) as im:
                return to_rgb_uint8(im)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise HumeSSLError(f"cannot decode {files[i]}: {e}. Remove or fix the file "
                               "(sample ids are fixed once listed) and re-run.") from e

    y = np.array(labels, np.int64) if classes else None
    return ImageDataset(name, split, len(files), get, labels=y,
                        class_names=classes, sample_ids=ids, image_size=size,
                        content=lambda: content_digest(y, text=files_digest(files, ids)),
                        info={"path": str(root.resolve()), **counts,
                              "skipped": len(counts["skipped_unreadable"])})
