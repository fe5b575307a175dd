"""FID / KID of translations against real target-domain images, from streams of batches.

`translation_quality` translates every batch of source images, extracts features of the
translations and of the real target images with the same extractor (the FID Inception network,
`unit_tf.metrics.inception`, for figures comparable with published ones), and compares the two
feature sets with `unit_tf.metrics.distances`. Batches are consumed one at a time, so a test set
never has to fit in memory; only its features do (2048 floats per image).

Keys returned: fid, kid, kid_std (as requested by `metrics`), count_translated, count_real. The
counts belong with every figure: FID is biased upwards for small samples and depends on the
sample size, so below about 10,000 images report KID (unbiased) and compare FIDs only at equal
counts.
"""

import numpy as np

from unit_tf.metrics import distances

METRICS = ("fid", "kid")


def features_of(batches, extractor, transform=None, progress=None):
  """Concatenated extractor features [N, D] of every batch (after `transform`, e.g. a
  translation); `progress(images done)` is called after each batch if given."""
  out, done = [], 0
  for batch in batches:
    out.append(np.asarray(extractor(transform(batch) if transform else batch), np.float64))
    done += len(out[-1])
    if progress is not None:
      progress(done)
  if not out:
    raise ValueError("no images to extract features from")
  return np.concatenate(out)


def check_counts(metrics, count_source, count_real, kid_subset_size):
  """Raises ValueError when the image counts cannot give `metrics` (before any work is done)."""
  unknown = sorted(set(metrics) - set(METRICS))
  if unknown:
    raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRICS)}")
  if "fid" in metrics and min(count_source, count_real) < 2:
    raise ValueError(f"FID needs at least 2 images on each side, got {count_source} source and "
                     f"{count_real} real images")
  if "kid" in metrics and min(count_source, count_real) < kid_subset_size:
    raise ValueError(f"KID with subsets of {kid_subset_size} needs at least {kid_subset_size} "
                     f"images on each side, got {count_source} source and {count_real} real "
                     "images: lower the KID subset size or add test images")


def translation_quality(translate, source_batches, real_batches, extractor, metrics=METRICS,
                        kid_subsets=100, kid_subset_size=1000, seed=0, progress=None):
  """{"fid", "kid", "kid_std", "count_translated", "count_real"} (see the module docstring).

  Args:
    translate: float [n, H, W, Cs] in [-1, 1] -> [n, H', W', Ct] in [-1, 1].
    source_batches, real_batches: iterables of float [n, H, W, C] batches in [-1, 1].
    extractor: images -> [n, D] features (e.g. `inception.InceptionFeatures`).
    metrics: which of "fid", "kid".
    kid_subsets, kid_subset_size, seed: KID's subsets (`distances.kernel_distance`).
    progress: if given, `progress(stage, images done)` after each batch, stage "translated" or
      "real".
  """
  translated = features_of(source_batches, extractor, translate,
                           progress=progress and (lambda n: progress("translated", n)))
  real = features_of(real_batches, extractor,
                     progress=progress and (lambda n: progress("real", n)))
  check_counts(metrics, len(translated), len(real), kid_subset_size)
  out = {"count_translated": int(len(translated)), "count_real": int(len(real))}
  if "fid" in metrics:
    out["fid"] = distances.frechet_distance(translated, real)
  if "kid" in metrics:
    out["kid"], out["kid_std"] = distances.kernel_distance(translated, real, kid_subsets,
                                                           kid_subset_size, seed)
  return out


def named_by_direction(scores, direction, target):
  """`translation_quality`'s scores named for one direction: fid_a2b, kid_a2b, kid_std_a2b,
  count_translated_a2b, count_real_b (the real images are the target domain's)."""
  out = {f"{key}_{direction}": scores[key] for key in ("fid", "kid", "kid_std") if key in scores}
  out[f"count_translated_{direction}"] = scores["count_translated"]
  out[f"count_real_{target}"] = scores["count_real"]
  return out
