"""tf.distribute strategies for training: creation, logical CPU devices, chief detection, and the
dataset layout that makes a replicated step equal to a single-device step.

Strategies (`make_strategy(name)`):
  default       no distribution (tf.distribute's default strategy)
  one_device    everything on /gpu:0 if there is one, else /cpu:0
  mirrored      synchronous data parallelism over the local GPUs, or over the logical CPU devices
                made by `num_cpu_devices` (how it is tested on machines without GPUs)
  multi_worker  MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG as TensorFlow
                documents it ({"cluster": {"worker": ["host:port", ...]}, "task": {...}})
  auto          mirrored when more than one GPU is visible, otherwise default
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "one_device")


def configure_cpu_devices(count):
  """Splits the physical CPU into `count` logical devices. Must run before TensorFlow initializes
  its devices (i.e. before any op runs)."""
  if count <= 1:
    return
  cpus = tf.config.list_physical_devices("CPU")
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
  except RuntimeError as e:
    raise RuntimeError("num_cpu_devices must be configured before TensorFlow runs any op") from e


def make_strategy(name="auto", num_cpu_devices=1):
  """The tf.distribute strategy called `name` (see the module docstring)."""
  if name not in STRATEGIES:
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("strategy multi_worker needs the TF_CONFIG environment variable "
                       "(cluster and task) on every worker")
    try:
      json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as e:
      raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    configure_cpu_devices(num_cpu_devices)
    return tf.distribute.MultiWorkerMirroredStrategy()
  configure_cpu_devices(num_cpu_devices)
  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    name = "mirrored" if len(gpus) > 1 else "default"
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "one_device":
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
  devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
  return tf.distribute.MirroredStrategy(devices=devices)


def is_chief(strategy):
  """True on the worker that writes summaries and checkpoints (always true without a cluster)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def task_id(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  return 0 if resolver is None or resolver.task_id is None else int(resolver.task_id)


def arrange_for_replicas(images, chunks, replicas):
  """Reorders a global batch of `chunks` stacked batches so that a contiguous split into
  `replicas` parts gives each replica its share of *every* chunk.

  [chunks * N, ...] -> [replicas, chunks * N / replicas, ...]: replica r gets rows
  [k * N + r * N / R, k * N + (r + 1) * N / R) of each chunk k, so the K discriminator updates and
  the generator update of a replicated step see exactly the images a single device would.
  """
  shape = tf.shape(images)
  per_chunk = shape[0] // chunks
  x = tf.reshape(images, tf.concat([[chunks, replicas, per_chunk // replicas], shape[1:]], 0))
  perm = [1, 0, 2] + list(range(3, len(images.shape) + 2))
  x = tf.transpose(x, perm)
  return tf.reshape(x, tf.concat([[replicas, shape[0] // replicas], shape[1:]], 0))


def distribute_dataset(strategy, make_global_dataset, chunks):
  """Per-replica batches from a dataset of global batches ((images_a, images_b) tuples).

  Every input pipeline (one per worker) builds the same stateless global stream and keeps its
  replicas' shares, so a step on R replicas sees the same images as a step on one device.
  """
  replicas = strategy.num_replicas_in_sync

  def dataset_fn(context):
    per_pipeline = replicas // context.num_input_pipelines
    first = context.input_pipeline_id * per_pipeline

    def arrange(*images):
      return tuple(arrange_for_replicas(x, chunks, replicas)[first:first + per_pipeline]
                   for x in images)

    return make_global_dataset().map(arrange).unbatch().prefetch(tf.data.AUTOTUNE)

  return strategy.distribute_datasets_from_function(dataset_fn)
