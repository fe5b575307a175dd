"""Exports the translators of a trained run as a SavedModel for TF Serving.

The signatures are the contract of `unit_tf.serving` (names, keys) and docs/serving.md (the
table). The SavedModel holds graphs and variables only: it loads and runs with TensorFlow alone,
without unit_tf or Keras custom objects.

Input checks. A malformed request must fail with an InvalidArgument error that names the
signature and what was wrong, whichever front end (Python, TF Serving REST or gRPC) fed it. So:
- the declared input shapes are left open (unknown rank): a declared shape would be checked, or
  not, by each front end in its own way before the graph ever ran;
- the checks are computed with ops that cannot fail on any input, and the network sees the input
  only through `_guard`, a `tf.cond` that hands it a valid placeholder when a check failed. A
  control dependency on an assertion is not enough: Grappler, which TF Serving runs too, drops
  such orderings, and the network's own error ("slice index 3 of dimension 0 out of bounds")
  would then win the race against the clear one.

Encoded images (`*_bytes`) are decoded by the graph itself and turned as their EXIF orientation
tag says (`unit_tf.data.exif`, TensorFlow ops only), so a portrait phone photo is translated
upright, as in training and tools/translate.py; the PNG returned is the upright translation.

Layout: `export_dir/<version>/` is one SavedModel; `export_dir` is what TF Serving's
`--model_base_path` points at (it serves the highest version).
"""

import os
import shutil

import keras
import tensorflow as tf

from unit_tf import serving
from unit_tf import training
from unit_tf.data import exif

SOURCE_DOMAIN = {"a2b": "a", "b2a": "b"}
TARGET_DOMAIN = {"a2b": "b", "b2a": "a"}
# First bytes of the formats the *_bytes signatures accept.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")  # JPEG, PNG, BMP


def to_float(images):
  """uint8 0..255 -> float32 [-1, 1], the range the networks were trained on."""
  return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images):
  """float [-1, 1] -> uint8, rounded to nearest (as unit_tf.visualize.to_uint8)."""
  scaled = tf.clip_by_value((tf.cast(images, tf.float32) + 1.0) * 127.5, 0.0, 255.0)
  return tf.cast(tf.round(scaled), tf.uint8)


# ----- input checks (see the module docstring) -----

def _dims(tensor, rank):
  """The first `rank` entries of tf.shape(tensor), padded with -1: safe for any input rank."""
  return tf.concat([tf.shape(tensor), tf.fill([rank], -1)], 0)[:rank]


def _guard(signature, checks, tensor, placeholder):
  """`tensor` if every (condition, reason) of `checks` holds; otherwise an InvalidArgument
  "<signature>: <first failed reason>; got shape [...]" and `placeholder` (a valid input, so
  nothing downstream fails first with a less clear message)."""
  oks = tf.stack([condition for condition, _ in checks])
  ok = tf.reduce_all(oks)

  def fail():
    reason = tf.gather(tf.constant([r for _, r in checks]), tf.where(tf.logical_not(oks))[0, 0])
    failed = tf.debugging.Assert(ok, [f"{signature}:", reason, "; got shape", tf.shape(tensor)],
                                 summarize=8)
    with tf.control_dependencies([failed]):
      return tf.identity(placeholder)

  return tf.cond(ok, lambda: tensor, fail)


def _size_checks(height, width, model):
  """What image sizes the network takes (the checks unit_tf.sizing makes, but made where a failure
  cannot race them)."""
  if model.fixed_size is not None:
    size = model.fixed_size
    return [(tf.logical_and(tf.equal(height, size), tf.equal(width, size)),
             f"this model takes {size}x{size} images only (it has a fixed-size layer)")]
  multiple = model.image_multiple
  return [(tf.logical_and(height > 0, width > 0), "empty image"),
          (tf.logical_and(tf.math.floormod(-height, multiple) < height,
                          tf.math.floormod(-width, multiple) < width),
           f"image too small to reflect-pad to a multiple of {multiple}")]


def _valid_size(model):
  return model.fixed_size or model.image_multiple


def _checked_images(images, channels, signature, model):
  """uint8 [batch > 0, height, width, channels] with a size the network takes."""
  dims = _dims(images, 4)
  checks = [(tf.equal(tf.rank(images), 4),
             f"`images` must be uint8 [batch, height, width, {channels}] (rank 4)"),
            (tf.equal(dims[3], channels), f"`images` must have {channels} channels"),
            (dims[0] > 0, "empty batch")] + _size_checks(dims[1], dims[2], model)
  size = _valid_size(model)
  placeholder = tf.zeros([1, size, size, channels], tf.uint8)
  return tf.ensure_shape(_guard(signature, checks, images, placeholder),
                         [None, None, None, channels])


