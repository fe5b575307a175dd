"""Per-image latency of the deployed translators (tools/deploy_latency.py)."""

import time

import numpy as np


def measure(run, warmup=3, repeats=20):
  """Calls `run()` `warmup` times untimed, then `repeats` times timed. Returns {"median", "p10",
  "p90"} seconds per call (percentiles, not means: a shared machine adds long outliers)."""
  for _ in range(warmup):
    run()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  p10, median, p90 = np.percentile(times, [10, 50, 90])
  return {"median": float(median), "p10": float(p10), "p90": float(p90)}
