"""Translates images with a trained run (or an exported SavedModel) at their native resolution.

  python tools/translate.py --model_dir=runs/day_night --direction=a2b \
      --input=../shared/data/unpaired/day_night_amos/testA --output=/tmp/day2night
  python tools/translate.py --saved_model=exports/day_night --direction=b2a --input='night/*.jpg' \
      --output=/tmp/night2day --sample --num_samples=3 --side_by_side

--input is an image file, a folder (searched recursively; the output mirrors its sub-folders), a
list file (one path per line) or a quoted glob. Each image is translated whole, at its own size
(transductive, as the paper's 640x512 results): a fully convolutional network reflect-pads to its
multiple and crops back, never resizes. Outputs are PNG files named after the inputs
(`NAME.png`, or `NAME_sample{k}.png` with --num_samples > 1); --side_by_side writes the input
and its translations in one row instead. The latent mean is used unless --sample.

Inputs are decoded as in training (unit_tf.data.images): JPEG, PNG, BMP, GIF (first frame) and
WebP, turned upright as their EXIF orientation says. An image above --max_image_pixels is, if a
JPEG, decoded and translated at 1/2, 1/4 or 1/8 scale (a warning names it and the output has that
size), otherwise skipped. Files that cannot be decoded, and images smaller than the network takes
(the warning says the minimum size), are skipped with a warning each and a count at the end; the
exit status is 1 if any was skipped.
"""

# First: TF_ENABLE_ONEDNN_OPTS (runtime_env), then TensorFlow imported quietly (tool_env).
import runtime_env  # pylint: disable=unused-import
import tool_env
import os

from absl import app
from absl import flags
from absl import logging

import flag_defs

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by tools/train.py.")
flags.DEFINE_integer("step", None, "Checkpoint step of --model_dir (default: the latest).",
                     lower_bound=0)
flags.DEFINE_string("saved_model", None, "A SavedModel written by tools/export.py (signatures "
                    "a2b / b2a taking uint8 `images`), instead of --model_dir.")
flags.DEFINE_enum("direction", "a2b", ["a2b", "b2a"], "a2b: domain a -> b; b2a: b -> a.")
flags.DEFINE_string("input", None, "Image file, folder, list file or glob.", required=True)
flags.DEFINE_string("output", None, "Output folder (created).", required=True)
flags.DEFINE_bool("sample", False, "Draw the latent from q(z|x) instead of using its mean.")
flags.DEFINE_integer("num_samples", 1, "Translations per image with --sample.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the sampling noise (SavedModel exports with sampling).",
                     lower_bound=0)
flags.DEFINE_bool("side_by_side", False, "Write input | translation(s) as one image.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flag_defs.define_image_flags()
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16", "float16", "auto"],
                  "Compute precision of --model_dir's networks (variables stay float32): auto = "
                  "bfloat16 on a CPU with native bfloat16 (AVX-512 BF16 / AMX), float16 on GPUs "
                  "with tensor cores, else float32. Default float32: the same pixels on every "
                  "machine. A --saved_model computes in the precision it was exported with.")


class _RunTranslator:
  """float [-1, 1] [1, H, W, C] -> float [1, H, W, C'] with the model of a run directory."""

  def __init__(self, model_dir, direction, step, sample, policy=None):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from unit_tf import run_dir  # pylint: disable=g-import-not-at-top
    # Weights and batch-norm statistics only: the optimizers' slots (twice the weights again, 1.8 GB
    # for the Table 10 network) are training state, so they are neither built nor read.
    self.model, configs, self.step = run_dir.restore_for_inference(model_dir, step, policy)
    channels_a, channels_b = configs["model"].channels_a, configs["model"].channels_b
    self.in_channels = channels_a if direction == "a2b" else channels_b
    self.out_channels = channels_b if direction == "a2b" else channels_a
    self.description = f"{model_dir} step {self.step}"
    self._fixed_size, self._multiple = self.model.fixed_size, self.model.image_multiple
    from unit_tf.core import frozen  # pylint: disable=g-import-not-at-top
    translate = lambda images: tf.cast(  # float32 out whatever the compute precision
        self.model.translate(images, direction, sample=sample), tf.float32)
    signature = [tf.TensorSpec([1, None, None, self.in_channels], tf.float32)]
    # Without sampling the translator is a pure function of the weights: frozen, oneDNN re-blocks
    # each kernel once instead of on every image (unit_tf/core/frozen.py). Sampling updates the
    # noise generator's state, so that translator keeps its variables.
    self._fn = (tf.function(translate, input_signature=signature) if sample
                else frozen.freeze(translate, signature))

  def size_problem(self, height, width):
    """Why the network cannot take a height x width image, or None."""
    if self._fixed_size is not None:
      if (height, width) != (self._fixed_size,) * 2:
        return (f"{width}x{height}: this network takes {self._fixed_size}x{self._fixed_size} "
                "images only (it has a fixed-size layer)")
      return None
    minimum = self._multiple // 2 + 1  # reflect padding to the multiple must be smaller than a side
    if min(height, width) < minimum:
      return (f"{width}x{height} is smaller than the minimum {minimum}x{minimum} of this network "
              f"(it reflect-pads each side to a multiple of {self._multiple})")
    return None

  def __call__(self, images, sample_index):
    del sample_index  # the model's noise generator draws new noise each call
    return self._fn(images)


