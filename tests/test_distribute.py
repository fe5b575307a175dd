"""tf.distribute on CPU: a mirrored step equals a single-device step; two local workers with
TF_CONFIG train to identical weights; the replica batch layout."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO

# A hang guard, not a time limit: on a loaded 2-core machine these subprocess runs took 2-5
# minutes (two TensorFlow processes each); only a run that never ends should fail.
HANG_GUARD = 1800
from unit_tf import distribute

WORKER = os.path.join(REPO, "tests", "distributed_worker.py")


def _env(**extra):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
  env.pop("TF_CONFIG", None)
  env.update(extra)
  return env


def test_arrange_for_replicas_gives_each_replica_its_share_of_every_chunk():
  # 2 chunks of N = 4 rows, 2 replicas: replica 0 gets rows 0,1 (chunk 0) and 4,5 (chunk 1)
  x = tf.reshape(tf.range(8), [8, 1])
  out = distribute.arrange_for_replicas(x, chunks=2, replicas=2).numpy()[..., 0]
  np.testing.assert_array_equal(out, [[0, 1, 4, 5], [2, 3, 6, 7]])


def test_mirrored_step_equals_single_device_step(tmp_path):
  out = str(tmp_path / "vars.npz")
  subprocess.run([sys.executable, WORKER, "mirrored", out], check=True, env=_env(), cwd=REPO,
                 timeout=HANG_GUARD, capture_output=True)
  data = np.load(out)
  def group(prefix):
    return {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}

  initial, single, mirrored = group("initial/"), group("single/"), group("mirrored/")
  assert single.keys() == mirrored.keys() == initial.keys() and len(single) > 50
  changed = 0
  for key in single:  # weights and both slots of every batch-norm statistic
    step_single = single[key] - initial[key]
    step_mirrored = mirrored[key] - initial[key]
    scale = np.abs(step_single).max()
    changed += scale > 0
    # the update itself agrees to float32 summation-order noise (0.1 % of its size)
    np.testing.assert_allclose(step_mirrored, step_single, rtol=0, atol=1e-3 * scale + 1e-7,
                               err_msg=key)
  assert changed > 50
  for key in ("d_loss", "g_loss", "recon_a", "kl_b", "gan_a"):
    np.testing.assert_allclose(data[f"logs_mirrored/{key}"], data[f"logs_single/{key}"],
                               rtol=1e-4)


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def _run_two_workers(tmp_path, model_dir):
  """Runs the two TF_CONFIG workers to the end; returns their (returncode, stderr)."""
  workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
  procs = []
  try:
    for index in range(2):
      tf_config = json.dumps({"cluster": {"worker": workers},
                              "task": {"type": "worker", "index": index}})
      procs.append(subprocess.Popen(
          [sys.executable, WORKER, "multi_worker", str(tmp_path / f"w{index}.npz"), model_dir],
          env=_env(TF_CONFIG=tf_config), cwd=REPO, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True))
    errors = [proc.communicate(timeout=HANG_GUARD)[1] for proc in procs]
    return [(proc.returncode, err) for proc, err in zip(procs, errors)]
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_two_local_workers_train_to_identical_weights(tmp_path):
  model_dir = str(tmp_path / "run")
  start = time.perf_counter()
  for attempt in range(3):  # a port taken between _free_ports and the workers' bind: retry
    results = _run_two_workers(tmp_path, os.path.join(model_dir, str(attempt)))
    collided = any(code and "address already in use" in err.lower() for code, err in results)
    if not collided:
      break
  model_dir = os.path.join(model_dir, str(attempt))
  for code, err in results:
    assert code == 0, err[-3000:]
  print(f"two-worker run took {time.perf_counter() - start:.1f} s")
  w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
  assert int(w0["step"]) == 3
  for key in w0.files:
    np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
  # only the chief wrote checkpoints and summaries; the other worker's scratch is gone
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-3.index"))
  assert not [d for d in os.listdir(model_dir) if d.startswith(".worker")]


def test_unknown_strategy_and_missing_tf_config(monkeypatch):
  with pytest.raises(ValueError, match="strategy must be one of"):
    distribute.make_strategy("tpu")
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="TF_CONFIG"):
    distribute.make_strategy("multi_worker")
