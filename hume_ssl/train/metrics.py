"""metrics.csv: one row per log interval, appended as training goes, truncated on resume;
curves.png beside it, redrawn from it at every checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence

from hume_ssl.core.io import atomic_write_bytes
from hume_ssl.core.plot import curves_png

METRICS_CSV = "metrics.csv"  # a training run's rows, in its folder


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


def write_curves(csv_path: str | Path, png_path: str | Path, title: str,
                 fields: Sequence[str], x: str = "step",
                 references: Optional[dict] = None) -> None:
    """Draw `fields` of a metrics CSV against `x` into a PNG (atomically); no CSV, no PNG.
    `references`: field -> a value drawn as a horizontal line in its panel (e.g. a baseline)."""
    csv_path = Path(csv_path)
    if not csv_path.exists():
        return
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    panels = {name: ([r[x] for r in rows], [r.get(name, "") for r in rows]) for name in fields}
    refs = {k: v for k, v in (references or {}).items() if v is not None}
    atomic_write_bytes(png_path, curves_png(title, x, panels, refs))
