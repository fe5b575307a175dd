"""The TensorFlow runtime the tools run on: CPU kernels, precision, and the line that logs them.

Import this module before anything that imports TensorFlow (every tool does, first):
TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it loads. TensorFlow itself turns its oneDNN
kernels on only on CPUs with AVX-512 and leaves AVX2 CPUs on Eigen. The tools ask for oneDNN
(TF_ENABLE_ONEDNN_OPTS=1), except for the architectures in EIGEN_WITHOUT_AVX512 on an x86 CPU
without AVX-512 (as oneDNN sees it, ONEDNN_MAX_CPU_ISA included), where they ask for Eigen (=0).
The architecture is read from the command line before TensorFlow loads: the last --arch in the
arguments and the --flagfile files they name, else the run's config.json under --model_dir,
else the tool's DEFAULT_ARCH (a module constant of its __main__, set before it imports this
module; deploy_latency.py has one), else none. A setting in the user's environment wins
(`TF_ENABLE_ONEDNN_OPTS=0 python tools/train.py ...`); a value a parent tool chose (marked in
UNIT_TF_ONEDNN_CHOSEN, e.g. compare_release.py or sweep.py running benchmark.py or train.py) is
not the user's, so each child tool chooses again for its own architecture. What was measured
where: README, "Speed on CPUs".
"""

import os
import sys

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
ONEDNN_DEFAULT = "1"
# Architectures whose steps and translation run faster on Eigen than on oneDNN on x86 CPUs without
# AVX-512. There TensorFlow's oneDNN runs NHWC float32 convolutions as im2col + GEMM
# ("x64:gemm:jit" in ONEDNN_VERBOSE; its direct AVX-512 kernels do not apply), which loses to Eigen
# on the NIPS network's batch-1 wide convolutions (a 3x3 256->256 convolution at 64x64: 119-128 ms
# against 47-59 ms) but wins on the batch-64 digit networks. Measured 2026-12-02 on a 2-core AMD
# EPYC (AVX2, FMA), float32, two rounds with the order swapped (README, "AMD EPYC with AVX2
# only"): NIPS at 128, Eigen 7.00 / 7.39 s per step against oneDNN 8.21 / 8.27 s, translation at
# 256 1.01 / 0.93 s against 2.52 / 2.66 s; toy step 1.52 / 1.43 s against 0.98 / 0.90 s;
# digits_lenet 1.93 s against 1.10 s (one round); Table 10 (paper_natural) at 256 15.95 /
# 14.63 s against 15.39 / 12.13 s.
EIGEN_WITHOUT_AVX512 = ("nips",)
# The value this module chose in a parent tool's process: children inherit the environment, and a
# value that equals the marker was not set by the user.
CHOSEN_ENV = "UNIT_TF_ONEDNN_CHOSEN"


def user_setting(environ):
  """The user's TF_ENABLE_ONEDNN_OPTS in `environ`, None if unset or chosen by a parent tool."""
  value = environ.get(ONEDNN_ENV)
  if value is not None and value == environ.get(CHOSEN_ENV):
    return None
  return value


USER_ONEDNN = user_setting(os.environ)


def requested_arch(argv, default=None):
  """The --arch a tool's arguments ask for (flagfiles expanded), else the arch in config.json of
  their --model_dir, else `default`. Read before TensorFlow loads; what cannot be read counts as
  absent (the tool itself reports a missing flagfile or run directory)."""
  import json  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    args = flags.FlagValues().read_flags_from_files(list(argv), force_gnu=False)
  except (flags.Error, OSError, UnicodeDecodeError):
    args = list(argv)
  values = {}
  for i, arg in enumerate(args):
    for name in ("arch", "model_dir"):
      if arg.startswith(f"--{name}="):
        values[name] = arg.split("=", 1)[1]
      elif arg == f"--{name}" and i + 1 < len(args):
        values[name] = args[i + 1]
  if "arch" in values:
    return values["arch"]
  if values.get("model_dir"):
    try:
      with open(os.path.join(values["model_dir"], "config.json")) as f:
        return json.load(f)["model"]["arch"]
    except (OSError, ValueError, KeyError, TypeError):
      return default
  return default


def default_onednn(argv, cpu=None, default_arch=None):
  """(TF_ENABLE_ONEDNN_OPTS value, why) the tools choose for these arguments on `cpu` (this
  machine's, as oneDNN sees it, by default); `default_arch` is the tool's when none is asked."""
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  cpu = hardware.cpu_info() if cpu is None else cpu
  arch = requested_arch(argv, default_arch)
  if arch in EIGEN_WITHOUT_AVX512 and cpu.kind in ("AVX2", "SSE"):  # x86 without AVX-512
    return "0", f"Eigen: faster than oneDNN for --arch={arch} on a CPU without AVX-512"
  return ONEDNN_DEFAULT, "oneDNN"


if USER_ONEDNN is None:
  _ONEDNN_VALUE, _ONEDNN_WHY = default_onednn(
      sys.argv[1:], default_arch=getattr(sys.modules.get("__main__"), "DEFAULT_ARCH", None))
  os.environ[ONEDNN_ENV] = os.environ[CHOSEN_ENV] = _ONEDNN_VALUE
else:
  os.environ.pop(CHOSEN_ENV, None)  # the user's value: children keep it too
  _ONEDNN_WHY = ""


def onednn_origin():
  if USER_ONEDNN is not None:
    return "from the environment"
  return f"set by unit_tf's tools ({_ONEDNN_WHY})"


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
