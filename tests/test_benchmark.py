"""The benchmark library returns sane, positive timings for a tiny model (no timing assertions)."""

import dataclasses
import sys

from conftest import run_tool

from unit_tf import run_dir
from unit_tf import benchmark
from unit_tf import tasks
from unit_tf.config import LossConfig, ModelConfig, TrainConfig


def test_train_translate_and_pipeline_timings(tiny_config, mnist_arrays):
  train_config = TrainConfig(batch_size=4)
  steps, model = benchmark.time_train_steps(tiny_config, LossConfig(), train_config,
                                            (32, 32, 3), (32, 32, 3), steps=3, warmup=1)
  assert steps["calls"] == 3 and 0 < steps["p10_s"] <= steps["median_s"] <= steps["p90_s"]
  assert steps["images_per_s"] == 8 / steps["median_s"]
  assert 0 < steps["cpu_median_s"]  # this process's CPU seconds per step
  translate = benchmark.time_translation(model, (32, 32, 3), batch_size=2, calls=2, warmup=1)
  assert translate["median_s"] > 0 and translate["calls"] == 2
  pipeline = benchmark.time_input_pipeline(tasks.ToyTask(mnist_arrays), 8, batches=3, warmup=1)
  assert pipeline["batches_per_s"] > 0


def test_bfloat16_step_keeps_float32_variables(tiny_config):
  train_config = TrainConfig(batch_size=2, mixed_precision="mixed_bfloat16")
  steps, model = benchmark.time_train_steps(tiny_config, LossConfig(), train_config,
                                            (32, 32, 3), (32, 32, 3), steps=1, warmup=1)
  assert steps["median_s"] > 0
  assert all(v.dtype == "float32" for v in model.trainable_variables)
  assert model.encoder_a.private[0].conv.compute_dtype == "bfloat16"
  assert model.translate(tf_zeros()).dtype.name in ("bfloat16", "float32")


def test_bfloat16_nips_step_runs():
  """The NIPS step joins real float32 images and bfloat16 translations in one discriminator
  call (a regression: that concatenation raised a dtype TypeError under mixed_bfloat16)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from unit_tf.nips.options import NipsOptions  # pylint: disable=g-import-not-at-top
  config = ModelConfig(arch="nips", image_size=32, gen_filters=4, dis_filters=4, n_shared_enc=1,
                       n_shared_gen=1, n_shared_dis=0)
  train_config = TrainConfig(batch_size=1, mixed_precision="mixed_bfloat16")
  steps, model = benchmark.time_train_steps(config, LossConfig(), train_config, (32, 32, 3),
                                            (32, 32, 3), steps=1, warmup=1,
                                            options=NipsOptions(num_scales=2))
  assert steps["median_s"] > 0
  assert all(v.dtype == "float32" for v in model.trainable_variables)
  assert all(np.isfinite(v.numpy()).all() for v in model.trainable_variables)


def tf_zeros():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.zeros([1, 32, 32, 3])


def test_float16_wraps_optimizers_in_loss_scaling(tiny_config):
  from unit_tf import training  # pylint: disable=g-import-not-at-top
  import keras  # pylint: disable=g-import-not-at-top
  optimizer = run_dir.make_optimizer(dataclasses.replace(TrainConfig(),
                                                          mixed_precision="mixed_float16"))
  assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def _timing(median):
  return {"median_s": median, "p10_s": median, "p90_s": median, "calls": 3,
          "images_per_s": 1 / median, "cpu_median_s": median}


def test_release_comparison_pairs_each_round():
  """Speed-up = release / ours per round (the runs side by side), then the median over rounds;
  translation is compared only at the sizes both timed."""
  def ours(train, bf16_train, translate):
    return {"runs": [
        {"setting": {"mixed_precision": "float32"}, "train_step": _timing(train),
         "translate_by_size": {"256": _timing(translate)}},
        {"setting": {"mixed_precision": "mixed_bfloat16"}, "train_step": _timing(bf16_train),
         "translate_by_size": {"256": _timing(translate / 2)}}]}

  def release(train, translate):
    return {"image_size": 128, "train_step": _timing(train),
            "translate": {"256": _timing(translate), "512": _timing(4 * translate)}}

  rounds = [{"release": release(6.0, 1.0), "ours": ours(4.0, 2.0, 0.5)},
            {"release": release(12.0, 1.0), "ours": ours(6.0, 3.0, 0.5)},   # a slower moment
            {"release": release(6.0, 1.2), "ours": ours(5.0, 2.5, 0.6)}]
  rows = {(r["figure"], r["precision"]): r for r in benchmark.release_comparison(rounds)}
  assert set(rows) == {("training at 128", "float32"), ("training at 128", "mixed_bfloat16"),
                       ("translation at 256", "float32"),
                       ("translation at 256", "mixed_bfloat16")}
  f32 = rows[("training at 128", "float32")]
  assert f32["speedup"] == 1.5 and f32["speedup_min"] == 1.2 and f32["speedup_max"] == 2.0
  assert f32["release_s"] == 6.0 and f32["ours_s"] == 5.0 and f32["rounds"] == 3
  assert rows[("training at 128", "mixed_bfloat16")]["speedup"] == 3.0
  assert rows[("translation at 256", "mixed_bfloat16")]["speedup"] == 4.0
  table = benchmark.release_comparison_table(list(rows.values()))
  assert "| training at 128 | float32 | 6.000 | 5.000 | **1.50x** (1.20-2.00) | 3 |" in table


def test_release_tools_name_a_missing_checkout(tmp_path):
  """Both release-comparison tools stop with a message naming the missing file, not a
  traceback (the PyTorch side checks its arguments before importing torch)."""
  proc = run_tool("compare_release.py", f"--release_python={sys.executable}",
                  f"--release_dir={tmp_path}", check=False)
  assert proc.returncode != 0 and "has no trainer.py" in proc.stderr
  assert "Traceback" not in proc.stderr
  proc = run_tool("release_benchmark_torch.py", f"--release_dir={tmp_path}",
                  f"--config={tmp_path}/unit.yaml", check=False)
  assert proc.returncode == 2 and "trainer.py does not exist" in proc.stderr
  assert "Traceback" not in proc.stderr
