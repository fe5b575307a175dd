"""The experiment sweep: grid parsing and planning, run status, aggregation and the results files
(unit_tf/sweep.py), and tools/sweep.py end to end on tiny generated data: a sweep run in
parallel, the same sweep killed mid-way and rerun (skips the finished run, resumes the other from
its checkpoint, same results), failed runs reported, usage errors before any run."""

import contextlib
import csv
import glob
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from conftest import REPO, TOOL_ENV, run_tool, tiny_mnist, write_tiny_digit_sets
from unit_tf import sweep

TINY = ["--gen_filters=8", "--dis_filters=8", "--batch_size=4", "--log_every=1",
        "--image_every=0", "--eval_every=0", "--checkpoint_every=4", "--eval_examples=8",
        "--max_steps=24"]
GRID = ["--grid=lambda_kl=0.0001,0.001", "--seeds=0"]
RUN_NAMES = ["lambda_kl=0.0001,seed=0", "lambda_kl=0.001,seed=0"]


# ----- grids and plans ----------------------------------------------------------------------

def test_every_sweep_config_plans_and_each_paper_figure_names_one_of_its_cells():
  known = sweep.query_flags([sys.executable, os.path.join(REPO, "tools", "train.py")],
                            [f"--flagfile={os.path.join(REPO, 'configs', 'mnist_toy.flags')}"],
                            env=TOOL_ENV)
  configs = sorted(glob.glob(os.path.join(REPO, "configs", "sweeps", "*.flags")))
  assert len(configs) == 5
  for path in configs:
    lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    values = lambda name: [l.split("=", 1)[1] for l in lines if l.startswith(f"--{name}=")]  # pylint: disable=cell-var-from-loop,unnecessary-lambda-assignment
    runs = sweep.plan([sweep.parse_grid(g) for g in values("grid")],
                      sweep.parse_seeds(values("seeds")[0].split(",")), set(known))
    for run in runs:
      sweep.effective_flags(known, run)  # every cell's values pass train.py's checks
    cells = sweep.cells([sweep.RunRecord.for_run(r, 1) for r in runs], runs)
    with_figure = set()
    for where, _ in map(sweep.parse_paper, values("paper")):
      matching = [c.items for c in cells if all(
          sweep.canonical(c.value(k) or "") == sweep.canonical(v) for k, v in where.items())]
      assert len(matching) <= 1, (path, where)
      # table4.flags keeps the figures of the n_D = 0 rows it does not train by default
      assert matching or os.path.basename(path) == "table4.flags", (path, where)
      with_figure.update(matching)
    if values("paper"):
      assert with_figure == {c.items for c in cells}, path  # every cell beside the paper

def test_grid_single_flag_and_tied_flags():
  group = sweep.parse_grid("n_shared_dis=4,0")
  assert group.names == ("n_shared_dis",) and group.values == (("4",), ("0",))
  tied = sweep.parse_grid("n_shared_enc,n_shared_gen=4,3 2,1  0,0")
  assert tied.names == ("n_shared_enc", "n_shared_gen")
  assert tied.values == (("4", "3"), ("2", "1"), ("0", "0"))
  assert sweep.parse_grid("--lambda_kl=1e-4 1e-3").values == (("1e-4",), ("1e-3",))


@pytest.mark.parametrize("text,message", [
    ("lambda_kl", "expected NAME=V1"),
    ("=1,2", "expected NAME=V1"),
    ("lambda_kl=", "no values"),
    ("lambda_kl=  ", "no values"),
    ("n_shared_enc,n_shared_gen=4,3 2", "does not give one value to each"),
    ("n_shared_enc,n_shared_gen=4,3,1", "does not give one value to each"),
    ("lambda_kl,lambda_kl=1,2", "named twice"),
    ("lambda_kl=1,1", "listed twice"),
])
def test_bad_grids(text, message):
  with pytest.raises(sweep.SweepError, match=message):
    sweep.parse_grid(text)


