"""The serving contract of an exported UNIT model and its TF Serving REST client side.

`unit_tf.export` writes SavedModels with these signatures (method `tensorflow/serving/predict`):

  a2b, b2a              images  uint8 [batch, height, width, channels]  ->  images  uint8, same h/w
  a2b_bytes, b2a_bytes  images  string [batch] (JPEG/PNG/BMP bytes)     ->  images_bytes  string
                                                                            [batch], PNG bytes
  serving_default       = a2b

A domain-adaptation model (an arch with a class head, Appendix C) also has

  classify_a, classify_b  images  uint8 [batch, 32, 32, channels]  ->  scores  float32 [batch, 10]
                                                                      (softmax probabilities),
                                                                      classes  int64 [batch]
  classify_b is the target-domain classifier the paper evaluates (D_b's class head).

A model exported with sampling (`--sample`) takes one more input, `seed` int64 [batch]: image i is
translated with noise keyed by seed[i], the same in any batch.

Why the bytes output is named `images_bytes`: TF Serving's REST API base64-encodes (as
`{"b64": ...}`) only output tensors whose name ends in `_bytes`; any other string output is written
into the JSON as raw text, which PNG bytes are not. Inputs need no such suffix: a `{"b64": ...}`
value is decoded for any string input.

This module builds the REST `predict` request body (row `instances` or columnar `inputs`, as the TF
Serving REST API documents them) and reads images back from a response. It imports neither
TensorFlow nor the model, so a client needs only numpy and Pillow.
"""

import base64
import io
import json
import urllib.error
import urllib.request

import numpy as np

TRANSLATIONS = ("a2b", "b2a")
SIGNATURES = TRANSLATIONS + tuple(f"{t}_bytes" for t in TRANSLATIONS)
DEFAULT_SIGNATURE = "a2b"
IMAGES = "images"  # the input of every signature, the output of a2b / b2a
IMAGES_BYTES = "images_bytes"  # the output of the *_bytes signatures (see the module docstring)
SEED = "seed"  # the extra input of a model exported with sampling
CLASSIFIERS = ("classify_a", "classify_b")  # domain-adaptation models only
SCORES = "scores"  # classify_*: softmax probabilities [batch, 10]
CLASSES = "classes"  # classify_*: argmax class [batch]


def is_bytes_signature(signature):
  return signature.endswith("_bytes")


def output_key(signature):
  """The name of the images a signature returns."""
  return IMAGES_BYTES if is_bytes_signature(signature) else IMAGES


def _check_signature(signature, allowed=SIGNATURES + CLASSIFIERS):
  if signature not in allowed:
    raise ValueError(f"unknown signature {signature!r}; exported ones: {', '.join(allowed)}")


def _b64(data):
  return {"b64": base64.b64encode(data).decode("ascii")}


def predict_body(signature, images, seeds=None, columnar=False):
  """The JSON object (a dict) of a REST `predict` request.

  Args:
    signature: one of SIGNATURES or CLASSIFIERS.
    images: for *_bytes signatures, a list of encoded image files (bytes); otherwise a list of
      uint8 arrays [height, width, channels] of one size (they form one batch tensor).
    seeds: one int per image, for a model exported with sampling; None otherwise.
    columnar: the columnar form ({"inputs": {name: batch}}) instead of the row form
      ({"instances": [one value or {name: value} per image]}).
  """
  _check_signature(signature)
  if not images:
    raise ValueError("no images: a request needs at least one")
  if is_bytes_signature(signature):
    values = [_b64(data) for data in images]
  else:
    arrays = [np.asarray(image) for image in images]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
      raise ValueError(f"signature {signature} takes one batch tensor, but the images have "
                       f"shapes {sorted(shapes)}; use {signature}_bytes for mixed sizes")
    if arrays[0].ndim != 3 or arrays[0].dtype != np.uint8:
      raise ValueError(f"signature {signature} takes uint8 [height, width, channels] images, "
                       f"got {arrays[0].dtype} {arrays[0].shape}")
    values = [a.tolist() for a in arrays]
  if seeds is not None:
    seeds = [int(s) for s in seeds]
    if len(seeds) != len(values):
      raise ValueError(f"{len(seeds)} seeds for {len(values)} images: give one seed per image")
  body = {"signature_name": signature}
  if columnar:
    body["inputs"] = {IMAGES: values}
    if seeds is not None:
      body["inputs"][SEED] = seeds
  elif seeds is None:
    body["instances"] = values  # a single named input: the instances are its values
  else:
    body["instances"] = [{IMAGES: v, SEED: s} for v, s in zip(values, seeds)]
  return body


def predict_url(server, model_name, version=None):
  """http://host:port/v1/models/NAME[/versions/N]:predict for a server address such as
  "http://localhost:8501"."""
  path = f"/v1/models/{model_name}" + (f"/versions/{version}" if version is not None else "")
  return server.rstrip("/") + path + ":predict"


def images_from_response(signature, response):
  """The translated images of a REST `predict` response (row or columnar form).

  Returns a list of uint8 arrays [height, width, channels] (bytes signatures: the decoded PNGs).
  """
  _check_signature(signature, SIGNATURES)
  if "error" in response:
    raise ValueError(f"server error: {response['error']}")
  # One named output: TF Serving omits its name under "predictions" (row) / "outputs" (columnar).
  values = response["predictions"] if "predictions" in response else response["outputs"]
  if isinstance(values, dict):
    values = values[output_key(signature)]
  if not is_bytes_signature(signature):
    return [np.asarray(v, np.uint8) for v in values]
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images = []
  for value in values:
    with Image.open(io.BytesIO(base64.b64decode(value["b64"]))) as image:
      array = np.asarray(image)
    images.append(array if array.ndim == 3 else array[..., None])
  return images


def classes_from_response(signature, response):
  """(classes [N] int, scores [N, 10] float) of a classify_a / classify_b REST response (row or
  columnar form)."""
  _check_signature(signature, CLASSIFIERS)
  if "error" in response:
    raise ValueError(f"server error: {response['error']}")
  if "predictions" in response:  # row form: one {name: value} per image
    rows = response["predictions"]
    classes = [row[CLASSES] for row in rows]
    scores = [row[SCORES] for row in rows]
  else:
    classes, scores = response["outputs"][CLASSES], response["outputs"][SCORES]
  return np.asarray(classes, np.int64), np.asarray(scores, np.float32)


def post(url, body, timeout=60.0):
  """POSTs a JSON body; returns the parsed response. A TF Serving error ({"error": ...} with an
  HTTP error status) becomes a ValueError carrying the server's message."""
  request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                   headers={"Content-Type": "application/json"}, method="POST")
  try:
    with urllib.request.urlopen(request, timeout=timeout) as reply:
      return json.loads(reply.read().decode("utf-8"))
  except urllib.error.HTTPError as e:
    text = e.read().decode("utf-8", "replace")
    try:
      message = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
      message = text.strip() or e.reason
    raise ValueError(f"{url} answered HTTP {e.code}: {message}") from None
