"""Serving signatures of a UNIT model: functions from request tensors to response tensors.

A family of signatures is a function `(model, channels, sample) -> {name: (function, input
signature)}`; `translation_endpoints` is the family every variant has, and a variant lists its own
families in `unit_tf.variants`. `unit_tf.export` writes them as a SavedModel.

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
"""

import tensorflow as tf

from unit_tf import serving
from unit_tf.data import exif
from unit_tf.core.pixels import to_float, to_uint8

SOURCE_DOMAIN = {"a2b": "a", "b2a": "b"}
TARGET_DOMAIN = {"a2b": "b", "b2a": "a"}
# First bytes of the formats the *_bytes signatures accept.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")  # JPEG, PNG, BMP


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


def checked_images(images, channels, signature, model):
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

  This is the family every variant exports; a variant's own families (see `unit_tf.variants`)
  are merged into it by `unit_tf.export.export_run`.

  Args:
    model: a built `unit_tf.core.model.UNIT` with restored weights.
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
      images = to_float(checked_images(images, in_channels, name, model))
      return {serving.IMAGES: to_uint8(translate_float(images, direction))}

    def run_sampled(images, seed):
      images = to_float(checked_images(images, in_channels, name, model))
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
  for direction in model.translation_directions:
    endpoints[direction] = (arrays_fn(direction), [image_spec] + extra)
    endpoints[f"{direction}_bytes"] = (bytes_fn(direction), [encoded_spec] + extra)
  return endpoints
