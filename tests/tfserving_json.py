"""TF Serving's REST `predict` JSON, as its documentation describes it
(tensorflow_serving/g3doc/api_rest.md: "Predict API", "Encoding binary values"), for tests.

The real server cannot run here. This is an independent reading of the documented format, strict
where the documentation is: a body has "instances" (row form) or "inputs" (columnar form), not
both; a row instance is the value of the only named input, or an object naming every input;
{"b64": ...} is a binary string; in a response, outputs whose names end in "_bytes" are
base64-encoded, and a single named output is given without its name.
"""

import base64
import json

import numpy as np
import tensorflow as tf


def _is_b64(value):
  return isinstance(value, dict) and set(value) == {"b64"}


def _decode(value):
  """JSON value -> nested lists with {"b64": ...} replaced by bytes."""
  if _is_b64(value):
    return base64.b64decode(value["b64"], validate=True)
  if isinstance(value, list):
    return [_decode(v) for v in value]
  if isinstance(value, dict):
    raise ValueError(f"an object is not a tensor value: {sorted(value)}")
  return value


def parse_predict_request(body, input_names):
  """A `predict` body (JSON text) -> (signature name, {input name: batch as nested lists}).

  Raises ValueError for a body TF Serving would reject.
  """
  request = json.loads(body)
  if not isinstance(request, dict):
    raise ValueError("the body must be a JSON object")
  unknown = set(request) - {"signature_name", "instances", "inputs"}
  if unknown:
    raise ValueError(f"unknown keys {sorted(unknown)}")
  if ("instances" in request) == ("inputs" in request):
    raise ValueError("a request has either 'instances' or 'inputs', not both or neither")
  names = sorted(input_names)
  signature = request.get("signature_name", "serving_default")
  if "instances" in request:
    instances = request["instances"]
    if not isinstance(instances, list) or not instances:
      raise ValueError("'instances' must be a non-empty list")
    named = [isinstance(i, dict) and not _is_b64(i) for i in instances]
    if all(named):
      for instance in instances:
        if sorted(instance) != names:
          raise ValueError(f"instance names {sorted(instance)} != inputs {names}")
      return signature, {n: [_decode(i[n]) for i in instances] for n in names}
    if any(named) or len(names) != 1:
      raise ValueError(f"with inputs {names}, every instance must be an object naming them")
    return signature, {names[0]: [_decode(i) for i in instances]}
  inputs = request["inputs"]
  if isinstance(inputs, dict) and not _is_b64(inputs):
    if sorted(inputs) != names:
      raise ValueError(f"input names {sorted(inputs)} != inputs {names}")
    return signature, {n: _decode(inputs[n]) for n in names}
  if len(names) != 1:
    raise ValueError(f"with inputs {names}, 'inputs' must be an object naming them")
  return signature, {names[0]: _decode(inputs)}


def _encode(name, array):
  if array.dtype == object:  # strings
    if name.endswith("_bytes"):
      return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode("ascii")},
                          otypes=[object])(array).tolist()
    return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
  return array.tolist()


def predict_response(outputs, row):
  """{output name: numpy batch} -> the response object of a row or columnar request."""
  encoded = {name: _encode(name, np.asarray(v)) for name, v in outputs.items()}
  if len(encoded) == 1:
    (value,) = encoded.values()
    return {"predictions" if row else "outputs": value}
  if not row:
    return {"outputs": encoded}
  batch = len(next(iter(encoded.values())))
  return {"predictions": [{n: v[i] for n, v in encoded.items()} for i in range(batch)]}


def run(saved_model, body):
  """What the server does with a `predict` body: parse, call the signature, encode the reply."""
  request = json.loads(body)
  name = request.get("signature_name", "serving_default")
  function = saved_model.signatures[name]
  specs = function.structured_input_signature[1]
  _, inputs = parse_predict_request(body, specs)
  tensors = {n: tf.constant(v, dtype=specs[n].dtype) for n, v in inputs.items()}
  outputs = {n: t.numpy() for n, t in function(**tensors).items()}
  return predict_response(outputs, row="instances" in request)