def _latest_version(path):
  """A SavedModel folder itself, or the highest numbered version inside an export base folder
  (tools/export.py writes EXPORT_DIR/<version>/, the layout TF Serving reads)."""
  if os.path.exists(os.path.join(path, "saved_model.pb")):
    return path
  versions = [d for d in os.listdir(path) if d.isdigit() and
              os.path.exists(os.path.join(path, d, "saved_model.pb"))]
  if not versions:
    from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
    raise DataError(f"--saved_model={path} holds no saved_model.pb and no numbered version with "
                    "one (export one with tools/export.py)")
  return os.path.join(path, max(versions, key=int))


class _SavedModelTranslator:
  """The same with a SavedModel of tools/export.py (uint8 in and out)."""

  def __init__(self, path, direction, sample, seed):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
    if not os.path.isdir(path):
      raise DataError(f"--saved_model={path} is not a folder (export one with tools/export.py)")
    path = _latest_version(path)
    loaded = tf.saved_model.load(path)
    if direction not in loaded.signatures:
      raise DataError(f"{path} has no signature {direction!r} (it has "
                      f"{sorted(loaded.signatures)}); export it with tools/export.py")
    self._loaded = loaded  # keeps the functions' variables alive
    self._fn = loaded.signatures[direction]
    inputs = self._fn.structured_input_signature[1]
    if "images" not in inputs:
      raise DataError(f"{path}:{direction} takes {sorted(inputs)}, not uint8 `images`")
    # The input images carry no static shape; a2b takes what b2a returns (domain a's channels).
    reverse = "b2a" if direction == "a2b" else "a2b"
    self.out_channels = self._fn.structured_outputs["images"].shape[-1]
    self.in_channels = loaded.signatures[reverse].structured_outputs["images"].shape[-1]
    self._sampled = "seed" in inputs
    if self._sampled != sample:
      raise DataError(
          f"{path} was exported {'with' if self._sampled else 'without'} sampling; "
          f"{'add' if self._sampled else 'drop'} --sample (or export it again)")
    self.seed = seed
    self.description = path

  def size_problem(self, height, width):
    del height, width  # the SavedModel checks sizes itself (an InvalidArgument naming the reason)
    return None

  def __call__(self, images, sample_index):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from unit_tf import visualize  # pylint: disable=g-import-not-at-top
    from unit_tf.core import pixels  # pylint: disable=g-import-not-at-top
    kwargs = {"images": tf.constant(visualize.to_uint8(images))}
    if self._sampled:
      kwargs["seed"] = tf.constant([self.seed * 1000003 + sample_index], tf.int64)
    return pixels.to_float(self._fn(**kwargs)["images"])


def _output_names(paths, source):
  """Output stems: relative paths under a folder input, else file names (made unique)."""
  names, seen = [], set()
  folder = source if os.path.isdir(source) else None
  for path in paths:
    stem = os.path.splitext(os.path.relpath(path, folder) if folder else os.path.basename(path))[0]
    name, k = stem, 1
    while name in seen:
      k += 1
      name = f"{stem}_{k}"
    seen.add(name)
    names.append(name)
  return names


def _save_png(path, image_uint8):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.dirname(path), exist_ok=True)
  array = image_uint8[..., 0] if image_uint8.shape[-1] == 1 else image_uint8
  Image.fromarray(array).save(path)


