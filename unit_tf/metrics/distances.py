"""Distances between two sets of features: Frechet (FID) and kernel MMD (KID).

Pure numpy, float64. Which features make the number comparable with published ones is the
caller's choice: FID / KID are these distances on the pool_3 features of the FID Inception network
(`unit_tf.metrics.inception`); on a digit classifier's features (`unit_tf.metrics.digits`) they
are a task-specific, unpublished scale.

Why written here: no maintained TensorFlow library provides them (TF-GAN's
`frechet_classifier_distance` / `kernel_classifier_distance` had their last release, 2.1.0, in
2021 and depend on TensorFlow Probability and TF Hub; clean-fid and torchmetrics are PyTorch).
The conventions follow the papers and what clean-fid / torchmetrics document: covariances with
the unbiased (N - 1) normalizer, the cubic polynomial kernel, KID's unbiased estimator averaged
over random subsets.
"""

import numpy as np


def _as_features(features, name):
  x = np.asarray(features, np.float64)
  if x.ndim != 2:
    raise ValueError(f"{name} must be [N, D] features, got shape {x.shape}")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} holds non-finite values")
  return x


def moments(features):
  """(mean [D], covariance [D, D]) of [N, D] features, covariance normalized by N - 1.

  Raises ValueError for fewer than 2 rows (no covariance)."""
  x = _as_features(features, "features")
  if x.shape[0] < 2:
    raise ValueError(f"a Frechet distance needs at least 2 feature vectors, got {x.shape[0]}")
  return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix):
  """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues below 0,
  rounding errors, clipped to 0)."""
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance_from_moments(mean_x, cov_x, mean_y, cov_y):
  """The Frechet (2-Wasserstein) distance between N(mean_x, cov_x) and N(mean_y, cov_y):

    d^2 = ||mean_x - mean_y||^2 + tr(cov_x) + tr(cov_y) - 2 tr((cov_x cov_y)^(1/2))

  (Dowson & Landau 1982; FID, Heusel et al. 2017, Eq. 6). tr((cov_x cov_y)^(1/2)) is computed as
  the sum of the square roots of the eigenvalues of the symmetric PSD matrix
  cov_x^(1/2) cov_y cov_x^(1/2), which has the same eigenvalues as cov_x cov_y: no complex
  round-off as with a general matrix square root. Returns d^2 as a float (FID is this squared
  form), clipped at 0.
  """
  mean_x, mean_y = np.asarray(mean_x, np.float64), np.asarray(mean_y, np.float64)
  cov_x, cov_y = np.asarray(cov_x, np.float64), np.asarray(cov_y, np.float64)
  root_x = _psd_sqrt(cov_x)
  product = root_x @ cov_y @ root_x
  values = np.linalg.eigvalsh((product + product.T) / 2.0)
  trace_sqrt = float(np.sum(np.sqrt(np.clip(values, 0.0, None))))
  diff = mean_x - mean_y
  distance = float(diff @ diff + np.trace(cov_x) + np.trace(cov_y) - 2.0 * trace_sqrt)
  return max(distance, 0.0)


def frechet_distance(features_x, features_y):
  """Frechet distance (see `frechet_distance_from_moments`) between Gaussians fitted to two
  feature sets [N, D] and [M, D] (N, M >= 2; the estimate is biased upwards for small N, which is
  why KID is the figure to trust below about 10,000 images)."""
  return frechet_distance_from_moments(*moments(features_x), *moments(features_y))


def polynomial_kernel(x, y):
  """k(x, y) = (x . y / D + 1)^3 for rows of [N, D] and [M, D]: [N, M] (Binkowski et al. 2018)."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
  """Unbiased estimate of the squared MMD between the distributions of rows x [m, D], y [n, D]
  with the polynomial kernel k (m, n >= 2):

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
              - 2 sum_{i, j} k(x_i, y_j) / (m n)

  Its expectation is the true MMD^2, so it is about 0 (and may be negative) for two samples of
  one distribution.
  """
  m, n = x.shape[0], y.shape[0]
  k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(within_x + within_y - 2.0 * k_xy.mean())


def kernel_distance(features_x, features_y, num_subsets=100, subset_size=1000, seed=0):
  """KID: `mmd2_unbiased` averaged over `num_subsets` random subsets of `subset_size` rows of
  each set (drawn without replacement within a subset, independently across subsets, from a
  fixed seed), as Binkowski et al. 2018 and clean-fid / torchmetrics (100 subsets of 1000).

  Returns (mean, std): the mean over subsets (the KID) and the standard deviation of the
  subsets' estimates, the spread reported beside KID in the literature. Raises ValueError when a
  set has fewer than `subset_size` rows (or `subset_size` < 2), naming both counts.
  """
  x = _as_features(features_x, "features_x")
  y = _as_features(features_y, "features_y")
  if subset_size < 2:
    raise ValueError(f"KID subsets need at least 2 images, got subset_size={subset_size}")
  if min(x.shape[0], y.shape[0]) < subset_size:
    raise ValueError(f"KID with subsets of {subset_size} needs at least {subset_size} images in "
                     f"each set, got {x.shape[0]} and {y.shape[0]}; lower the subset size or "
                     "add images")
  rng = np.random.default_rng(seed)
  estimates = np.array([
      mmd2_unbiased(x[rng.choice(x.shape[0], subset_size, replace=False)],
                    y[rng.choice(y.shape[0], subset_size, replace=False)])
      for _ in range(num_subsets)])
  return float(estimates.mean()), float(estimates.std())
