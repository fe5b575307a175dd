"""Run directories that never surprise: writability, one writer per run (the lock), stale
checkpoint temporaries, a failed checkpoint write, refused hyperparameter changes on resume,
per-step NaN detection, SIGINT handled like SIGTERM, the default model_dir, a quiet log."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, TOOL_ENV, run_tool
from unit_tf import run_dir
from unit_tf import tasks
from unit_tf import training
from unit_tf.config import LossConfig, TrainConfig

TRAIN = TrainConfig(batch_size=4, max_steps=4, log_every=1, image_every=0, eval_every=0,
                    checkpoint_every=2)


def test_unwritable_and_odd_model_dirs_are_one_sentence(tmp_path):
  with pytest.raises(run_dir.RunDirError, match="empty"):
    run_dir.check_writable("")
  a_file = tmp_path / "file"
  a_file.write_text("x")
  with pytest.raises(run_dir.RunDirError, match="is a file, not a directory"):
    run_dir.check_writable(str(a_file))
  read_only = tmp_path / "ro"
  read_only.mkdir()
  read_only.chmod(0o500)
  try:
    if os.access(read_only, os.W_OK):  # root ignores permissions
      pytest.skip("running as root: a read-only directory is still writable")
    with pytest.raises(run_dir.RunDirError, match="cannot write to --model_dir"):
      run_dir.check_writable(str(read_only / "run"))
  finally:
    read_only.chmod(0o700)


def test_the_lock_refuses_a_live_owner_and_takes_over_a_dead_one(tmp_path):
  model_dir = str(tmp_path)
  first = run_dir.RunLock(model_dir).acquire()
  assert json.load(open(first.path))["pid"] == os.getpid()
  with pytest.raises(run_dir.RunDirError, match=rf"pid {os.getpid()} on"):
    run_dir.RunLock(model_dir).acquire()
  forced = run_dir.RunLock(model_dir, force=True).acquire()
  assert forced.previous["pid"] == os.getpid()
  forced.release()
  assert not os.path.exists(first.path)
  # a lock left by a process that is gone (kill -9) is stale
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  with open(first.path, "w") as f:
    json.dump({"pid": dead.pid, "host": os.uname().nodename, "started": time.time()}, f)
  taken = run_dir.RunLock(model_dir).acquire()
  assert taken.previous["pid"] == dead.pid
  taken.release()


def test_stale_checkpoint_temporaries_are_removed(tmp_path):
  stale = tmp_path / run_dir.CHECKPOINT_SUBDIR / "ckpt-7_temp"
  stale.mkdir(parents=True)
  (stale / "part-00000").write_bytes(b"x" * 10)
  assert run_dir.remove_stale_temporaries(str(tmp_path)) == ["ckpt-7_temp"]
  assert not stale.exists()


def test_a_failed_checkpoint_write_keeps_the_last_good_one(tmp_path, mnist_arrays, tiny_config,
                                                           monkeypatch):
  model_dir = str(tmp_path / "run")
  task = tasks.ToyTask(mnist_arrays)
  training.train(model_dir, task, tiny_config, LossConfig(), dataclasses.replace(TRAIN,
                                                                                 max_steps=2))
  real_save = tf.train.CheckpointManager.save

  def full_disk(self, checkpoint_number=None, **kwargs):
    os.makedirs(os.path.join(self.directory, f"ckpt-{checkpoint_number}_temp"), exist_ok=True)
    raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

  monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
  with pytest.raises(training.CheckpointWriteError,
                     match=r"step 4 failed.*ckpt-2\) is intact.*needs about [0-9.]+ MB"):
    training.train(model_dir, task, tiny_config, LossConfig(), TRAIN)
  monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)
  assert run_dir.checkpoint_path(model_dir).endswith("ckpt-2")
  assert not [n for n in os.listdir(os.path.join(model_dir, "checkpoints")) if "_temp" in n]
  training.train(model_dir, task, tiny_config, LossConfig(), TRAIN)  # resumes from step 2
  assert run_dir.checkpoint_path(model_dir).endswith("ckpt-4")
  assert not os.path.exists(os.path.join(model_dir, ".lock"))


def test_resume_refuses_changed_hyperparameters_but_takes_new_bookkeeping(
    tmp_path, mnist_arrays, tiny_config):
  model_dir = str(tmp_path / "run")
  task = tasks.ToyTask(mnist_arrays)
  training.train(model_dir, task, tiny_config, LossConfig(), dataclasses.replace(TRAIN,
                                                                                 max_steps=2))
  with pytest.raises(ValueError, match=r"learning_rate 0.0002 -> 1e\+30"):
    training.train(model_dir, task, tiny_config, LossConfig(),
                   dataclasses.replace(TRAIN, learning_rate=1e30))
  saved = json.load(open(os.path.join(model_dir, "config.json")))["train"]
  assert saved["learning_rate"] == 2e-4  # the record still says what the run does
  training.train(model_dir, task, tiny_config, LossConfig(),
                 dataclasses.replace(TRAIN, log_every=2))  # bookkeeping may change
  assert run_dir.checkpoint_path(model_dir).endswith("ckpt-4")


def test_the_first_non_finite_loss_stops_before_any_later_checkpoint(tmp_path, mnist_arrays,
                                                                     tiny_config):
  model_dir = str(tmp_path / "run")
  config = dataclasses.replace(TRAIN, max_steps=10, log_every=10, checkpoint_every=1,
                               learning_rate=1e12)
  with pytest.raises(training.NonFiniteLossError) as caught:
    training.train(model_dir, tasks.ToyTask(mnist_arrays), tiny_config, LossConfig(), config)
  step = int(re.search(r"at step (\d+)", str(caught.value)).group(1))
  # checked every step, although progress lines come every 10: the last checkpoint is the step
  # before the first non-finite loss
  latest = run_dir.checkpoint_path(model_dir) if step > 1 else None
  assert latest is None or latest.endswith(f"ckpt-{step - 1}")


def _train_command(model_dir, data, max_steps, extra=()):
  return [sys.executable, os.path.join(REPO, "tools", "train.py"), f"--model_dir={model_dir}",
          f"--data_path={data}", "--gen_filters=8", "--dis_filters=8", "--batch_size=4",
          f"--max_steps={max_steps}", "--log_every=1", "--image_every=0", "--eval_every=0",
          "--checkpoint_every=1000", *extra]


def test_ctrl_c_saves_the_counted_step_and_resumes_exactly(tmp_path, tiny_npz):
  interrupted, straight = str(tmp_path / "interrupted"), str(tmp_path / "straight")
  proc = subprocess.Popen(_train_command(interrupted, tiny_npz, 400), cwd=REPO, env=TOOL_ENV,
                          stderr=subprocess.PIPE, text=True)
  try:
    seen = ""
    while not re.search(r"step [3-9]/400", seen):  # a few steps done: interrupt mid-run
      line = proc.stderr.readline()
      assert line, f"training ended early:\n{seen[-2000:]}"
      seen += line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=1800)  # a hang guard only
  finally:
    if proc.poll() is None:
      proc.kill()
  err = seen + err
  assert proc.returncode == 130, err[-2000:]
  assert "Traceback" not in err and "KeyboardInterrupt" not in err
  saved = int(re.search(r"SIGINT: saved step (\d+)", err).group(1))
  assert run_dir.checkpoint_path(interrupted).endswith(f"ckpt-{saved}")
  total = saved + 2
  run_tool("train.py", *_train_command(interrupted, tiny_npz, total)[2:])
  run_tool("train.py", *_train_command(straight, tiny_npz, total)[2:])
  a = dict(tf.train.list_variables(run_dir.checkpoint_path(interrupted)))
  reader_a = tf.train.load_checkpoint(run_dir.checkpoint_path(interrupted))
  reader_b = tf.train.load_checkpoint(run_dir.checkpoint_path(straight))
  for key in a:
    if key.startswith("model/") or "optimizer" in key:
      np.testing.assert_array_equal(reader_a.get_tensor(key), reader_b.get_tensor(key),
                                    err_msg=key)


def test_default_model_dir_is_named_after_the_flagfile_and_logs_are_quiet(tmp_path, tiny_npz):
  flagfile = tmp_path / "my_experiment.flags"
  flagfile.write_text("\n".join(_train_command("unused", tiny_npz, 1)[3:]) + "\n")
  work = tmp_path / "work"
  work.mkdir()
  env = {k: v for k, v in TOOL_ENV.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}
  proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train.py"),
                         f"--flagfile={flagfile}"], cwd=work, env=env, capture_output=True,
                        text=True, timeout=1800, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "run directory: runs/my_experiment (new run)" in proc.stderr
  assert (work / "runs" / "my_experiment" / "checkpoints" / "ckpt-1.index").exists()
  for chatter in ("cuInit", "cuda drivers", "oneDNN custom operations"):
    assert chatter not in proc.stderr


def test_a_second_training_on_the_same_run_is_refused(tmp_path, tiny_npz):
  model_dir = tmp_path / "run"
  model_dir.mkdir()
  with open(model_dir / ".lock", "w") as f:  # this test process plays the running training
    json.dump({"pid": os.getpid(), "host": os.uname().nodename, "started": time.time()}, f)
  proc = run_tool("train.py", *_train_command(str(model_dir), tiny_npz, 1)[2:], check=False)
  assert proc.returncode == 1
  assert f"in use by another training (pid {os.getpid()}" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not (model_dir / "checkpoints").exists()


@pytest.mark.slow  # a training killed and resumed through the command line
def test_kill_9_after_a_checkpoint_keeps_its_summaries(tmp_path, tiny_npz):
  """Summaries are flushed with each checkpoint: a kill -9 just after `saved ckpt-2` loses no
  TensorBoard point of steps 1-2, and the next start resumes from step 2."""
  model_dir = str(tmp_path / "run")
  command = _train_command(model_dir, tiny_npz, 400)
  command[command.index("--checkpoint_every=1000")] = "--checkpoint_every=2"
  proc = subprocess.Popen(command, cwd=REPO, env=TOOL_ENV, stderr=subprocess.PIPE, text=True)
  try:
    seen = ""
    while "ckpt-2 " not in seen:
      line = proc.stderr.readline()
      assert line, f"training ended early:\n{seen[-2000:]}"
      seen += line
    proc.kill()
    proc.wait(timeout=1800)
  finally:
    if proc.poll() is None:
      proc.kill()
  steps = set()
  for root, _, files in os.walk(os.path.join(model_dir, "train")):
    for name in files:
      for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
        if any(v.tag == "loss/g_loss" for v in event.summary.value):
          steps.add(event.step)
  assert {1, 2} <= steps
  saved = int(run_dir.checkpoint_path(model_dir).rsplit("-", 1)[-1])
  assert saved >= 2
  # the killed process left its lock: the next start takes it over and resumes
  resumed = run_tool("train.py", *_train_command(model_dir, tiny_npz, saved + 1)[2:])
  assert "took over" in resumed.stderr and "resumed from" in resumed.stderr
  assert run_dir.checkpoint_path(model_dir).endswith(f"ckpt-{saved + 1}")
