"""The export signatures of domain-adaptation models: classify_a / classify_b (docs/serving.md)."""

import tensorflow as tf

from unit_tf import serving
from unit_tf.core import signatures
from unit_tf.core.pixels import to_float


def classification_endpoints(model, channels, sample=False):
  """{classify_a, classify_b: (function, input signature)} of a model with a class head
  (domain adaptation): uint8 images -> softmax `scores` [N, 10] and argmax `classes` [N].
  classify_b is the target classifier (`UdaUNIT.classify(images, "b")`, Appendix C). `sample`
  does not apply (classification uses no latent)."""
  del sample

  def classify_fn(domain):
    name = f"classify_{domain}"

    def run(images):
      images = to_float(signatures.checked_images(images, channels[domain], name, model))
      logits = tf.cast(model.classify(images, domain), tf.float32)
      return {serving.SCORES: tf.nn.softmax(logits),
              serving.CLASSES: tf.argmax(logits, axis=-1, output_type=tf.int64)}

    return run

  image_spec = tf.TensorSpec(None, tf.uint8, name=serving.IMAGES)
  return {f"classify_{d}": (classify_fn(d), [image_spec]) for d in "ab"}
