"""Runs in a subprocess for tests/test_distribute.py (TensorFlow's devices and cluster must be
set up before anything else runs, so these cannot run inside the pytest process).

  python tests/distributed_worker.py mirrored OUT.npz
      one SGD step on 2 logical CPU devices (MirroredStrategy, synchronized batch norm) and the
      same step on one device; saves both models' variables.
  python tests/distributed_worker.py multi_worker OUT.npz MODEL_DIR
      3 training steps under MultiWorkerMirroredStrategy (TF_CONFIG set by the caller); saves the
      final variables of this worker.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from unit_tf import distribute  # pylint: disable=g-import-not-at-top

MODE, OUT = sys.argv[1], sys.argv[2]
if MODE == "mirrored":
  distribute.configure_cpu_devices(2)
  STRATEGY = None
else:
  STRATEGY = distribute.make_strategy("multi_worker")

import dataclasses  # pylint: disable=g-import-not-at-top,g-bad-import-order
import keras  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from conftest import tiny_mnist  # pylint: disable=g-import-not-at-top
from unit_tf import run_dir  # pylint: disable=g-import-not-at-top
from unit_tf import tasks  # pylint: disable=g-import-not-at-top
from unit_tf import training  # pylint: disable=g-import-not-at-top
from unit_tf import variants  # pylint: disable=g-import-not-at-top
from unit_tf.config import LossConfig, ModelConfig, TrainConfig  # pylint: disable=g-import-not-at-top

CONFIG = ModelConfig(gen_filters=8, dis_filters=8, sync_batch_norm=True)


def one_sgd_step(strategy, task):
  keras.utils.set_random_seed(0)
  with strategy.scope():
    model = variants.build_model(CONFIG, LossConfig(), disc_steps=1, seed=0)
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    model.build_for(task.image_shape_a, task.image_shape_b)
  initial = {v.path: v.numpy() for v in model.variables}
  data = distribute.distribute_dataset(
      strategy, lambda: task.train_dataset(8 * 2, seed=0), chunks=2)
  step = training.make_train_function(model, strategy)
  logs, _ = step(next(iter(data)))
  return ({v.path: v.numpy() for v in model.variables}, {k: float(v) for k, v in logs.items()},
          initial)


if MODE == "mirrored":
  task = tasks.ToyTask(tiny_mnist())
  mirrored = distribute.make_strategy("mirrored")
  assert mirrored.num_replicas_in_sync == 2, mirrored.num_replicas_in_sync
  single_vars, single_logs, initial = one_sgd_step(tf.distribute.get_strategy(), task)
  mirrored_vars, mirrored_logs, mirrored_initial = one_sgd_step(mirrored, task)
  for key, value in initial.items():  # both start from the same weights
    np.testing.assert_array_equal(value, mirrored_initial[key], err_msg=key)
  np.savez(OUT, **{"initial/" + k: v for k, v in initial.items()},
           **{"single/" + k: v for k, v in single_vars.items()},
           **{"mirrored/" + k: v for k, v in mirrored_vars.items()},
           **{"logs_single/" + k: v for k, v in single_logs.items()},
           **{"logs_mirrored/" + k: v for k, v in mirrored_logs.items()})
else:
  model_dir = sys.argv[3]
  task = tasks.ToyTask(tiny_mnist())
  train_config = TrainConfig(batch_size=4, max_steps=3, log_every=1, image_every=0,
                             eval_every=0, checkpoint_every=3)
  training.train(model_dir, task, dataclasses.replace(CONFIG), LossConfig(), train_config,
                 strategy=STRATEGY)
  model, _, step = run_dir.restore_model(model_dir, task.image_shape_a, task.image_shape_b)
  variables = {v.path: v.numpy() for v in model.variables}
  np.savez(OUT, step=step, **variables)
