"""arch "nips" (the NIPS 2017 UNIT of the authors' release): parameter parity, sharing by identity,
the release's normalizations and pooling, the loss formulas by hand, what each update touches and
differentiates, translation at odd sizes, the weight average, checkpoints and the command line."""

import dataclasses
import os

from absl import flags
import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from conftest import REPO, run_tool
from test_image_data import write_images
from unit_tf import run_dir
from unit_tf import variants
from unit_tf.core import nets as core_nets
from unit_tf import config as unit_config
from unit_tf.core import losses
from unit_tf.nips import networks as nips_networks
from unit_tf.nips.options import NipsOptions
from unit_tf import training
from unit_tf.config import LossConfig, ModelConfig, TrainConfig

TINY = ModelConfig(arch="nips", image_size=32, gen_filters=4, dis_filters=4, n_shared_enc=1,
                   n_shared_gen=1, n_shared_dis=0)
RELEASE_LOSS = LossConfig(lambda_recon=10.0, lambda_kl=0.01, lambda_gan=1.0, recon_loss="l1_mean")
RELEASE_OPTIONS = NipsOptions(num_scales=2, gan_loss="lsgan", kl_loss="mean_square",
                              lambda_cycle=10.0, lambda_kl_cycle=0.01)
SHAPE = (32, 32, 3)


def _images(seed, n=1, shape=SHAPE):
  return tf.random.stateless_uniform((n,) + shape, seed=[seed, 7], minval=-1.0, maxval=1.0)


def _trained_objects(train_config=TrainConfig(batch_size=1), model_config=TINY,
                     options=RELEASE_OPTIONS):
  keras.utils.set_random_seed(0)
  return run_dir.build_trained_objects(model_config, RELEASE_LOSS, train_config, SHAPE, SHAPE,
                                       options)


@pytest.fixture(scope="module")
def model():
  """One tiny built model for the tests that only need its updates to run."""
  return _trained_objects()[0]


def _count(variables):
  return sum(int(np.prod(v.shape)) for v in variables)


def test_parameter_counts_equal_the_release():
  config = ModelConfig(arch="nips", image_size=64, gen_filters=64, dis_filters=64,
                       n_shared_enc=0, n_shared_gen=0, n_shared_dis=0)
  nets = variants.build_networks(config)
  images = tf.zeros((1, 64, 64, 3))
  (mu, var), = nets.encoder_a(images)
  assert mu.shape == (1, 16, 16, 256)  # 4 * dim channels at 1/4 resolution
  np.testing.assert_array_equal(var.numpy(), 1.0)
  assert nets.generator_a([mu]).shape == (1, 64, 64, 3)
  assert [tuple(o.shape) for o in nets.discriminator_a(images)] == [
      (1, 4, 4, 1), (1, 2, 2, 1), (1, 1, 1, 1)]
  generator = nets.encoder_a.trainable_variables + nets.generator_a.trainable_variables
  assert _count(generator) == 11_140_483
  assert _count(nets.discriminator_a.trainable_variables) == 8_271_171


def test_shared_units_are_the_same_objects():
  config = ModelConfig(arch="nips", image_size=32, gen_filters=4, dis_filters=4, n_shared_enc=2,
                       n_shared_gen=1, n_shared_dis=1)
  nets = variants.build_networks(config, NipsOptions(num_scales=2))
  images = tf.zeros((1, 32, 32, 3))
  for encoder in (nets.encoder_a, nets.encoder_b):
    encoder(images)
  (mu, _), = nets.encoder_a(images)
  nets.generator_a([mu]), nets.generator_b([mu])
  nets.discriminator_a(images), nets.discriminator_b(images)
  assert len(nets.encoder_a.shared) == 2 and len(nets.encoder_a.private) == 5  # 3 stem + 2 res
  for x, y in zip(nets.encoder_a.shared, nets.encoder_b.shared):
    assert x is y
  assert nets.generator_a.shared[0] is nets.generator_b.shared[0]
  assert len(nets.discriminator_a.shared) == 2  # the 1x1 output layer of each scale
  for x, y in zip(nets.discriminator_a.shared, nets.discriminator_b.shared):
    assert x is y
  for x in nets.encoder_a.private:
    assert all(x is not y for y in nets.encoder_b.private)
  per_domain = _count(nets.encoder_a.trainable_variables + nets.generator_a.trainable_variables)
  shared = _count(v for layer in nets.encoder_a.shared + nets.generator_a.shared
                  for v in layer.trainable_variables)
  unique = core_nets.unique_variables(*(n.trainable_variables for n in (
      nets.encoder_a, nets.encoder_b, nets.generator_a, nets.generator_b)))
  assert _count(unique) == 2 * per_domain - shared


