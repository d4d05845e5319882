"""Reading inputs safely and writing outputs atomically.

Every artifact is written to a temporary file in the target folder and renamed into place, so a
run that dies never leaves a half-written file under its final name. Files get the permissions
the user's umask gives a new file. A full disk is a clear HumeSSLError, not a traceback. Every
JSON file the package writes goes through `atomic_write_json` (strict JSON: NaN and inf become
null).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import math
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class DiskFullError(HumeSSLError):
    """The disk filled up while writing `path` (the CLI adds what was kept and the command
    that continues)."""

    def __init__(self, message: str, path: str | os.PathLike):
        super().__init__(message)
        self.path = Path(path)


def disk_full_error(path: str | os.PathLike, e: OSError) -> HumeSSLError:
    return DiskFullError(
        f"no space left on the device while writing {path} ({e.strerror or e}). Free some space "
        "or choose another --out, then re-run the same command: finished work is kept and resumed.",
        path,
    )


def is_disk_full(e: BaseException) -> bool:
    """ENOSPC/EDQUOT, or numpy's short write without an errno ("N requested and M written")."""
    return isinstance(e, OSError) and (
        e.errno in NO_SPACE or (e.errno is None and " requested and " in str(e)
                                and str(e).rstrip().endswith(" written")))


_WRITING: set[str] = set()  # the temp files this process is writing now
STALE_S = 60  # a temp file untouched this long, of a dead writer, is a killed write's


@contextmanager
def _atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yields a temp file beside `path`; on success it is fsynced and renamed onto `path`. The
    temp file's name holds its writer (`.NAME.PID@HOST.XXXXXXXX.tmp`, HOST a hash of the host
    name), so that a later write of `path` removes those a killed process left
    (`_remove_dead_temps`)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_temps(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp",
                                   prefix=f".{path.name}.{os.getpid()}@{_host()}.")
        _WRITING.add(os.path.basename(tmp))
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: give what open() would
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if is_disk_full(e):
            raise disk_full_error(path, e) from e
        raise
    finally:
        if tmp is not None:
            _WRITING.discard(os.path.basename(tmp))


@functools.lru_cache(maxsize=1)
def _host() -> str:
    """This host, as temp file names give it: 8 hex digits of its name's hash (short, and
    nothing but letters and digits whatever the name holds)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _remove_dead_temps(path: Path) -> None:
    """Remove the temp files of `path` that a process of this host left when it was killed
    mid-write (SIGKILL, a power cut): its id names no live process (or names this process,
    which is not writing it: an earlier process of the same id, as after a container's
    restart), and it is STALE_S old. Another host's are left alone: on a shared disk a writer
    elsewhere may still be at work."""
    start = f".{path.name}."
    try:
        found = [e for e in os.scandir(path.parent)
                 if e.name.startswith(start) and e.name.endswith(".tmp")]
    except OSError:
        return
    for entry in found:
        pid, at, rest = entry.name[len(start):-len(".tmp")].partition("@")
        if not (at and pid.isascii() and pid.isdigit() and rest.rpartition(".")[0] == _host()):
            continue  # not a temp file of this host (or one written before names held it)
        live = entry.name in _WRITING if int(pid) == os.getpid() else _alive(int(pid))
        try:
            if not live and time.time() - entry.stat().st_mtime >= STALE_S:
                os.unlink(entry.path)
        except OSError:  # gone already (another process removed it)
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with _atomic_file(path) as f:
        f.write(data)
    return Path(path)


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    with _atomic_file(path) as f:
        np.save(f, np.asarray(array))
    return Path(path)


def atomic_save_state_dict(path: str | os.PathLike, module) -> Path:
    """A torch module's tensors (detached, CPU, contiguous) as a plain torch.save state dict."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    with _atomic_file(path) as f:
        np.savez(f, **arrays)
    return Path(path)


def _jsonable(obj: Any) -> Any:
    """Plain JSON values; NaN and inf (undefined numbers) become None (null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def json_text(obj: Any) -> str:
    """Strict JSON text of `obj` (numpy values converted, NaN/inf as null), indented."""
    return json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """The package's one JSON writer (strict JSON, atomic)."""
    return atomic_write_bytes(path, json_text(obj).encode())


