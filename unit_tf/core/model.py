"""The UNIT engine: six networks, the alternating updates of Algorithm 1, and translation.

`UNIT` knows no objective. A variant subclasses it and writes two methods, each returning the
terms of one update as *weighted groups of per-example losses* plus any extra scalars to log:

  discriminator_terms(batch, index) -> ([(weight, {name: [N] losses}), ...], {name: scalar})
  generator_terms(batch, index)     -> the same, for the encoder/generator update

The engine owns everything else, written once: the gradient tape (watching exactly the variables
the update changes, so no gradient is computed for the other networks' weights), the reduction
(`average`, correct under tf.distribute), an optional `weight_penalty`, loss scaling, `apply`, the
noise keys and the Algorithm 1 loop. `train_step` returns the logging contract: every group member
averaged over the global batch, the update's total (`d_loss`, `g_loss`) and the extras, exactly the
keys the variant computed (the training loop logs whatever it gets).

`train_step(data)` takes `(images_a, images_b, *extras)`, each holding `disc_steps + 1` fresh
batches of N stacked along the batch axis ([(K + 1) * N, ...], images in [-1, 1]), because
Algorithm 1 draws new samples for each of the K discriminator updates and for the
encoder/generator update; `batch` is one chunk of every element.

Batch-norm statistics slots: every network call names the domain its input was drawn from (0 = a,
1 = b); see `unit_tf.core.layers.DomainBatchNorm`.
"""

import keras
import tensorflow as tf
from keras import ops

from unit_tf import sizing
from unit_tf.config import LossConfig
from unit_tf.core import losses
from unit_tf.core import nets

SLOT_A, SLOT_B = 0, 1


def average(per_example):
  """Sum over this replica's examples divided by the global batch size (see unit_tf.core.losses):
  summed over replicas, as tf.distribute sums gradients, it is the global mean."""
  return tf.nn.compute_average_loss(per_example)


def total_of(groups):
  """sum_g weight_g * sum_{terms in g} term, per example."""
  total = 0.0
  for weight, terms in groups:
    group = tf.add_n(list(terms.values())) if len(terms) > 1 else next(iter(terms.values()))
    total += weight * group if weight != 1.0 else group
  return total


def coupled_l2(weight_decay, variables):
  """PyTorch Adam's `weight_decay` for this replica: 0.5 * wd * sum w^2 added to the loss, so that
  wd * w joins the gradient before Adam normalizes it (coupled L2, unlike Keras' decoupled AdamW
  decay). Divided by the replica count because tf.distribute sums the replicas' gradients."""
  ctx = tf.distribute.get_replica_context()
  replicas = ctx.num_replicas_in_sync if ctx is not None else 1
  return weight_decay * losses.l2_penalty(variables) / replicas


