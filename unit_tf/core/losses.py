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


def discriminator_loss(real_logits, *fake_logits):
  """The discriminator's side of Eq. 4 (or 5), negated to a loss to minimise:

  -log D(x) - 1/2 log(1 - D(G(z_same))) - 1/2 log(1 - D(G(z_other)))

  with D = sigmoid(logits), `fake_logits` = (reconstructions, translations into the domain): real
  images are labelled real, both kinds of fake are fake, weighted 1/2 each. With one kind of fake
  only (Table 5's one-sided ablations, where the other cannot be made) it gets the whole weight:
  -log D(x) - log(1 - D(fake)).
  """
  if not fake_logits:
    raise ValueError("discriminator_loss needs at least one batch of fake logits")
  weight = 1.0 / len(fake_logits)
  loss = _sigmoid_ce(real_logits, 1.0)
  for logits in fake_logits:
    loss += weight * _sigmoid_ce(logits, 0.0)
  return loss


def generator_adversarial_loss(*fake_logits):
  """The encoders'/generators' side of Eq. 4 (or 5), in the non-saturating form:

  -1/2 log D(G(z_same)) - 1/2 log D(G(z_other))

  instead of minimising log(1 - D(.)), whose gradient vanishes while D wins (Goodfellow et al. 2014,
  Section 3); the fixed point is the same. With one kind of fake only (Table 5's one-sided
  ablations): -log D(fake).
  """
  if not fake_logits:
    raise ValueError("generator_adversarial_loss needs at least one batch of fake logits")
  weight = 1.0 / len(fake_logits)
  loss = 0.0
  for logits in fake_logits:
    loss += weight * _sigmoid_ce(logits, 1.0)
  return loss


# ----- Per-pixel means and multi-scale GAN losses -----
#
# Terms reduced to a mean over each example's pixels / latent dimensions (rather than a sum): for
# equally sized images their batch average equals a mean over the whole batch tensor, the
# convention of the authors' 2018 code release, whose loss weights then apply unchanged.


def _flat_mean(x):
  x = tf.cast(x, tf.float32)
  return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def mean_absolute_error(images, reconstructions):
  """mean_pixels |x - G(z)| per example (the 2018 release's reconstruction and cycle loss)."""
  return _flat_mean(tf.abs(tf.cast(images, tf.float32) - tf.cast(reconstructions, tf.float32)))


RECONSTRUCTION_LOSSES["l1_mean"] = mean_absolute_error


def latent_mean_square(mu):
  """The release's KL term for a unit-variance posterior: mean_dims mu^2 per example.

  KL(N(mu, I) || N(0, I)) = 0.5 * sum_dims mu^2; the release drops the 1/2 and averages over the
  latent's dimensions instead of summing (its weight 0.01 is meant for this scale).
  """
  return _flat_mean(tf.square(tf.cast(mu, tf.float32)))


def lsgan_discriminator_loss(real_outputs, fake_outputs):
  """Least-squares GAN (Mao et al. 2017), discriminator side, summed over the scales of a
  multi-scale discriminator (lists of [batch, h, w, 1] maps, one per scale):

  sum_scales mean_pixels (D_s(x) - 1)^2 + mean_pixels D_s(G(z))^2
  """
  return sum(_flat_mean(tf.square(tf.cast(real, tf.float32) - 1.0)) +
             _flat_mean(tf.square(tf.cast(fake, tf.float32)))
             for real, fake in zip(real_outputs, fake_outputs))


def lsgan_generator_loss(fake_outputs):
  """Least-squares GAN, generator side: sum_scales mean_pixels (D_s(G(z)) - 1)^2."""
  return sum(_flat_mean(tf.square(tf.cast(fake, tf.float32) - 1.0)) for fake in fake_outputs)


def multiscale_discriminator_loss(real_logits, fake_logits):
  """Sigmoid cross-entropy GAN ("nsgan" in the release), discriminator side, over the scales:

  sum_scales -mean log D_s(x) - mean log(1 - D_s(G(z))), D_s = sigmoid(logits).
  """
  return sum(_sigmoid_ce(real, 1.0) + _sigmoid_ce(fake, 0.0)
             for real, fake in zip(real_logits, fake_logits))


def multiscale_generator_loss(fake_logits):
  """Non-saturating generator side of `multiscale_discriminator_loss`: sum_s -mean log D_s(G(z))."""
  return sum(_sigmoid_ce(fake, 1.0) for fake in fake_logits)


# gan_loss name -> (discriminator loss, generator loss) on lists of per-scale outputs
MULTISCALE_GAN_LOSSES = {
    "lsgan": (lsgan_discriminator_loss, lsgan_generator_loss),
    "nonsaturating": (multiscale_discriminator_loss, multiscale_generator_loss),
}


def l2_penalty(variables):
  """0.5 * sum_w w^2: its gradient wd * w is what PyTorch's Adam(weight_decay=wd) adds to each
  gradient (coupled L2, the release's weight decay), unlike Keras' decoupled `weight_decay`."""
  return 0.5 * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32))) for v in variables])
