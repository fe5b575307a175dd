"""Shapes of every network, sharing by object identity, variable counts, config validation."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from unit_tf import variants
from unit_tf.core import nets as core_nets
from unit_tf.config import ModelConfig


def _count(variables):
  return len({id(v) for v in variables})


def _build_all(nets, batch=2):
  x = ops.zeros((batch, 32, 32, 3))
  latents = nets.encoder_a(x)
  nets.encoder_b(x)
  mus = [mu for mu, _ in latents]
  nets.generator_a(mus)
  nets.generator_b(mus)
  nets.discriminator_a(x)
  nets.discriminator_b(x)
  return latents


def test_shapes_of_every_network(tiny_config):
  nets = variants.build_networks(tiny_config)
  x = ops.zeros((2, 32, 32, 3))
  for encoder in (nets.encoder_a, nets.encoder_b):
    latents = encoder(x)
    assert len(latents) == 1
    mu, var = latents[0]
    assert tuple(mu.shape) == (2, 1, 1, 64) and tuple(var.shape) == (2, 1, 1, 64)
    assert float(ops.min(var)) > 0.0  # softplus variance
  for generator in (nets.generator_a, nets.generator_b):
    out = generator([mu])
    assert tuple(out.shape) == (2, 32, 32, 3)
    assert float(ops.max(ops.abs(out))) <= 1.0  # tanh
  for discriminator in (nets.discriminator_a, nets.discriminator_b):
    assert tuple(discriminator(x).shape) == (2, 1, 1, 1)


def test_default_sharing_is_by_identity(tiny_config):
  nets = variants.build_networks(tiny_config)
  # n_E = 4: encoder layers 2-4 and the head; layer 1 private
  assert len(nets.encoder_a.shared) == 4 and len(nets.encoder_a.private) == 1
  for la, lb in zip(nets.encoder_a.shared, nets.encoder_b.shared):
    assert la is lb
  assert nets.encoder_a.private[0] is not nets.encoder_b.private[0]
  # n_G = 3: generator layers 1-3
  assert len(nets.generator_a.shared) == 3
  for la, lb in zip(nets.generator_a.shared, nets.generator_b.shared):
    assert la is lb
  for la, lb in zip(nets.generator_a.private, nets.generator_b.private):
    assert la is not lb
  # n_D = 4: discriminator layers 2-5
  assert len(nets.discriminator_a.shared) == 4
  for la, lb in zip(nets.discriminator_a.shared, nets.discriminator_b.shared):
    assert la is lb
  assert nets.discriminator_a.private[0] is not nets.discriminator_b.private[0]


def test_variable_count_counts_shared_weights_once(tiny_config):
  shared = variants.build_networks(tiny_config)
  _build_all(shared)
  unshared = variants.build_networks(
      dataclasses.replace(tiny_config, n_shared_enc=0, n_shared_gen=0, n_shared_dis=0))
  _build_all(unshared)
  for name in ("encoder", "generator", "discriminator"):
    a, b = getattr(shared, f"{name}_a"), getattr(shared, f"{name}_b")
    shared_vars = _count(v for layer in a.shared for v in layer.trainable_variables)
    assert shared_vars > 0
    total = _count(core_nets.unique_variables(a.trainable_variables, b.trainable_variables))
    assert total == len(a.trainable_variables) + len(b.trainable_variables) - shared_vars
    ua, ub = getattr(unshared, f"{name}_a"), getattr(unshared, f"{name}_b")
    assert _count(core_nets.unique_variables(ua.trainable_variables, ub.trainable_variables)) == (
        len(ua.trainable_variables) * 2)
    # same layers per domain with or without sharing
    assert len(ua.trainable_variables) == len(a.trainable_variables)


def test_unique_variables_keeps_first_occurrence_once(tiny_config):
  nets = variants.build_networks(tiny_config)
  _build_all(nets)
  merged = core_nets.unique_variables(nets.encoder_a.trainable_variables,
                                     nets.encoder_b.trainable_variables,
                                     nets.encoder_a.trainable_variables)
  assert len(merged) == len({id(v) for v in merged})
  assert all(x is y for x, y in zip(merged, nets.encoder_a.trainable_variables))
  assert len(merged) < 2 * len(nets.encoder_a.trainable_variables)


@pytest.mark.parametrize("field,value,match", [
    ("n_shared_enc", 6, "n_shared_enc=6 is out of range"),
    ("n_shared_gen", -1, "n_shared_gen=-1 is out of range"),
    ("image_size", 64, "needs image_size=32"),
    ("arch", "nope", "unknown arch"),
])
def test_bad_configs_are_rejected(field, value, match):
  with pytest.raises(ValueError, match=match):
    variants.build_networks(dataclasses.replace(ModelConfig(gen_filters=8, dis_filters=8),
                                                **{field: value}))


def test_sharing_every_layer_needs_equal_channels():
  config = ModelConfig(gen_filters=8, dis_filters=8, channels_b=1, n_shared_gen=5)
  with pytest.raises(ValueError, match="channels_a == channels_b"):
    variants.build_networks(config)


def test_one_and_three_channel_domains(tiny_config):
  nets = variants.build_networks(dataclasses.replace(tiny_config, channels_a=1))
  latents = nets.encoder_a(ops.zeros((2, 32, 32, 1)))
  mus = [mu for mu, _ in latents]
  assert tuple(nets.generator_a(mus).shape) == (2, 32, 32, 1)
  assert tuple(nets.generator_b(mus).shape) == (2, 32, 32, 3)
  assert tuple(nets.discriminator_a(ops.zeros((2, 32, 32, 1))).shape) == (2, 1, 1, 1)


def test_fused_batch_norm_is_the_formula():
  """DomainBatchNorm's training path (one fused kernel) computes y = (x - mean) / sqrt(var + eps)
  * gamma + beta with the batch's biased moments, feeds those moments to the slot's moving
  averages, and has the formula's gradients."""
  from unit_tf.core.layers import DomainBatchNorm  # pylint: disable=g-import-not-at-top
  x = tf.random.stateless_normal((3, 5, 4, 6), seed=[5, 6]) * 2.0 + 0.5
  layer = DomainBatchNorm(num_slots=2, momentum=0.9)
  layer.build(x.shape)
  layer.gamma.assign(tf.linspace(0.5, 1.5, 6))
  layer.beta.assign(tf.linspace(-0.3, 0.3, 6))

  def formula(x):
    mean, var = tf.nn.moments(x, [0, 1, 2])
    return (x - mean) * tf.math.rsqrt(var + 1e-5) * layer.gamma + layer.beta, mean, var

  weights = tf.random.stateless_normal(x.shape, seed=[7, 8])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    y = layer(x, slot=1, training=True)
    expected, mean, var = formula(x)
    loss, expected_loss = tf.reduce_sum(y * weights), tf.reduce_sum(expected * weights)
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
  for got, want in zip(tape.gradient(loss, [x, layer.gamma, layer.beta]),
                       tape.gradient(expected_loss, [x, layer.gamma, layer.beta])):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(layer.moving_means[1], 0.1 * mean, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(layer.moving_variances[1], 0.9 + 0.1 * var, rtol=1e-5)
  np.testing.assert_array_equal(layer.moving_means[0], np.zeros(6))  # the other slot untouched
