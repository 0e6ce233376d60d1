"""The fixed, log-spaced latency histogram shared by the warehouse query and the metrics.

The bucket edges follow a 1-1.5-2-3-4-5-7.5 series (roughly ×1.4 per step), so a percentile read
from merged buckets is within one bucket width of the exact value, and an SLO such as 1,500 ms or
2,000 ms falls on an edge. Bucket i holds latencies in [EDGES[i-1], EDGES[i]); the last bucket is
the overflow [EDGES[-1], ∞).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import sub

EDGES_MS: tuple[int, ...] = (
    25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500,
    2000, 3000, 4000, 5000, 7500, 10000, 15000, 20000, 30000, 60000, 120000,
)  # fmt: skip
BUCKETS = len(EDGES_MS) + 1
BUCKET_COLUMNS: tuple[str, ...] = tuple(f"lat_b{i:02d}" for i in range(BUCKETS))


def buckets_from_cumulative(below_edge: Sequence[int], total: int) -> list[int]:
    """Per-bucket counts from counts of values below each edge (what the SQL computes) and the total.

    Called once per rollup group of a sync (tens of thousands per backfill): `map` with
    `operator.sub` keeps the differencing out of the interpreter loop."""
    bounds = (*map(int, below_edge), int(total))
    return [bounds[0], *map(sub, bounds[1:], bounds)]


def percentile(buckets: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of a histogram, interpolating geometrically inside the bucket.

    The first bucket interpolates linearly from 0; the overflow bucket reports its lower edge
    (a conservative floor: we cannot know how far beyond 120 s the tail goes).
    """
    total = float(sum(buckets))
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for index, count in enumerate(buckets):
        if count <= 0:
            continue
        if seen + count >= rank:
            fraction = (rank - seen) / count
            if index == 0:
                return EDGES_MS[0] * fraction
            low = float(EDGES_MS[index - 1])
            if index >= len(EDGES_MS):
                return low
            high = float(EDGES_MS[index])
            return low * (high / low) ** fraction
        seen += count
    return float(EDGES_MS[-1])
