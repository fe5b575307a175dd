"""The multi-task objective of domain adaptation (Appendix C) on the paper's UNIT.

Batches are (images_a, images_b, labels_a): domain a is the labelled source, labels of the target
are never an input. The discriminator update adds to the paper's (`unit_tf.paper.model`), per
example:
  lambda_cls            * cls_loss             D_a's class head on the real source images
  lambda_cls_translated * cls_translated_loss  D_b's class head on a->b translations, source
                                               labels (our variant; 0 = the paper's method)
  lambda_feature        * feature_loss         D_b's features of a->b against D_a's of a->a, and
                                               D_a's of b->a against D_b's of b->b (the authors'
                                               code)
and logs cls_accuracy. The encoder/generator update is the paper's, plus (our variant, 0 = off)
  lambda_semantic       * semantic_loss        D_a's class head, read but not updated, on the
                                               a->b translations against the source labels, and
                                               (semantic_target_pseudo_labels) on the b->a
                                               translations against its own prediction for the
                                               real target image
which keeps a digit's class through translation (the semantic consistency of CyCADA, Hoffman et
al. 2018, with D_a's class head as the fixed source classifier). `source_only` is the
no-adaptation baseline: every chunk of a batch updates D_a's classifier path (its layers up to the
class head) on the source labels, nothing else is trained.

`classify(images, "b")` classifies target images with D_b's head (shared above its first layer),
as Appendix C does at test time; a source-only baseline classifies both domains with D_a.
"""

import tensorflow as tf

from unit_tf.core.model import SLOT_A, SLOT_B, average, coupled_l2
from unit_tf.paper.model import PaperUNIT
from unit_tf.uda import losses
from unit_tf.uda.options import UdaOptions


class UdaUNIT(PaperUNIT):
  """The paper's UNIT with class heads on the discriminators (see the module docstring)."""

  def __init__(self, networks, loss_config, options=UdaOptions(), **kwargs):
    super().__init__(networks, loss_config, **kwargs)
    self.options = options

  def weight_penalty(self, variables):
    """Coupled L2 on every update (the authors' digit code), if weight_decay > 0."""
    if not self.options.weight_decay:
      return None
    return coupled_l2(self.options.weight_decay, variables)

  def build_heads(self, images_a, images_b):
    self.discriminator_a.classify(images_a, slot=SLOT_A, training=False)
    self.discriminator_b.classify(images_b, slot=SLOT_B, training=False)

  def discriminator_terms(self, batch, index):
    images_a, images_b = batch[0], batch[1]
    labels_a = batch[2] if len(batch) > 2 else None
    opts = self.options
    passed = self.discriminator_pass(images_a, images_b, index)
    groups, extras = [self.adversarial_terms(passed)], {}
    fake = passed["fake"]
    if labels_a is not None and opts.lambda_cls > 0:
      class_logits = self.discriminator_a.class_logits(passed["real_features_a"], training=True)
      groups.append((opts.lambda_cls,
                     {"cls_loss": losses.classification_loss(class_logits, labels_a)}))
      extras["cls_accuracy"] = average(losses.correct_predictions(class_logits, labels_a))
    if labels_a is not None and opts.lambda_cls_translated > 0:
      translated_logits = self.discriminator_b.class_logits(fake["ab"][1], training=True)
      groups.append((opts.lambda_cls_translated, {
          "cls_translated_loss": losses.classification_loss(translated_logits, labels_a)}))
    if opts.lambda_feature > 0:
      if opts.feature_matching_dropout_free:  # both authors' codes: a dropout-free pass
        matched = {key: self.discriminator_features(key, passed["fakes"]) for key in fake}
      else:
        matched = {key: value[1] for key, value in fake.items()}
      feature = (losses.feature_matching_loss(matched["ab"], matched["aa"]) +
                 losses.feature_matching_loss(matched["ba"], matched["bb"]))
      groups.append((opts.lambda_feature, {"feature_loss": feature}))
    return groups, extras

  def generator_extra_terms(self, batch, outputs):
    opts = self.options
    if len(batch) < 3 or opts.lambda_semantic <= 0:
      return []
    images_b, labels_a = batch[1], batch[2]
    classify_a = lambda images: self.discriminator_a.classify(images, slot=SLOT_A,
                                                              training=False)
    semantic = losses.classification_loss(classify_a(outputs["images_ab"]), labels_a)
    if opts.semantic_target_pseudo_labels:
      pseudo_labels_b = tf.stop_gradient(tf.argmax(tf.cast(classify_a(images_b), tf.float32),
                                                   axis=-1, output_type=tf.int32))
      semantic += losses.classification_loss(classify_a(outputs["images_ba"]), pseudo_labels_b)
    return [(opts.lambda_semantic, {"semantic_loss": semantic})]

  def discriminator_features(self, key, images):
    """Dropout-free training-mode features of images_<key> (as `discriminate` reads them)."""
    discriminator, slot = self.discriminator_and_slot(key)
    return discriminator.features(images[f"images_{key}"], slot=slot, training=True,
                                  dropout=False)

  def _source_classifier_terms(self, images_a, labels_a):
    class_logits = self.discriminator_a.classify(images_a, slot=SLOT_A, training=True)
    return ([(1.0, {"cls_loss": losses.classification_loss(class_logits, labels_a)})],
            {"cls_accuracy": average(losses.correct_predictions(class_logits, labels_a))})

  def train_step(self, data):
    if not self.options.source_only:
      return super().train_step(data)
    if len(data) < 3:
      raise ValueError("source_only training needs source labels (a domain-adaptation task)")
    logs = {}
    variables = self.discriminator_a.class_path_variables()
    for images_a, _, labels_a in self.split_chunks(data):  # every chunk is a fresh labelled batch
      logs = self.update(self.disc_optimizer, variables,
                         lambda x=images_a, y=labels_a: self._source_classifier_terms(x, y))
    return logs

  def classify(self, images, domain="b"):
    """[batch, 10] class logits of images of `domain` (a = source, b = target)."""
    if domain not in ("a", "b"):
      raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
    if domain == "a" or self.options.source_only:
      return self.discriminator_a.classify(images, slot=SLOT_A, training=False)
    return self.discriminator_b.classify(images, slot=SLOT_B, training=False)
