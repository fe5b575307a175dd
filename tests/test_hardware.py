"""CPU / GPU detection and the precision decisions, for machines described by their flags."""

import pytest

from conftest import run_tool
from unit_tf import hardware

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx f16c fma avx2 avx512f avx512bw avx512vl avx_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx f16c fma avx2 avx512f avx512bw avx512vl avx_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8
"""
EPYC_AVX2 = """processor\t: 0
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse4_2 avx f16c fma avx2
"""


def test_parse_cpuinfo_reads_model_flags_and_cores():
  cpu = hardware.parse_cpuinfo(SAPPHIRE_RAPIDS)
  assert cpu.model == "Intel(R) Xeon(R) Processor" and cpu.cores == 2
  assert cpu.native_bf16 and cpu.native_fp16 and cpu.amx and cpu.kind == "AMX"
  assert cpu.extensions[:5] == ("sse4_2", "avx", "f16c", "fma", "avx2")
  assert "amx_bf16" in cpu.extensions and "fpu" not in cpu.extensions
  epyc = hardware.parse_cpuinfo(EPYC_AVX2)
  assert (epyc.model, epyc.kind, epyc.native_bf16, epyc.native_fp16) == (
      "AMD EPYC 7B12", "AVX2", False, False)
  assert hardware.parse_cpuinfo("", fallback_model="x86_64").model == "x86_64"


def test_auto_picks_bfloat16_only_where_native():
  native = hardware.parse_cpuinfo(SAPPHIRE_RAPIDS)
  avx2 = hardware.parse_cpuinfo(EPYC_AVX2)
  # AVX-512 without BF16 (Skylake-SP): still emulated.
  skylake = hardware.CpuInfo("Xeon Skylake", frozenset({"avx2", "fma", "avx512f", "avx512bw"}))
  assert hardware.resolve_policy("auto", native)[0] == "mixed_bfloat16"
  assert "avx512_bf16" in hardware.resolve_policy("auto", native)[1]
  assert hardware.resolve_policy("auto", avx2)[0] == "float32"
  assert hardware.resolve_policy("auto", skylake)[0] == "float32"
  assert hardware.resolve_policy("mixed_bfloat16", avx2) == ("mixed_bfloat16", "as requested")
  with pytest.raises(ValueError, match="bfloat17"):
    hardware.resolve_policy("bfloat17", avx2)


def test_onednn_isa_cap_hides_flags_from_the_precision_choice(tmp_path):
  """ONEDNN_MAX_CPU_ISA=AVX2 on an AMX Xeon: oneDNN sees an AVX2 CPU, so auto picks float32, a
  forced bfloat16 is an error naming the variable (TensorFlow would abort in the first
  convolution), and the summary line says the kernels are capped. No cap, ALL and unknown
  values change nothing; an alias names its level."""
  xeon = hardware.parse_cpuinfo(SAPPHIRE_RAPIDS)
  capped = hardware.with_isa_cap(xeon, "avx2")
  assert capped.isa_cap == "AVX2" and capped.kind == "AVX2" and not capped.native_bf16
  assert {"avx512f", "avx512_bf16", "amx_bf16", "avx_vnni"} <= capped.hidden_flags
  assert {"avx2", "fma"} <= capped.flags
  assert hardware.resolve_policy("auto", capped)[0] == "float32"
  error = hardware.isa_cap_error("mixed_bfloat16", capped, onednn=True)
  assert "ONEDNN_MAX_CPU_ISA=AVX2" in error and "avx512_bf16" in error
  assert hardware.isa_cap_error("float32", capped, onednn=True) is None
  assert hardware.isa_cap_error("mixed_bfloat16", capped, onednn=False) is None
  assert hardware.isa_cap_error("mixed_bfloat16", xeon, onednn=True) is None
  for value in (None, "", "ALL", "DEFAULT", "AVX9000"):
    assert hardware.with_isa_cap(xeon, value) == xeon
  bf16_only = hardware.with_isa_cap(xeon, "AVX512_CORE_BF16")
  assert bf16_only.native_bf16 and not bf16_only.native_fp16 and not bf16_only.amx
  fp16 = hardware.with_isa_cap(xeon, "AVX512_CORE_FP16")   # an alias of AVX10_1_512
  assert fp16.isa_cap == "AVX10_1_512" and fp16.hidden_flags == {"amx_tile", "amx_int8",
                                                                  "amx_bf16"}
  assert hardware.with_isa_cap(xeon, "AVX512_CORE_AMX") == xeon   # hides nothing it has
  info = tmp_path / "cpuinfo"
  info.write_text(SAPPHIRE_RAPIDS)
  from_env = hardware.cpu_info(str(info), env={hardware.ONEDNN_ISA_ENV: "AVX2"})
  assert from_env == capped
  line = hardware.summary_line(hardware.describe(from_env, [], True,
                                                 {"intra_op": 0, "inter_op": 0}, env={}))
  assert "capped at AVX2 by ONEDNN_MAX_CPU_ISA" in line and "[AVX2:" in line


def test_auto_on_gpus_uses_float16_only_with_tensor_cores():
  cpu = hardware.parse_cpuinfo(SAPPHIRE_RAPIDS)
  a100 = hardware.GpuInfo("A100", (8, 0))
  p100 = hardware.GpuInfo("P100", (6, 0))
  assert a100.tensor_cores and not p100.tensor_cores
  assert not hardware.GpuInfo("unknown").tensor_cores
  assert hardware.resolve_policy("auto", cpu, [a100])[0] == "mixed_float16"
  assert hardware.resolve_policy("auto", cpu, [a100, p100])[0] == "float32"


def test_forcing_an_emulated_precision_warns_with_the_factor():
  avx2 = hardware.parse_cpuinfo(EPYC_AVX2)
  native = hardware.parse_cpuinfo(SAPPHIRE_RAPIDS)
  warning = hardware.emulation_warning("mixed_bfloat16", avx2)
  assert "AMD EPYC 7B12" in warning and "6.4-9.5x the CPU time of float32" in warning
  assert "emulated" in hardware.emulation_warning("mixed_float16", avx2)
  assert hardware.emulation_warning("mixed_bfloat16", native) is None
  assert hardware.emulation_warning("mixed_float16", native) is None
  assert hardware.emulation_warning("float32", avx2) is None
  assert hardware.emulation_warning("mixed_float16", avx2, [hardware.GpuInfo("A100", (8, 0))]) \
      is None


def test_inference_precisions_map_to_policies():
  avx2 = hardware.parse_cpuinfo(EPYC_AVX2)
  native = hardware.parse_cpuinfo(SAPPHIRE_RAPIDS)
  assert hardware.precision_policy("bfloat16", avx2)[0] == "mixed_bfloat16"
  assert hardware.precision_policy("float16", avx2)[0] == "mixed_float16"
  assert hardware.precision_policy("float32", native)[0] == "float32"
  assert hardware.precision_policy("auto", native)[0] == "mixed_bfloat16"
  assert hardware.precision_policy("auto", avx2)[0] == "float32"
  with pytest.raises(ValueError, match="mixed_bfloat16"):
    hardware.precision_policy("mixed_bfloat16", avx2)  # the policy name is not a precision


def test_summary_line_names_cpu_kernels_threads_and_precision():
  cpu = hardware.parse_cpuinfo(EPYC_AVX2)
  described = hardware.describe(cpu, [], False, {"intra_op": 2, "inter_op": 1},
                                env={hardware.ONEDNN_ENV: "0"})
  assert described["cpu_extensions"] == ["sse4_2", "avx", "f16c", "fma", "avx2"]
  line = hardware.summary_line(described, "float32", "auto: no native bfloat16 on this CPU")
  for part in ("AMD EPYC 7B12", "AVX2", "oneDNN off (Eigen)", "TF_ENABLE_ONEDNN_OPTS=0",
               "intra/inter 2/1", "precision: float32 (auto: no native bfloat16"):
    assert part in line, (part, line)


def test_this_machine_is_described():
  cpu = hardware.cpu_info()
  assert cpu.cores >= 1 and cpu.model
  assert isinstance(hardware.onednn_enabled(), (bool, type(None)))
  assert set(hardware.threads()) == {"intra_op", "inter_op"}
  # TensorFlow's thread environment variables count when the API leaves the pools at 0
  assert hardware.threads({"TF_NUM_INTRAOP_THREADS": "1"}) == {"intra_op": 1, "inter_op": 0}
  assert hardware.threads({"TF_NUM_INTEROP_THREADS": "x"})["inter_op"] == 0


def test_the_flag_default_auto_reaches_the_library_resolved(monkeypatch):
  import os  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  from conftest import REPO  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(REPO)
  monkeypatch.syspath_prepend(os.path.join(REPO, "tools"))
  import experiment_flags  # pylint: disable=g-import-not-at-top
  expected = hardware.resolve_policy("auto", hardware.cpu_info(), hardware.gpus())[0]
  resolved = {}
  for args in ([], ["--mixed_precision=auto"], ["--mixed_precision=float32"]):
    try:
      flags.FLAGS(["train", *args])
      resolved[tuple(args)] = experiment_flags.configs()[2].mixed_precision
    finally:
      flags.FLAGS.unparse_flags()
  assert resolved == {(): expected, ("--mixed_precision=auto",): expected,
                      ("--mixed_precision=float32",): "float32"}
  assert expected in hardware.POLICIES


@pytest.mark.skipif(not hardware.cpu_info(env={}).native_bf16,
                    reason="needs a CPU with native bfloat16 for the oneDNN cap to hide it")
def test_bfloat16_under_an_isa_cap_is_a_usage_error(tmp_path):
  """Under ONEDNN_MAX_CPU_ISA=AVX2 TensorFlow would abort in its first bfloat16 convolution; the
  tool stops first with a message naming the variable (no traceback)."""
  proc = run_tool("train.py", f"--model_dir={tmp_path}", "--arch=toy", "--max_steps=1",
                  "--mixed_precision=mixed_bfloat16", check=False,
                  env={hardware.ONEDNN_ISA_ENV: "AVX2"})
  assert proc.returncode != 0 and "ONEDNN_MAX_CPU_ISA=AVX2 hides" in proc.stderr
  assert "Traceback" not in proc.stderr


def _cpu(*flags):
  return hardware.CpuInfo(model="test CPU", flags=frozenset(flags), cores=2)


def test_the_tools_choose_eigen_for_nips_on_x86_without_avx512(tmp_path, monkeypatch):
  """TF_ENABLE_ONEDNN_OPTS before TensorFlow loads: Eigen for the NIPS network on an AVX2 CPU
  (also an AVX-512 one capped at AVX2), oneDNN otherwise; the arch read through nested
  flagfiles, the run directory's config.json, and the last --arch."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from conftest import REPO  # pylint: disable=g-import-not-at-top
  monkeypatch.syspath_prepend(os.path.join(REPO, "tools"))
  # importing runtime_env sets the variable unless it is set: keep that out of the test process
  monkeypatch.setenv(hardware.ONEDNN_ENV, os.environ.get(hardware.ONEDNN_ENV, "1"))
  import runtime_env  # pylint: disable=g-import-not-at-top
  avx2 = _cpu("sse4_2", "avx", "fma", "avx2")
  xeon = _cpu("sse4_2", "avx", "fma", "avx2", "avx512f", "avx512_bf16", "amx_bf16")
  assert runtime_env.default_onednn(["--arch=nips"], avx2)[0] == "0"
  assert "--arch=nips" in runtime_env.default_onednn(["--arch=nips"], avx2)[1]
  assert runtime_env.default_onednn(["--arch=nips"], xeon)[0] == "1"
  assert runtime_env.default_onednn(["--arch=nips"], hardware.with_isa_cap(xeon, "AVX2"))[0] == "0"
  assert runtime_env.default_onednn(["--arch=toy"], avx2)[0] == "1"
  assert runtime_env.default_onednn([], avx2)[0] == "1"  # the default arch, toy
  assert runtime_env.default_onednn(["--arch=nips"], _cpu("asimd", "bf16"))[0] == "1"  # not x86
  # a tool's own default (deploy_latency.py: DEFAULT_ARCH = "nips") counts when none is asked
  assert runtime_env.default_onednn([], avx2, default_arch="nips")[0] == "0"
  assert runtime_env.default_onednn(["--arch=toy"], avx2, default_arch="nips")[0] == "1"

  base = tmp_path / "base.flags"
  base.write_text("--arch=nips\n")
  task = tmp_path / "task.flags"
  task.write_text(f"--flagfile={base}\n--image_size=64\n")
  assert runtime_env.requested_arch([f"--flagfile={task}"]) == "nips"
  assert runtime_env.requested_arch([f"--flagfile={task}", "--arch", "toy"]) == "toy"
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"model": {"arch": "nips"}}))
  assert runtime_env.requested_arch([f"--model_dir={run}", "--input=x.png"]) == "nips"
  assert runtime_env.requested_arch([f"--model_dir={tmp_path / 'absent'}"]) is None
  assert runtime_env.requested_arch([f"--flagfile={tmp_path / 'absent.flags'}"]) is None


