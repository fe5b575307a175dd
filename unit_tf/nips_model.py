"""UNIT as in the NIPS 2017 paper and the authors' 2018 code release (`--arch=nips`).

`NipsUNIT` keeps the paper model's Algorithm 1 loop, noise keys, loss reduction and translation
(`unit_tf.model.UNIT`) and replaces the two updates:

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

from unit_tf import ema as unit_ema
from unit_tf import losses
from unit_tf import model as unit_model

KL_LOSSES = ("mean_square", "gaussian")


# The paper presets that accept coupled weight decay (the authors' domain-adaptation code uses it).
WEIGHT_DECAY_ARCHS = ("digits_lenet", "digits_svhn")


def reject_nips_options(loss_config, weight_decay=0.0, ema_decay=0.0, arch=None):
  """ValueError if a paper preset is asked for an option only arch "nips" implements
  (weight_decay is also allowed for the domain-adaptation presets, WEIGHT_DECAY_ARCHS)."""
  if arch in WEIGHT_DECAY_ARCHS:
    weight_decay = 0.0
  asked = [name for name, value, default in (
      ("gan_loss", loss_config.gan_loss, "nonsaturating"), ("kl_loss", loss_config.kl_loss,
                                                            "gaussian"),
      ("lambda_cycle", loss_config.lambda_cycle, 0.0),
      ("lambda_kl_cycle", loss_config.lambda_kl_cycle, 0.0),
      ("weight_decay", weight_decay, 0.0), ("ema_decay", ema_decay, 0.0)) if value != default]
  if asked:
    raise ValueError(f"{', '.join(asked)}: only arch 'nips' implements these (the paper presets "
                     "train the paper's objective)")


def _watch(tape, variables):
  """Watches exactly `variables` (Keras variables; the tape takes their tf.Variable)."""
  tape.watch([v.value for v in variables])


class NipsUNIT(unit_model.UNIT):
  """The UNIT model with the NIPS 2017 objective (see the module docstring).

  Args beyond `UNIT`'s: weight_decay (coupled L2, 0 = off), ema_decay (0 = no weight average).
  """

  def __init__(self, networks, loss_config, disc_steps=1, seed=0, image_multiple=4,
               fixed_size=None, weight_decay=0.0, ema_decay=0.0, **kwargs):
    super().__init__(networks, loss_config, disc_steps=disc_steps, seed=seed,
                     image_multiple=image_multiple, fixed_size=fixed_size, **kwargs)
    if loss_config.gan_loss not in losses.MULTISCALE_GAN_LOSSES:
      raise ValueError(f"gan_loss must be one of {sorted(losses.MULTISCALE_GAN_LOSSES)}, got "
                       f"{loss_config.gan_loss!r}")
    if loss_config.kl_loss not in KL_LOSSES:
      raise ValueError(f"kl_loss must be one of {KL_LOSSES}, got {loss_config.kl_loss!r}")
    uda = [name for name in ("lambda_cls", "lambda_feature", "lambda_cls_translated",
                             "source_only") if getattr(loss_config, name)]
    if uda:
      raise ValueError(f"{', '.join(uda)}: domain adaptation needs a class-head preset "
                       "(digits_lenet, digits_svhn), not arch 'nips'")
    if weight_decay < 0:
      raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    self._adversarial_losses = losses.MULTISCALE_GAN_LOSSES[loss_config.gan_loss]
    self.weight_decay = weight_decay
    self.ema = unit_ema.WeightAverage(ema_decay, name="ema") if ema_decay else None

  def build_for(self, shape_a, shape_b):
    super().build_for(shape_a, shape_b)
    if self.ema is not None:
      self.ema.track(self.generator_variables)

  def use_averaged_weights(self):
    """Overwrites the encoder/generator weights with their moving average (for inference)."""
    if self.ema is None:
      raise ValueError("this model keeps no weight average (ema_decay was 0)")
    self.ema.copy_to_weights(self.generator_variables)

  # ----- losses -----

  def _kl(self, latents):
    if self.loss_config.kl_loss == "mean_square":
      return sum(losses.latent_mean_square(mu) for mu, _ in latents)
    return sum(losses.gaussian_kl(mu, var) for mu, var in latents)

  def vae_losses(self, images_a, images_b, outputs):
    """Per-example reconstruction and KL terms of each domain."""
    return {
        "recon_a": self._reconstruction_loss(images_a, outputs["images_aa"]),
        "recon_b": self._reconstruction_loss(images_b, outputs["images_bb"]),
        "kl_a": self._kl(outputs["latents_a"]),
        "kl_b": self._kl(outputs["latents_b"]),
    }

  # ----- the two updates -----

  def _translations(self, images_a, images_b, noise_index):
    """(images_ab, images_ba) from sampled latents: all a discriminator step needs (the base
    class's forward pass would also decode both reconstructions)."""
    latents_a = self.encoder_a(images_a, training=True)
    latents_b = self.encoder_b(images_b, training=True)
    samples_a = self._sample(latents_a, self._training_noise_key(2 * noise_index))
    samples_b = self._sample(latents_b, self._training_noise_key(2 * noise_index + 1))
    return (self.generator_b(samples_a, slot=unit_model.SLOT_A, training=True),
            self.generator_a(samples_b, slot=unit_model.SLOT_B, training=True))

  def _discriminator_step(self, images_a, images_b, labels_a=None, index=0):
    """One update of D_a, D_b on real images against translations into their domain (labels,
    for domain adaptation, are not used: the constructor rejects its options)."""
    del labels_a
    images_ab, images_ba = (tf.stop_gradient(x) for x in
                            self._translations(images_a, images_b, index))
    discriminator_loss = self._adversarial_losses[0]
    variables = self.discriminator_variables
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      _watch(tape, variables)
      loss_a = discriminator_loss(
          self.discriminator_a(images_a, slot=unit_model.SLOT_A, training=True),
          self.discriminator_a(images_ba, slot=unit_model.SLOT_B, training=True))
      loss_b = discriminator_loss(
          self.discriminator_b(images_b, slot=unit_model.SLOT_B, training=True),
          self.discriminator_b(images_ab, slot=unit_model.SLOT_A, training=True))
      total = unit_model._average(self.loss_config.lambda_gan * (loss_a + loss_b))  # pylint: disable=protected-access
      scaled = self.disc_optimizer.scale_loss(total + self._weight_penalty(variables))
    self.disc_optimizer.apply(tape.gradient(scaled, variables), variables)
    return {"d_loss_a": unit_model._average(loss_a), "d_loss_b": unit_model._average(loss_b),  # pylint: disable=protected-access
            "d_loss": total}

  def _cycle_terms(self, images_a, images_b, outputs):
    """The VAE-cycle: a -> ab -> E_b -> sample -> G_a = aba (and b -> ba -> bab)."""
    key_index = 2 * (self.disc_steps + 1)  # after the noise of every pass of the step
    latents_ab = self.encoder_b(outputs["images_ab"], training=True)
    latents_ba = self.encoder_a(outputs["images_ba"], training=True)
    images_aba = self.generator_a(self._sample(latents_ab, self._training_noise_key(key_index)),
                                  slot=unit_model.SLOT_B, training=True)
    images_bab = self.generator_b(
        self._sample(latents_ba, self._training_noise_key(key_index + 1)),
        slot=unit_model.SLOT_A, training=True)
    return {"cycle_a": self._reconstruction_loss(images_a, images_aba),
            "cycle_b": self._reconstruction_loss(images_b, images_bab),
            "kl_cycle_a": self._kl(latents_ab), "kl_cycle_b": self._kl(latents_ba)}

  def _generator_step(self, images_a, images_b, index=0):
    """One update of E_a, E_b, G_a, G_b; the tape watches only their variables."""
    cfg = self.loss_config
    variables = self.generator_variables
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      _watch(tape, variables)
      outputs = self._forward(images_a, images_b, training=True, noise_index=index)
      terms = self.vae_losses(images_a, images_b, outputs)
      per_example = (cfg.lambda_recon * (terms["recon_a"] + terms["recon_b"]) +
                     cfg.lambda_kl * (terms["kl_a"] + terms["kl_b"]))
      if cfg.lambda_cycle or cfg.lambda_kl_cycle:
        terms.update(self._cycle_terms(images_a, images_b, outputs))
        per_example += (cfg.lambda_cycle * (terms["cycle_a"] + terms["cycle_b"]) +
                        cfg.lambda_kl_cycle * (terms["kl_cycle_a"] + terms["kl_cycle_b"]))
      if cfg.use_discriminators:
        generator_loss = self._adversarial_losses[1]
        terms["gan_a"] = generator_loss(
            self.discriminator_a(outputs["images_ba"], slot=unit_model.SLOT_B, training=True))
        terms["gan_b"] = generator_loss(
            self.discriminator_b(outputs["images_ab"], slot=unit_model.SLOT_A, training=True))
        per_example += cfg.lambda_gan * (terms["gan_a"] + terms["gan_b"])
      total = unit_model._average(per_example)  # pylint: disable=protected-access
      scaled = self.gen_optimizer.scale_loss(total + self._weight_penalty(variables))
    self.gen_optimizer.apply(tape.gradient(scaled, variables), variables)
    if self.ema is not None:
      self.ema.update(variables)
    logs = {k: unit_model._average(v) for k, v in terms.items()}  # pylint: disable=protected-access
    logs["g_loss"] = total
    return logs
