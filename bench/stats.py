"""Small statistics over timing samples (seconds in, milliseconds or rows/s out)."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(samples: list[float], scale: float = 1.0, digits: int = 3) -> dict:
    """``{"median", "p95", "min", "max", "n"}`` of the samples, each multiplied by ``scale``."""
    if not samples:
        return {"median": None, "p95": None, "min": None, "max": None, "n": 0}
    values = [s * scale for s in samples]
    return {
        "median": round(statistics.median(values), digits),
        "p95": round(percentile(values, 95), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return round(a / b, 2)
