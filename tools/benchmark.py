"""Times training steps, translation and the input pipeline for an experiment's flags.

  python tools/benchmark.py --flagfile=configs/mnist_toy.flags \\
      --data_path=../shared/data/mnist.npz \\
      --settings=mixed_precision=float32,mixed_bfloat16 --settings=jit_compile=false,true \\
      --output=bench.json
  python tools/benchmark.py --flagfile=configs/nips_day_night_amos.flags --image_size=256 \\
      --settings=mixed_precision=float32,mixed_bfloat16 --translate_sizes=256,512

Every combination of the --settings values is timed on synthetic images of the configured shape
(warm-up first, tracing and compilation excluded): median / p10 / p90 seconds per training step and
images/s, and the translation time of one batch (at the training size and each of
--translate_sizes). The input pipeline is timed once on the real data
source (batches/s), so you can see whether data or compute is the bottleneck. Prints a table and
writes everything as JSON; both name the machine (CPU model and extensions, GPUs, oneDNN on or
off, thread settings) and give each step's CPU seconds beside its wall time (on a shared machine
compare CPU seconds, or ratios measured in one run).
"""

# First: TF_ENABLE_ONEDNN_OPTS (runtime_env), then TensorFlow imported quietly (tool_env).
import runtime_env  # pylint: disable=unused-import
import tool_env
import dataclasses
import itertools
import json

from absl import app
from absl import flags

import experiment_flags

FLAGS = flags.FLAGS

flags.DEFINE_multi_string("settings", [], "NAME=V1,V2,...: TrainConfig fields to vary "
                          "(mixed_precision incl. auto, jit_compile, batch_size, disc_steps). "
                          "Repeatable; every combination is timed.")
flags.DEFINE_integer("steps", 20, "Timed training steps per setting.", lower_bound=1)
flags.DEFINE_integer("warmup", 3, "Untimed steps first.", lower_bound=1)
flags.DEFINE_integer("translate_batch", 1, "Batch of the translation timing.", lower_bound=1)
flags.DEFINE_list("translate_sizes", [], "Also time translation of square images of these sizes "
                  "(e.g. 256,512), with each setting's model; default: the training size only.")
flags.DEFINE_bool("time_pipeline", True, "Also time the real input pipeline.")
flags.DEFINE_string("output", None, "Write the results as JSON here.")

_PARSERS = {"mixed_precision": str, "jit_compile": lambda v: v.lower() in ("1", "true", "yes"),
            "batch_size": int, "disc_steps": int}


def _settings():
  names, values = [], []
  for item in FLAGS.settings:
    name, _, raw = item.partition("=")
    if name not in _PARSERS or not raw:
      raise app.UsageError(f"--settings={item}: expected NAME=V1,V2 with NAME one of "
                           f"{sorted(_PARSERS)}")
    names.append(name)
    values.append([_PARSERS[name](v) for v in raw.split(",")])
  return [dict(zip(names, combo)) for combo in itertools.product(*values)] or [{}]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import benchmark  # pylint: disable=g-import-not-at-top
  from unit_tf import config as unit_config  # pylint: disable=g-import-not-at-top

  model_config, loss_config, base_train, options, (height, width) = experiment_flags.configs()
  shape_a = (height, width or height, model_config.channels_a)
  shape_b = (height, width or height, model_config.channels_b)
  # Figures from different machines must never be mixed up: every table and JSON names the CPU,
  # its extensions, the kernel library and the threads.
  machine = runtime_env.description()
  results = {"machine": machine, "image_shape_a": shape_a, "image_shape_b": shape_b, "runs": []}
  settings = _settings()
  try:
    sizes = [int(v) for v in FLAGS.translate_sizes]
  except ValueError:
    raise app.UsageError(f"--translate_sizes={','.join(FLAGS.translate_sizes)}: expected "
                         "integers, e.g. 256,512") from None
  for setting in settings:
    if setting.get("mixed_precision") == "auto":
      setting = dict(setting, mixed_precision=runtime_env.resolve("auto")[0])
    runtime_env.check_runnable(setting.get("mixed_precision", base_train.mixed_precision))
    train_config = dataclasses.replace(base_train, **setting)
    try:
      unit_config.validate(train_config)
    except ValueError as e:
      raise app.UsageError(f"--settings: {e}") from None
    steps, model = benchmark.time_train_steps(model_config, loss_config, train_config, shape_a,
                                              shape_b, steps=FLAGS.steps, warmup=FLAGS.warmup,
                                              options=options)
    translate = benchmark.time_translation(model, shape_a, FLAGS.translate_batch)
    by_size = {size: benchmark.time_translation(model, (size, size, shape_a[-1]),
                                                FLAGS.translate_batch) for size in sizes}
    results["runs"].append({"setting": setting, "batch_size": train_config.batch_size,
                            "train_step": steps, "translate": translate,
                            "translate_by_size": by_size})
  if FLAGS.time_pipeline:
    task = experiment_flags.load_task(height, width)
    results["input_pipeline"] = benchmark.time_input_pipeline(
        task, base_train.batch_size * (base_train.disc_steps + 1), base_train.seed)

  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  print(f"machine: {hardware.summary_line(machine)}; oneDNN setting {machine['onednn_setting']}")
  print(f"{'setting':40s} {'s/step median':>14s} {'p10':>8s} {'p90':>8s} {'cpu s':>8s} "
        f"{'img/s':>8s} {'translate s':>12s}")
  for run in results["runs"]:
    name = ", ".join(f"{k}={v}" for k, v in run["setting"].items()) or "as configured"
    s, t = run["train_step"], run["translate"]
    print(f"{name:40s} {s['median_s']:14.4f} {s['p10_s']:8.4f} {s['p90_s']:8.4f} "
          f"{s['cpu_median_s']:8.3f} {s['images_per_s']:8.1f} {t['median_s']:12.4f}")
    for size, timing in run["translate_by_size"].items():
      print(f"  translate {FLAGS.translate_batch} x {size}x{size}: "
            f"{timing['median_s']:.4f} s (p10 {timing['p10_s']:.4f}, p90 {timing['p90_s']:.4f})")
  if "input_pipeline" in results:
    p = results["input_pipeline"]
    print(f"input pipeline: {p['batches_per_s']:.1f} batches/s ({p['images_per_s']:.0f} images/s)")
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump(results, f, indent=2)
  print(json.dumps(results))


if __name__ == "__main__":
  tool_env.run(main)
