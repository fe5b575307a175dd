"""The UNIT model: six networks, the alternating update of Algorithm 1, and translation.

`UNIT.train_step(data)` takes `(images_a, images_b)`, each holding `disc_steps + 1` fresh batches of
N images stacked along the batch axis ([(K + 1) * N, H, W, C], values in [-1, 1]), because
Algorithm 1 draws new samples for each of the K discriminator updates and for the encoder/generator
update. It returns the logging contract (all scalars, averaged over the global batch):

  d_loss_a, d_loss_b, d_loss        discriminator losses (last of the K updates)
  recon_a, recon_b                  -log p(x|z) of the reconstructions (Eqs. 2-3)
  kl_a, kl_b                        KL(q(z|x) || N(0, I)) summed over every latent (Eqs. 2-3)
  gan_a, gan_b                      non-saturating adversarial losses of the generators (Eqs. 4-5)
  g_loss                            the total the encoders/generators minimise
  cls_loss, cls_accuracy            domain adaptation: D_a's class head on the labelled source
                                    batch (0 without labels)
  cls_translated_loss               domain adaptation: D_b's class head on a->b translations of
                                    the source batch, with the source labels (0 if off)
  feature_loss                      domain adaptation: discriminator feature matching (0 if off)

Domain adaptation (Appendix C): `data` may carry a third element, the source (domain a) labels,
[(K + 1) * N] ints; the discriminator update then adds `lambda_cls` times the cross-entropy of D_a's
class head on the source images. Target labels are never an input. `classify(images, "b")`
classifies target images with D_b's head (shared above its first layer).

Batch-norm statistics slots: every network call names the domain its input was drawn from (0 = a,
1 = b); see `unit_tf.layers.DomainBatchNorm`.
"""

import keras
import tensorflow as tf
from keras import ops

from unit_tf import losses
from unit_tf import networks as unit_networks
from unit_tf import sizing
from unit_tf.config import LossConfig

SLOT_A, SLOT_B = 0, 1
LOSS_KEYS = ("d_loss_a", "d_loss_b", "d_loss", "recon_a", "recon_b", "kl_a", "kl_b", "gan_a",
             "gan_b", "g_loss", "cls_loss", "cls_accuracy", "cls_translated_loss", "feature_loss")


def _average(per_example):
  """Sum over this replica's examples divided by the global batch size (see unit_tf.losses)."""
  return tf.nn.compute_average_loss(per_example)