def test_plan_is_the_cross_product_with_seeds():
  groups = [sweep.parse_grid("n_shared_enc,n_shared_gen=4,3 0,0"),
            sweep.parse_grid("n_shared_dis=4,0")]
  runs = sweep.plan(groups, seeds=(0, 1), known_flags={"n_shared_enc", "n_shared_gen",
                                                       "n_shared_dis", "seed"})
  assert len(runs) == 2 * 2 * 2
  assert runs[0].name == "n_shared_enc=4,n_shared_gen=3,n_shared_dis=4,seed=0"
  assert runs[0].args == ["--n_shared_enc=4", "--n_shared_gen=3", "--n_shared_dis=4",
                          "--seed=0"]
  assert runs[1].cell == runs[0].cell and runs[1].seed == 1
  assert [dict(r.cell)["n_shared_dis"] for r in runs[::2]] == ["4", "0", "4", "0"]
  assert [dict(r.cell)["n_shared_enc"] for r in runs[::2]] == ["4", "4", "0", "0"]
  assert len({r.name for r in runs}) == len(runs)
  only_seeds = sweep.plan([], seeds=(3,))
  assert [r.name for r in only_seeds] == ["seed=3"] and only_seeds[0].args == ["--seed=3"]
  assert sweep.plan([sweep.parse_grid("lambda_kl=1")])[0].args == ["--lambda_kl=1"]


@pytest.mark.parametrize("grids,seeds,message", [
    (["lambda_foo=1,2"], (), "no flag --lambda_foo"),
    (["lambda_kl=1,2", "lambda_gan,lambda_kl=1,1 2,2"], (), "--lambda_kl is set twice"),
    (["seed=1,2"], (0,), "--seed is set twice"),
    (["model_dir=a,b"], (), "sweep sets it"),
    ([], (), "nothing to sweep"),
])
def test_bad_plans(grids, seeds, message):
  known = {"lambda_kl", "lambda_gan", "seed", "model_dir"}
  with pytest.raises(sweep.SweepError, match=message):
    sweep.plan([sweep.parse_grid(g) for g in grids], seeds, known)


def test_seeds_and_paper_values():
  assert sweep.parse_seeds(["0", "2"]) == (0, 2)
  for bad in (["a"], ["-1"], ["1", "1"]):
    with pytest.raises(sweep.SweepError):
      sweep.parse_seeds(bad)
  where, values = sweep.parse_paper("n_shared_enc,n_shared_gen=4,3: toy_distance_a2b=59.3, "
                                    "toy_distance_b2a=47.0")
  assert where == {"n_shared_enc": "4", "n_shared_gen": "3"}
  assert values == {"toy_distance_a2b": 59.3, "toy_distance_b2a": 47.0}
  with pytest.raises(sweep.SweepError):
    sweep.parse_paper("n_shared_enc=4 3: toy_distance_a2b=1")
  cell = sweep.Cell((("lambda_kl", "0.0001"), ("no_discriminators", "False")), [])
  paper = [({"lambda_kl": "1e-4", "no_discriminators": "false"}, {"m": 1.5})]
  assert sweep.paper_value(paper, cell, "m") == 1.5  # compared by value, not spelling
  assert sweep.paper_value(paper, cell, "other") is None
  assert sweep.paper_value([({"lambda_kl": "1e-3"}, {"m": 2.0})], cell, "m") is None


