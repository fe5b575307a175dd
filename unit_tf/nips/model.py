"""UNIT as in the NIPS 2017 paper and the authors' 2018 code release (`--arch=nips`).

`NipsUNIT` is the engine (`unit_tf.core.model.UNIT`: Algorithm 1 loop, noise keys, loss reduction,
the one update routine, translation) with the release's two objectives:

Discriminator step: D_a tells real a from translations b->a, D_b real b from a->b (the release
  shows the discriminators translations only, not reconstructions), loss `gan_loss` summed over
  the scales, times lambda_gan.
Encoder/generator step, all terms per example (unit_tf.losses, release weights in the configs):
  lambda_recon   * (|a - a_aa| + |b - b_bb|)          recon_a, recon_b   (mean L1, "l1_mean")
  lambda_kl      * (KL(z_a) + KL(z_b))                kl_a, kl_b
  lambda_cycle   * (|a - a_aba| + |b - b_bab|)        cycle_a, cycle_b   (the VAE-cycle: a -> ab
                                                                          is re-encoded by E_b,
                                                                          sampled, decoded by G_a)
  lambda_kl_cycle * (KL(z_ab) + KL(z_ba))             kl_cycle_a, kl_cycle_b
  lambda_gan     * (adv(D_a(ba)) + adv(D_b(ab)))      gan_a, gan_b
  and g_loss, their sum. KL is `kl_loss`: the release's mean of mu^2 or the Gaussian KL.

Differences from the release, on purpose:
  - Each step's tape watches only the variables it updates, so the E/G step computes no gradient
    for discriminator weights (the release computes them and throws them away); the gradient
    flows through D's activations only.
  - Weight decay is PyTorch Adam's coupled L2 (the release's): 0.5 * wd * sum w^2 is added to
    each step's loss, so wd * w joins the gradient before Adam normalises it. Keras' own
    `Adam(weight_decay=...)` is decoupled (AdamW) and would train differently.
  - Optional `WeightAverage` (ema_decay) of the encoder/generator weights, used at inference.
"""

import tensorflow as tf

from unit_tf.core import losses
from unit_tf.core.model import SLOT_A, SLOT_B, UNIT, coupled_l2
from unit_tf.nips import ema as unit_ema
from unit_tf.nips.options import NipsOptions


