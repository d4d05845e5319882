"""Training curves as a PNG (PIL only: no plotting dependency), one panel per metric.

    png = curves_png("pretrain", "step", {"loss": (steps, losses), "kNN": (steps, accs)})
Each panel has its own y range, ticks at its min and max, and the x axis shared by all.
"""

from __future__ import annotations

import io
import math
from typing import Optional, Sequence

from PIL import Image, ImageDraw

PANEL_H, WIDTH, LEFT, RIGHT, TOP, BOTTOM = 150, 640, 64, 16, 22, 18
COLOR = (31, 119, 180)
REF_COLOR = (214, 39, 40)  # a reference line (a baseline), labelled with its value


def _finite(xs: Sequence, ys: Sequence) -> list[tuple[float, float]]:
    pts = []
    for x, y in zip(xs, ys):
        if y is None or y == "":
            continue
        x, y = float(x), float(y)
        if math.isfinite(x) and math.isfinite(y):
            pts.append((x, y))
    return pts


def curves_png(title: str, xlabel: str, panels: dict[str, tuple[Sequence, Sequence]],
               references: Optional[dict[str, float]] = None) -> bytes:
    """PNG bytes: one line panel per (name -> (x values, y values)); blanks and NaN skipped.
    `references`: panel name -> a value drawn as a gray horizontal line, labelled."""
    references = references or {}
    data = {name: _finite(xs, ys) for name, (xs, ys) in panels.items()}
    all_x = [x for pts in data.values() for x, _ in pts] or [0.0, 1.0]
    x0, x1 = min(all_x), max(all_x)
    x1 = x1 if x1 > x0 else x0 + 1.0
    h = TOP + len(data) * PANEL_H + BOTTOM
    img = Image.new("RGB", (WIDTH, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((LEFT, 4), title, fill=(0, 0, 0))
    for i, (name, pts) in enumerate(data.items()):
        top = TOP + i * PANEL_H
        bottom = top + PANEL_H - 20
        d.rectangle([LEFT, top, WIDTH - RIGHT, bottom], outline=(0, 0, 0))
        d.text((LEFT + 4, top + 2), name, fill=(0, 0, 0))
        if not pts:
            d.text((LEFT + 4, top + 16), "(no values)", fill=(128, 128, 128))
            continue
        ref = references.get(name)
        ys = [y for _, y in pts] + ([ref] if ref is not None else [])
        y0, y1 = min(ys), max(ys)
        y1 = y1 if y1 > y0 else y0 + 1e-9
        for v, yy in ((y1, top), (y0, bottom)):
            d.text((2, yy - 6), f"{v:.4g}", fill=(0, 0, 0))

        def xy(x: float, y: float, top=top, bottom=bottom, y0=y0, y1=y1) -> tuple[float, float]:
            px = LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)
            return px, bottom - (y - y0) / (y1 - y0) * (bottom - top)

        if ref is not None:
            _, py = xy(x0, ref)
            d.line([(LEFT, py), (WIDTH - RIGHT, py)], fill=REF_COLOR, width=1)
            d.text((WIDTH - RIGHT - 90, py - 12), f"baseline {ref:.4g}", fill=REF_COLOR)
        if len(pts) == 1:
            px, py = xy(*pts[0])
            d.ellipse([px - 3, py - 3, px + 3, py + 3], fill=COLOR)
        else:
            d.line([xy(x, y) for x, y in pts], fill=COLOR, width=2)
    d.text((LEFT, h - BOTTOM + 2), f"{xlabel}: {x0:.4g} .. {x1:.4g}", fill=(0, 0, 0))
    return png_bytes(img)


def png_bytes(img: Image.Image) -> bytes:
    """A PIL image as PNG file bytes (for the atomic writers)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
