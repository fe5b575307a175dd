"""The TensorFlow runtime the tools run on: CPU kernels, precision, and the line that logs them.

Import this module before anything that imports TensorFlow (every tool does, first):
TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it loads. TensorFlow itself turns its oneDNN
kernels on only on CPUs with AVX-512 and leaves AVX2 CPUs on Eigen; the tools ask for oneDNN
everywhere (TF_ENABLE_ONEDNN_OPTS=1), unless the user's environment already sets the variable,
which wins (`TF_ENABLE_ONEDNN_OPTS=0 python tools/train.py ...`). What was measured where: README,
"Speed on CPUs".
"""

import os

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
ONEDNN_DEFAULT = "1"
USER_ONEDNN = os.environ.get(ONEDNN_ENV)  # the user's setting, None if unset
os.environ.setdefault(ONEDNN_ENV, ONEDNN_DEFAULT)


def onednn_origin():
  return "from the environment" if USER_ONEDNN is not None else "set by unit_tf's tools"


def machine():
  """(CpuInfo, [GpuInfo]) of this machine."""
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  return hardware.cpu_info(), hardware.gpus()


def description():
  """unit_tf.hardware.describe(...) of this machine and runtime, with where the oneDNN setting
  came from."""
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  cpu, gpus = machine()
  out = hardware.describe(cpu, gpus, hardware.onednn_enabled(), hardware.threads())
  out["onednn_setting"] = onednn_origin()
  return out


def check_runnable(policy, cpu=None):
  """A usage error for a Keras policy this runtime cannot run (bfloat16 under a oneDNN ISA cap
  that hides the bfloat16 instructions: hardware.isa_cap_error)."""
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  cpu = machine()[0] if cpu is None else cpu
  error = hardware.isa_cap_error(policy, cpu, hardware.onednn_enabled())
  if error:
    from absl import app  # pylint: disable=g-import-not-at-top
    raise app.UsageError(error)


def resolve(requested, inference=False):
  """The Keras dtype policy for `requested` (a --mixed_precision value, or with `inference` a
  --precision value: float32 | bfloat16 | float16 | auto), resolved once here so that the library
  never sees "auto". Logs a warning when the policy is emulated on this machine and one line
  naming the CPU, the kernels, the threads and the precision. Returns (policy, reason)."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  cpu, gpus = machine()
  if inference:
    policy, reason = hardware.precision_policy(requested, cpu, gpus)
  else:
    policy, reason = hardware.resolve_policy(requested, cpu, gpus)
  check_runnable(policy, cpu)
  warning = hardware.emulation_warning(policy, cpu, gpus)
  if warning:
    logging.warning("%s", warning)
  described = hardware.describe(cpu, gpus, hardware.onednn_enabled(), hardware.threads())
  logging.info("runtime: %s; oneDNN setting %s", hardware.summary_line(described, policy, reason),
               onednn_origin())
  return policy, reason
