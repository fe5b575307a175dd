"""Exports a trained run's translators as a SavedModel for TF Serving.

  python tools/export.py --model_dir=runs/toy --export_dir=exports/unit [--version=N] [--step=S]
      [--sample] [--precision=float32|bfloat16|float16|auto]

Writes EXPORT_DIR/<version>/ (version: --version, else the checkpoint step, else, if that exists,
one more than the highest version there) and prints its path as the last line. Signatures and how
to serve them: docs/serving.md.
"""

# First: TF_ENABLE_ONEDNN_OPTS (runtime_env), then TensorFlow imported quietly (tool_env).
import runtime_env  # pylint: disable=unused-import
import tool_env
from absl import app
from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by tools/train.py.", required=True)
flags.DEFINE_string("export_dir", None, "Model base directory for TF Serving (--model_base_path); "
                    "the SavedModel goes into a numbered subdirectory.", required=True)
flags.DEFINE_integer("version", None, "Version number of the export (default: the checkpoint "
                     "step, or the next free number).", lower_bound=0)
flags.DEFINE_integer("step", None, "Checkpoint step to export (default: the latest).",
                     lower_bound=0)
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16", "float16", "auto"],
                  "Compute precision of the exported graphs (uint8 in and out whatever it is): "
                  "auto = bfloat16 where this machine has native bfloat16 (AVX-512 BF16 / AMX), "
                  "float16 on GPUs with tensor cores, else float32. Export for the machine that "
                  "serves: bfloat16 is emulated, and slow, on a CPU without it.")
flags.DEFINE_bool("sample", False, "Export stochastic translators (sampled latents) that take an "
                  "int64 `seed` per image, instead of the deterministic latent-mean ones.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import export  # pylint: disable=g-import-not-at-top
  policy, _ = runtime_env.resolve(FLAGS.precision, inference=True)
  try:
    path, step = export.export_run(FLAGS.model_dir, FLAGS.export_dir, version=FLAGS.version,
                                   step=FLAGS.step, sample=FLAGS.sample, policy=policy)
  except (FileNotFoundError, FileExistsError) as e:
    raise SystemExit(f"error: {e}") from None
  kind = "sampled (seed input)" if FLAGS.sample else "latent mean"
  print(f"exported step {step} ({kind}, {policy}) to {path}")
  print(path)


if __name__ == "__main__":
  tool_env.run(main)
