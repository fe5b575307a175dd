"""Exports a trained run's translators as a SavedModel for TF Serving.

  python tools/export.py --model_dir=runs/toy --export_dir=exports/unit [--version=N] [--step=S]
      [--sample] [--precision=float32|bfloat16|float16|auto]

Writes EXPORT_DIR/<version>/ (version: --version, else the checkpoint step, else, if that exists,
one more than the highest version there) and prints its path as the last line. Signatures and how
to serve them: docs/serving.md.

  python tools/export.py --model_dir=runs/toy --export_dir=exports/toy_lite --format=litert \
      --image_size=32x32 [--quantization=float32,float16,int8]

writes EXPORT_DIR/a2b.tflite, b2a.tflite (and a2b_float16.tflite, a2b_int8.tflite, ...) for one
fixed input size, uint8 in and out (unit_tf.deploy.litert), and prints EXPORT_DIR as the last
line. --format=onnx --image_size=HxW writes EXPORT_DIR/a2b.onnx, b2a.onnx the same way
(unit_tf.deploy.onnx, tf2onnx).
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
flags.DEFINE_enum("format", "savedmodel", ["savedmodel", "litert", "onnx"], "savedmodel: a TF "
                  "Serving SavedModel; litert: one .tflite file per direction; onnx: one .onnx "
                  "file per direction (litert and onnx need --image_size).")
flags.DEFINE_string("image_size", None, "--format=litert / onnx: the fixed input size HxW (e.g. "
                    "256x256; the toy network takes 32x32 only).")
flags.DEFINE_list("quantization", ["float32"], "--format=litert: which files to write: float32, "
                  "float16 (float16 weights), int8 (dynamic-range int8 weights).")
flags.DEFINE_bool("sample", False, "Export stochastic translators (sampled latents) that take an "
                  "int64 `seed` per image, instead of the deterministic latent-mean ones.")


def _export_fixed_size():
  """--format=litert / onnx (unit_tf.deploy)."""
  from unit_tf.deploy import litert  # pylint: disable=g-import-not-at-top
  from unit_tf.deploy import onnx  # pylint: disable=g-import-not-at-top
  try:
    height, width = (int(v) for v in (FLAGS.image_size or "").lower().split("x"))
  except ValueError:
    raise app.UsageError(f"--format={FLAGS.format} needs --image_size=HxW, e.g. "
                         f"--image_size=256x256 (got {FLAGS.image_size!r})") from None
  unknown = [q for q in FLAGS.quantization if q not in litert.QUANTIZATIONS]
  if unknown or not FLAGS.quantization:
    raise app.UsageError(f"--quantization={','.join(FLAGS.quantization)}: choose among "
                         f"{', '.join(litert.QUANTIZATIONS)}")
  if FLAGS.format == "onnx" and FLAGS.quantization != ["float32"]:
    raise app.UsageError("--quantization applies to --format=litert only")
  if FLAGS.sample or FLAGS.version is not None:
    raise app.UsageError("--sample and --version apply to --format=savedmodel only")
  try:
    if FLAGS.format == "litert":
      paths, step = litert.export_run(FLAGS.model_dir, FLAGS.export_dir, height, width,
                                      FLAGS.quantization, step=FLAGS.step)
    else:
      paths, step = onnx.export_run(FLAGS.model_dir, FLAGS.export_dir, height, width,
                                    step=FLAGS.step)
  except (FileNotFoundError, ValueError, RuntimeError) as e:
    raise SystemExit(f"error: {e}") from None
  for path in paths:
    print(f"exported step {step} to {path}")
  print(FLAGS.export_dir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.format != "savedmodel":
    _export_fixed_size()
    return
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
