"""What this machine computes fast: the CPU's model and extensions, native reduced precision, GPUs.

Pure functions of what they are given (the text of /proc/cpuinfo, a set of CPU flags, GPU
descriptions), so that the decisions can be tested for any machine; `cpu_info()` and `gpus()`
read the real one. The tools call `resolve_policy` once, before the library sees a config: the
library only ever gets a Keras dtype policy ("float32", "mixed_bfloat16", "mixed_float16").

Why it matters (issue 15): on a CPU without bfloat16 instructions TensorFlow emulates bfloat16,
and a bfloat16 step then costs several times a float32 one (`EMULATED_BF16_FACTOR`); where the
instructions exist (AVX-512 BF16, AMX) it is the faster choice.
"""

import dataclasses
import os
import platform
from typing import Optional, Tuple

CPUINFO = "/proc/cpuinfo"
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
# oneDNN's own cap on the instructions it uses (its documented values, oldest first, with the
# /proc/cpuinfo flags each level adds; the FP16 / AMX names have AVX10 aliases). A cap hides the
# flags above it from oneDNN, and so from our choice of precision.
ONEDNN_ISA_ENV = "ONEDNN_MAX_CPU_ISA"
ONEDNN_ISA_LEVELS = (
    ("SSE41", ("sse4_1", "sse4_2")), ("AVX", ("avx", "f16c")), ("AVX2", ("avx2", "fma")),
    ("AVX2_VNNI", ("avx_vnni",)), ("AVX2_VNNI_2", ()),
    ("AVX512_CORE", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd")),
    ("AVX512_CORE_VNNI", ("avx512_vnni",)), ("AVX512_CORE_BF16", ("avx512_bf16",)),
    ("AVX10_1_512", ("avx512_fp16",)), ("AVX10_1_512_AMX", ("amx_tile", "amx_int8", "amx_bf16")),
    ("AVX10_1_512_AMX_FP16", ("amx_fp16",)))
ONEDNN_ISA_ALIASES = {"AVX512_CORE_FP16": "AVX10_1_512", "AVX512_CORE_AMX": "AVX10_1_512_AMX",
                      "AVX512_CORE_AMX_FP16": "AVX10_1_512_AMX_FP16"}

# Extensions worth naming in a benchmark table, in the order they appeared in x86 CPUs
# (/proc/cpuinfo spellings).
VECTOR_EXTENSIONS = ("sse4_2", "avx", "f16c", "fma", "avx2", "avx_vnni", "avx512f", "avx512bw",
                     "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                     "amx_int8", "amx_bf16", "amx_fp16", "asimd", "sve", "bf16")
# Instructions that compute in bfloat16 / float16 (not just convert): AVX-512 BF16 dot products,
# AMX tiles; AVX-512 FP16 arithmetic, AMX-FP16. (`bf16` is the Arm flag.)
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
FP16_FLAGS = ("avx512_fp16", "amx_fp16")

# CPU seconds of a mixed_bfloat16 training step over a float32 one where bfloat16 is emulated
# (README, "Speed on CPUs"): 6.4x for the toy step on TensorFlow's Eigen kernels (an Intel Xeon
# with oneDNN turned off: 15.96 / 2.48 CPU-s, batch 64); 8.2x for the NIPS step at 128x128 on a
# 2-core AMD EPYC with AVX2 only (156 / 19 CPU-s, batch 1; measured for issue 15); 9.4x / 9.5x for
# the toy step on a 2-core AMD EPYC with AVX2 only, oneDNN on (17.93 / 1.915 and 16.83 / 1.765
# CPU-s, batch 64, 2026-12-02).
EMULATED_BF16_FACTOR = (6.4, 9.5)

# Keras dtype policies and the inference precisions of tools/translate.py and tools/export.py.
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
AUTO = "auto"
PRECISION_POLICY = {"float32": "float32", "bfloat16": "mixed_bfloat16",
                    "float16": "mixed_float16"}


@dataclasses.dataclass(frozen=True)
class CpuInfo:
  """A CPU: `model` (its marketing name), `flags` (/proc/cpuinfo spellings), logical `cores`."""

  model: str
  flags: frozenset
  cores: int = 0
  isa_cap: str = ""                  # ONEDNN_MAX_CPU_ISA, when it hides some of the flags
  hidden_flags: frozenset = frozenset()

  @property
  def extensions(self):
    """The VECTOR_EXTENSIONS this CPU has, oldest first."""
    return tuple(e for e in VECTOR_EXTENSIONS if e in self.flags)

  @property
  def native_bf16(self):
    return any(f in self.flags for f in BF16_FLAGS)

  @property
  def native_fp16(self):
    return any(f in self.flags for f in FP16_FLAGS)

  @property
  def amx(self):
    return "amx_tile" in self.flags

  @property
  def kind(self):
    """A short class name for tables: "AMX", "AVX-512", "AVX2", "SSE" or "other"."""
    if self.amx:
      return "AMX"
    if "avx512f" in self.flags:
      return "AVX-512"
    if "avx2" in self.flags:
      return "AVX2"
    return "SSE" if "sse4_2" in self.flags else "other"


@dataclasses.dataclass(frozen=True)
class GpuInfo:
  """A GPU as TensorFlow describes it; `compute_capability` (major, minor) or None."""

  name: str
  compute_capability: Optional[Tuple[int, int]] = None

  @property
  def tensor_cores(self):
    """NVIDIA tensor cores exist from compute capability 7.0 (Volta) on."""
    return self.compute_capability is not None and tuple(self.compute_capability) >= (7, 0)


def parse_cpuinfo(text, fallback_model=""):
  """CpuInfo of the text of /proc/cpuinfo (x86 `flags`, Arm `Features`); the first processor's
  model and flags (all cores of a machine report the same), the number of `processor` entries."""
  model, flags, cores = "", None, 0
  for line in text.splitlines():
    key, _, value = line.partition(":")
    key = key.strip().lower()
    if key == "processor":
      cores += 1
    elif key in ("model name", "hardware", "cpu model") and not model:
      model = value.strip()
    elif key in ("flags", "features") and flags is None:
      flags = frozenset(value.split())
  return CpuInfo(model=model or fallback_model or "unknown CPU", flags=flags or frozenset(),
                 cores=cores)


def with_isa_cap(cpu, isa):
  """`cpu` as oneDNN sees it under ONEDNN_MAX_CPU_ISA=`isa`: the flags of the levels above the
  cap move to `hidden_flags`. No cap, ALL / DEFAULT, or a value oneDNN does not know: unchanged."""
  name = ONEDNN_ISA_ALIASES.get((isa or "").strip().upper(), (isa or "").strip().upper())
  names = [level for level, _ in ONEDNN_ISA_LEVELS]
  if name not in names:
    return cpu
  above = {f for _, flags in ONEDNN_ISA_LEVELS[names.index(name) + 1:] for f in flags}
  hidden = frozenset(cpu.flags & above)
  if not hidden:
    return cpu
  return dataclasses.replace(cpu, flags=cpu.flags - hidden, isa_cap=name, hidden_flags=hidden)


def cpu_info(path=CPUINFO, env=None):
  """This machine's CpuInfo (no flags, when `path` cannot be read: e.g. not Linux), as oneDNN
  sees it under the environment's ONEDNN_MAX_CPU_ISA."""
  env = os.environ if env is None else env
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    text = ""
  info = parse_cpuinfo(text, fallback_model=platform.processor())
  info = info if info.cores else dataclasses.replace(info, cores=os.cpu_count() or 0)
  return with_isa_cap(info, env.get(ONEDNN_ISA_ENV))


def isa_cap_error(policy, cpu, onednn):
  """The error (str) for a precision that cannot run under the oneDNN ISA cap, else None.

  TensorFlow decides from the CPU's real flags to hand bfloat16 convolutions to oneDNN; when
  ONEDNN_MAX_CPU_ISA hides the bfloat16 instructions, oneDNN cannot build them and the first
  convolution aborts ("could not create a primitive descriptor"; measured on an AMX Xeon under
  ONEDNN_MAX_CPU_ISA=AVX2, README "Speed on CPUs")."""
  if policy != "mixed_bfloat16" or not onednn:
    return None
  hidden = [f for f in BF16_FLAGS if f in cpu.hidden_flags]
  if not hidden:
    return None
  return (f"{ONEDNN_ISA_ENV}={cpu.isa_cap} hides this CPU's bfloat16 instructions "
          f"({', '.join(hidden)}) from oneDNN, but TensorFlow still gives oneDNN bfloat16 "
          "convolutions, which then fail. Use float32 (or --mixed_precision=auto), unset "
          f"{ONEDNN_ISA_ENV}, or turn oneDNN off with {ONEDNN_ENV}=0.")


def gpus():
  """The GPUs TensorFlow sees, with their compute capability where it reports one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = []
  for device in tf.config.list_physical_devices("GPU"):
    details = tf.config.experimental.get_device_details(device)
    out.append(GpuInfo(name=details.get("device_name", device.name),
                       compute_capability=details.get("compute_capability")))
  return out


def resolve_policy(requested, cpu, gpu_list=()):
  """(Keras dtype policy, reason) for `requested` ("auto" or one of POLICIES).

  auto: mixed_float16 (with loss scaling) when every GPU has tensor cores; float32 on other
  GPUs; on a CPU alone mixed_bfloat16 where bfloat16 is native (AVX-512 BF16 / AMX), else
  float32. Anything else is returned as asked.
  """
  if requested != AUTO:
    if requested not in POLICIES:
      raise ValueError(f"precision {requested!r} is not one of {POLICIES + (AUTO,)}")
    return requested, "as requested"
  if gpu_list:
    if all(g.tensor_cores for g in gpu_list):
      return "mixed_float16", "auto: GPUs with tensor cores"
    return "float32", "auto: a GPU without tensor cores"
  if cpu.native_bf16:
    native = [f for f in BF16_FLAGS if f in cpu.flags]
    return "mixed_bfloat16", f"auto: native bfloat16 on this CPU ({', '.join(native)})"
  return "float32", "auto: no native bfloat16 on this CPU"


def precision_policy(precision, cpu, gpu_list=()):
  """(policy, reason) for an inference precision (float32 | bfloat16 | float16 | auto)."""
  if precision == AUTO:
    return resolve_policy(AUTO, cpu, gpu_list)
  if precision not in PRECISION_POLICY:
    raise ValueError(f"precision {precision!r} is not one of {tuple(PRECISION_POLICY) + (AUTO,)}")
  return PRECISION_POLICY[precision], "as requested"


def emulation_warning(policy, cpu, gpu_list=()):
  """A warning (str) when `policy` computes in a precision this machine emulates, else None."""
  if gpu_list or policy == "float32":
    return None  # GPUs: TensorFlow refuses what the device lacks, or runs it natively
  if policy == "mixed_bfloat16" and not cpu.native_bf16:
    return (f"mixed_bfloat16 on {cpu.model}, which has no bfloat16 instructions (AVX-512 BF16 / "
            f"AMX): TensorFlow emulates it, {EMULATED_BF16_FACTOR[0]}-{EMULATED_BF16_FACTOR[1]}x "
            "the CPU time of float32 per training step where we measured it (README, 'Speed on "
            "CPUs'). Use --mixed_precision=auto or float32.")
  if policy == "mixed_float16" and not cpu.native_fp16:
    return (f"mixed_float16 on {cpu.model}, which has no float16 arithmetic (AVX-512 FP16 / "
            "AMX-FP16): it is emulated on this CPU and slower than float32. Use "
            "--mixed_precision=auto or float32.")
  return None


def onednn_enabled():
  """Whether TensorFlow runs its oneDNN kernels (its own check: the build, the CPU and
  TF_ENABLE_ONEDNN_OPTS); None if this TensorFlow does not say."""
  try:
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return bool(_pywrap_util_port.IsMklEnabled())


# Environment variables TensorFlow reads for its thread pools when the API leaves them at 0.
THREAD_ENV = {"intra_op": "TF_NUM_INTRAOP_THREADS", "inter_op": "TF_NUM_INTEROP_THREADS"}


def threads(env=None):
  """{"intra_op", "inter_op"}: the count set with tf.config.threading, else the one TensorFlow
  takes from TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, else 0 (its default: one per
  core)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  env = os.environ if env is None else env
  configured = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
  out = {}
  for pool, count in configured.items():
    text = env.get(THREAD_ENV[pool], "")
    out[pool] = count or (int(text) if text.strip().isdigit() else 0)
  return out


def describe(cpu, gpu_list, onednn, thread_settings, env=None):
  """A JSON-able description of the machine and the TensorFlow runtime, for tables and logs."""
  env = os.environ if env is None else env
  return {"cpu_model": cpu.model, "cpu_kind": cpu.kind, "cpu_cores": cpu.cores,
          "cpu_extensions": list(cpu.extensions), "native_bf16": cpu.native_bf16,
          "native_fp16": cpu.native_fp16,
          "gpus": [{"name": g.name, "compute_capability": g.compute_capability,
                    "tensor_cores": g.tensor_cores} for g in gpu_list],
          "onednn": onednn, ONEDNN_ENV: env.get(ONEDNN_ENV), "onednn_isa_cap": cpu.isa_cap,
          "intra_op_threads": thread_settings["intra_op"],
          "inter_op_threads": thread_settings["inter_op"]}


def summary_line(description, policy=None, reason=None):
  """One line for logs and table headers: CPU, extensions, kernels, threads (and precision)."""
  d = description
  kernels = {True: "oneDNN on", False: "oneDNN off (Eigen)", None: "oneDNN unknown"}[d["onednn"]]
  env = d.get(ONEDNN_ENV)
  kernels += f" ({ONEDNN_ENV}={env})" if env is not None else f" ({ONEDNN_ENV} unset)"
  if d.get("onednn_isa_cap"):
    kernels += f", capped at {d['onednn_isa_cap']} by {ONEDNN_ISA_ENV}"
  gpus_text = ", ".join(g["name"] for g in d["gpus"]) or "no GPU"
  line = (f"{d['cpu_model']} [{d['cpu_kind']}: {' '.join(d['cpu_extensions']) or 'no flags'}], "
          f"{d['cpu_cores']} cores, {gpus_text}; kernels: {kernels}; threads intra/inter "
          f"{d['intra_op_threads']}/{d['inter_op_threads']} (0 = TensorFlow's default)")
  if policy is not None:
    line += f"; precision: {policy}" + (f" ({reason})" if reason else "")
  return line
