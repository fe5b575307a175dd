"""Timing of training steps, translation and the input pipeline (used by tools/benchmark.py).

Steps run on synthetic data of the configured shape, so the figures are the model's cost alone;
the input pipeline is timed separately on the real data source so a user can see whether data is
the bottleneck. Times are wall-clock per call after a warm-up (tracing/compilation excluded), with
each call's outputs fetched so that asynchronous execution cannot hide work.
"""

import time

import keras
import numpy as np
import tensorflow as tf

from unit_tf import distribute
from unit_tf import run_dir
from unit_tf import training
from unit_tf.core import frozen


def summarize(seconds, images_per_call, cpu_seconds=None):
  """{median, p10, p90} wall seconds per call, median images/s and, given `cpu_seconds`, the
  median CPU seconds of this process per call (`cpu_median_s`: on a shared machine the wall time
  grows with the other jobs' load, the CPU time much less)."""
  seconds = np.asarray(seconds, np.float64)
  median = float(np.median(seconds))
  out = {"median_s": median, "p10_s": float(np.percentile(seconds, 10)),
         "p90_s": float(np.percentile(seconds, 90)), "calls": int(len(seconds)),
         "images_per_s": images_per_call / median if median > 0 else float("nan")}
  if cpu_seconds is not None:
    out["cpu_median_s"] = float(np.median(np.asarray(cpu_seconds, np.float64)))
  return out


def _timed(fn, calls, warmup):
  """(wall seconds, process CPU seconds) of each of `calls` calls after `warmup` calls."""
  for _ in range(warmup):
    fn()
  wall, cpu = [], []
  for _ in range(calls):
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return wall, cpu


def time_train_steps(model_config, loss_config, train_config, shape_a, shape_b, steps=20,
                     warmup=3, strategy=None, options=None):
  """Seconds per training step (K discriminator updates + 1 generator update) on random images.

  Returns summarize(...) with images/s counting the N images of each domain per step.
  """
  strategy = strategy or tf.distribute.get_strategy()
  keras.utils.set_random_seed(train_config.seed)
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(train_config.mixed_precision)
  try:
    with strategy.scope():
      model, _, _ = run_dir.build_trained_objects(model_config, loss_config, train_config,
                                                  shape_a, shape_b, options)
  finally:
    keras.config.set_dtype_policy(previous)
  chunks = train_config.disc_steps + 1
  batch = train_config.batch_size * chunks

  def synthetic():
    images_a = tf.random.uniform((batch,) + tuple(shape_a), -1.0, 1.0, seed=1)
    images_b = tf.random.uniform((batch,) + tuple(shape_b), -1.0, 1.0, seed=2)
    return tf.data.Dataset.from_tensors((images_a, images_b)).repeat()

  iterator = iter(distribute.distribute_dataset(strategy, synthetic, chunks))
  step_fn = training.make_train_function(model, strategy, train_config.jit_compile)

  def one_step():
    logs, _ = step_fn(next(iterator))
    float(logs["g_loss"])

  wall, cpu = _timed(one_step, steps, warmup)
  return summarize(wall, 2 * train_config.batch_size, cpu), model


def time_translation(model, shape, batch_size, calls=10, warmup=2, direction="a2b"):
  """Seconds per call on a [batch, *shape] batch of the translator tools/translate.py runs: the
  compiled function with the weights frozen into it (`core.frozen`)."""
  images = tf.random.uniform((batch_size,) + tuple(shape), -1.0, 1.0, seed=3)
  fn = frozen.freeze(lambda x: model.translate(x, direction),
                     [tf.TensorSpec(images.shape, tf.float32)])
  wall, cpu = _timed(lambda: fn(images).numpy(), calls, warmup)
  return summarize(wall, batch_size, cpu)


def time_input_pipeline(task, batch_size, seed=0, batches=50, warmup=5):
  """Batches/s of the task's real training stream (decode, augment, colour, batch)."""
  iterator = iter(task.train_dataset(batch_size, seed))

  def one_batch():
    a, b = next(iterator)
    a.numpy()
    b.numpy()

  wall, cpu = _timed(one_batch, batches, warmup)
  result = summarize(wall, 2 * batch_size, cpu)
  result["batches_per_s"] = 1.0 / result["median_s"]
  return result


def release_comparison(rounds):
  """Speed-ups over the authors' PyTorch release from interleaved rounds (tools/compare_release.py).

  `rounds` is a list of {"release": the JSON of tools/release_benchmark_torch.py, "ours": the JSON
  of tools/benchmark.py}, both at the same image size and on the same machine. For each figure
  (the training iteration, and translation at every size both timed) and each of our precisions,
  the speed-up of a round is release median / our median; pairing a release run with the run of
  ours next to it keeps the ratio meaningful while the machine's speed drifts. Returns rows
  {"figure", "precision", "release_s", "ours_s", "speedup", "speedup_min", "speedup_max",
  "rounds"} with medians over the rounds.
  """
  samples = {}
  for one in rounds:
    release, ours = one["release"], one["ours"]
    for run in ours["runs"]:
      precision = run["setting"].get("mixed_precision", "as configured")
      pairs = [(f"training at {release['image_size']}", release["train_step"],
                run["train_step"])]
      for size, timing in release.get("translate", {}).items():
        mine = run.get("translate_by_size", {}).get(str(size))
        if mine is not None:
          pairs.append((f"translation at {size}", timing, mine))
      for figure, theirs, mine in pairs:
        samples.setdefault((figure, precision), []).append(
            (theirs["median_s"], mine["median_s"]))
  rows = []
  for (figure, precision), pairs in samples.items():
    theirs, mine = np.asarray(pairs, np.float64).T
    speedups = theirs / mine
    rows.append({"figure": figure, "precision": precision,
                 "release_s": float(np.median(theirs)), "ours_s": float(np.median(mine)),
                 "speedup": float(np.median(speedups)), "speedup_min": float(speedups.min()),
                 "speedup_max": float(speedups.max()), "rounds": int(len(pairs))})
  return rows


def release_comparison_table(rows):
  """The rows of `release_comparison` as a Markdown table."""
  lines = ["| figure | ours | release s | ours s | speed-up (min-max) | rounds |",
           "| --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    lines.append(f"| {r['figure']} | {r['precision']} | {r['release_s']:.3f} | "
                 f"{r['ours_s']:.3f} | **{r['speedup']:.2f}x** ({r['speedup_min']:.2f}-"
                 f"{r['speedup_max']:.2f}) | {r['rounds']} |")
  return "\n".join(lines)
