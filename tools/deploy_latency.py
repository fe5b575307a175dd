"""Times one-image translation in each deployment runtime: TensorFlow (the fixed-size SavedModel
signature), LiteRT (float32 / float16 / int8 files) and ONNX Runtime.

  python tools/deploy_latency.py --arch=nips --image_size=256x256 [--model_dir=RUN]
      [--formats=tensorflow,litert_float32,litert_float16,litert_int8,onnx] [--repeats=20]

Without --model_dir the preset's network has random weights (latency does not depend on them).
Prints a table (median and p10-p90 seconds per image, the CPU, the load average) and, as the last
line, the same as JSON.
"""

# The preset timed without --model_dir; runtime_env reads it to choose the kernels.
DEFAULT_ARCH = "nips"
# First: TF_ENABLE_ONEDNN_OPTS (runtime_env), before anything imports TensorFlow.
import runtime_env  # pylint: disable=g-bad-import-order,wrong-import-position
import json
import os
import tempfile

from absl import app
from absl import flags

FLAGS = flags.FLAGS
FORMATS = ("tensorflow", "litert_float32", "litert_float16", "litert_int8", "onnx")

flags.DEFINE_string("model_dir", None, "A trained run (default: the --arch preset with random "
                    "weights).")
flags.DEFINE_enum("arch", DEFAULT_ARCH, ["toy", "paper_natural", "nips"], "Preset to build without "
                  "--model_dir.")
flags.DEFINE_string("image_size", "256x256", "Fixed input size HxW.")
flags.DEFINE_list("formats", list(FORMATS), f"Runtimes to time, among {', '.join(FORMATS)}.")
flags.DEFINE_string("direction", "a2b", "a2b or b2a.")
flags.DEFINE_integer("threads", None, "Threads of LiteRT / ONNX Runtime (default: theirs).")
flags.DEFINE_integer("warmup", 3, "Untimed calls first.", lower_bound=0)
flags.DEFINE_integer("repeats", 20, "Timed calls.", lower_bound=1)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  unknown = [f for f in FLAGS.formats if f not in FORMATS]
  if unknown:
    raise app.UsageError(f"--formats: unknown {unknown}; choose among {', '.join(FORMATS)}")
  try:
    height, width = (int(v) for v in FLAGS.image_size.lower().split("x"))
  except ValueError:
    raise app.UsageError(f"--image_size=HxW, got {FLAGS.image_size!r}") from None
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from unit_tf import variants  # pylint: disable=g-import-not-at-top
  from unit_tf.config import LossConfig, ModelConfig  # pylint: disable=g-import-not-at-top
  from unit_tf.deploy import fixed, latency, litert, onnx  # pylint: disable=g-import-not-at-top
  if FLAGS.model_dir:
    model, channels, _ = fixed.restore(FLAGS.model_dir)
  else:
    variant = variants.variant_of(FLAGS.arch)
    config = ModelConfig(arch=FLAGS.arch, image_size=32 if FLAGS.arch == "toy" else height)
    options = variant.options_class() if variant.options_class is not None else None
    model = variants.build_model(config, LossConfig(), options)
    channels = {"a": config.channels_a, "b": config.channels_b}
    model.build_for((config.image_size, config.image_size, channels["a"]),
                    (config.image_size, config.image_size, channels["b"]))
  source = fixed.DIRECTIONS[FLAGS.direction][0]
  images = np.random.default_rng(0).integers(0, 256, (1, height, width, channels[source]),
                                             dtype=np.uint8)
  runners = {}
  with tempfile.TemporaryDirectory() as out_dir:
    quantizations = [f.split("_", 1)[1] for f in FLAGS.formats if f.startswith("litert_")]
    if quantizations:
      litert.export_model(model, out_dir, height, width, channels, quantizations,
                          directions=(FLAGS.direction,))
      for q in quantizations:
        translator = litert.LiteRTTranslator(
            os.path.join(out_dir, litert.file_name(FLAGS.direction, q)), FLAGS.threads)
        runners[f"litert_{q}"] = lambda t=translator: t(images)
    if "onnx" in FLAGS.formats:
      (path,) = onnx.export_model(model, out_dir, height, width, channels,
                                  directions=(FLAGS.direction,))
      translator = onnx.OnnxTranslator(path, FLAGS.threads)
      runners["onnx"] = lambda: translator(images)
    if "tensorflow" in FLAGS.formats:
      saved = os.path.join(out_dir, "saved_model")
      fixed.write_saved_model(saved, model, fixed.functions(
          model, height, width, channels, (FLAGS.direction,)))
      signature = tf.saved_model.load(saved).signatures[FLAGS.direction]
      tensor = tf.constant(images)
      runners["tensorflow"] = lambda: signature(images=tensor)[fixed.OUTPUT].numpy()
    results = {name: latency.measure(runners[name], FLAGS.warmup, FLAGS.repeats)
               for name in FLAGS.formats}
  load = os.getloadavg()[0]
  machine = runtime_env.description()
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  print(f"{FLAGS.model_dir or FLAGS.arch} {FLAGS.direction} {height}x{width}, batch 1, "
        f"load average {load:.1f}, {FLAGS.repeats} calls after {FLAGS.warmup}; "
        f"{hardware.summary_line(machine)} (TensorFlow's kernels: {runtime_env.onednn_origin()})")
  print("| runtime | s/image median (p10-p90) |\n| --- | --- |")
  for name, r in results.items():
    print(f"| {name} | {r['median']:.4f} ({r['p10']:.4f}-{r['p90']:.4f}) |")
  print(json.dumps({"machine": machine, "load_average": load, "height": height, "width": width,
                    "results": results}, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