class NipsUNIT(UNIT):
  """The UNIT engine with the NIPS 2017 objective (see the module docstring).

  `options` (a NipsOptions): gan_loss, kl_loss, the cycle weights, weight_decay (coupled L2,
  0 = off), ema_decay (0 = no weight average). Each update's tape watches only the variables it
  updates (the engine's update routine).
  """

  def __init__(self, networks, loss_config, options=NipsOptions(), **kwargs):
    super().__init__(networks, loss_config, **kwargs)
    if options.gan_loss not in losses.MULTISCALE_GAN_LOSSES:
      raise ValueError(f"gan_loss must be one of {sorted(losses.MULTISCALE_GAN_LOSSES)}, got "
                       f"{options.gan_loss!r}")
    if options.weight_decay < 0:
      raise ValueError(f"weight_decay must be >= 0, got {options.weight_decay}")
    self.options = options
    self.adversarial_losses = losses.MULTISCALE_GAN_LOSSES[options.gan_loss]
    self.ema = (unit_ema.WeightAverage(options.ema_decay, name="ema") if options.ema_decay
                else None)

  def build_for(self, shape_a, shape_b):
    super().build_for(shape_a, shape_b)
    if self.ema is not None:
      self.ema.track(self.generator_variables)

  def use_averaged_weights(self):
    """Overwrites the encoder/generator weights with their moving average (for inference)."""
    if self.ema is None:
      raise ValueError("this model keeps no weight average (ema_decay was 0)")
    self.ema.copy_to_weights(self.generator_variables)

  def prepare_for_inference(self):
    """Translate, evaluate and export with the averaged weights when the run kept them."""
    if self.ema is not None:
      self.use_averaged_weights()

  def after_generator_update(self, variables):
    if self.ema is not None:
      self.ema.update(variables)

  # ----- losses -----

  def kl(self, latents):
    if self.options.kl_loss == "mean_square":
      return sum(losses.latent_mean_square(mu) for mu, _ in latents)
    return sum(losses.gaussian_kl(mu, var) for mu, var in latents)

  def weight_penalty(self, variables):
    """The release's coupled L2 (PyTorch Adam's weight_decay)."""
    if not self.options.weight_decay:
      return None
    return coupled_l2(self.options.weight_decay, variables)

  # ----- one call of twice the batch -----
  # The NIPS networks normalise each example on its own (instance / layer norm, no batch
  # statistics; they ignore `slot`), so a network applied to two batches is the same function as
  # one call on their concatenation. Joining them halves the kernel calls (and TensorFlow's
  # per-call reordering of every kernel) for the decoders and the discriminators.

  @staticmethod
  def _concat(first, second):
    # Under mixed precision real images arrive in float32 and translations in the compute dtype:
    # joined in the first's dtype (the network casts its input to the compute dtype anyway).
    return tf.nest.map_structure(lambda x, y: tf.concat([x, tf.cast(y, x.dtype)], 0), first,
                                 second)

  @staticmethod
  def _split(joined, n):
    return (tf.nest.map_structure(lambda x: x[:n], joined),
            tf.nest.map_structure(lambda x: x[n:], joined))

  def _joint(self, network, first, second, **kwargs):
    """(network(first), network(second)) from one call; tensors or lists of tensors in, the same
    structure out."""
    n = tf.shape(tf.nest.flatten(first)[0])[0]
    return self._split(network(self._concat(first, second), **kwargs), n)

  def decode_all(self, samples_a, samples_b, training):
    """Both latents through the shared generator layers once, then through each generator's
    private layers, as one batch."""
    n = tf.shape(samples_a[0])[0]
    samples = self._concat(samples_a, samples_b)
    features, position = self.generator_a.decode_shared(samples, SLOT_A, training)
    images_aa, images_ba = self._split(self.generator_a.decode_private(
        features, position, samples, SLOT_A, training), n)
    images_ab, images_bb = self._split(self.generator_b.decode_private(
        features, position, samples, SLOT_A, training), n)
    return {"images_aa": images_aa, "images_ab": images_ab, "images_ba": images_ba,
            "images_bb": images_bb}

  # ----- the two objectives -----

  def _translations(self, images_a, images_b, noise_index):
    """(images_ab, images_ba) from sampled latents: all a discriminator step needs (the engine's
    forward pass would also decode both reconstructions)."""
    latents_a = self.encoder_a(images_a, training=True)
    latents_b = self.encoder_b(images_b, training=True)
    samples_a = self.sample(latents_a, self.training_noise_key(2 * noise_index))
    samples_b = self.sample(latents_b, self.training_noise_key(2 * noise_index + 1))
    return (self.generator_b(samples_a, slot=SLOT_A, training=True),
            self.generator_a(samples_b, slot=SLOT_B, training=True))

  def discriminator_terms(self, batch, index):
    """D_a, D_b on real images against translations into their domain."""
    images_a, images_b = batch[0], batch[1]
    images_ab, images_ba = (tf.stop_gradient(x) for x in
                            self._translations(images_a, images_b, index))
    discriminator_loss = self.adversarial_losses[0]
    loss_a = discriminator_loss(*self._joint(self.discriminator_a, images_a, images_ba,
                                             slot=SLOT_A, training=True))
    loss_b = discriminator_loss(*self._joint(self.discriminator_b, images_b, images_ab,
                                             slot=SLOT_B, training=True))
    return [(self.loss_config.lambda_gan, {"d_loss_a": loss_a, "d_loss_b": loss_b})], {}

  def _cycle_terms(self, images_a, images_b, outputs):
    """The VAE-cycle: a -> ab -> E_b -> sample -> G_a = aba (and b -> ba -> bab)."""
    key_index = 2 * (self.disc_steps + 1)  # after the noise of every pass of the step
    latents_ab = self.encoder_b(outputs["images_ab"], training=True)
    latents_ba = self.encoder_a(outputs["images_ba"], training=True)
    images_aba = self.generator_a(self.sample(latents_ab, self.training_noise_key(key_index)),
                                  slot=SLOT_B, training=True)
    images_bab = self.generator_b(
        self.sample(latents_ba, self.training_noise_key(key_index + 1)),
        slot=SLOT_A, training=True)
    return {"cycle_a": self.reconstruction_loss(images_a, images_aba),
            "cycle_b": self.reconstruction_loss(images_b, images_bab),
            "kl_cycle_a": self.kl(latents_ab), "kl_cycle_b": self.kl(latents_ba)}

  def generator_terms(self, batch, index):
    """Reconstruction, KL, VAE-cycle and adversarial terms of E_a, E_b, G_a, G_b."""
    cfg, opts = self.loss_config, self.options
    images_a, images_b = batch[0], batch[1]
    outputs = self.forward(images_a, images_b, training=True, noise_index=index)
    vae = self.vae_losses(images_a, images_b, outputs)
    groups = [(cfg.lambda_recon, {"recon_a": vae["recon_a"], "recon_b": vae["recon_b"]}),
              (cfg.lambda_kl, {"kl_a": vae["kl_a"], "kl_b": vae["kl_b"]})]
    if opts.lambda_cycle or opts.lambda_kl_cycle:
      cycle = self._cycle_terms(images_a, images_b, outputs)
      groups += [(opts.lambda_cycle, {"cycle_a": cycle["cycle_a"], "cycle_b": cycle["cycle_b"]}),
                 (opts.lambda_kl_cycle, {"kl_cycle_a": cycle["kl_cycle_a"],
                                         "kl_cycle_b": cycle["kl_cycle_b"]})]
    if cfg.use_discriminators:
      generator_loss = self.adversarial_losses[1]
      groups.append((cfg.lambda_gan, {
          "gan_a": generator_loss(
              self.discriminator_a(outputs["images_ba"], slot=SLOT_B, training=True)),
          "gan_b": generator_loss(
              self.discriminator_b(outputs["images_ab"], slot=SLOT_A, training=True))}))
    return groups, {}