def test_train_flags_come_from_train_py():
  known = sweep.query_flags([sys.executable, os.path.join(REPO, "tools", "train.py")],
                            ["--max_steps=7", "--no_discriminators"], env=TOOL_ENV)
  assert (known["max_steps"].type, known["max_steps"].current) == ("int", "7")
  assert known["max_steps"].lower == 1
  assert (known["no_discriminators"].type, known["no_discriminators"].current) == ("bool",
                                                                                   "true")
  assert known["data_path"].current == ""
  assert "l2" in known["recon_loss"].choices
  assert "model_dir" in known and "lambda_kl" in known
  sweep.check_args(["--lambda_kl=1", "--nono_discriminators", "--no_discriminators"], known)
  for args, message in ((["--lambda_foo=1"], "no flag --lambda_foo"),
                        (["--model_dir=x"], "set by the sweep"),
                        (["runs/x"], "as --name=value")):
    with pytest.raises(sweep.SweepError, match=message):
      sweep.check_args(args, known)
  with pytest.raises(sweep.SweepError, match="non-negative"):  # absl's own message
    sweep.query_flags([sys.executable, os.path.join(REPO, "tools", "train.py")],
                      ["--n_shared_enc=-1"], env=TOOL_ENV)

  run = sweep.Run((("max_steps", "0x10"), ("no_discriminators", "False")), seed=3)
  effective = sweep.effective_flags(known, run)
  assert effective["max_steps"] == "16" and effective["no_discriminators"] == "false"
  assert effective["seed"] == "3" and effective["lambda_kl"] == known["lambda_kl"].current
  for flag, value, message in (("n_shared_enc", "-1", ">= 0"), ("max_steps", "1.5", "integer"),
                               ("lambda_kl", "x", "a number"), ("beta_1", "2", "in [0, 1]"),
                               ("recon_loss", "l3", "one of l2"),
                               ("no_discriminators", "maybe", "true or false")):
    with pytest.raises(sweep.SweepError, match=re.escape(f"--{flag}={value}: expected")):
      sweep.effective_flags(known, sweep.Run(((flag, value),)))
    with pytest.raises(sweep.SweepError, match=re.escape(message)):
      sweep.parse_value(flag, value, known[flag])


def test_evaluation_args_follow_the_task():
  assert sweep.evaluation_args({"task": "toy", "data_path": "m.npz", "tfds_data_dir": "",
                                "eval_examples": "100"}) == [
                                    "--task=toy", "--data_path=m.npz", "--eval_examples=100"]
  assert sweep.evaluation_args({"task": "uda", "data_path_a": "a.npz", "data_path_b": "b",
                                "data_path": "ignored"}) == [
                                    "--task=uda", "--data_path_a=a.npz", "--data_path_b=b"]
  assert sweep.evaluation_args({"task": "images"}) is None
  assert sweep.evaluation_args({"task": "toy"}, "s/eval_cache") == [
      "--task=toy", "--metrics=toy,translation_accuracy", "--metrics_cache_dir=s/eval_cache"]
  assert sweep.evaluation_args({"task": "uda"}, "c")[1] == "--metrics=accuracy,translation_accuracy"


# ----- status ---------------------------------------------------------------------------------