def test_instance_norm_is_pytorch_instance_norm():
  block = nips_networks.PadConvBlock(3, 3, norm="instance", activation=None)
  block(tf.zeros((1, 4, 4, 1)))
  norm = block.normalization
  assert isinstance(norm, keras.layers.GroupNormalization)
  assert norm.groups == 3  # groups=-1 became one group per channel at build
  assert norm.epsilon == 1e-5 and not norm.center and not norm.scale and not norm.weights
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
  expected = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
      x.var(axis=(1, 2), keepdims=True) + 1e-5)
  np.testing.assert_allclose(norm(x).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("policy, dtype, atol", [("float32", "float32", 2e-5),
                                                 ("mixed_bfloat16", "bfloat16", 0.05)])
def test_fused_instance_norm_of_one_image_is_group_norm(policy, dtype, atol):
  """At batch 1 InstanceNormalization runs FusedBatchNormV3: the same values and input gradients
  as GroupNormalization's own call (to float32 rounding; bfloat16 outputs to a few of its ulps at
  |y| < 4)."""
  rng = np.random.default_rng(1)
  x = tf.cast(rng.normal(2.0, 3.0, size=(1, 6, 5, 4)).astype(np.float32), dtype)
  upstream = tf.constant(rng.normal(size=(1, 6, 5, 4)).astype(np.float32))
  fused = nips_networks.InstanceNormalization(groups=-1, epsilon=1e-5, center=False,
                                              scale=False, dtype=policy)
  plain = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False,
                                          dtype=policy)
  results = []
  for layer in (fused, plain):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x)
      loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    assert y.dtype == x.dtype
    results.append((tf.cast(y, tf.float32).numpy(), tf.cast(tape.gradient(loss, x),
                                                             tf.float32).numpy()))
  assert any("FusedBatchNorm" in op.type
             for op in tf.function(fused).get_concrete_function(x).graph.get_operations())
  (y_fused, g_fused), (y_plain, g_plain) = results
  np.testing.assert_allclose(y_fused, y_plain, atol=atol)
  np.testing.assert_allclose(g_fused, g_plain, atol=atol * np.abs(g_plain).max())
  assert np.abs(y_plain).max() > 1.0  # a normalized output, not zeros


def test_release_layer_norm_divides_by_unbiased_std_plus_epsilon():
  layer = nips_networks.ReleaseLayerNorm()
  x = tf.reshape(tf.constant([1.0, 2.0, 3.0, 6.0]), [1, 2, 1, 2])
  layer.build(x.shape)
  layer.gamma.assign([1.0, 2.0])
  layer.beta.assign([0.0, 1.0])
  # mean 3, unbiased std sqrt((4 + 1 + 0 + 9) / 3)
  z = (np.array([1.0, 2.0, 3.0, 6.0]) - 3.0) / (np.sqrt(14.0 / 3.0) + 1e-5)
  expected = z * np.array([1.0, 2.0, 1.0, 2.0]) + np.array([0.0, 1.0, 0.0, 1.0])
  np.testing.assert_allclose(layer(x).numpy().ravel(), expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(1, 5, 7, 3), (2, 4, 4, 2), (1, 2, 3, 2)])
