"""The Table 10 preset at tiny width: sharing, stochastic skip latents and their KL, exact deconv
sizes, any-size translation, the y-image, 1- and 3-channel domains."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from unit_tf import variants
from unit_tf.core import layers as unit_layers
from unit_tf.core import losses
from unit_tf.config import ModelConfig

F = 4  # filters of the first layer: Table 10's 64 scaled down for speed
TINY_NATURAL = ModelConfig(arch="paper_natural", image_size=64, gen_filters=F, dis_filters=F,
                           n_shared_enc=3, n_shared_gen=4, n_shared_dis=4, spatial_context=True)


def _model(config=TINY_NATURAL, shape=(64, 64)):
  keras.utils.set_random_seed(0)
  model = variants.build_model(config)
  model.build_for(shape + (config.channels_a,), shape + (config.channels_b,))
  return model


def _images(shape, seed=0):
  return tf.random.stateless_uniform(shape, seed=[seed, 1], minval=-1.0, maxval=1.0)


def test_skip_latents_one_per_shared_encoder_layer():
  nets = variants.build_networks(TINY_NATURAL)
  latents = nets.encoder_a(_images([2, 64, 96, 3]))
  # shallowest first: encoder layers 3, 4, 5 at H/8, H/16, H/32, twice the layer's width
  assert [tuple(mu.shape) for mu, _ in latents] == [
      (2, 8, 12, 8 * F), (2, 4, 6, 16 * F), (2, 2, 3, 32 * F)]
  assert all(tuple(var.shape) == tuple(mu.shape) for mu, var in latents)
  assert all(float(tf.reduce_min(var)) > 0.0 for _, var in latents)  # softplus
  # every Gaussian head sits in a shared unit: no skip from the unshared layers 1-2
  heads = [layer for layer in nets.encoder_a.private + nets.encoder_a.shared
           if isinstance(layer, unit_layers.GaussianHead)]
  assert len(heads) == 3 and all(any(h is s for s in nets.encoder_a.shared) for h in heads)


def test_sharing_follows_table10():
  nets = variants.build_networks(TINY_NATURAL)
  # encoder layers 3-5 with their heads: 3 convs + 3 heads; layers 1-2 private
  assert len(nets.encoder_a.shared) == 6 and len(nets.encoder_a.private) == 2
  # generator layers 1-4: 4 DCONVs + the 2 skip concatenations of layers 2 and 3
  assert len(nets.generator_a.shared) == 6 and len(nets.generator_a.private) == 2
  # discriminator layers 3-6
  assert len(nets.discriminator_a.shared) == 4 and len(nets.discriminator_a.private) == 2
  for name in ("encoder", "generator", "discriminator"):
    a, b = getattr(nets, f"{name}_a"), getattr(nets, f"{name}_b")
    assert all(x is y for x, y in zip(a.shared, b.shared))
    assert all(x is not y for x, y in zip(a.private, b.private))


def test_every_skip_sample_reaches_the_generator():
  nets = variants.build_networks(TINY_NATURAL)
  mus = [mu for mu, _ in nets.encoder_a(_images([1, 64, 64, 3]))]
  base = nets.generator_b(mus, slot=0)
  assert tuple(base.shape) == (1, 64, 64, 3)
  for i in range(3):
    changed = list(mus)
    changed[i] = mus[i] + 1.0
    assert float(tf.reduce_max(tf.abs(nets.generator_b(changed, slot=0) - base))) > 0.0, i


def test_kl_sums_over_every_skip_latent():
  model = _model()
  images_a, images_b = _images([2, 64, 64, 3], 1), _images([2, 64, 64, 3], 2)
  outputs = model.forward(
      images_a, images_b, training=False, sample=False)
  terms = model.vae_losses(images_a, images_b, outputs)
  for d in "ab":
    latents = outputs[f"latents_{d}"]
    assert len(latents) == 3
    expected = sum(losses.gaussian_kl(mu, var) for mu, var in latents)
    np.testing.assert_allclose(terms[f"kl_{d}"].numpy(), expected.numpy(), rtol=1e-6)
    largest = losses.gaussian_kl(*latents[0]).numpy()
    assert np.all(terms[f"kl_{d}"].numpy() > largest)  # not just one of them


@pytest.mark.parametrize("height,width", [(64, 96), (32, 32), (96, 64)])
def test_deconvs_give_exact_sizes(height, width):
  model = _model()
  out = model.generator_a(
      [mu for mu, _ in model.encoder_a(_images([1, height, width, 3]))], slot=0)
  assert tuple(out.shape) == (1, height, width, 3)


def test_odd_sizes_translate_to_the_same_size():
  model = _model(dataclasses.replace(TINY_NATURAL, channels_a=1))
  images = _images([2, 37, 53, 1])
  out = model.translate(images, "a2b")
  assert tuple(out.shape) == (2, 37, 53, 3)
  back = model.translate(_images([1, 37, 53, 3]), "b2a")
  assert tuple(back.shape) == (1, 37, 53, 1)
  # a multiple of 32 needs no padding; the top-left of a padded image sees the same pixels
  assert tuple(model.translate(_images([1, 64, 32, 1]), "a2b").shape) == (1, 64, 32, 3)


def test_one_and_three_channel_domains_train_one_step():
  config = dataclasses.replace(TINY_NATURAL, channels_a=1, channels_b=3)
  model = _model(config)
  model.compile(keras.optimizers.Adam(1e-4, 0.5), keras.optimizers.Adam(1e-4, 0.5))
  model.build_for((64, 64, 1), (64, 64, 3))
  logs = model.train_step((_images([2, 64, 64, 1]), _images([2, 64, 64, 3])))
  assert all(np.isfinite(float(v)) for v in logs.values())
  assert tuple(model.discriminator_a(_images([2, 64, 64, 1])).shape) == (2, 1, 1, 1)


def test_y_image_values():
  images = tf.zeros([2, 5, 3, 2])
  out = unit_layers.SpatialContext()(images)
  assert tuple(out.shape) == (2, 5, 3, 3)
  np.testing.assert_array_equal(out[..., :2].numpy(), images.numpy())
  y = out[..., 2].numpy()
  np.testing.assert_allclose(y[0, :, 0], [-1.0, -0.5, 0.0, 0.5, 1.0], atol=1e-6)
  assert np.all(y == y[:1, :, :1])  # the same in every column and image


def test_spatial_context_feeds_encoders_and_discriminators_only():
  with_y = variants.build_networks(TINY_NATURAL)
  without = variants.build_networks(dataclasses.replace(TINY_NATURAL, spatial_context=False))
  for nets, extra in ((with_y, 1), (without, 0)):
    x = _images([1, 64, 64, 3])
    mus = [mu for mu, _ in nets.encoder_a(x)]
    nets.generator_a(mus)
    nets.discriminator_a(x)
    assert nets.encoder_a.private[0].conv.kernel.shape[2] == 3 + extra
    assert nets.discriminator_a.private[0].conv.kernel.shape[2] == 3 + extra
  # the y-image makes the encoder position-aware: a constant image gives rows that differ
  mu = with_y.encoder_a(tf.zeros([1, 64, 64, 3]))[0][0][0, :, :, 0].numpy()
  assert not np.allclose(mu[0], mu[-1])


@pytest.mark.parametrize("field,value,match", [
    ("image_size", 48, "multiple of 32"),
    ("image_width", 100, "image_width to be a multiple of 32"),
    ("n_shared_enc", 6, "n_shared_enc=6 is out of range"),
])
def test_bad_natural_configs_are_rejected(field, value, match):
  with pytest.raises(ValueError, match=match):
    variants.architecture(dataclasses.replace(TINY_NATURAL, **{field: value}))
