"""The paper's objective (Eqs. 1-5) on the UNIT engine.

Discriminator update (Algorithm 1, lines 4-9), per example:
  d_loss_a = -log D_a(a) - 1/2 log(1 - D_a(aa)) - 1/2 log(1 - D_a(ba))      (Eq. 4)
  d_loss_b = the same for D_b on b, bb, ab                                   (Eq. 5)
Encoder/generator update (lines 11-16):
  lambda_recon * (recon_a + recon_b)   -log p(x|z) of the reconstructions   (Eqs. 2-3)
  lambda_kl    * (kl_a + kl_b)         KL(q(z|x) || N(0, I))                 (Eqs. 2-3)
  lambda_gan   * (gan_a + gan_b)       non-saturating adversarial terms      (Eqs. 4-5)
The discriminators are shown the reconstructions and the translations into their domain, each
weighted 1/2, as Eqs. 4-5 write them.
"""

import tensorflow as tf

from unit_tf.core import losses
from unit_tf.core.model import SLOT_A, SLOT_B, UNIT

FAKE_KEYS = ("aa", "ba", "bb", "ab")


class PaperUNIT(UNIT):
  """UNIT with the paper's objective (see the module docstring)."""

  def discriminator_and_slot(self, key):
    """The discriminator of the domain `key` ends in, and the statistics slot of the domain the
    image was decoded from (key[0])."""
    return (self.discriminator_a if key[1] == "a" else self.discriminator_b,
            SLOT_A if key[0] == "a" else SLOT_B)

  def discriminate(self, key, outputs, training):
    """(logits, features) of the discriminator of the domain `key` ends in on images_<key>."""
    discriminator, slot = self.discriminator_and_slot(key)
    features = discriminator.features(outputs[f"images_{key}"], slot=slot, training=training)
    return discriminator.head(features, slot=slot, training=training), features

  def discriminator_pass(self, images_a, images_b, index):
    """Both discriminators on real images and on the fakes of a fresh forward pass.

    Returns {"real_features_a", "real_a", "real_b" (logits), "fake": {key: (logits, features)},
    "fakes": {"images_<key>": the fake images}} with the keys of FAKE_KEYS (images_ab = a
    translated to b). No gradient reaches E or G: the fakes are constants here.
    """
    outputs = self.forward(images_a, images_b, training=True, noise_index=index)
    fakes = {k: tf.stop_gradient(v) for k, v in outputs.items() if k.startswith("images_")}
    real_features_a = self.discriminator_a.features(images_a, slot=SLOT_A, training=True)
    return {
        "real_features_a": real_features_a,
        "real_a": self.discriminator_a.head(real_features_a, slot=SLOT_A, training=True),
        "real_b": self.discriminator_b(images_b, slot=SLOT_B, training=True),
        "fake": {key: self.discriminate(key, fakes, training=True) for key in FAKE_KEYS},
        "fakes": fakes,
    }

  def adversarial_terms(self, passed):
    """The group of Eqs. 4-5's discriminator losses from a `discriminator_pass`."""
    fake = passed["fake"]
    return (1.0, {
        "d_loss_a": losses.discriminator_loss(passed["real_a"], fake["aa"][0], fake["ba"][0]),
        "d_loss_b": losses.discriminator_loss(passed["real_b"], fake["bb"][0], fake["ab"][0]),
    })

  def discriminator_terms(self, batch, index):
    passed = self.discriminator_pass(batch[0], batch[1], index)
    return [self.adversarial_terms(passed)], {}

  def generator_terms(self, batch, index):
    cfg = self.loss_config
    images_a, images_b = batch[0], batch[1]
    outputs = self.forward(images_a, images_b, training=True, noise_index=index)
    vae = self.vae_losses(images_a, images_b, outputs)
    groups = [(cfg.lambda_recon, {"recon_a": vae["recon_a"], "recon_b": vae["recon_b"]}),
              (cfg.lambda_kl, {"kl_a": vae["kl_a"], "kl_b": vae["kl_b"]})]
    if cfg.use_discriminators:
      fake = {key: self.discriminate(key, outputs, training=True)[0] for key in FAKE_KEYS}
      groups.append((cfg.lambda_gan, {
          "gan_a": losses.generator_adversarial_loss(fake["aa"], fake["ba"]),
          "gan_b": losses.generator_adversarial_loss(fake["bb"], fake["ab"])}))
    return groups, {}
