"""The command line on tiny generated data: train 2 steps, resume to 4, evaluate, read TensorBoard;
flag validation and data errors as clear messages, not tracebacks."""

import glob
import json
import os
import re
import signal
import subprocess
import sys

import pytest
import tensorflow as tf

from conftest import REPO, run_tool

TINY = ["--gen_filters=8", "--dis_filters=8", "--batch_size=4", "--log_every=1",
        "--image_every=2", "--eval_every=2", "--checkpoint_every=2", "--eval_examples=8"]


_run = run_tool


def _event_tags(model_dir):
  scalars, images = set(), set()
  for path in glob.glob(os.path.join(model_dir, "train", "events.out.tfevents.*")):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        kind = value.metadata.plugin_data.plugin_name
        (images if kind == "images" else scalars).add(value.tag)
  return scalars, images


def test_train_resume_evaluate_and_tensorboard(tmp_path, tiny_npz):
  model_dir = str(tmp_path / "run")
  _run("train.py", f"--model_dir={model_dir}", f"--data_path={tiny_npz}", "--max_steps=2", *TINY)
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-2.index"))
  proc = _run("train.py", f"--model_dir={model_dir}", f"--data_path={tiny_npz}", "--max_steps=4",
              *TINY)
  assert "resumed from" in proc.stderr and "step 3/4" in proc.stderr and "ETA" in proc.stderr
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-4.index"))
  with open(os.path.join(model_dir, "flags.txt")) as f:
    assert "--max_steps=4" in f.read()

  proc = _run("evaluate.py", f"--model_dir={model_dir}", f"--data_path={tiny_npz}")
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["step"] == 4
  assert set(result) == {"toy_distance_a2b", "toy_distance_b2a", "step"}
  assert all(0.0 < result[k] < 40.0 for k in ("toy_distance_a2b", "toy_distance_b2a"))

  scalars, images = _event_tags(model_dir)
  expected = {"loss/d_loss", "loss/g_loss", "loss/recon_a", "loss/kl_b", "loss/gan_a",
              "perf/steps_per_sec", "eval/toy_distance_a2b", "eval/toy_distance_b2a"}
  assert expected <= scalars
  assert "translations/a_aa_ab_b_bb_ba" in images
  # the same grid as a PNG (rows a, aa, ab, b, bb, ba of 8 test digits, 32x32 each)
  for step in (2, 4):
    png = tf.io.decode_png(tf.io.read_file(os.path.join(model_dir, "grids", f"step-{step}.png")))
    assert png.shape == (6 * 32, 8 * 32, 3)


@pytest.mark.parametrize("flag,message", [
    ("--batch_size=0", "batch_size"),
    ("--n_shared_enc=7", "n_shared_enc=7 is out of range"),
    ("--recon_loss=l3", "recon_loss"),
    ("--learning_rate=-1", "learning_rate"),
])
def test_bad_flags_are_usage_errors(tmp_path, tiny_npz, flag, message):
  proc = _run("train.py", f"--model_dir={tmp_path}", f"--data_path={tiny_npz}", flag, check=False)
  assert proc.returncode != 0
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr


def test_missing_data_is_a_clear_error(tmp_path):
  proc = _run("train.py", f"--model_dir={tmp_path}", "--data_path=/nonexistent/mnist.npz",
              check=False)
  assert proc.returncode != 0
  assert "/nonexistent/mnist.npz does not exist" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_evaluate_without_a_run_is_a_clear_error(tmp_path, tiny_npz):
  proc = _run("evaluate.py", f"--model_dir={tmp_path}", f"--data_path={tiny_npz}", check=False)
  assert proc.returncode != 0 and "not a unit_tf run directory" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path, tiny_npz):
  model_dir = str(tmp_path / "run")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
  proc = subprocess.Popen(
      [sys.executable, os.path.join(REPO, "tools", "train.py"), f"--model_dir={model_dir}",
       f"--data_path={tiny_npz}", *TINY, "--max_steps=100000", "--checkpoint_every=100000"],
      cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
  try:
    for line in proc.stderr:  # wait until training is under way
      if "step 3/" in line:
        break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=1800)  # a hang guard, not a time limit
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, err[-2000:]
  saved = re.search(r"SIGTERM: saved step (\d+)", err)
  assert saved and int(saved.group(1)) >= 3
  checkpoints = glob.glob(os.path.join(model_dir, "checkpoints", "ckpt-*.index"))
  assert checkpoints == [os.path.join(model_dir, "checkpoints", f"ckpt-{saved.group(1)}.index")]


def test_benchmark_tool_prints_a_table_and_writes_json(tmp_path, tiny_npz):
  out = tmp_path / "bench.json"
  proc = _run("benchmark.py", f"--data_path={tiny_npz}", "--gen_filters=8", "--dis_filters=8",
              "--batch_size=4", "--steps=2", "--warmup=1",
              "--settings=mixed_precision=float32,mixed_bfloat16", f"--output={out}")
  assert "s/step median" in proc.stdout and "input pipeline" in proc.stdout
  results = json.loads(out.read_text())
  assert [r["setting"]["mixed_precision"] for r in results["runs"]] == ["float32",
                                                                       "mixed_bfloat16"]
  assert all(r["train_step"]["median_s"] > 0 for r in results["runs"])
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  machine = results["machine"]
  assert machine["cpu_model"] == hardware.cpu_info().model and "intra_op_threads" in machine
  assert f"machine: {machine['cpu_model']} [{machine['cpu_kind']}" in proc.stdout
  assert "TF_ENABLE_ONEDNN_OPTS=" in proc.stdout
  bad = _run("benchmark.py", f"--data_path={tiny_npz}", "--settings=lr=1", check=False)
  assert bad.returncode != 0 and "expected NAME=V1,V2" in bad.stderr