class UNIT(keras.Model):
  """E_a, E_b, G_a, G_b, D_a, D_b trained with Algorithm 1 of the paper.

  Args:
    networks: a `unit_tf.networks.Networks` (shared layers already tied by identity).
    loss_config: a `unit_tf.config.LossConfig`.
    disc_steps: K, discriminator updates per encoder/generator update.
    seed: seed of the reparameterization noise (a `keras.random.SeedGenerator`, checkpointed).
    weight_decay: coupled L2 weight decay of both optimizers (the authors' domain-adaptation code:
      5e-4); 0 = off.
  """

  def __init__(self, networks, loss_config=LossConfig(), disc_steps=1, seed=0, image_multiple=1,
               fixed_size=None, weight_decay=0.0, **kwargs):
    super().__init__(**kwargs)
    if weight_decay < 0:
      raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    # coupled L2 on the variables of each update (PyTorch Adam's weight_decay); 0 = off
    self.weight_decay = weight_decay
    self.image_multiple = image_multiple
    self.fixed_size = fixed_size
    if disc_steps < 1:
      raise ValueError(f"disc_steps must be >= 1, got {disc_steps}")
    self.encoder_a = networks.encoder_a
    self.encoder_b = networks.encoder_b
    self.generator_a = networks.generator_a
    self.generator_b = networks.generator_b
    self.discriminator_a = networks.discriminator_a
    self.discriminator_b = networks.discriminator_b
    self.loss_config = loss_config
    self.disc_steps = disc_steps
    self.seed = seed
    # Inference-time sampling without an explicit seed draws its key from this generator.
    self.seed_generator = keras.random.SeedGenerator(seed, name="reparameterization_noise")
    # image_multiple / fixed_size: what input sizes the networks accept (see unit_tf.sizing)
    if loss_config.recon_loss not in losses.RECONSTRUCTION_LOSSES:
      raise ValueError(f"recon_loss must be one of {sorted(losses.RECONSTRUCTION_LOSSES)}")
    self._reconstruction_loss = losses.RECONSTRUCTION_LOSSES[loss_config.recon_loss]
    self.disc_optimizer = None
    self.gen_optimizer = None

  # ----- setup -----

  def compile(self, disc_optimizer, gen_optimizer, **kwargs):
    """Stores one optimizer for D_a/D_b and one for E_a/E_b/G_a/G_b."""
    super().compile(**kwargs)
    self.disc_optimizer = disc_optimizer
    self.gen_optimizer = gen_optimizer

  @property
  def discriminator_variables(self):
    return unit_networks.unique_variables(self.discriminator_a.trainable_variables,
                                          self.discriminator_b.trainable_variables)

  @property
  def generator_variables(self):
    """Encoder and generator variables, each shared variable once."""
    return unit_networks.unique_variables(
        self.encoder_a.trainable_variables, self.encoder_b.trainable_variables,
        self.generator_a.trainable_variables, self.generator_b.trainable_variables)

  def build_for(self, shape_a, shape_b):
    """Creates every weight (networks and optimizers) with one eager pass on zeros.

    Call it inside the strategy scope before tracing `train_step`: variables must not be created
    inside a tf.function.
    """
    images_a = ops.zeros((1,) + tuple(shape_a))
    images_b = ops.zeros((1,) + tuple(shape_b))
    outputs = self._forward(images_a, images_b, training=False, sample=False)
    for slot in (SLOT_A, SLOT_B):
      self.discriminator_a(outputs["images_aa"], slot=slot, training=False)
      self.discriminator_b(outputs["images_bb"], slot=slot, training=False)
    if self.discriminator_a.classifier:
      self.discriminator_a.classify(images_a, slot=SLOT_A, training=False)
      self.discriminator_b.classify(images_b, slot=SLOT_B, training=False)
    if self.disc_optimizer is not None:
      self.disc_optimizer.build(self.discriminator_variables)
    if self.gen_optimizer is not None:
      self.gen_optimizer.build(self.generator_variables)
    self.built = True

  # ----- the forward pass -----

  def _training_noise_key(self, index):
    """The noise key of forward pass `index` of the current training step.

    (seed, step) folded with the pass's index: stateless, so noise is reproducible, resumes exactly
    (the step lives in the checkpointed optimizer) and is the same on every replica. The index is
    passed explicitly because MirroredStrategy traces replicas in parallel threads, which would
    race on a counter kept in the model.
    """
    step = tf.cast(self.gen_optimizer.iterations, tf.int64)
    key = tf.stack([tf.constant(self.seed, tf.int64), step])
    return tf.random.experimental.stateless_fold_in(key, index)

  def _sample(self, latents, key):
    """z = mu + sqrt(var) * eta, eta ~ N(0, I) (the reparameterization trick, Section 3).

    The paper writes `E_sigma2(x) o eta`; the standard deviation is what makes z ~ N(mu, var).
    Under tf.distribute each replica draws the noise of the whole global batch from the same key
    and keeps its own rows, so a replicated step draws exactly the noise a single device would.
    """
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    replica = ctx.replica_id_in_sync_group if ctx is not None else 0
    samples = []
    for i, (mu, var) in enumerate(latents):
      shape = tf.shape(mu)
      n = shape[0]
      eta = tf.random.stateless_normal(tf.concat([[n * replicas], shape[1:]], 0),
                                       seed=tf.random.experimental.stateless_fold_in(key, i))
      eta = eta[replica * n:(replica + 1) * n]
      samples.append(mu + ops.sqrt(var) * tf.cast(eta, mu.dtype))
    return samples

  def _forward(self, images_a, images_b, training, sample=True, noise_index=0):
    """Encodes both domains and decodes each latent with both generators.

    `noise_index` numbers the sampling passes within a training step (see _training_noise_key).

    Returns a dict with latents_a/latents_b (lists of (mu, var)) and images_aa, images_ab,
    images_ba, images_bb (images_ab = G_b(z_a), a translated to b).
    """
    latents_a = self.encoder_a(images_a, training=training)
    latents_b = self.encoder_b(images_b, training=training)
    if sample:
      samples_a = self._sample(latents_a, self._training_noise_key(2 * noise_index))
      samples_b = self._sample(latents_b, self._training_noise_key(2 * noise_index + 1))
    else:
      samples_a, samples_b = [mu for mu, _ in latents_a], [mu for mu, _ in latents_b]
    out = {"latents_a": latents_a, "latents_b": latents_b}
    for name, samples, slot in (("a", samples_a, SLOT_A), ("b", samples_b, SLOT_B)):
      # The shared generator layers are the same objects in G_a and G_b: run them once.
      features, position = self.generator_a.decode_shared(samples, slot, training)
      out[f"images_{name}a"] = self.generator_a.decode_private(features, position, samples, slot,
                                                               training)
      out[f"images_{name}b"] = self.generator_b.decode_private(features, position, samples, slot,
                                                               training)
    return out

  def _fake_logits(self, outputs, training):
    """D_a on a's reconstructions and b->a translations, D_b likewise; keys as the images."""
    return {key: self._discriminate(key, outputs, training)[0] for key in ("aa", "ba", "bb", "ab")}

  def _features(self, key, outputs, training, dropout=True):
    """(discriminator, slot, features) of the discriminator of the domain `key` ends in on
    images_<key>; the statistics slot is the domain the image was decoded from (key[0])."""
    discriminator = self.discriminator_a if key[1] == "a" else self.discriminator_b
    slot = SLOT_A if key[0] == "a" else SLOT_B
    extra = {} if dropout else {"dropout": False}  # only the paper presets' D knows the option
    features = discriminator.features(outputs[f"images_{key}"], slot=slot, training=training,
                                      **extra)
    return discriminator, slot, features

  def _discriminate(self, key, outputs, training):
    """(logits, features) of the discriminator of the domain `key` ends in on images_<key>."""
    discriminator, slot, features = self._features(key, outputs, training)
    return discriminator.head(features, slot=slot, training=training), features

  def _weight_penalty(self, variables):
    """Coupled L2 for this replica: the replicas' gradients are summed, hence the division."""
    if not self.weight_decay:
      return 0.0
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    return self.weight_decay * losses.l2_penalty(variables) / replicas

  def vae_losses(self, images_a, images_b, outputs):
    """Per-example likelihood and KL terms of each domain (Eqs. 2-3)."""
    kl_a = sum(losses.gaussian_kl(mu, var) for mu, var in outputs["latents_a"])
    kl_b = sum(losses.gaussian_kl(mu, var) for mu, var in outputs["latents_b"])
    return {
        "recon_a": self._reconstruction_loss(images_a, outputs["images_aa"]),
        "recon_b": self._reconstruction_loss(images_b, outputs["images_bb"]),
        "kl_a": kl_a,
        "kl_b": kl_b,
    }

  # ----- Algorithm 1 -----

  def _discriminator_step(self, images_a, images_b, labels_a=None, index=0):
    """One update of D_a and D_b (Algorithm 1, lines 4-9) with E and G fixed; `index` is k.

    With source labels (domain adaptation) the loss adds lambda_cls times the class-head
    cross-entropy on the real source images, whose features the real/fake head reads too.
    """
    cfg = self.loss_config
    # Fakes come from outside the tape: no gradient is computed for E or G here.
    outputs = self._forward(images_a, images_b, training=True, noise_index=index)
    fakes = {k: tf.stop_gradient(v) for k, v in outputs.items() if k.startswith("images_")}
    logs = {}
    with tf.GradientTape() as tape:
      real_features_a = self.discriminator_a.features(images_a, slot=SLOT_A, training=True)
      real_a = self.discriminator_a.head(real_features_a, slot=SLOT_A, training=True)
      real_b = self.discriminator_b(images_b, slot=SLOT_B, training=True)
      fake = {key: self._discriminate(key, fakes, training=True)
              for key in ("aa", "ba", "bb", "ab")}
      loss_a = losses.discriminator_loss(real_a, fake["aa"][0], fake["ba"][0])
      loss_b = losses.discriminator_loss(real_b, fake["bb"][0], fake["ab"][0])
      per_example = loss_a + loss_b
      if labels_a is not None and cfg.lambda_cls > 0:
        class_logits = self.discriminator_a.class_logits(real_features_a, training=True)
        cls = losses.classification_loss(class_logits, labels_a)
        per_example += cfg.lambda_cls * cls
        logs["cls_loss"] = _average(cls)
        logs["cls_accuracy"] = _average(losses.correct_predictions(class_logits, labels_a))
      if labels_a is not None and cfg.lambda_cls_translated > 0:
        # D_b's class head on a->b translations of the labelled source images (source labels)
        translated_logits = self.discriminator_b.class_logits(fake["ab"][1], training=True)
        cls_translated = losses.classification_loss(translated_logits, labels_a)
        per_example += cfg.lambda_cls_translated * cls_translated
        logs["cls_translated_loss"] = _average(cls_translated)
      if cfg.lambda_feature > 0:
        if cfg.feature_matching_dropout_free:  # both authors' codes: a dropout-free pass
          matched = {key: self._features(key, fakes, training=True, dropout=False)[2]
                     for key in ("aa", "ba", "bb", "ab")}
        else:
          matched = {key: value[1] for key, value in fake.items()}
        feature = (losses.feature_matching_loss(matched["ab"], matched["aa"]) +
                   losses.feature_matching_loss(matched["ba"], matched["bb"]))
        per_example += cfg.lambda_feature * feature
        logs["feature_loss"] = _average(feature)
      variables = self.discriminator_variables
      total = _average(per_example)
      # loss scaling under mixed_float16; the weight penalty is not logged (as arch nips)
      scaled = self.disc_optimizer.scale_loss(total + self._weight_penalty(variables))
    grads = tape.gradient(scaled, variables)
    self.disc_optimizer.apply(grads, variables)
    logs.update(d_loss_a=_average(loss_a), d_loss_b=_average(loss_b), d_loss=total)
    return logs

  def _source_classifier_step(self, images_a, labels_a):
    """The no-adaptation baseline: one update of D_a's classifier path (its layers up to the
    class head) on labelled source images; nothing else is trained."""
    variables = self.discriminator_a.trainable_variables
    # D_a's classifier path: everything but the real/fake head, which this loss does not reach
    head = (self.discriminator_a.private + self.discriminator_a.shared)[-1]
    real_fake_head = {id(v) for v in head.trainable_variables}
    path = [v for v in variables if id(v) not in real_fake_head]
    with tf.GradientTape() as tape:
      class_logits = self.discriminator_a.classify(images_a, slot=SLOT_A, training=True)
      cls = losses.classification_loss(class_logits, labels_a)
      total = _average(cls)
      scaled = self.disc_optimizer.scale_loss(total + self._weight_penalty(path))
    grads = tape.gradient(scaled, variables)
    # The real/fake head gets no gradient from this loss: leave it out of the update.
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    self.disc_optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
    return {"cls_loss": total,
            "cls_accuracy": _average(losses.correct_predictions(class_logits, labels_a))}

  def _generator_step(self, images_a, images_b, index=0):
    """One update of E_a, E_b, G_a, G_b (Algorithm 1, lines 11-16) with D fixed.

    The tape differentiates only with respect to E/G variables, so no discriminator weight
    gradient is computed (only the activations' gradients D must pass back).
    """
    cfg = self.loss_config
    with tf.GradientTape() as tape:
      outputs = self._forward(images_a, images_b, training=True, noise_index=index)
      terms = self.vae_losses(images_a, images_b, outputs)
      per_example = (cfg.lambda_recon * (terms["recon_a"] + terms["recon_b"]) +
                     cfg.lambda_kl * (terms["kl_a"] + terms["kl_b"]))
      if cfg.use_discriminators:
        fake = self._fake_logits(outputs, training=True)
        terms["gan_a"] = losses.generator_adversarial_loss(fake["aa"], fake["ba"])
        terms["gan_b"] = losses.generator_adversarial_loss(fake["bb"], fake["ab"])
        per_example += cfg.lambda_gan * (terms["gan_a"] + terms["gan_b"])
      variables = self.generator_variables
      total = _average(per_example)
      scaled = self.gen_optimizer.scale_loss(total + self._weight_penalty(variables))
    grads = tape.gradient(scaled, variables)
    self.gen_optimizer.apply(grads, variables)
    logs = {k: _average(v) for k, v in terms.items()}
    logs["g_loss"] = total
    return logs

  def train_step(self, data):
    """Algorithm 1: K discriminator updates, then one encoder/generator update.

    `data` = (images_a, images_b[, labels_a]), each [(K + 1) * N, ...]: K + 1 fresh batches of N.
    """
    images_a, images_b = data[0], data[1]
    labels_a = data[2] if len(data) > 2 else None
    chunks = self.disc_steps + 1
    batches_a = tf.split(images_a, chunks, axis=0)
    batches_b = tf.split(images_b, chunks, axis=0)
    batches_labels = tf.split(labels_a, chunks, axis=0) if labels_a is not None else [None] * chunks
    zero = tf.constant(0.0)
    if self.loss_config.source_only:
      if labels_a is None:
        raise ValueError("source_only training needs source labels (a domain-adaptation task)")
      logs = {}
      for k in range(chunks):  # every chunk is a fresh labelled batch: use them all
        logs = self._source_classifier_step(batches_a[k], batches_labels[k])
    else:
      logs = {"d_loss_a": zero, "d_loss_b": zero, "d_loss": zero}
      if self.loss_config.use_discriminators:
        for k in range(self.disc_steps):
          logs = self._discriminator_step(batches_a[k], batches_b[k], batches_labels[k],
                                          index=k)
      logs.update(self._generator_step(batches_a[-1], batches_b[-1], index=self.disc_steps))
    for key in LOSS_KEYS:
      logs.setdefault(key, zero)
    return logs

  def classify(self, images, domain="b"):
    """[batch, 10] class logits of images of `domain` (domain adaptation; a = source).

    Domain b (the target) is classified by D_b's class head, as Appendix C does at test time;
    a source-only baseline has trained only D_a, so it classifies both domains with D_a.
    """
    if domain not in ("a", "b"):
      raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
    if domain == "a" or self.loss_config.source_only:
      return self.discriminator_a.classify(images, slot=SLOT_A, training=False)
    return self.discriminator_b.classify(images, slot=SLOT_B, training=False)

  # ----- translation -----

  def translate(self, images, direction="a2b", sample=False, seed=None):
    """phi^{1->2}(x) = G_b(z ~ q_a(z|x)) or the reverse (Section 3, "Translation").

    Uses the latent mean unless `sample`: then the noise comes from `seed` (an int or int
    tensor; the same seed gives the same output) or, without one, from the model's seed
    generator (new noise each call). Any image size the architecture allows, at full resolution
    (see unit_tf.sizing).
    """
    if direction == "a2b":
      encoder, generator, slot = self.encoder_a, self.generator_b, SLOT_A
    elif direction == "b2a":
      encoder, generator, slot = self.encoder_b, self.generator_a, SLOT_B
    else:
      raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
    return self._full_resolution(images, lambda x: generator(
        self._latent_values(encoder(x, training=False), sample, seed), slot=slot,
        training=False))

  def _latent_values(self, latents, sample, seed=None):
    if not sample:
      return [mu for mu, _ in latents]
    if seed is None:
      key = keras.random.randint((2,), 0, 2**31 - 1, seed=self.seed_generator, dtype="int32")
    else:
      key = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    return self._sample(latents, tf.cast(key, tf.int64))

  def _full_resolution(self, images, network):
    if self.fixed_size is not None:
      return network(sizing.check_fixed_size(images, self.fixed_size))
    padded, height, width = sizing.pad_to_multiple(images, self.image_multiple)
    return network(padded)[:, :height, :width, :]

  def reconstruct(self, images, domain="a"):
    """G_a(E_a(x)) or G_b(E_b(x)) with the latent mean."""
    if domain == "a":
      encoder, generator, slot = self.encoder_a, self.generator_a, SLOT_A
    else:
      encoder, generator, slot = self.encoder_b, self.generator_b, SLOT_B
    return self._full_resolution(images, lambda x: generator(
        self._latent_values(encoder(x, training=False), False), slot=slot, training=False))

  def call(self, inputs, training=False):
    """(images_a, images_b) -> (images_ab, images_ba) with latent means."""
    images_a, images_b = inputs
    return self.translate(images_a, "a2b"), self.translate(images_b, "b2a")


def build_model(model_config, loss_config=LossConfig(), disc_steps=1, seed=0, weight_decay=0.0,
                ema_decay=0.0):
  """Builds the networks and the UNIT model (not compiled, weights not yet created).

  Arch "nips" gets `unit_tf.nips_model.NipsUNIT` (the NIPS 2017 objective; weight_decay and
  ema_decay are its options); the paper presets reject the options they do not implement.
  """
  from unit_tf import nips_model  # pylint: disable=g-import-not-at-top
  arch = unit_networks.architecture_for(model_config)
  if model_config.arch == "nips":
    return nips_model.NipsUNIT(unit_networks.build_networks(model_config), loss_config,
                               disc_steps=disc_steps, seed=seed,
                               image_multiple=arch.image_multiple, weight_decay=weight_decay,
                               ema_decay=ema_decay, name="unit")
  nips_model.reject_nips_options(loss_config, weight_decay, ema_decay, arch=model_config.arch)
  return UNIT(unit_networks.build_networks(model_config), loss_config, disc_steps=disc_steps,
              seed=seed, image_multiple=arch.image_multiple, fixed_size=arch.fixed_size,
              weight_decay=weight_decay, name="unit")
