"""The standard FID Inception network as a feature extractor.

Which network: the one FID was defined with (Heusel et al. 2017, the TTUR code) and that
published FIDs use: Inception-v3 as released by TensorFlow in December 2015, the GraphDef
`classify_image_graph_def.pb` inside `inception-2015-12-05.tgz` (`FID_INCEPTION_URL`). Features
are its `pool_3` activations, 2048 per image. clean-fid's default network is a PyTorch port of
these weights; Keras' `keras.applications.InceptionV3` has other (later) weights and gives other
numbers, so it is not offered.

Where the weights come from (`find_weights`): a path you give (the .pb, or the .tgz it comes in);
else a copy already in the cache directory; else a download of the .tgz, when its host answers.
With none of these a `MissingWeightsError` says which flag to pass and where to get the file;
there is never a fallback to random weights.

Preprocessing (`InceptionFeatures`): images in [-1, 1] are quantized to uint8 first (as a
translation saved to disk would be), resized to 299x299 with an anti-aliased bicubic filter (the
point of clean-fid: the 2015 graph's own bilinear resize aliases), grey images repeated to RGB,
and fed at 0..255 to the graph's `ExpandDims:0` (after it the graph subtracts 128 and divides by
128; its own 299x299 resize is then the identity).
"""

import os
import socket
import tarfile
import urllib.parse

import numpy as np
import tensorflow as tf

FID_INCEPTION_URL = ("http://download.tensorflow.org/models/image/imagenet/"
                     "inception-2015-12-05.tgz")
GRAPH_FILE = "classify_image_graph_def.pb"
INPUT_TENSOR = "ExpandDims:0"
OUTPUT_TENSOR = "pool_3:0"
INPUT_SIZE = 299
DEFAULT_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".keras", "unit_tf")


class MissingWeightsError(Exception):
  """The FID Inception weights are neither given, nor cached, nor downloadable."""


def _how_to(flag):
  return (f"pass {flag}=PATH to {GRAPH_FILE} (or to the inception-2015-12-05.tgz that holds "
          f"it), downloaded once from {FID_INCEPTION_URL} on a machine with internet access")


def _host_reachable(url, timeout=3.0):
  parts = urllib.parse.urlparse(url)
  try:
    socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout).close()
    return True
  except OSError:
    return False


def _extract_graph(archive, directory):
  """Writes the GraphDef member of the .tgz `archive` to directory/GRAPH_FILE; returns its path."""
  target = os.path.join(directory, GRAPH_FILE)
  try:
    with tarfile.open(archive) as tar:
      member = next((m for m in tar.getmembers() if os.path.basename(m.name) == GRAPH_FILE),
                    None)
      if member is None:
        raise MissingWeightsError(f"{archive} has no {GRAPH_FILE}")
      os.makedirs(directory, exist_ok=True)
      with tar.extractfile(member) as source, open(target + ".tmp", "wb") as out:
        out.write(source.read())
  except tarfile.TarError as e:
    raise MissingWeightsError(f"{archive} is not a readable .tgz ({e})") from None
  os.replace(target + ".tmp", target)
  return target


def find_weights(path=None, cache_dir=None, download=True, flag="--inception_weights"):
  """The path of the FID Inception GraphDef (see the module docstring for the order searched).

  Args:
    path: a local GRAPH_FILE, or the .tgz holding it (extracted into `cache_dir`).
    cache_dir: where a downloaded or extracted copy is kept (default ~/.keras/unit_tf).
    download: try FID_INCEPTION_URL when nothing local is found.
    flag: the command-line flag named in the error message.
  Raises:
    MissingWeightsError naming `flag`, the file and where to get it.
  """
  cache_dir = cache_dir or DEFAULT_CACHE_DIR
  if path:
    if not os.path.isfile(path):
      raise MissingWeightsError(f"{flag}={path} does not exist; {_how_to(flag)}")
    return _extract_graph(path, cache_dir) if path.endswith((".tgz", ".tar.gz")) else path
  cached = os.path.join(cache_dir, GRAPH_FILE)
  if os.path.isfile(cached):
    return cached
  if download and _host_reachable(FID_INCEPTION_URL):
    import keras  # pylint: disable=g-import-not-at-top
    archive = keras.utils.get_file(os.path.basename(FID_INCEPTION_URL), FID_INCEPTION_URL,
                                   cache_dir=cache_dir, cache_subdir=".")
    return _extract_graph(archive, cache_dir)
  raise MissingWeightsError("the FID Inception network's weights are not available here (no "
                            f"{cached}, and {urllib.parse.urlparse(FID_INCEPTION_URL).hostname} "
                            f"cannot be reached); {_how_to(flag)}")


def to_inception_input(images):
  """float [N, H, W, 1 or 3] in [-1, 1] -> float32 [N, 299, 299, 3] in [0, 255]: quantized to
  uint8 values, anti-aliased bicubic resize, clipped, grey repeated to RGB."""
  images = tf.convert_to_tensor(images, tf.float32)
  pixels = tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0))
  if pixels.shape[-1] == 1:
    pixels = tf.repeat(pixels, 3, axis=-1)
  if tuple(pixels.shape[1:3]) != (INPUT_SIZE, INPUT_SIZE):
    pixels = tf.image.resize(pixels, (INPUT_SIZE, INPUT_SIZE), method="bicubic", antialias=True)
  return tf.clip_by_value(pixels, 0.0, 255.0)


class InceptionFeatures:
  """Callable: float images [N, H, W, C] in [-1, 1] -> numpy float64 [N, 2048] pool_3 features.

  Args:
    graph_path: a GraphDef with INPUT_TENSOR (any batch of [299, 299, 3] images, 0..255) and
      OUTPUT_TENSOR (usually `find_weights()`).
    batch_size: images per graph call.
  """

  def __init__(self, graph_path, batch_size=50):
    graph_def = tf.compat.v1.GraphDef()
    try:
      with open(graph_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    except Exception as e:  # protobuf raises DecodeError and others for a wrong file
      raise MissingWeightsError(f"{graph_path} is not a TensorFlow GraphDef ({e})") from None
    self.graph_path = graph_path
    self.batch_size = batch_size

    def run(images):
      (features,) = tf.compat.v1.import_graph_def(
          graph_def, input_map={INPUT_TENSOR: images}, return_elements=[OUTPUT_TENSOR],
          name="fid_inception")
      return tf.reshape(features, [tf.shape(images)[0], -1])

    try:
      self._run = tf.compat.v1.wrap_function(
          run, [tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 3], tf.float32)])
    except (ValueError, KeyError) as e:
      raise MissingWeightsError(f"{graph_path} lacks {INPUT_TENSOR} / {OUTPUT_TENSOR}, the "
                                f"tensors of the FID Inception graph ({e})") from None

  def __call__(self, images):
    out = []
    for start in range(0, int(images.shape[0]), self.batch_size):
      batch = to_inception_input(images[start:start + self.batch_size])
      out.append(self._run(batch).numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, 2048))
