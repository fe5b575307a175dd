"""tools/evaluate.py's quality metrics on tiny runs: FID / KID of an image run (with a random
stand-in for the Inception graph: plumbing only), translation accuracy of a toy run, clear
errors for missing weights and too few images."""

import json
import os

import pytest

from test_cli import TINY as TOY_TINY
from test_cli import _event_tags, _run
from test_image_data import write_bad_files, write_images
from test_metrics import _fake_inception_graph

from test_natural_cli import TINY as IMAGES_TINY

# Trains and evaluates through the command line with FID/KID and per-domain classifiers: several minutes on 2 cores (python -m pytest -m slow).
pytestmark = pytest.mark.slow


def test_fid_kid_of_an_image_run(tmp_path):
  data = tmp_path / "data"
  write_images(str(data / "trainA"), 3)
  write_images(str(data / "trainB"), 3, seed=10)
  write_images(str(data / "testA"), 9, seed=20)
  write_bad_files(str(data / "testA"))
  write_images(str(data / "testB"), 8, seed=30)
  model_dir = str(tmp_path / "run")
  graph = _fake_inception_graph(tmp_path / "classify_image_graph_def.pb")
  _run("train.py", f"--model_dir={model_dir}", f"--data_path={data}", "--max_steps=2",
       "--eval_quality=fid,kid", f"--inception_weights={graph}", "--kid_subset_size=3",
       "--kid_subsets=3", *IMAGES_TINY)
  scalars, _ = _event_tags(model_dir)  # logged for TensorBoard at step 2 (--eval_every=2)
  assert {"eval/fid_a2b", "eval/kid_b2a", "eval/count_real_b", "eval/cycle_l1_a"} <= scalars
  common = ["--task=images", f"--model_dir={model_dir}", f"--data_path={data}",
            "--kid_subsets=3"]
  proc = _run("evaluate.py", *common, f"--inception_weights={graph}", "--kid_subset_size=3")
  results = json.loads(proc.stdout.strip().splitlines()[-1])
  assert results["count_translated_a2b"] == 9 and results["count_real_b"] == 8
  assert results["count_translated_b2a"] == 8 and results["count_real_a"] == 9
  for key in ("fid_a2b", "fid_b2a", "kid_a2b", "kid_b2a", "kid_std_a2b"):
    assert isinstance(results[key], float), key
  assert results["fid_a2b"] > 0 and results["step"] == 2
  assert "skipped" in proc.stderr  # the bad files of testA/ are counted, not fatal

  too_few = _run("evaluate.py", *common, f"--inception_weights={graph}", "--kid_subset_size=9",
                 check=False)
  assert too_few.returncode != 0
  assert ("KID with subsets of 9 needs at least 9 images on each side, got 9 source and 8 real"
          in too_few.stderr)
  missing = _run("evaluate.py", *common, f"--inception_weights={tmp_path / 'none.pb'}",
                 "--kid_subset_size=3", check=False)
  assert missing.returncode != 0 and "Traceback" not in missing.stderr
  assert f"--inception_weights={tmp_path / 'none.pb'} does not exist" in missing.stderr


def test_translation_accuracy_of_a_toy_run(tmp_path, tiny_npz):
  model_dir = str(tmp_path / "run")
  _run("train.py", f"--model_dir={model_dir}", f"--data_path={tiny_npz}", "--max_steps=2",
       "--eval_quality=translation_accuracy", "--classifier_epochs=1", *TOY_TINY)
  scalars, _ = _event_tags(model_dir)  # logged for TensorBoard at step 2 (--eval_every=2)
  assert {"eval/translation_accuracy_a2b", "eval/classifier_fd_b2a",
          "eval/toy_distance_a2b"} <= scalars
  cached = sorted(os.listdir(os.path.join(model_dir, "eval_cache")))
  assert len([n for n in cached if n.endswith(".weights.h5")]) == 2
  args = [f"--model_dir={model_dir}", f"--data_path={tiny_npz}",
          "--metrics=toy,translation_accuracy", "--classifier_epochs=1"]
  results = json.loads(_run("evaluate.py", *args).stdout.strip().splitlines()[-1])
  for key in ("translation_accuracy_a2b", "translation_accuracy_b2a", "classifier_accuracy_a",
              "classifier_accuracy_b"):
    assert 0.0 <= results[key] <= 1.0, key
  assert results["classifier_fd_a2b"] >= 0 and results["count"] == 16
  assert "toy_distance_a2b" in results
  assert sorted(os.listdir(os.path.join(model_dir, "eval_cache"))) == cached  # trained once
  again = json.loads(_run("evaluate.py", *args).stdout.strip().splitlines()[-1])
  assert again["translation_accuracy_a2b"] == results["translation_accuracy_a2b"]
  assert sorted(os.listdir(os.path.join(model_dir, "eval_cache"))) == cached
  bad = _run("evaluate.py", f"--model_dir={model_dir}", f"--data_path={tiny_npz}",
             "--metrics=fid", check=False)
  assert bad.returncode != 0 and "--task=toy computes toy, translation_accuracy" in bad.stderr


def test_translation_accuracy_of_a_domain_adaptation_run_in_tensorboard(tmp_path):
  from conftest import write_tiny_digit_sets  # pylint: disable=g-import-not-at-top
  from test_uda import UDA_TINY  # pylint: disable=g-import-not-at-top
  mnist_path, usps_path = write_tiny_digit_sets(tmp_path)
  model_dir = str(tmp_path / "run")
  _run("train.py", f"--model_dir={model_dir}", f"--data_path_a={mnist_path}",
       f"--data_path_b={usps_path}", "--eval_quality=translation_accuracy",
       "--classifier_epochs=1", *UDA_TINY)
  scalars, _ = _event_tags(model_dir)
  assert {"eval/target_accuracy", "eval/translation_accuracy_a2b",
          "eval/translation_accuracy_b2a", "eval/classifier_fd_a2b"} <= scalars
  names = sorted(n for n in os.listdir(os.path.join(model_dir, "eval_cache"))
                 if n.endswith(".weights.h5"))
  assert len(names) == 2 and any("usps_b" in n for n in names)