def _fake_checkpoint(model_dir, step):
  directory = os.path.join(model_dir, "checkpoints")
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, f"ckpt-{step}.index"), "w") as f:
    f.write("x")
  with open(os.path.join(directory, "checkpoint"), "w") as f:
    f.write(f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n')


def test_refresh_tells_what_a_run_needs(tmp_path):
  run = sweep.Run((("lambda_kl", "1"),), seed=0)
  model_dir = str(tmp_path / run.name)
  record = sweep.RunRecord.for_run(run, max_steps=10)
  assert sweep.checkpoint_step(model_dir) is None
  assert sweep.refresh(record, model_dir) == "train"
  record.state = sweep.RUNNING
  _fake_checkpoint(model_dir, 4)
  assert sweep.refresh(record, model_dir, other_sweep_running=True) is None
  assert record.state == sweep.RUNNING  # a --report_only beside a live sweep leaves it be
  # the sweep was killed with it:
  assert sweep.refresh(record, model_dir) == "train"
  assert record.state == sweep.STOPPED and record.step == 4
  _fake_checkpoint(model_dir, 10)
  assert sweep.refresh(record, model_dir) == "evaluate"
  record.metrics, record.eval_step = {"m": 1.0}, 10
  assert sweep.refresh(record, model_dir) is None and record.state == sweep.FINISHED
  record.max_steps = 20  # the base flags now train longer: resume
  assert sweep.refresh(record, model_dir) == "train" and record.state == sweep.STOPPED
  record.state, record.reason = sweep.FAILED, "non-finite g_loss"
  assert sweep.refresh(record, model_dir) is None
  assert sweep.refresh(record, model_dir, retry_failed=True) == "train"
  sweep.write_record(model_dir, record)
  assert sweep.read_record(model_dir) == record
  assert list(sweep.collect(str(tmp_path))) == [run.name]


def test_failure_reason():
  output = "I1201 step 1/4\nerror: non-finite g_loss at step 1; stopped\n"
  assert sweep.failure_reason(output, 1) == "error: non-finite g_loss at step 1; stopped " \
                                            "(exit code 1)"
  assert sweep.failure_reason("last words\n", -9) == "last words (killed by signal 9)"
  assert sweep.failure_reason("", 2) == "exit code 2"


# ----- the scheduler, with stand-in processes (no TensorFlow) --------------------------------

def _job(tmp_path, name, code, max_steps=10):
  model_dir = str(tmp_path / name)
  os.makedirs(model_dir, exist_ok=True)
  script = tmp_path / f"{name}.py"
  script.write_text(code)
  return sweep.Job(sweep.RunRecord(name, [["x", name]], None, max_steps), model_dir,
                   [sys.executable, str(script)], None)


def test_execute_records_a_failure_and_goes_on(tmp_path):
  failing = _job(tmp_path, "bad", "import sys\nprint('error: boom', file=sys.stderr)\n"
                 "sys.exit(3)\n")
  good = _job(tmp_path, "good", "print('trained')\n")
  _fake_checkpoint(good.model_dir, 10)  # what a finished train.py leaves
  assert sweep.execute([failing, good], progress_every=0, poll_seconds=0.05) == (2, 1)
  assert failing.record.state == sweep.FAILED
  assert failing.record.reason == "error: boom (exit code 3)"
  assert good.record.state == sweep.FINISHED and good.record.eval_step == 10
  assert sweep.read_record(failing.model_dir).state == sweep.FAILED
  with open(os.path.join(good.model_dir, sweep.LOG_FILENAME)) as f:
    assert "trained" in f.read()


def test_execute_stops_trainings_on_sigterm(tmp_path):
  saved = tmp_path / "saved"
  training = _job(tmp_path, "long", textwrap.dedent(f"""\
      import signal, sys, time
      def save(*_):
        open({str(saved)!r}, "w").write("saved")
        sys.exit(0)
      signal.signal(signal.SIGTERM, save)
      print("step 3/10 | ...", file=sys.stderr, flush=True)
      time.sleep(600)
      """))
  waiting = _job(tmp_path, "next", "print('never')\n")
  log = os.path.join(training.model_dir, sweep.LOG_FILENAME)

  def stop_when_training():
    deadline = time.monotonic() + 120  # hang guard
    while time.monotonic() < deadline:
      if os.path.exists(log) and "step 3/10" in open(log).read():
        break
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)  # what `kill SWEEP_PID` does

  stopper = threading.Thread(target=stop_when_training)
  stopper.start()
  with pytest.raises(sweep.Interrupted, match="1 run\\(s\\) in progress and 1 not started"):
    sweep.execute([training, waiting], progress_every=0, poll_seconds=0.05)
  stopper.join()
  assert saved.read_text() == "saved"  # the training got SIGTERM and could save
  assert training.record.state == sweep.STOPPED
  assert sweep.read_record(training.model_dir).state == sweep.STOPPED
  assert waiting.record.state == sweep.PENDING
  assert not os.path.exists(os.path.join(waiting.model_dir, sweep.LOG_FILENAME))


# ----- aggregation and files ------------------------------------------------------------------

def _record(value, seed, metrics, state=sweep.FINISHED, reason=""):
  return sweep.RunRecord(f"lambda_kl={value},seed={seed}", [["lambda_kl", value]], seed, 10,
                         state=state, step=10, reason=reason, metrics=metrics, eval_step=10)


def test_cells_mean_std_and_markdown(tmp_path):
  records = [_record("0.1", 0, {"m": 1.0}), _record("0.1", 1, {"m": 3.0}),
             _record("1", 0, {"m": 5.0}),
             _record("1", 1, None, state=sweep.FAILED, reason="non-finite g_loss at step 3")]
  runs = sweep.plan([sweep.parse_grid("lambda_kl=1,0.1")], seeds=(0, 1))
  rows = sweep.cells(records, runs)
  assert [c.value("lambda_kl") for c in rows] == ["1", "0.1"]  # plan order
  mean, std, n = rows[1].metric("m")
  assert (mean, n) == (2.0, 2) and math.isclose(std, math.sqrt(2.0))
  assert rows[0].metric("m") == (5.0, None, 1)
  path = str(tmp_path / "results.md")
  paper = [sweep.parse_paper("lambda_kl=0.1: m=7.5")]
  sweep.write_markdown(path, rows, [sweep.parse_grid("lambda_kl=1,0.1")], paper, "T")
  with open(path) as f:
    lines = f.read().splitlines()
  table = [l for l in lines if l.startswith("|")]
  assert table[0] == "| lambda_kl | runs | m | paper | notes |"
  assert table[2] == "| 1 | 1/2 | 5 (1 run) | - | seed 1 failed: non-finite g_loss at step 3 |"
  assert table[3] == "| 0.1 | 2/2 | 2 ± 1.4 (n=2) | 7.5 |  |"