def translate_files(translator, paths, names, output, num_samples, side_by_side, progress=True,
                    max_pixels=None):
  """Translates every file; returns the list of (path, reason) that were skipped.

  `max_pixels`: see unit_tf.data.images.inspect_image (default its DEFAULT_MAX_PIXELS).
  """
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from unit_tf import visualize  # pylint: disable=g-import-not-at-top
  from unit_tf.data import images as image_data  # pylint: disable=g-import-not-at-top

  max_pixels = max_pixels or image_data.DEFAULT_MAX_PIXELS
  bar = keras.utils.Progbar(len(paths), unit_name="image") if progress else None
  skipped, reduced = [], 0
  for i, (path, name) in enumerate(zip(paths, names)):
    found, reason = image_data.inspect_image(path, max_pixels)
    if reason is None:
      try:
        image = image_data.decode_image(tf.io.read_file(path), translator.in_channels,
                                        **found.decode_args())[None]
      except tf.errors.OpError:
        reason = "TensorFlow cannot decode it (truncated or corrupt data)"
    if reason is None:
      reason = translator.size_problem(int(image.shape[1]), int(image.shape[2]))
    if reason is None:
      try:
        outputs = [translator(image, k) for k in range(num_samples)]
      except tf.errors.InvalidArgumentError as e:  # a SavedModel's own input checks
        reason = f"the model refuses it: {e.message.splitlines()[0]}"
    if reason is not None:
      logging.warning("skipping %s: %s", path, reason)
      skipped.append((path, reason))
      if bar:
        bar.update(i + 1)
      continue
    if found.scale > 1:
      reduced += 1
      logging.warning("%s: %dx%d is above --max_image_pixels=%d; decoded and translated at 1/%d "
                      "scale (%dx%d)", path, found.width, found.height, max_pixels, found.scale,
                      int(image.shape[2]), int(image.shape[1]))
    if side_by_side:
      row = tf.concat([visualize.to_unit_range(x)[0] for x in [image] + outputs], axis=1)
      row = visualize.to_uint8(row * 2.0 - 1.0)
      _save_png(os.path.join(output, name + ".png"), row)
    else:
      for k, out in enumerate(outputs):
        suffix = f"_sample{k}" if num_samples > 1 else ""
        _save_png(os.path.join(output, name + suffix + ".png"), visualize.to_uint8(out[0]))
    if bar:
      bar.update(i + 1)
  if reduced:
    logging.warning("translated %d images above --max_image_pixels at reduced scale", reduced)
  return skipped


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
    raise app.UsageError("give exactly one of --model_dir and --saved_model")
  if FLAGS.saved_model and FLAGS.precision != "float32":
    raise app.UsageError("--precision applies to --model_dir; a SavedModel computes in the "
                         "precision it was exported with (tools/export.py --precision)")
  if FLAGS.num_samples > 1 and not FLAGS.sample:
    raise app.UsageError("--num_samples > 1 needs --sample (the latent mean gives one output)")
  from unit_tf.data import images as image_data  # pylint: disable=g-import-not-at-top
  from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    paths = image_data.list_images(FLAGS.input, "--input")
    if FLAGS.model_dir:
      policy, _ = runtime_env.resolve(FLAGS.precision, inference=True)
      translator = _RunTranslator(FLAGS.model_dir, FLAGS.direction, FLAGS.step, FLAGS.sample,
                                  policy)
    else:
      translator = _SavedModelTranslator(FLAGS.saved_model, FLAGS.direction, FLAGS.sample,
                                         FLAGS.seed)
  except (DataError, FileNotFoundError) as e:
    raise SystemExit(f"error: {e}") from None
  logging.info("translating %d images %s with %s", len(paths), FLAGS.direction,
               translator.description)
  names = _output_names(paths, FLAGS.input)
  skipped = translate_files(translator, paths, names, FLAGS.output, FLAGS.num_samples,
                            FLAGS.side_by_side, FLAGS.progress, FLAGS.max_image_pixels)
  done = len(paths) - len(skipped)
  logging.info("wrote %d translations to %s", done, FLAGS.output)
  if skipped:
    logging.warning("skipped %d of %d files (reasons above): not decodable or a size the network "
                    "cannot take", len(skipped), len(paths))
    raise SystemExit(1)


if __name__ == "__main__":
  tool_env.run(main)