def read_json(path: str | os.PathLike, fix: str = "delete it and re-run") -> Any:
    """A JSON file's contents; a missing or damaged file is an error ending with `fix`."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise HumeSSLError(f"{path}: file not found.") from e
    except (OSError, ValueError) as e:
        raise HumeSSLError(f"{path}: cannot read JSON ({e}); {fix}.") from e


def config_hash(obj: Any, digits: int = 16) -> str:
    """sha256 (first `digits` hex digits) of a JSON-able object, keys sorted: a cache key."""
    blob = json.dumps(_jsonable(obj), sort_keys=True, allow_nan=False).encode()
    return hashlib.sha256(blob).hexdigest()[:digits]


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
    except OSError as e:  # permissions, I/O errors
        raise HumeSSLError(f"cannot read {what} file {path}: {e.strerror or e}.") from e
    except Exception as e:  # truncated file, wrong format: numpy's own text misleads here
        raise HumeSSLError(
            f"cannot read {what} file {path}: {_not_npy_reason(path)}. Expected a NumPy .npy "
            "file (np.save) holding one numeric array."
        ) from e


def _not_npy_reason(path: Path) -> str:
    """Why a file is not a readable .npy, in words (never numpy's pickle advice)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return "it cannot be opened"
    if head.startswith(b"\x93NUMPY"):
        return "it is a .npy file but truncated, or it holds Python objects instead of numbers"
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff"):
        return "it is an image (PNG/JPEG), not a feature matrix"
    if head.startswith(b"PK"):
        return "it is a zip archive (.npz?); save the array alone as .npy"
    try:
        head.decode("ascii")
        return "it is a text file (CSV?); load it and save it with np.save"
    except UnicodeDecodeError:
        return "it is not in NumPy's .npy format"


def check_k(k, name: str = "k") -> int:
    """The number of clusters as an int: a whole number >= 1 (3.0 counts, as labels of 3.0
    do), or one clear error."""
    whole = isinstance(k, (int, np.integer)) or (isinstance(k, (float, np.floating))
                                                  and float(k).is_integer())
    if isinstance(k, (bool, np.bool_)) or not whole or k < 1:
        raise HumeSSLError(f"{name}={k!r}: must be the number of clusters, a whole number >= 1.")
    return int(k)


def check_labels(y, k: Optional[int], name: str = "the labels") -> np.ndarray:
    """(N,) int64 cluster ids in 0..k-1 (k None: any >= 0), N >= 1, or one clear error."""
    k = None if k is None else check_k(k)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise HumeSSLError(f"{name} must be a non-empty 1-D array of cluster ids; got shape "
                           f"{y.shape}.")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise HumeSSLError(f"{name} holds NaN or inf; expected whole-number cluster ids.")
    if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        raise HumeSSLError(f"{name} must be whole numbers (cluster ids); got {y.dtype} values "
                           "with fractions.")
    if y.dtype.kind not in "iuf":
        raise HumeSSLError(f"{name} has dtype {y.dtype}; expected integer cluster ids.")
    y = y.astype(np.int64)
    if y.min() < 0 or (k is not None and y.max() >= k):
        span = f"0..{k - 1} (k={k})" if k is not None else "0 and up"
        raise HumeSSLError(f"{name} span {y.min()}..{y.max()}, outside {span}: pass the k they "
                           "were made with, or relabel them.")
    return y


def check_shares(v, n: int, name: str, bounded: bool = True) -> np.ndarray:
    """(n,) float32 per-row values: 1-D, n of them, and (`bounded`) finite shares in [0, 1];
    unbounded ones (a sort key) may be +-inf, not NaN."""
    a = np.asarray(v, dtype=np.float32)
    if a.shape != (n,):
        raise HumeSSLError(f"{name} must be one value per row, shape ({n},); got shape "
                           f"{a.shape}.")
    bad = ~np.isfinite(a) if bounded else np.isnan(a)
    if bad.any():
        raise HumeSSLError(f"{name} holds {'NaN or inf' if bounded else 'NaN'} in "
                           f"{int(bad.sum())} rows (first: "
                           f"{np.flatnonzero(bad)[:5].tolist()}).")
    if bounded and n and (a.min() < 0 or a.max() > 1):
        raise HumeSSLError(f"{name} must be shares in [0, 1]; got {a.min():g}..{a.max():g}.")
    return a


def check_features(x: np.ndarray, name: str, block_rows: int = 65536,
                   min_rows: int = 2) -> np.ndarray:
    """Validate a feature matrix (N, d): 2-D, numeric, finite, with N >= `min_rows` (2 to fit
    on; 1 for rows to predict).

    float16 and float32 inputs come back as they are (a memory-mapped .npy stays mapped: it is
    never copied whole); other numeric dtypes are converted to float32. The finiteness check
    reads `block_rows` rows at a time.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except ValueError as e:  # a ragged list of rows
            raise HumeSSLError(f"{name} must be a 2-D matrix (N samples, d features), every row "
                               f"of the same length ({e}).") from None
    if x.ndim != 2:
        hint = (" One row? Pass it as a (1, d) matrix: x.reshape(1, -1)." if x.ndim == 1
                and min_rows == 1 else "")
        raise HumeSSLError(
            f"{name} must be a 2-D matrix (N samples, d features); got shape {x.shape}.{hint}"
        )
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise HumeSSLError(f"{name} has shape {x.shape}; need at least {min_rows} sample"
                           f"{'s' if min_rows > 1 else ''} and 1 feature.")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise HumeSSLError(f"{name} has dtype {x.dtype}; expected real numbers.")
    given = x
    if x.dtype not in (np.float16, np.float32) or not x.flags.c_contiguous:
        with np.errstate(over="ignore"):  # values past float32's range: named below
            x = np.ascontiguousarray(x, dtype=np.float32)
    bad_rows: list[np.ndarray] = []
    for a in range(0, x.shape[0], block_rows):
        bad = ~np.isfinite(x[a : a + block_rows]).all(1)
        if bad.any():
            bad_rows.append(a + np.nonzero(bad)[0])
    if bad_rows:
        rows = np.concatenate(bad_rows)
        if given is not x and np.isfinite(given[rows[:1000]]).all():  # finite before the cast
            raise HumeSSLError(f"{name} holds values beyond float32's range (+-"
                               f"{np.finfo(np.float32).max:.3g}) in {rows.size} rows (first: "
                               f"{rows[:5].tolist()}); features are computed in float32: "
                               "rescale them.")
        raise HumeSSLError(
            f"{name} has NaN or inf in {rows.size} rows (first: {rows[:5].tolist()}); "
            "re-extract those features or drop those samples from every input."
        )
    return x


def check_not_constant(x: np.ndarray, name: str, block_rows: int = 65536) -> None:
    """Refuse a feature matrix whose rows are all the same (read `block_rows` at a time)."""
    for a in range(0, x.shape[0], block_rows):
        if not (x[a : a + block_rows] == x[0]).all():
            return
    raise HumeSSLError(f"{name}: every one of its {x.shape[0]} rows is the same: a constant "
                       "feature file carries no information; check that it was extracted right "
                       "(e.g. `hume-ssl features ... --force`).")


@contextmanager
def advisory_lock(path: str | os.PathLike, busy: Callable[[], None]) -> Iterator[None]:
    """An exclusive advisory lock (flock) on the file `path` (its folder made) while inside,
    released when the block ends or its process dies, even killed. When another process holds
    it, `busy()` runs: it raises to refuse, or returns to wait for the lock. No lock where
    none can be taken (no fcntl: Windows; ENOLCK: some network file systems; a folder that
    cannot be written, which the caller's own checks name)."""
    try:
        import fcntl

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")
    except (ImportError, OSError):
        handle = None
    try:
        if handle is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy()
                fcntl.flock(handle, fcntl.LOCK_EX)
            except OSError:  # no flock on this file system
                pass
        yield
    finally:
        if handle is not None:
            handle.close()  # (closing releases the lock)


def run_command(out: str | os.PathLike) -> Optional[str]:
    """The command whose run folder `out` is (its config.json's `command`; "seed" for a seeds
    folder, whose record is its seeds.json), or None."""
    try:
        return json.loads((Path(out) / "config.json").read_text()).get("command")
    except (OSError, ValueError, AttributeError):  # none, unreadable, not a run's record
        return "seed" if (Path(out) / "seeds.json").is_file() else None


def check_not_other_run(out: str | os.PathLike, command: Optional[str], what: str) -> None:
    """Refuse to write into a folder holding another command's run (`command` None: any
    command's): its files would be overwritten or removed as stale."""
    other = run_command(out)
    if other is not None and other != command:
        raise HumeSSLError(f"{out} holds a `{other}` run (its config.json), not a {what}: "
                           "choose another --out.")


def check_writable_dir(path: str | os.PathLike, create: bool = True,
                       option: str = "--out") -> Path:
    """Create `path` if needed and check a file can be written there; clear error otherwise.
    `create=False`: a folder not there yet is not made; its nearest existing parent must let
    it be (a check before long work, which would leave an empty folder if it stopped)."""
    path = Path(path)
    taken = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if taken is not None:
        raise HumeSSLError(f"output folder {path}: {taken} is a file, not a folder; choose "
                           f"another {option}.")
    if not create and not path.exists():
        parent = next(p for p in path.absolute().parents if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise HumeSSLError(f"output folder {path} cannot be created ({parent} is not "
                               f"writable); choose another {option}.")
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise HumeSSLError(
            f"output folder {path} is not writable ({e.strerror or e}); choose another {option}."
        ) from e
    return path
