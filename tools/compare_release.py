r"""Interleaved speed comparison against the authors' PyTorch release (issue 15).

  python tools/compare_release.py --release_python=/path/to/torch-env/bin/python \
      --release_dir=release_unit --image_sizes=128,256 --rounds=3 --translate_sizes=256,512 \
      --output_dir=bench_release

Each round runs, at every image size, `tools/release_benchmark_torch.py` (the release's training
iteration and translation, float32, under the PyTorch interpreter given) and `tools/benchmark.py
--flagfile=configs/nips_day_night_amos.flags` (the same network and objective, `--arch=nips`, in
each of `--precisions`), one after the other, the order swapped every round, on synthetic images,
batch 1. The table gives the median speed-up over the rounds (release seconds / ours, paired run by
run) with its range, and names the machine; every run's JSON is kept in --output_dir. Translation
is timed in the runs at the largest image size. Nothing else should run on the machine meanwhile.
"""

# First: TF_ENABLE_ONEDNN_OPTS (runtime_env), then TensorFlow imported quietly (tool_env).
import runtime_env
import tool_env
import json
import os
import subprocess
import sys

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS
TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)

flags.DEFINE_string("release_python", None, "A Python interpreter with PyTorch and PyYAML.")
flags.DEFINE_string("release_dir", None, "A checkout of mingyuliutw/UNIT (master).")
flags.DEFINE_string("release_config", None, "The release's YAML config; default "
                    "RELEASE_DIR/configs/unit_edges2shoes_folder.yaml (the config "
                    "configs/nips_base.flags follows).")
flags.DEFINE_string("flagfile_ours", os.path.join(REPO, "configs", "nips_day_night_amos.flags"),
                    "Our flagfile for the same network.")
flags.DEFINE_list("image_sizes", ["128", "256"], "Training image sizes (square).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Our precisions to time.")
flags.DEFINE_list("translate_sizes", ["256", "512"], "Translation sizes (at the largest image "
                  "size's runs).")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds.", lower_bound=1)
flags.DEFINE_integer("steps", 5, "Timed training iterations per run.", lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed iterations first.", lower_bound=1)
flags.DEFINE_string("output_dir", "bench_release", "Where every run's JSON and the table go.")


def _sizes(name, values):
  try:
    sizes = [int(v) for v in values]
  except ValueError:
    raise app.UsageError(f"--{name}={','.join(values)}: expected integers, e.g. 128,256") from None
  if any(s < 64 or s % 4 for s in sizes):
    raise app.UsageError(f"--{name}: sizes must be multiples of 4 and at least 64 (the release's "
                         "three-scale discriminator needs 64)")
  return sizes


def _run(command, output):
  logging.info("running %s", " ".join(command))
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode != 0 or not os.path.exists(output):
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
    raise app.UsageError(f"{command[1]} failed (exit {done.returncode}):\n{tail}")
  with open(output) as f:
    return json.load(f)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.release_python or not FLAGS.release_dir:
    raise app.UsageError("--release_python and --release_dir are required")
  if not os.path.isfile(os.path.join(FLAGS.release_dir, "trainer.py")):
    raise app.UsageError(f"--release_dir={FLAGS.release_dir} has no trainer.py: give a checkout "
                         "of mingyuliutw/UNIT")
  config = FLAGS.release_config or os.path.join(FLAGS.release_dir, "configs",
                                                "unit_edges2shoes_folder.yaml")
  if not os.path.isfile(config):
    raise app.UsageError(f"release config {config} does not exist (--release_config)")
  image_sizes = _sizes("image_sizes", FLAGS.image_sizes)
  translate_sizes = _sizes("translate_sizes", FLAGS.translate_sizes)
  try:
    os.makedirs(FLAGS.output_dir, exist_ok=True)
  except OSError as e:
    raise app.UsageError(f"--output_dir={FLAGS.output_dir}: {e.strerror}") from None
  from unit_tf import benchmark  # pylint: disable=g-import-not-at-top
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top

  rounds = {size: [] for size in image_sizes}
  for index in range(FLAGS.rounds):
    for size in image_sizes:
      translate = translate_sizes if size == max(image_sizes) else []
      stem = os.path.join(FLAGS.output_dir, f"round{index}_{size}")
      release_cmd = [FLAGS.release_python, os.path.join(TOOLS, "release_benchmark_torch.py"),
                     f"--release_dir={FLAGS.release_dir}", f"--config={config}",
                     f"--image_size={size}", f"--steps={FLAGS.steps}",
                     f"--warmup={FLAGS.warmup}",
                     f"--translate_sizes={','.join(map(str, translate))}",
                     f"--output={stem}_release.json"]
      ours_cmd = [sys.executable, os.path.join(TOOLS, "benchmark.py"),
                  f"--flagfile={FLAGS.flagfile_ours}", f"--image_size={size}",
                  f"--load_size={size}", f"--settings=mixed_precision={','.join(FLAGS.precisions)}",
                  f"--steps={FLAGS.steps}", f"--warmup={FLAGS.warmup}", "--notime_pipeline",
                  f"--translate_sizes={','.join(map(str, translate))}",
                  f"--output={stem}_ours.json"]
      pair = [("release", release_cmd, f"{stem}_release.json"),
              ("ours", ours_cmd, f"{stem}_ours.json")]
      result = {}
      for name, command, output in (pair if index % 2 == 0 else pair[::-1]):
        result[name] = _run(command, output)
      rounds[size].append(result)
  rows = [row for size in image_sizes for row in benchmark.release_comparison(rounds[size])]
  # the machine as our timed runs saw it (each chose its own kernels: runtime_env), not this
  # process's
  machine = rounds[image_sizes[0]][0]["ours"]["machine"]
  release_machine = rounds[image_sizes[0]][0]["release"]["machine"]
  text = (f"machine: {hardware.summary_line(machine)}; oneDNN setting "
          f"{machine['onednn_setting']}\nrelease: torch {release_machine['torch']}, "
          f"{release_machine['threads']} threads, CPU capability "
          f"{release_machine['cpu_capability']}, float32\n"
          f"batch 1, {FLAGS.steps} timed iterations after {FLAGS.warmup}, {FLAGS.rounds} "
          f"interleaved rounds\n\n{benchmark.release_comparison_table(rows)}\n")
  print(text)
  with open(os.path.join(FLAGS.output_dir, "comparison.md"), "w") as f:
    f.write(text)
  with open(os.path.join(FLAGS.output_dir, "comparison.json"), "w") as f:
    json.dump({"machine": machine, "release_machine": release_machine, "rows": rows}, f, indent=2)


if __name__ == "__main__":
  tool_env.run(main)
