"""Synthetic incident stores for the benchmarks (random, reproducible per size)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.records import import_file  # noqa: E402
from geo.store import open_store  # noqa: E402

TYPES = ["drone", "aircraft", "balloon", "missile", "unknown"]


#: Where synthetic incidents fall by default: the Baltic region (west, south, east, north).
BALTIC = (20.5, 53.5, 28.5, 59.5)


def fill_store(folder: Path, n: int, *, box: tuple[float, float, float, float] = BALTIC,
               start: str = "2024-01-01", days: int = 700, hours: int | None = None):
    """A store (seeds plus n random incidents in ``box``, dated over ``days`` from
    ``start``, or timed to the hour over ``hours`` from it) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    steps, unit, fmt = ((days, "D", "%Y-%m-%d") if hours is None
                        else (hours, "h", "%Y-%m-%dT%H:%M:%SZ"))
    frame = pd.DataFrame({
        "id": [f"b{i}" for i in range(n)],
        "date": (pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, steps, n), unit)
                 ).strftime(fmt),
        "type": rng.choice(TYPES, n),
        "lat": rng.uniform(box[1], box[3], n).round(5),
        "lon": rng.uniform(box[0], box[2], n).round(5),
        "confidence": rng.choice(["confirmed", "reported", "disputed"], n),
        "title": [f"Synthetic incident {i}" for i in range(n)],
    })
    csv = folder / "synthetic.csv"
    frame.to_csv(csv, index=False)
    store = open_store(folder / "store.gpkg")
    import_file(store, csv)
    return store