def _checked_encoded(encoded, signature, model):
  """string [batch > 0], each element starting like a JPEG, PNG or BMP file."""
  known = tf.zeros(tf.shape(encoded), tf.bool)
  for magic in _MAGIC:
    known = tf.logical_or(known, tf.equal(tf.strings.substr(encoded, 0, len(magic)), magic))
  checks = [(tf.equal(tf.rank(encoded), 1),
             "`images` must be a batch (rank 1) of encoded JPEG/PNG/BMP images"),
            (tf.size(encoded) > 0, "empty batch"),
            (tf.reduce_all(known), "an element of `images` is not a JPEG, PNG or BMP image")]
  size = _valid_size(model)
  placeholder = tf.io.encode_png(tf.zeros([size, size, 1], tf.uint8))[None]
  return tf.ensure_shape(_guard(signature, checks, encoded, placeholder), [None])


def _checked_decoded(image, signature, model):
  """A decoded [height, width, channels] image of a size the network takes."""
  dims = tf.shape(image)
  size = _valid_size(model)
  placeholder = tf.zeros([size, size, image.shape[-1]], image.dtype)
  return _guard(signature, _size_checks(dims[0], dims[1], model), image, placeholder)


def _checked_seeds(seeds, batch, signature):
  """int64 [batch]: one seed per image."""
  checks = [(tf.equal(tf.rank(seeds), 1), "`seed` must be int64 [batch] (rank 1)"),
            (tf.equal(tf.size(seeds), batch), "`seed` must hold one seed per image")]
  return tf.ensure_shape(_guard(signature, checks, seeds, tf.zeros([batch], tf.int64)), [None])


# ----- the signatures -----

def translation_endpoints(model, channels, sample=False):
  """{signature name: (function, input signature)} of the four translators.

  A family of signatures is a function returning this form, and `write_saved_model` takes any
  such dict: the classifiers of domain-adaptation models (`classification_endpoints`) are one
  more family, merged into this one in `export_run`.

  Args:
    model: a built `unit_tf.model.UNIT` with restored weights.
    channels: {"a": channels of domain a, "b": channels of domain b}.
    sample: translate with sampled latents, each image's noise keyed by an int64 `seed` input;
      otherwise with the latent mean (deterministic).
  """

  def translate_float(images, direction, seed=None):
    """float [N, H, W, C] -> float; with `seed`, N = 1 (noise keyed by that seed)."""
    if seed is None:
      out = model.translate(images, direction)
    else:
      out = model.translate(images, direction, sample=True, seed=seed)
    return tf.cast(out, tf.float32)  # float16 under a mixed-precision policy

  def translate_each(images, direction, seeds):
    """Sampled translation image by image, so that image i's noise depends on seeds[i] only
    (not on the batch it came in)."""
    spec = tf.TensorSpec([None, None, channels[TARGET_DOMAIN[direction]]], tf.float32)
    return tf.map_fn(lambda args: translate_float(args[0][None], direction, args[1])[0],
                     (images, seeds), fn_output_signature=spec)

  def arrays_fn(direction):
    name, in_channels = direction, channels[SOURCE_DOMAIN[direction]]

    def run(images):
      images = to_float(_checked_images(images, in_channels, name, model))
      return {serving.IMAGES: to_uint8(translate_float(images, direction))}

    def run_sampled(images, seed):
      images = to_float(_checked_images(images, in_channels, name, model))
      seeds = _checked_seeds(seed, tf.shape(images)[0], name)
      return {serving.IMAGES: to_uint8(translate_each(images, direction, seeds))}

    return run_sampled if sample else run

  def bytes_fn(direction):
    name, in_channels = f"{direction}_bytes", channels[SOURCE_DOMAIN[direction]]

    def one(encoded, seed=None):
      # Images of a request may differ in size: each is decoded, translated and encoded alone.
      image = tf.io.decode_image(encoded, channels=in_channels, expand_animations=False)
      # Turned as its EXIF orientation says, as in training and tools/translate.py; the output
      # is the turned image (no EXIF of its own).
      image = exif.apply_orientation(image, exif.orientation(encoded))
      image = _checked_decoded(image, name, model)
      out = translate_float(to_float(image)[None], direction, seed)
      return tf.io.encode_png(to_uint8(out)[0])

    def run(images):
      encoded = _checked_encoded(images, name, model)
      return {serving.IMAGES_BYTES: tf.map_fn(one, encoded, fn_output_signature=tf.string)}

    def run_sampled(images, seed):
      encoded = _checked_encoded(images, name, model)
      seeds = _checked_seeds(seed, tf.size(encoded), name)
      return {serving.IMAGES_BYTES: tf.map_fn(lambda args: one(*args), (encoded, seeds),
                                              fn_output_signature=tf.string)}

    return run_sampled if sample else run

  image_spec = tf.TensorSpec(None, tf.uint8, name=serving.IMAGES)
  encoded_spec = tf.TensorSpec(None, tf.string, name=serving.IMAGES)
  extra = [tf.TensorSpec(None, tf.int64, name=serving.SEED)] if sample else []
  endpoints = {}
  for direction in serving.TRANSLATIONS:
    endpoints[direction] = (arrays_fn(direction), [image_spec] + extra)
    endpoints[f"{direction}_bytes"] = (bytes_fn(direction), [encoded_spec] + extra)
  return endpoints