def test_markdown_puts_the_papers_metrics_first_and_the_evaluation_context_below(tmp_path):
  records = [_record("0.1", 0, {"z_m": 1.0, "a_extra": 2.0, "count": 10000,
                                "classifier_accuracy_b": 0.98}),
             _record("1", 0, {"z_m": 3.0, "a_extra": 2.0, "count": 10000,
                              "classifier_accuracy_b": 0.99})]
  rows = sweep.cells(records)
  path = str(tmp_path / "results.md")
  sweep.write_markdown(path, rows, paper=[sweep.parse_paper("lambda_kl=1: z_m=9")])
  with open(path) as f:
    text = f.read()
  table = [l for l in text.splitlines() if l.startswith("|")]
  assert table[0] == "| lambda_kl | runs | z_m | paper | a_extra | notes |"
  # a_extra has one value in both runs but is a result: it stays in the table
  assert "Evaluation: classifier_accuracy_b = 0.98 to 0.99, count = 10000." in text


def _read_csv(path):
  with open(path, newline="") as f:
    return {row["run"]: row for row in csv.DictReader(f)}


def _hparams_sessions(sweep_dir):
  """{run name: (hparams dict, {metric tag: value}, status name)} from the HParams events of
  each run."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api_pb2  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import metadata  # pylint: disable=g-import-not-at-top
  sessions = {}
  for path in glob.glob(os.path.join(sweep_dir, "*", sweep.HPARAMS_SUBDIR, "events.*")):
    hparams, metrics, status = {}, {}, None
    for raw in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(raw.numpy())
      for value in event.summary.value:
        if value.tag == metadata.SESSION_START_INFO_TAG:
          info = metadata.parse_session_start_info_plugin_data(
              value.metadata.plugin_data.content)
          hparams = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                     for k, v in info.hparams.items()}
        elif value.tag == metadata.SESSION_END_INFO_TAG:
          status = api_pb2.Status.Name(metadata.parse_session_end_info_plugin_data(
              value.metadata.plugin_data.content).status)
        elif value.metadata.plugin_data.plugin_name == "scalars":
          metrics[value.tag] = float(tf.make_ndarray(value.tensor))
    sessions[os.path.basename(os.path.dirname(os.path.dirname(path)))] = (hparams, metrics,
                                                                           status)
  return sessions


# ----- the tool, end to end -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
  path = tmp_path_factory.mktemp("data") / "tiny_mnist.npz"
  np.savez(path, **tiny_mnist())
  return str(path)


@pytest.fixture(scope="module")
def parallel_sweep(tmp_path_factory, tiny_data):
  """Two tiny runs trained two at a time, uninterrupted."""
  sweep_dir = str(tmp_path_factory.mktemp("sweep") / "parallel")
  proc = run_tool("sweep.py", f"--sweep_dir={sweep_dir}", f"--data_path={tiny_data}", *TINY,
                  *GRID, "--parallel=2", "--paper=lambda_kl=1e-4: toy_distance_a2b=59.3")
  return sweep_dir, proc


@pytest.mark.slow  # whole sweeps of tiny train.py/evaluate.py runs: minutes on 2 cores
def test_results_table_plot_and_hparams(parallel_sweep):
  sweep_dir, proc = parallel_sweep
  assert ("2 runs planned; 0 finished, 0 failed (not retried), 2 to train, 0 to evaluate"
          in proc.stderr)
  assert "sweep: 2/2 runs done" in proc.stderr and "ETA" in proc.stderr
  rows = _read_csv(os.path.join(sweep_dir, "results.csv"))
  assert sorted(rows) == RUN_NAMES
  for name in RUN_NAMES:
    assert rows[name]["state"] == "finished" and rows[name]["eval_step"] == "24"
    assert 0.0 < float(rows[name]["toy_distance_a2b"]) < 40.0
    assert os.path.exists(os.path.join(sweep_dir, name, "checkpoints", "ckpt-24.index"))
    with open(os.path.join(sweep_dir, name, "flags.txt")) as f:
      assert f"--lambda_kl={rows[name]['lambda_kl']}" in f.read()
  with open(os.path.join(sweep_dir, "results.md")) as f:
    table = [l for l in f.read().splitlines() if l.startswith("|")]
  assert table[0] == ("| lambda_kl | runs | toy_distance_a2b | paper | toy_distance_b2a | "
                      "notes |")
  a2b = float(rows[RUN_NAMES[0]]["toy_distance_a2b"])
  assert table[2].startswith(f"| 0.0001 | 1/1 | {a2b:.4g} (1 run) | 59.3 |")
  assert table[3].startswith("| 0.001 | 1/1 |") and "| - |" in table[3]

  with open(os.path.join(sweep_dir, "results.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  from matplotlib import image  # pylint: disable=g-import-not-at-top
  height, width = image.imread(os.path.join(sweep_dir, "results.png")).shape[:2]
  assert width > height > 100  # two metric panels side by side

  sessions = _hparams_sessions(sweep_dir)
  assert sorted(sessions) == RUN_NAMES
  for name in RUN_NAMES:
    hparams, metrics, status = sessions[name]
    assert status == "STATUS_SUCCESS"
    assert hparams == {"lambda_kl": float(rows[name]["lambda_kl"]), "seed": 0.0}
    assert math.isclose(metrics["final/toy_distance_b2a"],
                        float(rows[name]["toy_distance_b2a"]), rel_tol=1e-6)
  assert glob.glob(os.path.join(sweep_dir, sweep.EXPERIMENT_SUBDIR, "events.*"))


def _group_alive(pgid):
  """Whether a process of group `pgid` still runs (zombies, which nobody may reap, do not)."""
  for entry in os.listdir("/proc"):
    try:
      with open(f"/proc/{entry}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
      continue
    if int(fields[2]) == pgid and fields[0] != "Z":
      return True
  return False


def _log_headers(path):
  with open(path) as f:
    return f.read().count("===== sweep")


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the trainings' SIGTERM on the sweep's death (PR_SET_PDEATHSIG) and "
                    "/proc are Linux's")
@pytest.mark.slow  # whole sweeps of tiny train.py/evaluate.py runs: minutes on 2 cores
def test_killed_sweep_resumes_and_matches_uninterrupted(tmp_path, tiny_data, parallel_sweep):
  sweep_dir = str(tmp_path / "killed")
  args = [sys.executable, os.path.join(REPO, "tools", "sweep.py"), f"--sweep_dir={sweep_dir}",
          f"--data_path={tiny_data}", *TINY, *GRID]
  proc = subprocess.Popen(args, cwd=REPO, env=TOOL_ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
  second_log = os.path.join(sweep_dir, RUN_NAMES[1], sweep.LOG_FILENAME)
  deadline = time.monotonic() + 600  # a hang guard only
  try:
    while time.monotonic() < deadline and proc.poll() is None:
      if os.path.exists(second_log):
        with open(second_log) as f:
          if "step 5/24" in f.read():  # second run past its first checkpoint (step 4)
            break
      time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)  # the sweep only: no chance to clean up
    proc.wait()
    while time.monotonic() < deadline and _group_alive(proc.pid):
      time.sleep(0.1)  # its training gets SIGTERM, saves a checkpoint and exits
  finally:
    with contextlib.suppress(ProcessLookupError):  # the group is gone already: nothing to kill
      os.killpg(proc.pid, signal.SIGKILL)  # hang guard: nothing of the group may survive
  killed_at = sweep.checkpoint_step(os.path.join(sweep_dir, RUN_NAMES[1]))
  assert killed_at is not None and 5 <= killed_at < 24
  with open(second_log) as f:
    assert f"SIGTERM: saved step {killed_at}" in f.read()
  assert sweep.read_record(os.path.join(sweep_dir, RUN_NAMES[1])).state == sweep.RUNNING
  first_log = os.path.join(sweep_dir, RUN_NAMES[0], sweep.LOG_FILENAME)
  first_headers = _log_headers(first_log)

  rerun = run_tool("sweep.py", *args[2:])
  assert ("2 runs planned; 1 finished, 0 failed (not retried), 1 to train, 0 to evaluate"
          in rerun.stderr)
  assert f"{RUN_NAMES[1]}: resume from step {killed_at}" in rerun.stderr
  assert _log_headers(first_log) == first_headers  # the finished run was not touched
  with open(second_log) as f:
    assert "resumed from" in f.read()

  ours = _read_csv(os.path.join(sweep_dir, "results.csv"))
  reference = _read_csv(os.path.join(parallel_sweep[0], "results.csv"))
  for name in RUN_NAMES:
    assert ours[name]["state"] == "finished"
    for metric in ("toy_distance_a2b", "toy_distance_b2a"):
      assert math.isclose(float(ours[name][metric]), float(reference[name][metric]),
                          rel_tol=1e-5), (name, metric)

  again = run_tool("sweep.py", *args[2:])
  assert "2 finished, 0 failed (not retried), 0 to train, 0 to evaluate" in again.stderr


@pytest.mark.slow  # whole sweeps of tiny train.py/evaluate.py runs: minutes on 2 cores
def test_failed_runs_are_reported_and_the_sweep_goes_on(tmp_path, tiny_data):
  sweep_dir = str(tmp_path / "failing")
  # lambda_recon=1e38 overflows the loss at step 1; n_shared_enc=7 is rejected by train.py
  args = [f"--sweep_dir={sweep_dir}", f"--data_path={tiny_data}", *TINY, "--max_steps=2",
          "--grid=lambda_recon,n_shared_enc=1e38,4 1,7"]
  proc = run_tool("sweep.py", *args, check=False)
  assert proc.returncode == 1 and "2 of 2 runs failed" in proc.stderr
  rows = _read_csv(os.path.join(sweep_dir, "results.csv"))
  assert rows["lambda_recon=1e38,n_shared_enc=4"]["state"] == "failed"
  assert "non-finite" in rows["lambda_recon=1e38,n_shared_enc=4"]["reason"]
  assert "exit code 1" in rows["lambda_recon=1e38,n_shared_enc=4"]["reason"]
  assert "n_shared_enc=7 is out of range" in rows["lambda_recon=1,n_shared_enc=7"]["reason"]
  with open(os.path.join(sweep_dir, "results.md")) as f:
    text = f.read()
  assert "| 1e38 | 4 | 0/1 | run failed: error: non-finite" in text
  statuses = {name: status for name, (_, _, status) in _hparams_sessions(sweep_dir).items()}
  assert statuses == dict.fromkeys(rows, "STATUS_FAILURE")
  # a rerun does not retry them (a non-finite loss would recur) unless asked
  again = run_tool("sweep.py", *args, check=False)
  assert again.returncode == 1
  assert "0 finished, 2 failed (not retried), 0 to train, 0 to evaluate" in again.stderr


@pytest.mark.parametrize("extra,message", [
    (["--grid=lambda_foo=1,2"], "train.py has no flag --lambda_foo"),
    (["--grid=lambda_kl=1,2", "--grid=lambda_gan,lambda_kl=1,1"], "--lambda_kl is set twice"),
    (["--grid=lambda_kl="], "no values"),
    (["--grid=n_shared_enc=4,-1"], "run n_shared_enc=-1: "),
    (["--grid=lambda_kl=1", "--bogus=3"], "train.py has no flag --bogus"),
    (["--grid=lambda_kl=1", "--model_dir=x"], "set by the sweep"),
    (["--grid=lambda_kl=1", "--paper=lambda_kl=1"], "--paper="),
    (["--grid=lambda_kl=1", "--plot_x=lambda_gan"], "--plot_x=lambda_gan: not a swept flag"),
    ([], "nothing to sweep"),
])
def test_usage_errors_before_any_run(tmp_path, tiny_data, extra, message):
  sweep_dir = tmp_path / "bad"
  proc = run_tool("sweep.py", f"--sweep_dir={sweep_dir}", f"--data_path={tiny_data}", *extra,
                  check=False, timeout=120)
  assert proc.returncode != 0
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not sweep_dir.exists()


# Imports tools/sweep.py in a fresh interpreter (it imports no TensorFlow) with train.py's flag
# query replaced by a failure, and plans each bad command line.
_PLAN_WITHOUT_TRAIN_PY = textwrap.dedent("""
    import importlib.util, json, sys
    from unit_tf import sweep
    def train_py_started(*args, **kwargs):
      raise AssertionError("train.py was asked for its flags")
    sweep.query_flags = train_py_started
    spec = importlib.util.spec_from_file_location("sweep_tool", sys.argv[1])
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    found = []
    for argv in json.loads(sys.argv[2]):
      tool.FLAGS(["sweep.py", "--sweep_dir=unused", *argv], known_only=True)
      try:
        tool._plan([])
        found.append("no error")
      except (sweep.SweepError, AssertionError) as e:
        found.append(str(e))
      tool.FLAGS.unparse_flags()
    print(json.dumps(found))
