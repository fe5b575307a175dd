"""Each loss against values computed by hand on 4-element tensors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from unit_tf.core import losses


def _img(values):
  return tf.reshape(tf.constant(values, tf.float32), [1, 2, 2, 1])


def test_gaussian_nll_is_half_sum_of_squares():
  # diffs 1, 0, -2, 0 -> 0.5 * (1 + 4)
  out = losses.gaussian_nll(_img([1, 2, 3, 4]), _img([0, 2, 5, 4]))
  np.testing.assert_allclose(out.numpy(), [2.5], rtol=1e-6)


def test_laplacian_nll_is_sum_of_abs():
  out = losses.laplacian_nll(_img([1, 2, 3, 4]), _img([0, 2, 5, 4]))
  np.testing.assert_allclose(out.numpy(), [3.0], rtol=1e-6)


def test_per_example_reduction_keeps_batch():
  x = tf.zeros([3, 2, 2, 1])
  y = tf.ones([3, 2, 2, 1])
  np.testing.assert_allclose(losses.gaussian_nll(x, y).numpy(), [2.0, 2.0, 2.0])


def test_gaussian_kl_closed_form():
  # dims: (mu 0, var 1) -> 0; (mu 1, var e) -> 0.5 * (1 + e - 1 - 1); (mu -2, var 0.5), (0, 2)
  mu = _img([0.0, 1.0, -2.0, 0.0])
  var = _img([1.0, math.e, 0.5, 2.0])
  expected = 0.5 * ((0 + 1 - 0 - 1) + (1 + math.e - 1 - 1) + (4 + 0.5 - math.log(0.5) - 1) +
                    (0 + 2 - math.log(2) - 1))
  np.testing.assert_allclose(losses.gaussian_kl(mu, var).numpy(), [expected], rtol=1e-6)


def test_gaussian_kl_is_zero_at_the_prior():
  np.testing.assert_allclose(losses.gaussian_kl(tf.zeros([2, 4]), tf.ones([2, 4])).numpy(),
                             [0.0, 0.0], atol=1e-7)


def test_discriminator_loss_by_hand():
  # real logit 0 -> D = 1/2 -> -log D = ln 2
  # reconstruction logit ln 3 -> D = 3/4 -> -log(1 - D) = ln 4, weighted 1/2
  # translation logit -ln 3 -> D = 1/4 -> -log(1 - D) = ln(4/3), weighted 1/2
  real = tf.constant([[0.0]])
  recon = tf.constant([[math.log(3.0)]])
  trans = tf.constant([[-math.log(3.0)]])
  expected = math.log(2) + 0.5 * math.log(4) + 0.5 * math.log(4 / 3)
  np.testing.assert_allclose(losses.discriminator_loss(real, recon, trans).numpy(), [expected],
                             rtol=1e-6)


def test_generator_loss_is_non_saturating_by_hand():
  # recon D = 3/4 -> -log D = ln(4/3); translation D = 1/4 -> -log D = ln 4; each weighted 1/2
  recon = tf.constant([[math.log(3.0)]])
  trans = tf.constant([[-math.log(3.0)]])
  expected = 0.5 * math.log(4 / 3) + 0.5 * math.log(4)
  np.testing.assert_allclose(losses.generator_adversarial_loss(recon, trans).numpy(), [expected],
                             rtol=1e-6)


def test_one_kind_of_fake_gets_the_whole_weight_by_hand():
  # Table 5's one-sided ablations: -log D(x) - log(1 - D(fake)) and -log D(fake)
  real = tf.constant([[0.0]])
  fake = tf.constant([[math.log(3.0)]])  # D = 3/4
  np.testing.assert_allclose(losses.discriminator_loss(real, fake).numpy(),
                             [math.log(2) + math.log(4)], rtol=1e-6)
  np.testing.assert_allclose(losses.generator_adversarial_loss(fake).numpy(),
                             [math.log(4 / 3)], rtol=1e-6)
  with pytest.raises(ValueError, match="at least one"):
    losses.discriminator_loss(real)


def test_patch_logits_are_averaged_per_example():
  # a 2x2 patch map: logits 0 (ln 2 each) and a large logit (~0) -> mean over the 4 positions
  logits = tf.reshape(tf.constant([0.0, 0.0, 30.0, 30.0]), [1, 2, 2, 1])
  out = losses.generator_adversarial_loss(logits, logits)
  np.testing.assert_allclose(out.numpy(), [0.5 * math.log(2)], rtol=1e-5)


@pytest.mark.parametrize("fn", [losses.gaussian_nll, losses.laplacian_nll])
def test_reconstruction_losses_accept_bfloat16(fn):
  x = tf.cast(_img([1, 2, 3, 4]), tf.bfloat16)
  assert fn(x, x).dtype == tf.float32
