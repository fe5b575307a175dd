"""The UNIT model: gradient routing through shared layers, which step updates what, K, determinism,
batch-norm statistics slots."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from unit_tf import variants
from unit_tf.config import LossConfig
from unit_tf.paper.options import PaperOptions


def _images(seed, n=4):
  return tf.random.stateless_uniform([n, 32, 32, 3], seed=[seed, 0], minval=-1.0, maxval=1.0)


def _built(config, loss_config=LossConfig(), disc_steps=1, seed=0, options=None):
  keras.utils.set_random_seed(seed)
  model = variants.build_model(config, loss_config, options, disc_steps=disc_steps, seed=seed)
  model.compile(keras.optimizers.Adam(1e-3, 0.5, 0.999), keras.optimizers.Adam(1e-3, 0.5, 0.999))
  model.build_for((32, 32, 3), (32, 32, 3))
  return model


def _snapshot(variables):
  return [v.numpy().copy() for v in variables]


def _changed(before, variables):
  return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def _vae_loss(model, images_a, images_b, domain):
  outputs = model.forward(images_a, images_b, training=True)
  terms = model.vae_losses(images_a, images_b, outputs)
  return tf.reduce_mean(terms[f"recon_{domain}"] + terms[f"kl_{domain}"])


def test_both_domains_reach_the_shared_variables(tiny_config):
  model = _built(tiny_config)
  shared = [v for layer in model.encoder_a.shared + model.generator_a.shared
            for v in layer.trainable_variables]
  assert shared
  for domain in "ab":
    with tf.GradientTape() as tape:
      loss = _vae_loss(model, _images(1), _images(2), domain)
    grads = tape.gradient(loss, shared)
    assert all(g is not None for g in grads)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_domain_b_loss_leaves_encoder_a_private_layers_untouched(tiny_config):
  model = _built(tiny_config)
  private_a = [v for layer in model.encoder_a.private for v in layer.trainable_variables]
  private_b = [v for layer in model.encoder_b.private for v in layer.trainable_variables]
  with tf.GradientTape() as tape:
    loss = _vae_loss(model, _images(1), _images(2), "b")
  grads_a, grads_b = tape.gradient(loss, [private_a, private_b])
  assert all(g is None for g in grads_a)
  assert all(g is not None for g in grads_b)


def test_discriminator_step_changes_only_discriminator_weights(tiny_config):
  model = _built(tiny_config)
  d_vars, g_vars = model.discriminator_variables, model.generator_variables
  d_before, g_before = _snapshot(d_vars), _snapshot(g_vars)
  model.discriminator_update((_images(1), _images(2)))
  assert all(_changed(d_before, d_vars))
  assert not any(_changed(g_before, g_vars))


def test_generator_step_changes_only_encoder_generator_weights(tiny_config):
  model = _built(tiny_config)
  d_vars, g_vars = model.discriminator_variables, model.generator_variables
  d_before, g_before = _snapshot(d_vars), _snapshot(g_vars)
  logs = model.generator_update((_images(1), _images(2)))
  assert not any(_changed(d_before, d_vars))
  assert all(_changed(g_before, g_vars))
  assert {"recon_a", "recon_b", "kl_a", "kl_b", "gan_a", "gan_b", "g_loss"} <= set(logs)


def test_variable_lists_are_deduplicated_and_disjoint(tiny_config):
  model = _built(tiny_config)
  d_ids = [id(v) for v in model.discriminator_variables]
  g_ids = [id(v) for v in model.generator_variables]
  assert len(d_ids) == len(set(d_ids)) and len(g_ids) == len(set(g_ids))
  assert not set(d_ids) & set(g_ids)
  assert len(d_ids) + len(g_ids) == len({id(v) for v in model.trainable_variables})


def test_train_step_returns_the_logging_contract_and_is_finite(tiny_config):
  model = _built(tiny_config, disc_steps=2)
  data = (_images(1, 12), _images(2, 12))  # (K + 1) * N = 3 * 4
  logs = tf.function(model.train_step)(data)
  # exactly the paper objective's terms: nothing of another variant (no cls_loss in a toy run)
  assert set(logs) == {"d_loss_a", "d_loss_b", "d_loss", "recon_a", "recon_b", "kl_a", "kl_b",
                       "gan_a", "gan_b", "g_loss"}
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert model.disc_optimizer.iterations.numpy() == 2
  assert model.gen_optimizer.iterations.numpy() == 1


def test_no_discriminators_trains_the_coupled_vaes(tiny_config):
  model = _built(tiny_config, LossConfig(use_discriminators=False))
  d_before = _snapshot(model.discriminator_variables)
  logs = model.train_step((_images(1, 8), _images(2, 8)))
  assert not any(_changed(d_before, model.discriminator_variables))
  assert "gan_a" not in logs and "d_loss" not in logs  # no adversarial term, no D update


# Table 5's one-sided rows: drop_networks -> (the step's log keys, the directions it translates).
ONE_SIDED = {
    "E_a": ({"d_loss_a", "d_loss_b", "d_loss", "recon_b", "kl_b", "gan_a", "gan_b", "g_loss"},
            ("b2a",)),
    "E_b": ({"d_loss_a", "d_loss_b", "d_loss", "recon_a", "kl_a", "gan_a", "gan_b", "g_loss"},
            ("a2b",)),
    "G_a+D_a": ({"d_loss_b", "d_loss", "recon_b", "kl_a", "kl_b", "gan_b", "g_loss"}, ("a2b",)),
    "G_b+D_b": ({"d_loss_a", "d_loss", "recon_a", "kl_a", "kl_b", "gan_a", "g_loss"}, ("b2a",)),
}
NETWORK_ATTRIBUTES = {"E_a": "encoder_a", "E_b": "encoder_b", "G_a": "generator_a",
                      "G_b": "generator_b", "D_a": "discriminator_a", "D_b": "discriminator_b"}


@pytest.mark.parametrize("drop", sorted(ONE_SIDED))
def test_one_sided_ablation_trains_only_the_networks_it_keeps(tiny_config, drop):
  options = PaperOptions(drop_networks=drop)
  model = _built(tiny_config, options=options)
  dropped = [n for n in NETWORK_ATTRIBUTES if n not in options.networks]
  private = {n: [v for layer in getattr(model, NETWORK_ATTRIBUTES[n]).private
                 for v in layer.trainable_variables] for n in NETWORK_ATTRIBUTES}
  before = {n: _snapshot(v) for n, v in private.items()}
  logs = model.train_step((_images(1, 8), _images(2, 8)))
  expected_logs, directions = ONE_SIDED[drop]
  assert set(logs) == expected_logs
  assert all(np.isfinite(float(v)) for v in logs.values())
  for name in NETWORK_ATTRIBUTES:
    changed = _changed(before[name], private[name])
    if name in dropped:
      assert not any(changed), f"{name} was dropped but its private layers moved"
    else:
      assert all(changed), f"{name} is trained but a private variable did not move"
  assert model.translation_directions == directions
  missing = "a2b" if directions == ("b2a",) else "b2a"
  with pytest.raises(ValueError, match=f"does not translate {missing}"):
    model.translate(_images(3), missing)
  assert model.translate(_images(3), directions[0]).shape == (4, 32, 32, 3)


def test_one_sided_ablation_refuses_no_discriminators(tiny_config):
  with pytest.raises(ValueError, match="needs the discriminators"):
    _built(tiny_config, LossConfig(use_discriminators=False), options=PaperOptions("E_a"))


def test_same_seed_same_result(tiny_config):
  results = []
  for _ in range(2):
    model = _built(tiny_config, seed=3)
    model.train_step((_images(1, 8), _images(2, 8)))
    results.append(model.translate(_images(5), "a2b").numpy())
  np.testing.assert_array_equal(results[0], results[1])


def test_translation_uses_the_source_domain_statistics_slot(tiny_config):
  model = _built(tiny_config)
  bn = model.generator_b.private[0].bn  # G_b's first private layer
  before = [m.numpy().copy() for m in bn.moving_means]
  model.forward(_images(1), _images(2), training=True)
  # G_b decoded z_a (slot 0, translation a->b) and z_b (slot 1, reconstruction): both updated
  assert all(not np.array_equal(b, m.numpy()) for b, m in zip(before, bn.moving_means))
  enc_bn = model.encoder_a.private[0].bn
  before = [m.numpy().copy() for m in enc_bn.moving_means]
  model.encoder_a(_images(1), training=True)
  assert not np.array_equal(before[0], enc_bn.moving_means[0].numpy())
  np.testing.assert_array_equal(before[1], enc_bn.moving_means[1].numpy())


def test_sampling_draws_new_noise_and_mean_is_deterministic(tiny_config):
  model = _built(tiny_config)
  x = _images(1)
  np.testing.assert_array_equal(model.translate(x).numpy(), model.translate(x).numpy())
  assert not np.array_equal(model.translate(x, sample=True).numpy(),
                            model.translate(x, sample=True).numpy())


def test_bad_arguments(tiny_config):
  model = _built(tiny_config)
  with pytest.raises(ValueError, match="direction"):
    model.translate(_images(1), "a2c")
  with pytest.raises(ValueError, match="disc_steps"):
    variants.build_model(tiny_config, disc_steps=0)
  with pytest.raises(ValueError, match="recon_loss"):
    variants.build_model(tiny_config, dataclasses.replace(LossConfig(), recon_loss="l3"))


def test_toy_network_rejects_other_sizes_instead_of_resizing(tiny_config):
  model = _built(tiny_config)
  with pytest.raises(tf.errors.InvalidArgumentError, match="32x32 images only"):
    model.translate(tf.zeros([1, 40, 40, 3]), "a2b")


def test_pad_to_multiple_reflects_and_reports_size():
  from unit_tf import sizing  # pylint: disable=g-import-not-at-top
  x = tf.reshape(tf.range(1 * 5 * 3 * 1, dtype=tf.float32), [1, 5, 3, 1])
  padded, h, w = sizing.pad_to_multiple(x, 4)
  assert padded.shape == (1, 8, 4, 1) and int(h) == 5 and int(w) == 3
  # reflect: row 5 mirrors row 3, column 3 mirrors column 1
  np.testing.assert_array_equal(padded[0, 5, :3, 0].numpy(), x[0, 3, :, 0].numpy())
  np.testing.assert_array_equal(padded[0, :5, 3, 0].numpy(), x[0, :, 1, 0].numpy())
