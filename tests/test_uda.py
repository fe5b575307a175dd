"""Domain adaptation (Appendix C): two-head discriminators, the source-label class loss, the
no-adaptation baseline, accuracy evaluation, the USPS loader, the command line and the export."""

import dataclasses
import gzip
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, run_tool, tiny_usps, write_tiny_digit_sets
import tfserving_json
from unit_tf import serving
from unit_tf import run_dir
from unit_tf.uda import task as uda_task
from unit_tf.uda import losses
from unit_tf.uda.options import UdaOptions
from unit_tf.config import LossConfig, ModelConfig, TrainConfig
from unit_tf.data import digits
from unit_tf.data.errors import DataError

TINY_LENET = ModelConfig(arch="digits_lenet", image_size=32, channels_a=1, channels_b=1,
                         gen_filters=4, dis_filters=4, n_shared_dis=3)
TINY_SVHN = ModelConfig(arch="digits_svhn", image_size=32, channels_a=3, channels_b=1,
                        gen_filters=4, dis_filters=4, n_shared_dis=4, xy_context=True)


def _built(config, options=UdaOptions(lambda_cls=1.0)):
  model, _, _ = run_dir.build_trained_objects(
      config, LossConfig(), TrainConfig(batch_size=2),
      (32, 32, config.channels_a), (32, 32, config.channels_b), options)
  return model


def _images(n, channels=1, seed=0):
  return tf.random.stateless_uniform((n, 32, 32, channels), seed=[seed, 1], minval=-1, maxval=1)


@pytest.mark.parametrize("config", [TINY_LENET, TINY_SVHN], ids=["table6", "table8"])
def test_two_heads_shapes_and_sharing(config):
  model = _built(config)
  d_a, d_b = model.discriminator_a, model.discriminator_b
  images_a, images_b = _images(3, config.channels_a), _images(3, config.channels_b)
  assert tuple(d_a(images_a).shape) == (3, 1)
  assert tuple(d_a.classify(images_a).shape) == (3, 10)
  assert tuple(model.classify(images_b, "b").shape) == (3, 10)
  # first layer private, the rest and both heads the same objects in D_a and D_b
  assert d_a.private[0] is not d_b.private[0]
  assert [id(x) for x in d_a.shared] == [id(x) for x in d_b.shared]
  assert d_a.classifier[0] is d_b.classifier[0]


def test_table6_has_lenet_widths():
  config = ModelConfig(arch="digits_lenet", image_size=32, channels_a=1, channels_b=1,
                       gen_filters=4, dis_filters=20, n_shared_dis=3)
  d_a = _built(config).discriminator_a
  shapes = [tuple(v.shape) for v in d_a.trainable_variables if v.path.endswith("kernel")]
  # 20 and 50 5x5 filters, FC-500 on the 5x5x50 map, FC-1, FC-10
  assert shapes == [(5, 5, 1, 20), (5, 5, 20, 50), (1250, 500), (500, 1), (500, 10)]


def test_class_loss_trains_the_class_head_and_logs():
  model = _built(TINY_LENET, UdaOptions(lambda_cls=10.0, lambda_feature=1e-3))
  head = model.discriminator_a.classifier[0].dense.kernel
  before = head.numpy().copy()
  labels = tf.constant([0, 1, 2, 3])
  logs = model.train_step((_images(4), _images(4, seed=1), labels))
  assert not np.allclose(head.numpy(), before)
  assert float(logs["cls_loss"]) > 0 and float(logs["feature_loss"]) > 0
  assert 0.0 <= float(logs["cls_accuracy"]) <= 1.0


def test_translated_class_loss_reaches_the_target_discriminator():
  """--lambda_cls_translated: D_b's class head on a->b translations with the source labels. The
  same step with the term on updates D_b's private first layer differently."""
  kernels = {}
  for weight in (0.0, 1.0):
    keras.utils.set_random_seed(0)
    model = _built(TINY_LENET, UdaOptions(lambda_cls=1.0, lambda_cls_translated=weight))
    logs = model.train_step((_images(4), _images(4, seed=1), tf.constant([0, 1, 2, 3])))
    assert ("cls_translated_loss" in logs) == (weight > 0)
    if weight > 0:
      assert float(logs["cls_translated_loss"]) > 0
    kernels[weight] = model.discriminator_b.private[0].conv.kernel.numpy()
  assert not np.allclose(kernels[0.0], kernels[1.0])


