"""Evaluation metrics.

  toy.py          the Appendix B toy metric (distance to the true translation)
  distances.py    Frechet distance and kernel (polynomial MMD) distance between feature sets
                  (FID / KID when the features are the FID Inception network's)
  inception.py    the standard FID Inception network as a feature extractor (local weights file)
  digits.py       a small per-domain digit classifier, trained once and cached: "translation
                  accuracy" and a Frechet distance on its features, for digit tasks
"""

from unit_tf.metrics.toy import toy_distance

__all__ = ["toy_distance"]
