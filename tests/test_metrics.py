"""Quality metrics: Frechet and kernel distances, the FID Inception loader, the digit classifier
and translation accuracy."""

import os

import numpy as np
import pytest

from unit_tf.metrics import distances


def _direct_frechet(x, y):
  """Textbook FID with the general-matrix square root: tr((S_x S_y)^(1/2)) as the sum of the
  square roots of the (real, non-negative) eigenvalues of S_x S_y."""
  mx, my = x.mean(0), y.mean(0)
  sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  eig = np.linalg.eigvals(sx @ sy)
  return float(np.sum((mx - my) ** 2) + np.trace(sx) + np.trace(sy)
               - 2 * np.sum(np.sqrt(np.clip(eig.real, 0, None))))


def test_frechet_of_a_set_with_itself_is_zero():
  x = np.random.default_rng(0).normal(size=(50, 6))
  assert distances.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_frechet_is_symmetric_and_agrees_with_the_direct_formula():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(40, 5))
  y = rng.normal(loc=0.5, scale=2.0, size=(60, 5)) @ rng.normal(size=(5, 5))
  forward, backward = distances.frechet_distance(x, y), distances.frechet_distance(y, x)
  assert forward > 1.0
  assert forward == pytest.approx(backward, rel=1e-9)
  assert forward == pytest.approx(_direct_frechet(x, y), rel=1e-7)


def test_frechet_of_diagonal_gaussians_by_hand():
  # N(0, diag(1, 4)) vs N((3, 0), diag(9, 4)): 3^2 + (1 - 3)^2 + (2 - 2)^2 = 13.
  d = distances.frechet_distance_from_moments(np.zeros(2), np.diag([1.0, 4.0]),
                                              np.array([3.0, 0.0]), np.diag([9.0, 4.0]))
  assert d == pytest.approx(13.0)


def test_frechet_needs_two_vectors():
  with pytest.raises(ValueError, match="at least 2 feature vectors, got 1"):
    distances.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_mmd_by_hand_on_two_points():
  # D = 1: k(a, b) = (ab + 1)^3. x = (0, 1), y = (1, 2):
  # within x: 2 k(0, 1) / 2 = 1; within y: k(1, 2) = 27;
  # cross: (k(0,1) + k(0,2) + k(1,1) + k(1,2)) / 4 = (1 + 1 + 8 + 27) / 4 = 9.25.
  got = distances.mmd2_unbiased(np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]]))
  assert got == pytest.approx(1 + 27 - 2 * 9.25)


def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
  same, same_std = distances.kernel_distance(x, y, num_subsets=20, subset_size=200)
  shifted, _ = distances.kernel_distance(x, y + 0.5, num_subsets=20, subset_size=200)
  assert abs(same) < 3 * same_std + 1e-3
  assert shifted > 10 * max(abs(same), same_std)
  again = distances.kernel_distance(x, y + 0.5, num_subsets=20, subset_size=200)
  assert again[0] == shifted  # seeded subsets


def test_kid_with_too_few_images_is_a_clear_error():
  with pytest.raises(ValueError, match="subsets of 1000 needs at least 1000 images in each set, "
                     "got 50 and 2000"):
    distances.kernel_distance(np.zeros((50, 4)), np.zeros((2000, 4)))


# ----- the FID Inception network -----