def test_semantic_term_trains_the_generators_through_a_fixed_source_head():
  """--lambda_semantic: D_a's class head on the translations, in the encoder/generator update. It
  changes that update (the generators' weights differ from the same step without it), is logged,
  and leaves every discriminator weight, the class head included, as it was."""
  batch = (_images(4), _images(4, seed=1), tf.constant([0, 1, 2, 3]))
  generator_weights = {}
  for weight in (0.0, 1.0):
    keras.utils.set_random_seed(0)
    model = _built(TINY_LENET, UdaOptions(lambda_cls=1.0, lambda_semantic=weight))
    model.build_for((32, 32, 1), (32, 32, 1))
    before = [v.numpy().copy() for v in model.discriminator_variables]
    logs = model.generator_update(batch)
    assert ("semantic_loss" in logs) == (weight > 0)
    if weight > 0:
      assert float(logs["semantic_loss"]) > 0
    for value, variable in zip(before, model.discriminator_variables):
      np.testing.assert_array_equal(variable.numpy(), value)
    generator_weights[weight] = [v.numpy() for v in model.generator_variables]
  assert any(not np.allclose(x, y) for x, y in zip(*generator_weights.values()))


def test_semantic_term_without_pseudo_labels_reads_only_the_source_translation():
  """semantic_target_pseudo_labels=False leaves out the b->a half: a smaller loss on the same
  step, still positive."""
  batch = (_images(4), _images(4, seed=1), tf.constant([0, 1, 2, 3]))
  values = {}
  for pseudo in (True, False):
    keras.utils.set_random_seed(0)
    model = _built(TINY_LENET, UdaOptions(lambda_cls=1.0, lambda_semantic=1.0,
                                          semantic_target_pseudo_labels=pseudo))
    model.build_for((32, 32, 1), (32, 32, 1))
    values[pseudo] = float(model.generator_update(batch)["semantic_loss"])
  assert 0 < values[False] < values[True]


def test_semantic_term_needs_labels():
  assert UdaOptions(lambda_semantic=1.0).needs_labels
  model = _built(TINY_LENET, UdaOptions(lambda_semantic=1.0))
  logs = model.train_step((_images(4), _images(4, seed=1)))
  assert "semantic_loss" not in logs


def test_weight_decay_adds_the_coupled_l2_gradient():
  """With weight_decay, a D update on the same batch moves each weight by Adam's normalized
  (g + wd * w); a large wd pulls D_b's private kernel towards zero."""
  images = (_images(4), _images(4, seed=1), tf.constant([0, 1, 2, 3]))
  norms = {}
  for decay in (0.0, 10.0):
    keras.utils.set_random_seed(0)
    model = _built(TINY_LENET, UdaOptions(lambda_cls=1.0, weight_decay=decay))
    kernel = model.discriminator_b.private[0].conv.kernel
    before = np.abs(kernel.numpy()).sum()
    for _ in range(3):
      model.discriminator_update(images)
    norms[decay] = np.abs(kernel.numpy()).sum() / before
  assert norms[10.0] < norms[0.0]


def test_without_labels_the_class_head_is_untouched():
  model = _built(TINY_LENET, UdaOptions(lambda_cls=10.0))
  head = model.discriminator_a.classifier[0].dense.kernel
  before = head.numpy().copy()
  logs = model.train_step((_images(4), _images(4, seed=1)))
  np.testing.assert_array_equal(head.numpy(), before)
  assert "cls_loss" not in logs and "cls_accuracy" not in logs