def test_a_child_tool_chooses_its_own_kernels(tmp_path, monkeypatch):
  """compare_release.py and sweep.py run other tools: the TF_ENABLE_ONEDNN_OPTS value a parent
  tool chose is not the user's, so the child (here --arch=nips under a --arch=toy parent) chooses
  for its own architecture; a value the user set is kept by both."""
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from conftest import REPO  # pylint: disable=g-import-not-at-top
  tools = os.path.join(REPO, "tools")
  monkeypatch.syspath_prepend(tools)
  monkeypatch.setenv(hardware.ONEDNN_ENV, os.environ.get(hardware.ONEDNN_ENV, "1"))
  import runtime_env  # pylint: disable=g-import-not-at-top
  assert runtime_env.user_setting({hardware.ONEDNN_ENV: "1", runtime_env.CHOSEN_ENV: "1"}) is None
  assert runtime_env.user_setting({hardware.ONEDNN_ENV: "0", runtime_env.CHOSEN_ENV: "1"}) == "0"
  assert runtime_env.user_setting({hardware.ONEDNN_ENV: "0"}) == "0"
  assert runtime_env.user_setting({}) is None

  child = ("import runtime_env, os; "
           "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], runtime_env.onednn_origin())")
  parent = tmp_path / "parent.py"
  parent.write_text(
      "import subprocess, sys\n"
      "sys.argv = ['parent', '--arch=toy']\n"
      "import runtime_env\n"
      f"print(subprocess.run([sys.executable, '-c', {child!r}, '--arch=nips'],\n"
      "                     capture_output=True, text=True, check=True).stdout.strip())\n")
  env = {k: v for k, v in os.environ.items()
         if k not in (hardware.ONEDNN_ENV, runtime_env.CHOSEN_ENV)}
  env["PYTHONPATH"] = os.pathsep.join([tools, REPO])
  out = subprocess.run([sys.executable, str(parent)], env=env, capture_output=True, text=True,
                       check=True).stdout.strip()
  expected = runtime_env.default_onednn(["--arch=nips"])[0]
  assert out.startswith(f"{expected} set by unit_tf's tools"), out
  env[hardware.ONEDNN_ENV] = "0"  # the user's own setting reaches the child unchanged
  out = subprocess.run([sys.executable, str(parent)], env=env, capture_output=True, text=True,
                       check=True).stdout.strip()
  assert out == "0 from the environment", out