def _fake_inception_graph(path, channels=8):
  """A GraphDef with the real graph's tensor names (ExpandDims:0 in, pool_3:0 out) and a random
  convolution in between: plumbing only, its features mean nothing."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  graph = tf.Graph()
  with graph.as_default():
    images = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="ExpandDims")
    kernel = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, channels)), tf.float32)
    features = tf.nn.relu(tf.nn.conv2d((images - 128.0) / 128.0, kernel, 2, "SAME"))
    tf.reduce_mean(features, axis=[1, 2], keepdims=True, name="pool_3")
  with open(path, "wb") as f:
    f.write(graph.as_graph_def().SerializeToString())
  return str(path)


def test_missing_inception_weights_name_the_flag(tmp_path, monkeypatch):
  from unit_tf.metrics import inception  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(inception, "_host_reachable", lambda url: False)
  with pytest.raises(inception.MissingWeightsError,
                     match=r"not available here.*--inception_weights=PATH to "
                     r"classify_image_graph_def.pb.*inception-2015-12-05.tgz"):
    inception.find_weights(cache_dir=str(tmp_path))
  with pytest.raises(inception.MissingWeightsError, match="--inception_weights=/nope.pb does not"):
    inception.find_weights("/nope.pb", cache_dir=str(tmp_path))
  bad = tmp_path / "bad.pb"
  bad.write_bytes(b"\xff\xfe not a graph")
  with pytest.raises(inception.MissingWeightsError, match="is not a TensorFlow GraphDef"):
    inception.InceptionFeatures(str(bad))


def test_inception_plumbing_with_a_random_graph(tmp_path):
  import tarfile  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import inception  # pylint: disable=g-import-not-at-top
  graph = _fake_inception_graph(tmp_path / inception.GRAPH_FILE)
  archive = tmp_path / "inception-2015-12-05.tgz"
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(graph, arcname=f"inception/{inception.GRAPH_FILE}")
  extracted = inception.find_weights(str(archive), cache_dir=str(tmp_path / "cache"))
  assert open(extracted, "rb").read() == open(graph, "rb").read()
  assert inception.find_weights(cache_dir=str(tmp_path / "cache"), download=False) == extracted
  extractor = inception.InceptionFeatures(extracted, batch_size=3)
  images = tf.random.stateless_uniform((5, 32, 32, 3), seed=[0, 1], minval=-1, maxval=1)
  features = extractor(images)
  assert features.shape == (5, 8)
  # Batching does not change an image's features; grey images are fed as RGB.
  np.testing.assert_allclose(features[3:], extractor(images[3:]), rtol=1e-5)
  grey = extractor(images[:2, :, :, :1])
  np.testing.assert_allclose(grey, extractor(tf.repeat(images[:2, :, :, :1], 3, -1)), rtol=1e-5)
  assert distances.frechet_distance(features, features) == pytest.approx(0, abs=1e-9)


def test_inception_input_is_an_antialiased_resize_of_quantized_pixels():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import inception  # pylint: disable=g-import-not-at-top
  # A 1-pixel checkerboard averages to mid-grey when shrunk with anti-aliasing; a plain bicubic
  # resize would keep samples of the pattern (aliasing).
  board = (np.indices((598, 598)).sum(0) % 2).astype(np.float32) * 2 - 1
  out = inception.to_inception_input(board[None, :, :, None]).numpy()
  assert out.shape == (1, 299, 299, 3)
  assert np.abs(out[0, 10:-10, 10:-10] - 127.5).max() < 2.0
  flat = inception.to_inception_input(tf.fill((1, 299, 299, 3), 0.0)).numpy()
  assert np.all(flat == 128.0)  # (0 + 1) * 127.5 = 127.5 rounds to 128


# ----- digit classifier and translation accuracy -----

def _band_images(labels):
  """8x30 grey images, digit k = columns 3k..3k+2 lit (1), the rest -1."""
  x = -np.ones((len(labels), 8, 30, 1), np.float32)
  for i, k in enumerate(labels):
    x[i, :, 3 * k:3 * k + 3] = 1.0
  return x


def _band_classifier():
  """The metric's classifier architecture contract (a FEATURES layer, logits out) with weights
  set by hand: feature k = relu(sum of band k + 24), logit k = feature k. So argmax = lit band."""
  import keras  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import digits  # pylint: disable=g-import-not-at-top
  inputs = keras.Input((8, 30, 1))
  features = keras.layers.Dense(128, activation="relu", name=digits.FEATURES)(
      keras.layers.Flatten()(inputs))
  model = keras.Model(inputs, keras.layers.Dense(10)(features))
  kernel = np.zeros((8 * 30, 128), np.float32)
  columns = np.arange(8 * 30) % 30
  for k in range(10):
    kernel[(columns // 3) == k, k] = 1.0
  bias = np.zeros(128, np.float32)
  bias[:10] = 24.0
  model.get_layer(digits.FEATURES).set_weights([kernel, bias])
  model.layers[-1].set_weights([np.eye(128, 10, dtype=np.float32), np.zeros(10, np.float32)])
  return model


def test_translation_accuracy_on_a_hand_made_case():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import digits  # pylint: disable=g-import-not-at-top
  labels = np.arange(20) % 10
  images = _band_images(labels)
  classifier = _band_classifier()
  same = digits.translation_metrics(lambda x: x, classifier, images, labels, images, labels,
                                    batch_size=7)
  assert same["translation_accuracy"] == 1.0 and same["classifier_accuracy"] == 1.0
  assert same["count"] == 20
  assert same["classifier_fd"] == pytest.approx(0.0, abs=1e-6)

  def shift_left_half(x):
    """Digits 0-4 (band in the left half) move one band right: wrong; 5-9 untouched: right."""
    left = tf.reduce_mean(x[:, :, :15], axis=[1, 2, 3]) > tf.reduce_mean(x[:, :, 15:],
                                                                        axis=[1, 2, 3])
    return tf.where(left[:, None, None, None], tf.roll(x, 3, axis=2), x)

  shifted = digits.translation_metrics(shift_left_half, classifier, images, labels, images,
                                       batch_size=7)
  assert shifted["translation_accuracy"] == 0.5
  assert "classifier_accuracy" not in shifted
  assert shifted["classifier_fd"] > 1.0


def test_digit_classifier_is_trained_once_and_cached(tmp_path):
  from unit_tf.metrics import digits  # pylint: disable=g-import-not-at-top
  labels = np.arange(40) % 10
  images = np.rint((_band_images(labels) + 1) * 127.5).astype(np.uint8)
  model, path, trained = digits.cached_classifier(str(tmp_path), "b", images, labels, epochs=1)
  assert trained and path.endswith(".weights.h5")
  again, again_path, trained_again = digits.cached_classifier(str(tmp_path), "b", images, labels,
                                                              epochs=1)
  assert again_path == path and not trained_again
  np.testing.assert_allclose(digits.predict(again, images)[0], digits.predict(model, images)[0],
                             rtol=1e-5, atol=1e-6)
  _, other_path, other_trained = digits.cached_classifier(str(tmp_path), "b", images,
                                                          (labels + 1) % 10, epochs=1)
  assert other_trained and other_path != path


def test_translation_quality_streams_batches_and_checks_counts():
  from unit_tf.metrics import quality  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  source = [rng.normal(size=(8, 4, 4, 1)) for _ in range(3)]
  real = [rng.normal(size=(8, 4, 4, 1)) for _ in range(3)]
  extractor = lambda x: np.asarray(x).reshape(len(x), -1)  # pylint: disable=unnecessary-lambda-assignment
  same = quality.translation_quality(lambda x: x, source, source, extractor, kid_subsets=5,
                                     kid_subset_size=10)
  assert same["count_translated"] == same["count_real"] == 24
  assert same["fid"] == pytest.approx(0.0, abs=1e-9)
  calls = []
  moved = quality.translation_quality(lambda x: x + 1.0, source, real, extractor, kid_subsets=5,
                                      kid_subset_size=10, progress=lambda *a: calls.append(a))
  assert moved["fid"] > 10 and moved["kid"] > 0
  assert calls == [("translated", 8), ("translated", 16), ("translated", 24), ("real", 8),
                   ("real", 16), ("real", 24)]
  with pytest.raises(ValueError, match="KID with subsets of 100 needs at least 100 images on each "
                     "side, got 24 source and 24 real"):
    quality.translation_quality(lambda x: x, source, real, extractor, kid_subset_size=100)


def test_domain_adaptation_translation_metrics_use_target_labels_only_for_the_classifier(
    tmp_path):
  from test_uda import TINY_LENET, _built, _uda_arrays  # pylint: disable=g-import-not-at-top
  from unit_tf.data import digits as digit_data  # pylint: disable=g-import-not-at-top
  from unit_tf.uda import task as uda_task  # pylint: disable=g-import-not-at-top
  source, target = _uda_arrays(0), _uda_arrays(1)
  target_train = (digit_data.prepare(target["x_train"], 32, 1), target["y_train"])
  del target["y_train"]
  task = uda_task.DomainAdaptationTask(source, target, image_size=32, names=("mnist", "usps"))
  results = task.translation_metrics(_built(TINY_LENET), str(tmp_path), target_train,
                                     classifier_epochs=1)
  assert results["count_a2b"] == results["count_b2a"] == 10
  for key in ("translation_accuracy_a2b", "translation_accuracy_b2a", "classifier_accuracy_a",
              "classifier_accuracy_b"):
    assert 0.0 <= results[key] <= 1.0, key
  assert results["classifier_fd_a2b"] >= 0.0
  assert sorted(n.split("_")[2] for n in os.listdir(tmp_path) if n.endswith(".h5")) == [
      "mnist", "usps"]
  with pytest.raises(ValueError, match="target training images are"):
    task.translation_metrics(None, str(tmp_path), (np.zeros((2, 16, 16, 1), np.uint8), [0, 1]))
