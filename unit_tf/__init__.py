"""unit_tf: UNsupervised Image-to-image Translation (Liu, Breuel, Kautz, 2017) in TensorFlow/Keras 3.

The library never reads command-line flags; `tools/*.py` parse them and hand plain values or the
frozen dataclasses of `unit_tf.config` to the functions here.
"""

__version__ = "0.1.0"