def classification_endpoints(model, channels):
  """{classify_a, classify_b: (function, input signature)} of a model with a class head
  (domain adaptation): uint8 images -> softmax `scores` [N, 10] and argmax `classes` [N].
  classify_b is the target classifier (`UNIT.classify(images, "b")`, Appendix C)."""

  def classify_fn(domain):
    name = f"classify_{domain}"

    def run(images):
      images = to_float(_checked_images(images, channels[domain], name, model))
      logits = tf.cast(model.classify(images, domain), tf.float32)
      return {serving.SCORES: tf.nn.softmax(logits),
              serving.CLASSES: tf.argmax(logits, axis=-1, output_type=tf.int64)}

    return run

  image_spec = tf.TensorSpec(None, tf.uint8, name=serving.IMAGES)
  return {f"classify_{d}": (classify_fn(d), [image_spec]) for d in "ab"}


def write_saved_model(path, endpoints):
  """Writes {signature name: (function, input signature)} as a SavedModel at `path`.

  ExportArchive saves the variables the functions use (for the translators: the encoders' and
  generators'; the classifiers add the discriminators' layers they read; the optimizers are
  training state and stay out).
  `serving_default` is `a2b`.
  """
  archive = keras.export.ExportArchive()
  # ExportArchive makes the first endpoint it is given serving_default.
  for name in sorted(endpoints, key=lambda n: n != serving.DEFAULT_SIGNATURE):
    fn, spec = endpoints[name]
    archive.add_endpoint(name, fn, input_signature=spec)
  archive.write_out(path, verbose=False)


# ----- run directory -> export directory -----

def version_path(export_dir, step, version=None):
  """`export_dir/<version>`: `version`, or the checkpoint step, or, if a SavedModel already has
  that number, one more than the highest version present (so that TF Serving serves the new one).
  """
  existing = ([int(n) for n in os.listdir(export_dir) if n.isdigit()]
              if os.path.isdir(export_dir) else [])
  if version is not None:
    if version in existing:
      raise FileExistsError(f"{os.path.join(export_dir, str(version))} exists; TF Serving "
                            "versions are immutable, pick another --version")
  elif step in existing:
    version = max(existing) + 1
  else:
    version = step
  return os.path.join(export_dir, str(version))


def export_run(model_dir, export_dir, version=None, step=None, sample=False):
  """Restores a run's checkpoint (the latest, or `step`) and exports it to `export_dir/<version>`.

  The SavedModel is written beside its final place and renamed into it: TF Serving polls
  `export_dir` and must never see a half-written version (it ignores names that are not
  numbers). Returns (path, restored step).
  """
  if version is not None:
    version_path(export_dir, step, version)  # refuse an existing version before restoring
  model, configs, restored_step = training.restore_for_inference(model_dir, step)
  model_config = configs["model"]
  path = version_path(export_dir, restored_step, version)
  os.makedirs(export_dir, exist_ok=True)
  staging = os.path.join(export_dir, f".tmp-{os.path.basename(path)}-{os.getpid()}")
  try:
    channels = {"a": model_config.channels_a, "b": model_config.channels_b}
    endpoints = translation_endpoints(model, channels, sample)
    if model.discriminator_a.classifier:
      endpoints.update(classification_endpoints(model, channels))
    write_saved_model(staging, endpoints)
    os.rename(staging, path)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return path, restored_step