""")


def test_the_sweeps_own_mistakes_are_reported_before_train_py_starts():
  """Mistakes in the grid, --paper or --plot_x need no train.py flag list (a TensorFlow start-up
  of train.py): they are found first. A flag train.py lacks still needs it."""
  cases = [(["--grid=lambda_kl=1,2", "--grid=lambda_gan,lambda_kl=1,1"],
            "--lambda_kl is set twice"),
           (["--grid=lambda_kl=1", "--paper=lambda_kl=1"], "--paper="),
           (["--grid=lambda_kl=1", "--plot_x=lambda_gan"], "--plot_x=lambda_gan: not a swept flag"),
           ([], "nothing to sweep"),
           (["--grid=model_dir=a,b"], "cannot be swept"),
           (["--grid=lambda_foo=1,2"], "train.py was asked for its flags")]
  proc = subprocess.run([sys.executable, "-c", _PLAN_WITHOUT_TRAIN_PY,
                         os.path.join(REPO, "tools", "sweep.py"),
                         json.dumps([argv for argv, _ in cases])],
                        capture_output=True, text=True, env=TOOL_ENV, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  found = json.loads(proc.stdout.strip().splitlines()[-1])
  for (argv, message), error in zip(cases, found):
    assert message in error, (argv, error)


@pytest.mark.slow  # whole sweeps of tiny train.py/evaluate.py runs: minutes on 2 cores
def test_domain_adaptation_sweep_reports_accuracies(tmp_path):
  mnist_path, usps_path = write_tiny_digit_sets(tmp_path)
  sweep_dir = str(tmp_path / "uda")
  run_tool("sweep.py", f"--sweep_dir={sweep_dir}", "--task=uda", "--arch=digits_lenet",
           "--source=mnist", "--target=usps", "--channels_a=1", "--channels_b=1",
           "--gen_filters=4", "--dis_filters=4", "--n_shared_dis=3", "--lambda_cls=10",
           "--batch_size=4", "--max_steps=2", "--log_every=1", "--image_every=0",
           "--eval_every=0", "--checkpoint_every=2", "--eval_examples=8",
           f"--data_path_a={mnist_path}", f"--data_path_b={usps_path}",
           "--grid=lambda_cls_translated=0", "--paper=lambda_cls_translated=0: "
           "target_accuracy=0.9597")
  row = _read_csv(os.path.join(sweep_dir, "results.csv"))["lambda_cls_translated=0"]
  assert row["state"] == "finished" and row["eval_step"] == "2"
  assert 0.0 <= float(row["target_accuracy"]) <= 1.0
  assert 0.0 <= float(row["source_accuracy"]) <= 1.0
  with open(os.path.join(sweep_dir, "results.md")) as f:
    table = [l for l in f.read().splitlines() if l.startswith("|")]
  assert table[0] == ("| lambda_cls_translated | runs | source_accuracy | target_accuracy | "
                      "paper | notes |")
  assert table[2].endswith("| 0.9597 |  |")