class UNIT(keras.Model):
  """E_a, E_b, G_a, G_b, D_a, D_b trained with Algorithm 1 of the paper; see the module docstring.

  Args:
    networks: a `unit_tf.core.nets.Networks` (shared layers already tied by identity).
    loss_config: a `unit_tf.config.LossConfig`.
    disc_steps: K, discriminator updates per encoder/generator update.
    seed: seed of the reparameterization noise (a `keras.random.SeedGenerator`, checkpointed).
    image_multiple, fixed_size: what input sizes the networks accept (see unit_tf.sizing).
  """

  def __init__(self, networks, loss_config=LossConfig(), disc_steps=1, seed=0, image_multiple=1,
               fixed_size=None, **kwargs):
    super().__init__(**kwargs)
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
    if loss_config.recon_loss not in losses.RECONSTRUCTION_LOSSES:
      raise ValueError(f"recon_loss must be one of {sorted(losses.RECONSTRUCTION_LOSSES)}")
    self.reconstruction_loss = losses.RECONSTRUCTION_LOSSES[loss_config.recon_loss]
    self.disc_optimizer = None
    self.gen_optimizer = None
    # The directions this model translates (a variant trained without some network has fewer).
    self.translation_directions = ("a2b", "b2a")

  # ----- setup -----

  def compile(self, disc_optimizer, gen_optimizer, **kwargs):
    """Stores one optimizer for D_a/D_b and one for E_a/E_b/G_a/G_b."""
    super().compile(**kwargs)
    self.disc_optimizer = disc_optimizer
    self.gen_optimizer = gen_optimizer

  @property
  def discriminator_variables(self):
    return nets.unique_variables(self.discriminator_a.trainable_variables,
                                 self.discriminator_b.trainable_variables)

  @property
  def generator_variables(self):
    """Encoder and generator variables, each shared variable once."""
    return nets.unique_variables(
        self.encoder_a.trainable_variables, self.encoder_b.trainable_variables,
        self.generator_a.trainable_variables, self.generator_b.trainable_variables)

  def build_for(self, shape_a, shape_b):
    """Creates every weight (networks and optimizers) with one eager pass on zeros.

    Call it inside the strategy scope before tracing `train_step`: variables must not be created
    inside a tf.function. A variant with more layers builds them in `build_heads`.
    """
    images_a = ops.zeros((1,) + tuple(shape_a))
    images_b = ops.zeros((1,) + tuple(shape_b))
    outputs = self.forward(images_a, images_b, training=False, sample=False)
    for slot in (SLOT_A, SLOT_B):
      self.discriminator_a(outputs["images_aa"], slot=slot, training=False)
      self.discriminator_b(outputs["images_bb"], slot=slot, training=False)
    self.build_heads(images_a, images_b)
    if self.disc_optimizer is not None:
      self.disc_optimizer.build(self.discriminator_variables)
    if self.gen_optimizer is not None:
      self.gen_optimizer.build(self.generator_variables)
    self.built = True

  def prepare_for_inference(self):
    """Called once after a checkpoint is restored for translation, evaluation or export."""

  def build_heads(self, images_a, images_b):
    """Creates the weights of layers the six networks' calls do not reach (none here)."""
    del images_a, images_b

  # ----- sampling and the forward pass -----

  def training_noise_key(self, index):
    """The noise key of forward pass `index` of the current training step.

    (seed, step) folded with the pass's index: stateless, so noise is reproducible, resumes exactly
    (the step lives in the checkpointed optimizer) and is the same on every replica. The index is
    passed explicitly because MirroredStrategy traces replicas in parallel threads, which would
    race on a counter kept in the model.
    """
    step = tf.cast(self.gen_optimizer.iterations, tf.int64)
    key = tf.stack([tf.constant(self.seed, tf.int64), step])
    return tf.random.experimental.stateless_fold_in(key, index)

  def sample(self, latents, key):
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

  def forward(self, images_a, images_b, training, sample=True, noise_index=0):
    """Encodes both domains and decodes each latent with both generators.

    `noise_index` numbers the sampling passes within a training step (see training_noise_key).

    Returns a dict with latents_a/latents_b (lists of (mu, var)) and images_aa, images_ab,
    images_ba, images_bb (images_ab = G_b(z_a), a translated to b).
    """
    latents_a = self.encoder_a(images_a, training=training)
    latents_b = self.encoder_b(images_b, training=training)
    if sample:
      samples_a = self.sample(latents_a, self.training_noise_key(2 * noise_index))
      samples_b = self.sample(latents_b, self.training_noise_key(2 * noise_index + 1))
    else:
      samples_a, samples_b = [mu for mu, _ in latents_a], [mu for mu, _ in latents_b]
    out = {"latents_a": latents_a, "latents_b": latents_b}
    out.update(self.decode_all(samples_a, samples_b, training))
    return out

  def decode_all(self, samples_a, samples_b, training):
    """{images_aa, images_ab, images_ba, images_bb}: each latent decoded by both generators."""
    out = {}
    for name, samples, slot in (("a", samples_a, SLOT_A), ("b", samples_b, SLOT_B)):
      # The shared generator layers are the same objects in G_a and G_b: run them once.
      features, position = self.generator_a.decode_shared(samples, slot, training)
      out[f"images_{name}a"] = self.generator_a.decode_private(features, position, samples, slot,
                                                               training)
      out[f"images_{name}b"] = self.generator_b.decode_private(features, position, samples, slot,
                                                               training)
    return out

  def kl(self, latents):
    """The latent loss of one encoder's latents, per example: KL(q(z|x) || N(0, I)) summed over
    every latent (Eqs. 2-3). A variant may use another."""
    return sum(losses.gaussian_kl(mu, var) for mu, var in latents)

  def vae_losses(self, images_a, images_b, outputs):
    """Per-example likelihood and latent terms of each domain (Eqs. 2-3)."""
    return {
        "recon_a": self.reconstruction_loss(images_a, outputs["images_aa"]),
        "recon_b": self.reconstruction_loss(images_b, outputs["images_bb"]),
        "kl_a": self.kl(outputs["latents_a"]),
        "kl_b": self.kl(outputs["latents_b"]),
    }

  # ----- the one update routine -----

  def weight_penalty(self, variables):
    """A regularizer added to an update's loss (not logged); None here."""
    del variables

  def after_generator_update(self, variables):
    """Runs after each encoder/generator update (nothing here)."""
    del variables

  def update(self, optimizer, variables, terms_fn, total_name=None):
    """One gradient step of `variables` on the loss `terms_fn()` describes.

    `terms_fn() -> (groups, extras)` (see the module docstring) runs under a tape that watches
    exactly `variables`. Returns the logs: each group member's average, the total as
    `total_name` (if given) and the extras.
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([v.value for v in variables])
      groups, extras = terms_fn()
      total = average(total_of(groups))
      objective = total
      penalty = self.weight_penalty(variables)
      if penalty is not None:
        objective += penalty
      scaled = optimizer.scale_loss(objective)  # loss scaling under mixed_float16
    grads = tape.gradient(scaled, variables)
    optimizer.apply(grads, variables)
    logs = {name: average(value) for _, terms in groups for name, value in terms.items()}
    if total_name:
      logs[total_name] = total
    logs.update(extras)
    return logs

  # ----- Algorithm 1 -----

  def discriminator_terms(self, batch, index):
    """The discriminator update's (groups, extras) for one chunk of the batch; `index` is k."""
    raise NotImplementedError(f"{type(self).__name__} defines no discriminator objective")

  def generator_terms(self, batch, index):
    """The encoder/generator update's (groups, extras); `index` numbers its noise passes."""
    raise NotImplementedError(f"{type(self).__name__} defines no generator objective")

  def discriminator_update(self, batch, index=0):
    """One update of D_a and D_b (Algorithm 1, lines 4-9) with E and G fixed."""
    return self.update(self.disc_optimizer, self.discriminator_variables,
                       lambda: self.discriminator_terms(batch, index), total_name="d_loss")

  def generator_update(self, batch, index=0):
    """One update of E_a, E_b, G_a, G_b (Algorithm 1, lines 11-16) with D fixed."""
    variables = self.generator_variables
    logs = self.update(self.gen_optimizer, variables,
                       lambda: self.generator_terms(batch, index), total_name="g_loss")
    self.after_generator_update(variables)
    return logs

  def split_chunks(self, data):
    """[(images_a, images_b, *extras) of chunk k for k in 0..K]: the K + 1 fresh batches."""
    chunks = self.disc_steps + 1
    return list(zip(*[tf.split(x, chunks, axis=0) for x in data]))

  def train_step(self, data):
    """Algorithm 1: K discriminator updates, then one encoder/generator update.

    `data` = (images_a, images_b, *extras), each [(K + 1) * N, ...]: K + 1 fresh batches of N.
    Without discriminators (`use_discriminators=False`, the coupled VAEs of Table 5) only the
    encoder/generator update runs.
    """
    batches = self.split_chunks(data)
    logs = {}
    if self.loss_config.use_discriminators:
      for k in range(self.disc_steps):
        logs = self.discriminator_update(batches[k], index=k)
    logs.update(self.generator_update(batches[-1], index=self.disc_steps))
    return logs

  # ----- translation -----

  def translate(self, images, direction="a2b", sample=False, seed=None):
    """phi^{1->2}(x) = G_b(z ~ q_a(z|x)) or the reverse (Section 3, "Translation").

    Uses the latent mean unless `sample`: then the noise comes from `seed` (an int or int
    tensor; the same seed gives the same output) or, without one, from the model's seed
    generator (new noise each call). Any image size the architecture allows, at full resolution
    (see unit_tf.sizing).
    """
    if direction in ("a2b", "b2a") and direction not in self.translation_directions:
      raise ValueError(f"this model does not translate {direction}: it was trained without "
                       f"the encoder or generator it needs (it translates "
                       f"{', '.join(self.translation_directions)} only)")
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
    return self.sample(latents, tf.cast(key, tf.int64))

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