def test_polyphase_upsample_conv_equals_the_direct_form(shape):
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=shape), tf.float32)
  kernel = tf.Variable(rng.normal(size=(5, 5, shape[-1], 4)), dtype=tf.float32)
  bias = tf.Variable(rng.normal(size=(4,)), dtype=tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    fast = nips_networks.upsample_conv5(x, kernel, bias)
    upsampled = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
    direct = tf.nn.conv2d(tf.pad(upsampled, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT"),
                          kernel, 1, "VALID") + bias
    fast_loss, direct_loss = (tf.reduce_sum(y * tf.sin(y)) for y in (fast, direct))
  np.testing.assert_allclose(fast.numpy(), direct.numpy(), rtol=1e-4, atol=1e-4)
  for got, want in zip(tape.gradient(fast_loss, [x, kernel, bias]),
                       tape.gradient(direct_loss, [x, kernel, bias])):
    scale = np.abs(want.numpy()).max()
    np.testing.assert_allclose(got.numpy() / scale, want.numpy() / scale, atol=1e-5)


def test_average_pool_between_scales_does_not_count_the_padding():
  x = tf.reshape(tf.range(16, dtype=tf.float32), [1, 4, 4, 1])
  out = nips_networks.AveragePoolDown()(x).numpy()[0, :, :, 0]
  assert out.shape == (2, 2)
  assert out[0, 0] == pytest.approx(np.mean([0, 1, 4, 5]))  # 4 real pixels, 5 padded ones
  assert out[1, 1] == pytest.approx(np.mean([5, 6, 7, 9, 10, 11, 13, 14, 15]))


def _maps(*values):
  return [tf.reshape(tf.constant(v, tf.float32), [1, 2, 1, 1]) for v in values]


def test_lsgan_losses_by_hand():
  real, fake = _maps([1.0, 3.0], [0.0, 1.0]), _maps([0.5, 0.5], [2.0, 0.0])
  # scale 1: mean((0, 4)) + mean((.25, .25)); scale 2: mean((1, 0)) + mean((4, 0))
  np.testing.assert_allclose(losses.lsgan_discriminator_loss(real, fake).numpy(),
                             [2.0 + 0.25 + 0.5 + 2.0])
  # mean((.25, .25)) + mean((1, 1))
  np.testing.assert_allclose(losses.lsgan_generator_loss(fake).numpy(), [0.25 + 1.0])


def test_release_reconstruction_kl_and_weight_decay_terms_by_hand():
  x = tf.reshape(tf.constant([1.0, 2.0, 3.0, 4.0]), [1, 2, 2, 1])
  y = tf.reshape(tf.constant([0.0, 2.0, 5.0, 4.0]), [1, 2, 2, 1])
  np.testing.assert_allclose(losses.mean_absolute_error(x, y).numpy(), [0.75])
  assert losses.RECONSTRUCTION_LOSSES["l1_mean"] is losses.mean_absolute_error
  np.testing.assert_allclose(losses.latent_mean_square(x).numpy(), [7.5])  # (1+4+9+16)/4
  np.testing.assert_allclose(losses.l2_penalty([tf.constant([1.0, 2.0]), tf.constant(3.0)]),
                             7.0)
  logits = _maps([0.0, 0.0])
  np.testing.assert_allclose(losses.multiscale_generator_loss(logits).numpy(), [np.log(2.0)],
                             rtol=1e-6)


def _snapshot(variables):
  return [v.numpy().copy() for v in variables]


def _changed(before, variables):
  return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_each_update_changes_only_its_networks(model):
  d_vars, g_vars = model.discriminator_variables, model.generator_variables
  d_before, g_before = _snapshot(d_vars), _snapshot(g_vars)
  logs = model.discriminator_update((_images(1), _images(2)))
  assert all(_changed(d_before, d_vars)) and not any(_changed(g_before, g_vars))
  d_before = _snapshot(d_vars)
  logs = model.generator_update((_images(3), _images(4)))
  assert all(_changed(g_before, g_vars)) and not any(_changed(d_before, d_vars))
  assert {"recon_a", "kl_a", "cycle_a", "cycle_b", "kl_cycle_a", "gan_b", "g_loss"} <= set(logs)
  total = sum(w * float(logs[k]) for w, k in (
      (10, "recon_a"), (10, "recon_b"), (0.01, "kl_a"), (0.01, "kl_b"), (10, "cycle_a"),
      (10, "cycle_b"), (0.01, "kl_cycle_a"), (0.01, "kl_cycle_b"), (1, "gan_a"), (1, "gan_b")))
  assert float(logs["g_loss"]) == pytest.approx(total, rel=1e-5)
  logs = model.train_step((_images(5, 2), _images(6, 2)))
  assert np.isfinite(float(logs["d_loss"])) and float(logs["d_loss"]) > 0


class _RecordingTape(tf.GradientTape):
  """Records which variables each tape watched and was asked to differentiate."""
  records = []

  def gradient(self, target, sources, *args, **kwargs):
    _RecordingTape.records.append(({id(v) for v in self.watched_variables()},
                                   {id(getattr(v, "value", v)) for v in sources}))
    return super().gradient(target, sources, *args, **kwargs)


def test_generator_step_computes_no_discriminator_weight_gradient(model, monkeypatch):
  monkeypatch.setattr(tf, "GradientTape", _RecordingTape)
  _RecordingTape.records = []
  model.generator_update((_images(1), _images(2)))
  model.discriminator_update((_images(3), _images(4)))
  (g_watched, g_sources), (d_watched, d_sources) = _RecordingTape.records
  d_ids = {id(v.value) for v in model.discriminator_variables}
  g_ids = {id(v.value) for v in model.generator_variables}
  assert g_watched == g_ids == g_sources  # D's kernels were read but never watched
  assert d_watched == d_ids == d_sources


def test_translate_keeps_odd_sizes(model):
  for size in ((37, 21), (5, 9)):
    out = model.translate(_images(1, shape=size + (3,)), "a2b")
    assert out.shape == (1,) + size + (3,)
    assert np.all(np.abs(out.numpy()) <= 1.0)


def test_paper_presets_reject_nips_options_and_small_images_are_errors():
  with pytest.raises(ValueError, match="NipsOptions belong to the nips variant"):
    variants.build_model(ModelConfig(), LossConfig(),
                         NipsOptions(gan_loss="lsgan", lambda_cycle=1.0, ema_decay=0.9))
  with pytest.raises(ValueError, match="at least 64x64"):
    nips_networks.check_config(ModelConfig(arch="nips", image_size=32))


def test_learning_rate_decays_in_steps():
  optimizer = run_dir.make_optimizer(TrainConfig(learning_rate=1e-4, lr_decay_steps=2))
  rates = []
  for _ in range(5):
    rates.append(float(optimizer.learning_rate))
    optimizer.iterations.assign_add(1)
  np.testing.assert_allclose(rates, [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5], rtol=1e-6)


def test_weight_average_is_updated_checkpointed_and_used_for_inference(tmp_path):
  """Also: a checkpoint holds every variable (weights, shadows, optimizers, noise state)."""
  decay = 0.5
  train_config = TrainConfig(batch_size=1)
  options = dataclasses.replace(RELEASE_OPTIONS, ema_decay=decay, weight_decay=1e-4)
  model, checkpoint, step = _trained_objects(train_config, options=options)
  g_vars = model.generator_variables
  before = _snapshot(g_vars)
  np.testing.assert_array_equal(model.ema.shadows[0].numpy(), before[0])
  model.train_step((_images(1, 2), _images(2, 2)))
  after = _snapshot(g_vars)
  for shadow, b, a in zip(model.ema.shadows, before, after):
    np.testing.assert_allclose(shadow.numpy(), decay * b + (1 - decay) * a, rtol=1e-5,
                               atol=1e-7)
  model_dir = str(tmp_path / "run")
  os.makedirs(model_dir)
  unit_config.save_configs(model_dir, model=TINY, loss=RELEASE_LOSS, train=train_config,
                           options=options)
  step.assign(1)
  tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, run_dir.CHECKPOINT_SUBDIR),
                             max_to_keep=1, step_counter=step).save(checkpoint_number=1)

  keras.utils.set_random_seed(99)
  fresh, fresh_checkpoint, _ = run_dir.build_trained_objects(TINY, RELEASE_LOSS, train_config,
                                                             SHAPE, SHAPE, options)
  fresh_checkpoint.restore(run_dir.checkpoint_path(model_dir)).assert_consumed()
  saved = {v.path: v.numpy() for v in model.variables}
  assert any("shadow_" in k for k in saved) and any("seed_generator" in k for k in saved)
  restored = {v.path: v.numpy() for v in fresh.variables}
  assert saved.keys() == restored.keys()
  for key, value in saved.items():
    np.testing.assert_array_equal(value, restored[key], err_msg=key)
  for opt, fresh_opt in ((model.disc_optimizer, fresh.disc_optimizer),
                         (model.gen_optimizer, fresh.gen_optimizer)):
    for a, b in zip(opt.variables, fresh_opt.variables):
      np.testing.assert_array_equal(a.numpy(), b.numpy())

  restored, _, restored_step = run_dir.restore_for_inference(model_dir)
  assert restored_step == 1
  for variable, shadow in zip(restored.generator_variables, model.ema.shadows):
    np.testing.assert_array_equal(variable.numpy(), shadow.numpy())
  images = _images(3)
  assert not np.allclose(restored.translate(images).numpy(), model.translate(images).numpy())
  model.use_averaged_weights()
  np.testing.assert_allclose(restored.translate(images).numpy(), model.translate(images).numpy(),
                             atol=1e-6)


