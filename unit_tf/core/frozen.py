"""Inference functions with the weights folded in as graph constants.

A tf.function that reads the model's variables hands each convolution its kernel as a fresh
tensor on every call, so oneDNN re-blocks every kernel into its own layout on every call. With
the kernels as constants it does that once and keeps the result (TensorFlow's oneDNN convolution
caches the reordered filter when the filter input is a constant). Measured on the NIPS
translator (`tools/translate.py`, docs in the README's speed section): the same outputs, bit for
bit, in less time.

Only for inference: a frozen function no longer sees later weight updates, and a function whose
graph updates a variable (a random generator's state) cannot be frozen, so callers freeze the
deterministic translators only.
"""

import tensorflow as tf
# The converter TensorFlow's own LiteRT and SavedModel tooling use; it has no public alias.
from tensorflow.python.framework import convert_to_constants


def freeze(function, input_signature):
  """A callable computing `function(*inputs)` with every variable it reads as a constant.

  `input_signature` is a list of tf.TensorSpec (dimensions may be None). The result takes the
  same positional tensors and returns the same structure as `function`.
  """
  concrete = tf.function(function, input_signature=input_signature).get_concrete_function()
  constant = convert_to_constants.convert_variables_to_constants_v2(concrete)
  structure = concrete.structured_outputs

  def call(*inputs):
    return tf.nest.pack_sequence_as(structure, tf.nest.flatten(constant(*inputs)))

  call.graph = constant.graph
  return call
