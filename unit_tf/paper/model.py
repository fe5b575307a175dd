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

Table 5's one-sided ablations (`PaperOptions.drop_networks`) train without E_a or E_b, or without
G_a and D_a or G_b and D_b: every term that needs a dropped network is left out (a discriminator
with one kind of fake left gives it the whole weight), the dropped networks' own variables are
not updated, and the model translates only in the direction whose encoder and generator remain.
"""

import tensorflow as tf

from unit_tf.core import losses
from unit_tf.core import nets
from unit_tf.core.model import SLOT_A, SLOT_B, UNIT
from unit_tf.paper.options import PaperOptions

FAKE_KEYS = ("aa", "ba", "bb", "ab")


class PaperUNIT(UNIT):
  """UNIT with the paper's objective (see the module docstring)."""

  def __init__(self, networks, loss_config, options=PaperOptions(), **kwargs):
    super().__init__(networks, loss_config, **kwargs)
    # Updated: the variables of the networks options keep (the optimizers' slots, so the
    # checkpoint's keys, follow from it). Trained: the networks the objective uses.
    self.updated_networks = options.networks
    trained = set(options.networks)
    if not loss_config.use_discriminators:
      if options.drop_networks != "none":
        raise ValueError(f"drop_networks={options.drop_networks} needs the discriminators: "
                         "Table 5's one-sided ablations keep D (the coupled VAEs row is "
                         "--no_discriminators alone)")
      trained -= {"D_a", "D_b"}
    self.trained_networks = frozenset(trained)
    # The fakes a discriminator is shown: images_<source><target> needs E_<source>, G_<target>
    # and D_<target>.
    self.fake_keys = tuple(k for k in FAKE_KEYS
                           if {f"E_{k[0]}", f"G_{k[1]}", f"D_{k[1]}"} <= trained)
    self.translation_directions = tuple(
        d for d in ("a2b", "b2a") if {f"E_{d[0]}", f"G_{d[2]}"} <= trained)

  def _networks(self, *names):
    attribute = {"E_a": self.encoder_a, "E_b": self.encoder_b, "G_a": self.generator_a,
                 "G_b": self.generator_b, "D_a": self.discriminator_a,
                 "D_b": self.discriminator_b}
    return [attribute[n].trainable_variables for n in names if n in self.updated_networks]

  @property
  def discriminator_variables(self):
    return nets.unique_variables(*self._networks("D_a", "D_b"))

  @property
  def generator_variables(self):
    """The trained encoders' and generators' variables, each shared variable once (a layer a
    dropped network shares with a trained one is trained)."""
    return nets.unique_variables(*self._networks("E_a", "E_b", "G_a", "G_b"))

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
        "fake": {key: self.discriminate(key, fakes, training=True) for key in self.fake_keys},
        "fakes": fakes,
    }

  def fakes_for(self, domain, fake):
    """The entries of `fake` (keyed by FAKE_KEYS) that end in `domain`: the reconstructions,
    then the translations (the ones the trained networks make)."""
    return [fake[k] for k in (domain + domain, ("b" if domain == "a" else "a") + domain)
            if k in fake]

  def adversarial_terms(self, passed):
    """The group of Eqs. 4-5's discriminator losses from a `discriminator_pass`."""
    terms = {}
    for domain in ("a", "b"):
      if f"D_{domain}" in self.trained_networks:
        terms[f"d_loss_{domain}"] = losses.discriminator_loss(
            passed[f"real_{domain}"], *[f[0] for f in self.fakes_for(domain, passed["fake"])])
    return (1.0, terms)

  def discriminator_terms(self, batch, index):
    passed = self.discriminator_pass(batch[0], batch[1], index)
    return [self.adversarial_terms(passed)], {}

  def generator_terms(self, batch, index):
    cfg = self.loss_config
    images_a, images_b = batch[0], batch[1]
    outputs = self.forward(images_a, images_b, training=True, noise_index=index)
    vae = self.vae_losses(images_a, images_b, outputs)
    trained = self.trained_networks
    groups = [(cfg.lambda_recon, {f"recon_{d}": vae[f"recon_{d}"] for d in ("a", "b")
                                  if {f"E_{d}", f"G_{d}"} <= trained}),
              (cfg.lambda_kl, {f"kl_{d}": vae[f"kl_{d}"] for d in ("a", "b")
                               if f"E_{d}" in trained})]
    fake = {key: self.discriminate(key, outputs, training=True)[0] for key in self.fake_keys}
    gan = {f"gan_{d}": losses.generator_adversarial_loss(*self.fakes_for(d, fake))
           for d in ("a", "b") if f"D_{d}" in trained}
    if gan:
      groups.append((cfg.lambda_gan, gan))
    return groups + self.generator_extra_terms(batch, outputs), {}

  def generator_extra_terms(self, batch, outputs):
    """Further (weight, {name: [N] losses}) groups of the encoder/generator update, from the
    batch and its forward pass; none in the paper's objective (a subclass adds its own)."""
    del batch, outputs
    return []
