"""metrics.csv: one row per log interval, appended as training goes, truncated on resume."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from hume_ssl.core.io import atomic_write_bytes


def append_metrics(path: str | Path, fields: Sequence[str], row: dict) -> None:
    """Append one row to a metrics CSV (header first when the file is new); floats as %.6g."""
    path = Path(path)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields))
        if new:
            w.writeheader()
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def truncate_metrics(path: str | Path, step: int) -> None:
    """Drop the rows of a metrics CSV (first column: step) logged after `step`, atomically:
    a resumed run logs them again."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if int(ln.split(",")[0]) <= step]
    atomic_write_bytes(path, "".join(keep).encode())