def test_source_only_trains_only_the_source_classifier():
  model = _built(TINY_LENET, UdaOptions(source_only=True))
  watched = {"d_a_private": model.discriminator_a.private[0].conv.kernel,
             "d_b_private": model.discriminator_b.private[0].conv.kernel,
             "head": model.discriminator_a.classifier[0].dense.kernel,
             "real_fake": model.discriminator_a.shared[-1].dense.kernel,
             "encoder": model.encoder_a.private[0].conv.kernel}
  before = {k: v.numpy().copy() for k, v in watched.items()}
  model.train_step((_images(4), _images(4, seed=1), tf.constant([0, 1, 2, 3])))
  changed = {k: not np.allclose(v.numpy(), before[k]) for k, v in watched.items()}
  assert changed == {"d_a_private": True, "d_b_private": False, "head": True,
                     "real_fake": False, "encoder": False}
  # the baseline classifies the target domain with the source classifier
  images = _images(2)
  np.testing.assert_allclose(model.classify(images, "b"), model.classify(images, "a"))


def _labelled(n, seed):
  """Digits whose label is written into their top-left pixel (value 20 * label)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 10, n)
  x = rng.integers(0, 255, (n, 16, 16)).astype(np.uint8)
  x[:, 0, 0] = 20 * labels
  return x, labels


def _uda_arrays(seed=0):
  x_train, y_train = _labelled(24, seed)
  x_test, y_test = _labelled(10, seed + 1)
  return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def test_training_batches_carry_source_labels_only():
  source = _uda_arrays(0)
  target = _uda_arrays(1)
  del target["y_train"]  # the task must not need the target's training labels at all
  task = uda_task.DomainAdaptationTask(source, target, image_size=16)
  images_a, images_b, labels = next(iter(task.train_dataset(8, seed=3)))
  assert images_a.shape == (8, 16, 16, 1) and images_b.shape == (8, 16, 16, 1)
  # each label is the one of the source image it comes with
  pixel = np.rint((images_a.numpy()[:, 0, 0, 0] + 1.0) * 127.5)
  np.testing.assert_array_equal(labels.numpy(), pixel / 20)
  assert len(task.train_dataset(8, seed=3).element_spec) == 3


def test_target_training_labels_never_reach_the_loss():
  """Same data, different target training labels: identical losses and weights."""
  results = []
  for permutation_seed in (0, 1):
    target = _uda_arrays(1)
    target["y_train"] = np.random.default_rng(permutation_seed).permutation(target["y_train"])
    task = uda_task.DomainAdaptationTask(_uda_arrays(0), target, image_size=32)
    keras.utils.set_random_seed(0)
    model = _built(TINY_LENET, UdaOptions(lambda_cls=1.0, lambda_feature=1e-3))
    logs = model.train_step(next(iter(task.train_dataset(4, seed=0))))
    results.append((float(logs["d_loss"]), model.discriminator_b.private[0].conv.kernel.numpy()))
  assert results[0][0] == results[1][0]
  np.testing.assert_array_equal(results[0][1], results[1][1])


class _PixelClassifier:
  """A hand-made classifier: reads the label from the top-left pixel; wrong on purpose for the
  first `wrong` images of the target domain."""

  def __init__(self, wrong):
    self.wrong = wrong

  def classify(self, images, domain):
    label = tf.cast(tf.round((images[:, 0, 0, 0] + 1.0) * 127.5 / 20.0), tf.int32)
    if domain == "b":
      flip = tf.range(tf.shape(label)[0]) < self.wrong
      label = tf.where(flip, (label + 1) % 10, label)
    return tf.one_hot(label, 10)


def test_evaluation_matches_a_classifier_of_known_accuracy():
  task = uda_task.DomainAdaptationTask(_uda_arrays(0), _uda_arrays(1), image_size=16,
                                    eval_batch_size=4)
  results = task.evaluate(_PixelClassifier(wrong=3))
  # eval batches of 4, 4 and 2 images: the first 3 of each batch are misclassified in the
  # target, 3 + 3 + 2 = 8 of 10
  assert results == {"target_accuracy": pytest.approx(2 / 10), "source_accuracy": 1.0}
  assert task.evaluate(_PixelClassifier(wrong=0), max_examples=5) == {
      "target_accuracy": 1.0, "source_accuracy": 1.0}


def _write_usps(path, rows):
  with gzip.open(path, "wt") as f:
    for row in rows:
      f.write(" ".join(str(v) for v in row) + "\n")


def test_usps_loader_reads_the_esl_format(tmp_path):
  rng = np.random.default_rng(0)
  rows = [[d] + list(np.round(rng.uniform(-1, 1, 256), 4)) for d in (6, 5, 4)]
  rows[0][1] = -1.0
  rows[0][2] = 1.0
  _write_usps(tmp_path / "zip.train.gz", rows)
  _write_usps(tmp_path / "zip.test.gz", rows[:2])
  data = digits.load_domain("usps", str(tmp_path))
  assert data["x_train"].shape == (3, 16, 16) and data["x_train"].dtype == np.uint8
  np.testing.assert_array_equal(data["y_train"], [6, 5, 4])
  assert data["x_train"][0, 0, 0] == 0 and data["x_train"][0, 0, 1] == 255
  assert data["x_test"].shape == (2, 16, 16)
  prepared = digits.prepare(data["x_train"], 32, 3)
  assert prepared.shape == (3, 32, 32, 3) and prepared.dtype == np.uint8


def test_usps_loader_errors_name_the_problem(tmp_path):
  with pytest.raises(DataError, match="lacks zip.train.gz"):
    digits.load_domain("usps", str(tmp_path), flag="--data_path_b")
  _write_usps(tmp_path / "zip.train.gz", [[3] + [0.0] * 255])
  with pytest.raises(DataError, match=r"zip.train.gz:1: expected a label and 256 values"):
    digits.load_domain("usps", str(tmp_path))
  _write_usps(tmp_path / "zip.train.gz", [[12] + [0.0] * 256])
  with pytest.raises(DataError, match="not a digit"):
    digits.parse_usps_zip(str(tmp_path / "zip.train.gz"))
  with pytest.raises(DataError, match="does not exist.*--data_path_a"):
    digits.load_domain("mnist", str(tmp_path / "missing.npz"), flag="--data_path_a")


UDA_TINY = ["--task=uda", "--arch=digits_lenet", "--source=mnist", "--target=usps",
            "--channels_a=1", "--channels_b=1", "--gen_filters=4", "--dis_filters=4",
            "--n_shared_dis=3", "--lambda_cls=10", "--lambda_feature=0.0001",
            "--batch_size=4", "--max_steps=2", "--log_every=1", "--image_every=2",
            "--eval_every=2", "--checkpoint_every=2", "--eval_examples=8"]


def test_cli_train_evaluate_export_classify(tmp_path):
  mnist_path, usps_path = write_tiny_digit_sets(tmp_path)
  model_dir = str(tmp_path / "run")
  data = [f"--data_path_a={mnist_path}", f"--data_path_b={usps_path}"]
  proc = run_tool("train.py", f"--model_dir={model_dir}", *data, *UDA_TINY)
  assert "eval target_accuracy=" in proc.stderr and "cls_loss " in proc.stderr
  result = json.loads(run_tool("evaluate.py", f"--model_dir={model_dir}", "--task=uda",
                               *data).stdout.strip().splitlines()[-1])
  assert set(result) == {"target_accuracy", "source_accuracy", "step"} and result["step"] == 2
  assert 0.0 <= result["target_accuracy"] <= 1.0

  export_dir = str(tmp_path / "export")
  run_tool("export.py", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
  loaded = tf.saved_model.load(os.path.join(export_dir, "2"))
  assert {"classify_a", "classify_b", "a2b"} <= set(loaded.signatures)
  images = (np.arange(2 * 32 * 32) % 256).astype(np.uint8).reshape(2, 32, 32, 1)
  out = loaded.signatures["classify_b"](images=tf.constant(images))
  np.testing.assert_allclose(out["scores"].numpy().sum(axis=1), 1.0, rtol=1e-5)
  np.testing.assert_array_equal(out["classes"].numpy(), np.argmax(out["scores"].numpy(), 1))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"classify_b:\] \[this model takes 32x32"):
    loaded.signatures["classify_b"](images=tf.zeros([1, 28, 28, 1], tf.uint8))
  # The REST side: the body serving.py builds, answered as TF Serving would, read back.
  for columnar in (False, True):
    body = json.dumps(serving.predict_body("classify_b", list(images), columnar=columnar))
    classes, scores = serving.classes_from_response("classify_b",
                                                    tfserving_json.run(loaded, body))
    np.testing.assert_array_equal(classes, out["classes"].numpy())
    np.testing.assert_allclose(scores, out["scores"].numpy(), rtol=1e-5)

  # the no-adaptation baseline on the same data
  baseline = str(tmp_path / "baseline")
  run_tool("train.py", f"--model_dir={baseline}", *data, *UDA_TINY, "--source_only")
  result = json.loads(run_tool("evaluate.py", f"--model_dir={baseline}", "--task=uda",
                               *data).stdout.strip().splitlines()[-1])
  assert result["step"] == 2


def test_cli_rejects_bad_uda_flags(tmp_path):
  proc = run_tool("train.py", f"--model_dir={tmp_path / 'r'}", *UDA_TINY[:1], "--arch=toy",
                  check=False)
  assert proc.returncode != 0 and "--task=uda needs a discriminator with a class head" in (
      proc.stderr)
  proc = run_tool("train.py", f"--model_dir={tmp_path / 'r'}", "--lambda_cls=1", check=False)
  assert proc.returncode != 0 and "need labelled source images" in proc.stderr
  proc = run_tool("train.py", f"--model_dir={tmp_path / 'r'}", *UDA_TINY,
                  f"--data_path_a={tmp_path / 'missing.npz'}", check=False)
  assert proc.returncode != 0 and "missing.npz does not exist" in proc.stderr


def test_classification_loss_formula():
  logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
  expected = [-np.log(np.exp(2) / (np.exp(2) + 2)), np.log(3)]
  np.testing.assert_allclose(losses.classification_loss(logits, [0, 1]), expected, rtol=1e-6)
  np.testing.assert_array_equal(losses.correct_predictions(logits, [0, 1]), [1.0, 0.0])
  np.testing.assert_allclose(
      losses.feature_matching_loss(tf.ones((2, 3)), tf.zeros((2, 3))), [3.0, 3.0])


def test_shared_usps_and_mnist_npz_load():
  from conftest import shared_path  # pylint: disable=g-import-not-at-top
  usps = digits.load_domain("usps", shared_path("data", "usps.npz"))
  assert usps["x_train"].shape == (7291, 16, 16) and usps["x_test"].shape == (2007, 16, 16)


# ----- recipe flags of issue 12 (the authors' code) -----


def test_dropout_free_feature_matching_is_deterministic_and_can_be_zero():
  """--feature_matching_dropout_free: the matched features skip the FC dropout, so the same
  image gives the same features twice (with dropout it does not), and identical D_a/D_b
  features give a zero loss."""
  model = _built(TINY_LENET)
  d_a = model.discriminator_a
  images = _images(4)
  with_dropout = [d_a.features(images, training=True).numpy() for _ in range(2)]
  assert not np.allclose(with_dropout[0], with_dropout[1])
  free = [d_a.features(images, training=True, dropout=False).numpy() for _ in range(2)]
  np.testing.assert_array_equal(free[0], free[1])
  np.testing.assert_allclose(free[0], d_a.features(images, training=False).numpy(), rtol=1e-6)
  assert float(tf.reduce_max(losses.feature_matching_loss(free[0], free[1]))) == 0.0
  for flag in (False, True):
    model = _built(TINY_LENET, UdaOptions(lambda_cls=1.0, lambda_feature=1e-3,
                                          feature_matching_dropout_free=flag))
    logs = model.train_step((_images(4), _images(4, seed=1), tf.constant([0, 1, 2, 3])))
    assert float(logs["feature_loss"]) > 0


def test_authors_init_draws_each_variable_once_and_reproducibly():
  """--init=authors: D Xavier-uniform gain sqrt(2) with bias 0.1, E/G N(0, 0.02); every variable
  its own draw (the two private D layers differ), the same draws for the same seed."""
  config = dataclasses.replace(TINY_LENET, dis_filters=20)
  options = UdaOptions(lambda_cls=1.0, init="authors")
  keras.utils.set_random_seed(0)
  model = _built(config, options)
  d_a, d_b = model.discriminator_a, model.discriminator_b
  kernel_a = d_a.private[0].conv.kernel.numpy()
  assert not np.allclose(kernel_a, d_b.private[0].conv.kernel.numpy())
  np.testing.assert_allclose(d_a.private[0].conv.bias.numpy(), 0.1)
  limit = np.sqrt(2.0) * np.sqrt(6.0 / (25 * 1 + 25 * 20))  # gain * sqrt(6 / (fan_in + fan_out))
  assert np.abs(kernel_a).max() <= limit and np.abs(kernel_a).max() > 0.8 * limit
  fc = d_a.shared[1].dense.kernel.numpy()
  assert np.abs(fc).max() <= np.sqrt(2.0) * np.sqrt(6.0 / (fc.shape[0] + fc.shape[1]))
  enc = model.encoder_a.private[0].conv.kernel.numpy()
  assert 0.015 < enc.std() < 0.025
  mu, var = model.encoder_a.shared[-1].mu.kernel, model.encoder_a.shared[-1].var.kernel
  assert not np.allclose(mu.numpy(), var.numpy())
  keras.utils.set_random_seed(0)
  again = _built(config, options)
  np.testing.assert_array_equal(again.discriminator_a.private[0].conv.kernel.numpy(), kernel_a)


def test_authors_lenet_has_prelu_and_no_dropout():
  model = _built(TINY_LENET, UdaOptions(lambda_cls=1.0, lenet_style="authors"))
  d_a = model.discriminator_a
  assert d_a.private[0].act is None and d_a.shared[0].act is None
  fc = d_a.shared[1]
  assert fc.dropout == 0.0 and isinstance(fc.act, keras.layers.PReLU)
  np.testing.assert_allclose(fc.act.alpha.numpy(), 0.25)
  assert tuple(fc.act.alpha.shape) == (1,)  # one slope, as PyTorch's nn.PReLU()
  images = _images(3)
  np.testing.assert_array_equal(d_a.features(images, training=True).numpy(),
                                d_a.features(images, training=True).numpy())
  with pytest.raises(ValueError, match="digits_lenet"):
    run_dir.build_trained_objects(TINY_SVHN, LossConfig(), TrainConfig(batch_size=2),
                                  (32, 32, 3), (32, 32, 1),
                                  UdaOptions(lambda_cls=1.0, lenet_style="authors"))


def test_weight_decay_is_coupled_l2_for_the_digit_presets():
  """--weight_decay on digits_lenet: the D and E/G updates add wd * w to each gradient (PyTorch
  Adam's coupled L2, the authors' 5e-4); a huge decay pulls the weights towards zero faster."""
  norms = {}
  for decay in (0.0, 10.0):
    keras.utils.set_random_seed(0)
    model, _, _ = run_dir.build_trained_objects(
        TINY_LENET, LossConfig(), TrainConfig(batch_size=2, learning_rate=1e-2),
        (32, 32, 1), (32, 32, 1), UdaOptions(lambda_cls=1.0, weight_decay=decay))
    assert model.options.weight_decay == decay
    for _ in range(3):
      model.train_step((_images(4), _images(4, seed=1), tf.constant([0, 1, 2, 3])))
    norms[decay] = (float(np.linalg.norm(model.discriminator_b.private[0].conv.kernel.numpy())),
                    float(np.linalg.norm(model.encoder_a.private[0].conv.kernel.numpy())))
  assert norms[10.0][0] < norms[0.0][0] and norms[10.0][1] < norms[0.0][1]
  with pytest.raises(ValueError, match="UdaOptions belong to the uda variant"):
    run_dir.build_trained_objects(ModelConfig(gen_filters=4, dis_filters=4), LossConfig(),
                                  TrainConfig(batch_size=2), (32, 32, 3), (32, 32, 3),
                                  UdaOptions(weight_decay=1e-4))


@pytest.mark.slow
@pytest.mark.parametrize("digit_set", ["mnist", "usps"])
def test_target_label_classifier_scores_high_through_the_evaluation_path(tmp_path, digit_set):
  """The upper bound that keeps the UDA figures honest: a LeNet classifier trained on the
  *target's own* training labels (source = target, --source_only), scored by tools/evaluate.py
  --task=uda exactly as the adaptation runs are (resizing, label alignment, [-1, 1] scaling,
  argmax, the final checkpoint), must score high. About a minute on 2 CPU cores."""
  from conftest import shared_path  # pylint: disable=g-import-not-at-top
  data = shared_path("data", f"{digit_set}.npz")
  run = str(tmp_path / "run")
  common = [f"--data_path_a={data}", f"--data_path_b={data}"]
  run_tool("train.py", "--flagfile=configs/uda_mnist_usps.flags", f"--model_dir={run}",
           f"--source={digit_set}", f"--target={digit_set}", "--source_only",
           "--max_steps=600", "--eval_every=0", "--image_every=0", "--log_every=100", *common,
           timeout=1200)
  result = json.loads(run_tool("evaluate.py", f"--model_dir={run}", "--task=uda",
                               *common).stdout.strip().splitlines()[-1])
  assert result["step"] == 600
  # MNIST: a LeNet reaches ~99 %; the ESL USPS test set is harder (human error ~2.5 %)
  assert result["target_accuracy"] > (0.97 if digit_set == "mnist" else 0.93)


def test_usps_random_split_is_4_to_1_fixed_and_recorded():
  """--usps_split=random: all digits pooled and split 4:1 with a fixed seed (the paper's Table 7
  protocol); the same split every time, disjoint, every digit once; config.json records it."""
  pixels = np.arange(100).reshape(100, 1, 1).astype(np.uint8)  # digit i has pixel value i
  usps = {"x_train": pixels[:80], "y_train": np.arange(80) % 10, "x_test": pixels[80:],
          "y_test": np.arange(80, 100) % 10}
  split = digits.random_split(usps)
  again = digits.random_split(usps)
  assert len(split["x_train"]) == 80 and len(split["x_test"]) == 20
  np.testing.assert_array_equal(split["x_test"], again["x_test"])
  everything = np.concatenate([split["x_train"], split["x_test"]]).ravel()
  np.testing.assert_array_equal(np.sort(everything), np.arange(100))
  np.testing.assert_array_equal(split["y_train"], split["x_train"].ravel() % 10)
  assert not np.array_equal(np.sort(split["x_test"].ravel()), np.arange(80, 100))
  task = uda_task.DomainAdaptationTask(_uda_arrays(0), _uda_arrays(1), image_size=16,
                                       usps_split="random")
  assert task.describe()["usps_split"] == "random"
  assert "usps_split" not in uda_task.DomainAdaptationTask(_uda_arrays(0), _uda_arrays(1),
                                                           image_size=16).describe()


def test_evaluation_classifier_digits_follow_the_runs_usps_split(tmp_path, monkeypatch):
  # The translation-accuracy classifier of a USPS target trains on the run's training split:
  # with --usps_split=random that is 80 % of all digits, never the test digits of that split.
  monkeypatch.syspath_prepend(os.path.join(REPO, "tools"))
  import flag_defs  # pylint: disable=g-import-not-at-top
  path = tmp_path / "usps.npz"
  np.savez(path, **tiny_usps(n_train=30, n_test=10))
  esl_images, esl_labels = flag_defs.load_uda_target_train("usps", str(path), None, 32, 1)
  assert esl_images.shape == (30, 32, 32, 1) and len(esl_labels) == 30
  random_images, random_labels = flag_defs.load_uda_target_train("usps", str(path), None, 32, 1,
                                                                 usps_split="random")
  assert random_images.shape == (32, 32, 32, 1) and len(random_labels) == 32  # 0.8 * 40
