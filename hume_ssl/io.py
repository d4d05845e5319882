"""Reading inputs safely and writing outputs atomically.

Every artifact is written to a temporary file in the target folder and renamed into place, so a
run that dies never leaves a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from hume_ssl.errors import HumeSSLError


@contextmanager
def _atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yields a temp file beside `path`; on success it is fsynced and renamed onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with _atomic_file(path) as f:
        f.write(data)
    return Path(path)


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    with _atomic_file(path) as f:
        np.save(f, np.asarray(array))
    return Path(path)


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    with _atomic_file(path) as f:
        np.savez(f, **arrays)
    return Path(path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n"
    return atomic_write_bytes(path, text.encode())


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise HumeSSLError(f"{path}: file not found.") from e
    except (OSError, ValueError) as e:
        raise HumeSSLError(f"{path}: cannot read JSON ({e}); delete it and re-run.") from e


def array_hash(*arrays: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of the arrays' shapes, dtypes and bytes, row order included."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        # hash in 64 MiB slices so memory-mapped inputs are never loaded whole
        flat = a.reshape(-1).view(np.uint8) if a.size else np.zeros(0, np.uint8)
        step = 64 << 20
        for i in range(0, flat.size, step):
            h.update(flat[i : i + step].tobytes())
    return h.hexdigest()[:16]


def load_array(path: str | os.PathLike, what: str = "array") -> np.ndarray:
    """Load a .npy (memory-mapped) or .npz (single array) file with a clear error."""
    path = Path(path)
    if not path.exists():
        raise HumeSSLError(f"{what} file not found: {path}. Check the path, or create it first.")
    if path.is_dir():
        raise HumeSSLError(f"{what} path is a folder, expected a .npy file: {path}.")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if len(z.files) != 1:
                    raise HumeSSLError(
                        f"{path} holds {len(z.files)} arrays ({', '.join(z.files)}); save the "
                        f"{what} alone as .npy."
                    )
                return np.asarray(z[z.files[0]])
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except HumeSSLError:
        raise
    except Exception as e:  # truncated file, wrong format, permissions
        raise HumeSSLError(
            f"cannot read {what} file {path}: {e}. Expected a NumPy .npy file (np.save)."
        ) from e


def check_features(x: np.ndarray, name: str) -> np.ndarray:
    """Validate a feature matrix (N, d): 2-D, numeric, finite. Returns float32, C-contiguous."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise HumeSSLError(
            f"{name} must be a 2-D matrix (N samples, d features); got shape {x.shape}."
        )
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise HumeSSLError(f"{name} has shape {x.shape}; need at least 2 samples and 1 feature.")
    if not np.issubdtype(x.dtype, np.number):
        raise HumeSSLError(f"{name} has dtype {x.dtype}; expected numbers.")
    x = np.ascontiguousarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise HumeSSLError(
            f"{name} has NaN or inf in {rows.size} rows (first: {rows[:5].tolist()}); "
            "re-extract those features or drop those samples from every input."
        )
    return x


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create `path` if needed and check a file can be written there; clear error otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise HumeSSLError(
            f"output folder {path} is not writable ({e.strerror or e}); choose another --out."
        ) from e
    return path