@pytest.mark.parametrize("config", ["nips_edges2shoes", "nips_summer2winter",
                                    "nips_day_night_amos"])
def test_config_flags_give_the_release_settings(config, monkeypatch):
  monkeypatch.chdir(REPO)
  monkeypatch.syspath_prepend(os.path.join(REPO, "tools"))
  import experiment_flags  # pylint: disable=g-import-not-at-top
  try:
    flags.FLAGS(["train", f"--flagfile=configs/{config}.flags"])
    model_config, loss_config, train_config, options, _ = experiment_flags.configs()
  finally:
    flags.FLAGS.unparse_flags()
  assert (model_config.arch, model_config.gen_filters, options.num_scales) == ("nips", 64, 3)
  assert (model_config.n_shared_enc, model_config.n_shared_gen) == (0, 0)
  assert loss_config == RELEASE_LOSS
  assert (options.gan_loss, options.kl_loss, options.lambda_cycle, options.lambda_kl_cycle) == (
      "lsgan", "mean_square", 10.0, 0.01)
  assert (train_config.learning_rate, options.weight_decay, train_config.lr_decay_steps,
          train_config.batch_size) == (1e-4, 1e-4, 100000, 1)


@pytest.mark.slow  # three TensorFlow subprocesses, about a minute on 2 cores
def test_command_line_train_translate_export(tmp_path):
  data = tmp_path / "data"
  for name, seed in (("trainA", 0), ("trainB", 10), ("testA", 20), ("testB", 30)):
    write_images(str(data / name), 2, seed=seed)
  model_dir = str(tmp_path / "run")
  run_tool("train.py", f"--model_dir={model_dir}", f"--data_path={data}", "--task=images",
           "--arch=nips", "--gen_filters=4", "--dis_filters=4", "--num_scales=2",
           "--image_size=32", "--load_size=32", "--batch_size=1", "--max_steps=2",
           "--recon_loss=l1_mean", "--lambda_recon=10", "--lambda_kl=0.01", "--gan_loss=lsgan",
           "--kl_loss=mean_square", "--lambda_cycle=10", "--lambda_kl_cycle=0.01",
           "--weight_decay=0.0001", "--lr_decay_steps=1", "--ema_decay=0.9", "--log_every=1",
           "--image_every=0", "--eval_every=0", "--checkpoint_every=2")
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-2.index"))
  inputs = tmp_path / "inputs"
  write_images(str(inputs), 1, size=(37, 21))
  run_tool("translate.py", f"--model_dir={model_dir}", "--direction=b2a", f"--input={inputs}",
           f"--output={tmp_path / 'out'}", "--noprogress")
  with Image.open(tmp_path / "out" / "img00.png") as image:
    assert image.size == (21, 37)
  proc = run_tool("export.py", f"--model_dir={model_dir}",
                  f"--export_dir={tmp_path / 'export'}")
  assert os.path.exists(os.path.join(proc.stdout.strip().splitlines()[-1], "saved_model.pb"))
