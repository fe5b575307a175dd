"""UNIT's objective (Liu, Breuel, Kautz 2017, Eqs. 1-5) as pure functions of tensors.

Every function returns a *per-example* vector of shape [batch]. The model reduces them with
`tf.nn.compute_average_loss`, i.e. the sum over the replica's examples divided by the *global* batch
size, so that summing the per-replica losses (what tf.distribute does with gradients) gives the mean
over the global batch. One convention for every term; see WORKSPACE.md.

All computation happens in float32 whatever the compute dtype of the networks.
"""

import tensorflow as tf


def _flat_sum(x):
  x = tf.cast(x, tf.float32)
  return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def gaussian_nll(images, reconstructions):
  """-log p_G(x|z) for the paper's Gaussian likelihood p_G(x|z) ∝ exp(-||x - G(z)||^2 / 2) (Eq. 2).

  = 0.5 * sum_pixels (x - G(z))^2, dropping the constant.
  """
  diff = tf.cast(images, tf.float32) - tf.cast(reconstructions, tf.float32)
  return 0.5 * _flat_sum(tf.square(diff))


def laplacian_nll(images, reconstructions):
  """-log p_G(x|z) for a Laplacian likelihood ∝ exp(-|x - G(z)|_1): sum_pixels |x - G(z)| (L1)."""
  diff = tf.cast(images, tf.float32) - tf.cast(reconstructions, tf.float32)
  return _flat_sum(tf.abs(diff))


RECONSTRUCTION_LOSSES = {"l2": gaussian_nll, "l1": laplacian_nll}


def gaussian_kl(mu, var):
  """KL(N(mu, diag(var)) || N(0, I)) in closed form (Eqs. 2-3, Kingma & Welling 2013):

  0.5 * sum_dims (mu^2 + var - log(var) - 1).
  """
  mu = tf.cast(mu, tf.float32)
  var = tf.cast(var, tf.float32)
  return 0.5 * _flat_sum(tf.square(mu) + var - tf.math.log(var) - 1.0)


def _sigmoid_ce(logits, label):
  """Sigmoid cross-entropy against a constant label, averaged over a patch map per example."""
  logits = tf.cast(logits, tf.float32)
  labels = tf.fill(tf.shape(logits), tf.constant(label, tf.float32))
  ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
  return tf.reduce_mean(tf.reshape(ce, [tf.shape(ce)[0], -1]), axis=1)


def discriminator_loss(real_logits, reconstruction_logits, translation_logits):
  """The discriminator's side of Eq. 4 (or 5), negated to a loss to minimise:

  -log D(x) - 1/2 log(1 - D(G(z_same))) - 1/2 log(1 - D(G(z_other)))

  with D = sigmoid(logits). Real images are labelled real; the domain's reconstructions and the
  translations into the domain are both fake, weighted 1/2 each.
  """
  return (_sigmoid_ce(real_logits, 1.0) + 0.5 * _sigmoid_ce(reconstruction_logits, 0.0) +
          0.5 * _sigmoid_ce(translation_logits, 0.0))


def generator_adversarial_loss(reconstruction_logits, translation_logits):
  """The encoders'/generators' side of Eq. 4 (or 5), in the non-saturating form:

  -1/2 log D(G(z_same)) - 1/2 log D(G(z_other))

  instead of minimising log(1 - D(.)), whose gradient vanishes while D wins (Goodfellow et al. 2014,
  Section 3); the fixed point is the same.
  """
  return (0.5 * _sigmoid_ce(reconstruction_logits, 1.0) +
          0.5 * _sigmoid_ce(translation_logits, 1.0))


def classification_loss(class_logits, labels):
  """Cross-entropy of a class head on labelled images (Appendix C, multi-task training):

  -log softmax(logits)[label], the softmax folded into the loss.
  """
  return tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int32), logits=tf.cast(class_logits, tf.float32))


def correct_predictions(class_logits, labels):
  """1.0 where argmax(logits) == label, else 0.0 (per example; averaged it is the accuracy)."""
  predicted = tf.argmax(tf.cast(class_logits, tf.float32), axis=-1, output_type=tf.int32)
  return tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32)


def feature_matching_loss(features, target_features):
  """sum_j (f_j - f'_j)^2 per example: how far one discriminator's features of an image are from
  the other discriminator's features of its counterpart (the authors' domain-adaptation code:
  D_b's features of a translation a->b against D_a's features of the reconstruction a->a, both
  decoded from the same latent)."""
  diff = tf.cast(features, tf.float32) - tf.cast(target_features, tf.float32)
  return _flat_sum(tf.square(diff))
