"""Experiment sweeps: grids of `tools/train.py` runs, their status, and the results tables.

The paper's analysis (Appendix B: Table 4 sharing, Table 5 ablations, Figures 10-12 loss weights
and capacity) is a grid of trainings. This module plans such a grid, runs each cell as its own
`train.py` process in its own model_dir (one after another or N at once), evaluates each run's
final step with `evaluate.py`, and writes `results.csv`, `results.md`, `results.png` and one
TensorBoard HParams entry per run. It never reads absl flags: `tools/sweep.py` parses them and
hands over plain values, command prefixes included.

Grid syntax (`parse_grid`): `NAME=V1,V2,...` for one flag, or `NAME1,NAME2=A1,A2 B1,B2 ...` for
flags tied together (Table 4 ties n_E and n_G): whitespace separates the tuples, commas the values
inside one. Several grids make a cross product; `seeds` repeat every cell.

Layout of a sweep directory:
  <run name>/            a model_dir of train.py (checkpoints/, train/, flags.txt, config.json)
    sweep_run.json       the sweep's record of the run (see `RunRecord`)
    sweep.log            train.py's and evaluate.py's output, appended per attempt
    hparams/             TensorBoard HParams session of the run and its final metrics
  _hparams/              TensorBoard HParams experiment (the swept flags, the metrics)
  results.csv, results.md, results.png

Run names are the cell's `flag=value` pairs (and `seed=S`) joined by commas, so a changed grid
finds the runs it shares with the old one, and runs of the old grid stay on disk and in the
results.
"""

import csv
import dataclasses
import functools
import itertools
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from typing import Optional

from absl import logging

RECORD_FILENAME = "sweep_run.json"
LOG_FILENAME = "sweep.log"
HPARAMS_SUBDIR = "hparams"
EXPERIMENT_SUBDIR = "_hparams"
CHECKPOINT_STATE = os.path.join("checkpoints", "checkpoint")
# Flags the sweep sets itself.
RESERVED_FLAGS = ("model_dir", "flagfile")

# Run states, as written into records and reports.
PENDING, RUNNING, STOPPED, FINISHED, FAILED = "pending", "running", "stopped", "finished", "failed"


class SweepError(ValueError):
  """A bad grid or sweep setting, found before any run starts."""


@dataclasses.dataclass(frozen=True)
class Group:
  """One --grid: flags whose values move together, and the tuples they take in order."""

  names: tuple
  values: tuple

  @property
  def label(self):
    return ",".join(self.names)


def parse_grid(text):
  """`NAME=V1,V2` or `NAME1,NAME2=A1,A2 B1,B2` -> Group. Raises SweepError on a bad grid."""
  head, sep, body = text.partition("=")
  names = tuple(n.strip().lstrip("-") for n in head.split(","))
  if not sep or not all(names):
    raise SweepError(f"--grid={text!r}: expected NAME=V1,V2,... or NAME1,NAME2=A1,A2 B1,B2")
  if len(set(names)) != len(names):
    raise SweepError(f"--grid={text!r}: a flag is named twice")
  if len(names) == 1:
    values = tuple((v,) for v in re.split(r"[,\s]+", body.strip()) if v)
  else:
    values = tuple(tuple(v.strip() for v in item.split(",")) for item in body.split())
  if not values:
    raise SweepError(f"--grid={text!r}: no values")
  for item in values:
    if len(item) != len(names) or not all(item):
      raise SweepError(f"--grid={text!r}: {','.join(item)!r} does not give one value to each "
                       f"of {','.join(names)}")
  if len(set(values)) != len(values):
    raise SweepError(f"--grid={text!r}: a value is listed twice")
  return Group(names, values)


def parse_seeds(items):
  """['0', '1'] -> (0, 1); non-negative, distinct."""
  try:
    seeds = tuple(int(s) for s in items)
  except ValueError:
    raise SweepError(f"--seeds={','.join(items)}: expected integers, e.g. 0,1,2") from None
  if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
    raise SweepError(f"--seeds={','.join(items)}: expected distinct non-negative integers")
  return seeds


def parse_paper(text):
  """`NAME1,NAME2=A1,A2: METRIC=VALUE, METRIC=VALUE` -> ({name: value}, {metric: float}): the
  paper's figures for the cells whose flags have these values."""
  where, sep, what = text.partition(":")
  try:
    group = parse_grid(where)
    if len(group.values) != 1 or not sep:
      raise SweepError("")
    metrics = {}
    for item in what.split(","):
      metric, eq, value = item.strip().partition("=")
      if not eq or not metric:
        raise SweepError("")
      metrics[metric.strip()] = float(value)
  except (SweepError, ValueError):
    raise SweepError(f"--paper={text!r}: expected NAME1,NAME2=V1,V2: METRIC=VALUE, "
                     "METRIC=VALUE") from None
  return dict(zip(group.names, group.values[0])), metrics


def canonical(value):
  """A flag value for comparisons: floats by value (1e-4 == 0.0001), booleans by meaning."""
  text = str(value).strip()
  if text.lower() in ("true", "false"):
    return text.lower()
  try:
    return float(text)
  except ValueError:
    return text


@dataclasses.dataclass(frozen=True)
class Run:
  """One training of the sweep: a cell of the grid and a seed (None: the base flags' seed)."""

  cell: tuple  # ((flag, value), ...) in grid order
  seed: Optional[int] = None

  @property
  def cell_name(self):
    return ",".join(f"{k}={_safe(v)}" for k, v in self.cell) or "base"

  @property
  def name(self):
    if self.seed is None:
      return self.cell_name
    return f"{self.cell_name},seed={self.seed}" if self.cell else f"seed={self.seed}"

  @property
  def args(self):
    """The train.py flags of this run, added after the base flags."""
    seed = [] if self.seed is None else [f"--seed={self.seed}"]
    return [f"--{k}={v}" for k, v in self.cell] + seed


def _safe(value):
  return re.sub(r"[^A-Za-z0-9._+=-]", "_", value)


def plan(groups, seeds=(), known_flags=None):
  """The runs of a sweep: the cross product of `groups` (in order, the last varying fastest),
  each with every seed. `known_flags` (a set of train.py's flag names) rejects unknown ones.

  Raises SweepError for unknown, reserved or repeated flags and for an empty sweep."""
  if not groups and not seeds:
    raise SweepError("nothing to sweep: give at least one --grid or --seeds")
  seen = set()
  for group in groups:
    for name in group.names:
      if name in RESERVED_FLAGS:
        raise SweepError(f"--{name} cannot be swept: the sweep sets it for every run")
      if known_flags is not None and name not in known_flags:
        raise SweepError(f"--grid={group.label}=...: train.py has no flag --{name}")
      if name in seen:
        raise SweepError(f"--{name} is set twice (in two grids)")
      seen.add(name)
  if seeds and "seed" in seen:
    raise SweepError("--seed is set twice: by a grid and by --seeds; keep one")
  runs = []
  for combo in itertools.product(*(g.values for g in groups)):
    cell = tuple((name, value) for group, values in zip(groups, combo)
                 for name, value in zip(group.names, values))
    for seed in (seeds or (None,)):
      runs.append(Run(cell, seed))
  names = [r.name for r in runs]
  if len(set(names)) != len(names):
    raise SweepError("two runs would share a directory name; use values that differ in "
                     "letters, digits or . + - =")
  return runs


# ----- train.py's flags -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FlagInfo:
  """One train.py flag as its --helpxml describes it: absl's type name ("int", "float", "bool",
  "string", "string enum", ...), the current value as text ("" when unset), bounds, choices."""

  type: str
  current: str
  lower: Optional[float] = None
  upper: Optional[float] = None
  choices: tuple = ()


def parse_flags_xml(text):
  """train.py --helpxml output -> {flag name: FlagInfo}."""
  root = ElementTree.fromstring(text)
  out = {}
  for flag in root.iter("flag"):
    current = flag.findtext("current") or ""
    if current == "None" and not flag.findtext("default"):
      current = ""  # absl writes an unset flag (default None) as "None"
    bounds = [flag.findtext(k) for k in ("lower_bound", "upper_bound")]
    out[flag.findtext("name")] = FlagInfo(
        flag.findtext("type") or "", current,
        *(None if b is None else float(b) for b in bounds),
        tuple(e.text for e in flag.iter("enum_value")))
  return out


def query_flags(command, args, env=None, timeout=300):
  """The flags of `command` (e.g. [python, tools/train.py]) after parsing `args`, from its
  --helpxml: {name: FlagInfo}. A bad value in `args` raises SweepError with absl's message.
  Unknown names are not caught here (absl's help exits first): see `check_args`."""
  proc = subprocess.run([*command, *args, "--helpxml"], capture_output=True, text=True,
                        env=env, timeout=timeout, check=False)
  start = proc.stdout.find("<?xml")
  if start < 0:
    lines = [l.strip() for l in proc.stderr.splitlines() if l.strip()]
    fatal = [l.split("FATAL Flags parsing error:", 1)[1].strip() for l in lines
             if "FATAL Flags parsing error:" in l]
    raise SweepError((fatal or lines or [f"{command[-1]} exited {proc.returncode}"])[-1])
  return parse_flags_xml(proc.stdout[start:])


_TRUE, _FALSE = ("true", "t", "1", "yes", "y"), ("false", "f", "0", "no", "n")


def parse_value(name, value, info):
  """Checks a grid value of flag `name` as absl would parse it for `info` (type, bounds,
  choices), so that a bad cell is a usage error before any run starts without one train.py
  start-up per cell. Returns the value as the run's effective text."""
  def bad(expected):
    return SweepError(f"--{name}={value}: expected {expected}")

  if info.type == "bool":
    if value.lower() not in _TRUE + _FALSE:
      raise bad("true or false")
    return "true" if value.lower() in _TRUE else "false"
  if info.type in ("int", "float"):
    try:
      if info.type == "int":  # absl's integer syntax: decimal, 0x.. or 0o..
        prefix = value[:2].lower()
        number = int(value, {"0x": 16, "0o": 8}.get(prefix, 10))
      else:
        number = float(value)
    except ValueError:
      raise bad("an integer" if info.type == "int" else "a number") from None
    low, high = info.lower, info.upper
    if (low is not None and number < low) or (high is not None and number > high):
      raise bad(f">= {low:g}" if high is None else f"<= {high:g}" if low is None else
                f"a value in [{low:g}, {high:g}]")
    return str(number)
  if info.choices and value not in info.choices:
    raise bad(f"one of {', '.join(info.choices)}")
  return value


def check_args(args, known):
  """Rejects train.py arguments that are not `--name[=value]` of a flag in `known` (the
  `query_flags` dict), and the flags the sweep sets itself."""
  for arg in args:
    if not arg.startswith("-"):
      raise SweepError(f"unexpected argument {arg!r}: pass train.py flags as --name=value")
    name = arg.lstrip("-").partition("=")[0]
    if name in RESERVED_FLAGS:
      raise SweepError(f"--{name} is set by the sweep (each run gets its own model_dir under "
                       "--sweep_dir)")
    negated = name.startswith("no") and name[2:] in known and known[name[2:]].type == "bool"
    if name not in known and not negated:
      raise SweepError(f"{arg}: train.py has no flag --{name}")


def effective_flags(known, run):
  """{name: value text} of a run: train.py's flags after the base arguments (`known`, from
  `query_flags`), then the run's cell and seed, each value checked by `parse_value`."""
  values = {name: info.current for name, info in known.items()}
  for name, value in run.cell:
    values[name] = parse_value(name, value, known[name])
  if run.seed is not None:
    values["seed"] = str(run.seed)
  return values


def read_flags_file(path):
  """A flags.txt written by train.py -> {name: value as text} (booleans 'true' / 'false')."""
  out = {}
  if not os.path.exists(path):
    return out
  with open(path) as f:
    for line in f:
      line = line.strip()
      if not line.startswith("--"):
        continue
      name, eq, value = line[2:].partition("=")
      if eq:
        out[name] = value
      elif name.startswith("no"):
        out[name[2:]] = "false"
      else:
        out[name] = "true"
  return out


# The task's own metric in evaluate.py's --metrics.
TASK_METRICS = {"toy": "toy", "uda": "accuracy"}


def evaluation_args(effective, translation_cache_dir=None):
  """evaluate.py's flags for a run trained with `effective` flags ({name: value}), or None when
  evaluate.py has no evaluation for its task (natural images: no metric yet).

  With `translation_cache_dir`, the digit tasks also report translation accuracy and the
  classifier's Frechet distance (unit_tf.metrics.digits), their classifiers trained once for the
  whole sweep in that directory."""
  task = effective.get("task", "toy")
  if task not in TASK_METRICS:
    return None
  names = ("data_path", "tfds_data_dir") if task == "toy" else (
      "data_path_a", "data_path_b", "tfds_data_dir")
  args = [f"--task={task}"] + [f"--{n}={effective[n]}" for n in names if effective.get(n)]
  if effective.get("eval_examples"):
    args.append(f"--eval_examples={effective['eval_examples']}")
  if translation_cache_dir:
    args += [f"--metrics={TASK_METRICS[task]},translation_accuracy",
             f"--metrics_cache_dir={translation_cache_dir}"]
  return args


# ----- status -------------------------------------------------------------------------------

def checkpoint_step(model_dir):
  """Step of a run's latest checkpoint (from the CheckpointManager's state file), or None."""
  path = os.path.join(model_dir, CHECKPOINT_STATE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    match = re.search(r'^model_checkpoint_path:\s*"([^"]*)"', f.read(), re.MULTILINE)
  if not match:
    return None
  prefix = os.path.join(model_dir, "checkpoints", os.path.basename(match.group(1)))
  if not os.path.exists(prefix + ".index"):
    return None
  return int(prefix.rsplit("-", 1)[-1])


@dataclasses.dataclass
class RunRecord:
  """What the sweep knows of a run (`sweep_run.json`).

  state: pending / running / stopped (resumable) / finished / failed; `reason` says why it
  failed or stopped; `step` the latest checkpoint; `metrics` evaluate.py's output at
  `eval_step` (the final step) without its "step" key.
  """

  name: str
  cell: list
  seed: Optional[int]
  max_steps: int
  state: str = PENDING
  step: int = 0
  reason: str = ""
  metrics: Optional[dict] = None
  eval_step: Optional[int] = None
  train_seconds: float = 0.0

  @classmethod
  def for_run(cls, run, max_steps):
    return cls(run.name, [list(kv) for kv in run.cell], run.seed, max_steps)

  @property
  def cell_items(self):
    return tuple((k, v) for k, v in self.cell)


def read_record(model_dir):
  path = os.path.join(model_dir, RECORD_FILENAME)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return RunRecord(**json.load(f))


def write_record(model_dir, record):
  os.makedirs(model_dir, exist_ok=True)
  _write_atomic(os.path.join(model_dir, RECORD_FILENAME),
                json.dumps(dataclasses.asdict(record), indent=2, sort_keys=True) + "\n")


def _write_atomic(path, text):
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def refresh(record, model_dir, retry_failed=False, other_sweep_running=False):
  """Brings `record` up to date with the run directory; returns what the run needs next:
  "train" (start or resume), "evaluate" (trained to max_steps, final step not evaluated) or
  None (finished, failed and not retried, or running in `other_sweep_running`)."""
  step = checkpoint_step(model_dir)
  record.step = step or 0
  if record.state == RUNNING and other_sweep_running:
    return None
  if record.state == FAILED and not retry_failed:
    return None
  if step is not None and step >= record.max_steps:
    if record.metrics is not None and record.eval_step == step:
      record.state = FINISHED
      return None
    return "evaluate"
  if step is not None or record.state != PENDING:
    # RUNNING: the sweep died with it; FAILED: a retry; FINISHED: max_steps grew since
    record.state = STOPPED
  return "train"


def collect(sweep_dir):
  """{run name: RunRecord} of every run directory in `sweep_dir` (any grid that ran there)."""
  records = {}
  if not os.path.isdir(sweep_dir):
    return records
  for entry in sorted(os.listdir(sweep_dir)):
    record = read_record(os.path.join(sweep_dir, entry))
    if record is not None:
      records[record.name] = record
  return records


# ----- running --------------------------------------------------------------------------------

@dataclasses.dataclass
class Job:
  """A run to bring to its final evaluated step: the commands are complete argument lists
  (`train` None when only the evaluation is missing, `evaluate` None when the task has none)."""

  record: RunRecord
  model_dir: str
  train: Optional[list]
  evaluate: Optional[list]


_STEP_RE = re.compile(r"step (\d+)/(\d+) \|")


def _die_with_parent(parent):
  """Child side: get SIGTERM when the sweep (pid `parent`) dies (train.py then saves and stops),
  so that a killed sweep leaves no orphan trainings that a rerun would race with. Linux only."""
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    return
  if os.getppid() != parent:  # the sweep died before prctl took effect
    os.kill(os.getpid(), signal.SIGTERM)


class _Active:
  """A job's running process (train, then evaluate) and where its output goes."""

  def __init__(self, job, phase, env):
    self.job, self.phase = job, phase
    self.log_path = os.path.join(job.model_dir, LOG_FILENAME)
    self.out_path = os.path.join(job.model_dir, "sweep_evaluate.out")
    command = job.train if phase == "train" else job.evaluate
    os.makedirs(job.model_dir, exist_ok=True)
    preexec = (functools.partial(_die_with_parent, os.getpid())
               if sys.platform.startswith("linux") else None)
    with open(self.log_path, "a") as log:
      log.write(f"===== sweep {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
      log.flush()
      self.offset = log.tell()
      # evaluate.py's JSON goes to its own file; everything else is appended to the log
      with open(self.out_path, "w") if phase == "evaluate" else open(os.devnull) as out:
        self.proc = subprocess.Popen(command, stdout=out if phase == "evaluate" else log,
                                     stderr=log, env=env, preexec_fn=preexec)
    self.started = time.monotonic()
    self.first_step = self.step = job.record.step

  def new_output(self):
    with open(self.log_path, errors="replace") as f:
      f.seek(self.offset)
      return f.read()

  def poll_step(self):
    steps = _STEP_RE.findall(self.new_output()) if self.phase == "train" else []
    if steps:
      self.step = int(steps[-1][0])
    return self.step


def failure_reason(output, returncode):
  """The reason a process failed: its last 'error: ...' or absl FATAL line, else its last line,
  with the exit code or signal."""
  lines = [l.strip() for l in output.splitlines() if l.strip()]
  marked = [l for l in lines if l.startswith("error:") or "FATAL" in l or "Error:" in l]
  text = (marked or lines or [""])[-1]
  code = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
  return f"{text} ({code})" if text else code


class Interrupted(Exception):
  """The sweep was stopped (SIGTERM or Ctrl-C); running trainings saved their checkpoints."""


def execute(jobs, parallel=1, env=None, progress_every=30.0, poll_seconds=0.5):
  """Runs `jobs` (train then evaluate each), at most `parallel` processes at once, updating
  their records; a failed process marks its run failed and the sweep goes on. Logs a progress
  line for the whole sweep (runs done, running runs' steps, ETA from the steps per second of
  this invocation) at least every `progress_every` seconds and whenever a run ends.

  SIGTERM or Ctrl-C: the running trainings get SIGTERM (train.py saves a checkpoint), their
  records become "stopped", and Interrupted is raised."""
  pending = list(jobs)
  active = []
  done = failed = steps_trained = 0
  start = time.monotonic()
  last_report = 0.0
  stop = {"requested": False}

  def on_signal(signum, frame):  # pylint: disable=unused-argument
    stop["requested"] = True

  in_main = threading.current_thread() is threading.main_thread()
  previous = signal.signal(signal.SIGTERM, on_signal) if in_main else None
  try:
    while pending or active:
      while pending and len(active) < parallel and not stop["requested"]:
        job = pending.pop(0)
        active.append(_start(job, env))
      changed = False
      for item in list(active):
        item.poll_step()
        if item.proc.poll() is None:
          continue
        following = _finish_phase(item)
        if item.phase == "train":
          steps_trained += max(item.job.record.step - item.first_step, 0)
        if following is not None:
          active[active.index(item)] = _Active(item.job, following, env)
          continue
        active.remove(item)
        done += 1
        failed += item.job.record.state == FAILED
        changed = True
      now = time.monotonic()
      if changed or now - last_report >= progress_every:
        logging.info("%s", _progress_line(jobs, active, done, failed, steps_trained,
                                          now - start))
        last_report = now
      if stop["requested"]:
        raise KeyboardInterrupt
      if active:
        time.sleep(poll_seconds)
  except KeyboardInterrupt:
    _stop_all(active)
    raise Interrupted(f"stopped with {len(active)} run(s) in progress and {len(pending)} not "
                      "started; run the same command again to resume") from None
  finally:
    if in_main:
      signal.signal(signal.SIGTERM, previous)
  return done, failed


def _start(job, env):
  record = job.record
  record.state, record.reason = RUNNING, ""
  write_record(job.model_dir, record)
  return _Active(job, "train" if job.train else "evaluate", env)


def _finish_phase(item):
  """Updates the record after a process ended; returns the next phase or None."""
  job, record = item.job, item.job.record
  output = item.new_output()
  code = item.proc.returncode
  record.step = checkpoint_step(job.model_dir) or 0
  if item.phase == "train":
    record.train_seconds += time.monotonic() - item.started
    if code != 0:
      record.state, record.reason = FAILED, failure_reason(output, code)
    elif record.step < record.max_steps:  # stopped by a signal from outside: resumable
      record.state = STOPPED
      record.reason = f"stopped at step {record.step}/{record.max_steps}"
    elif job.evaluate:
      write_record(job.model_dir, record)
      return "evaluate"
    else:
      record.state, record.metrics, record.eval_step = FINISHED, {}, record.step
  else:
    with open(item.out_path) as f:
      lines = [l for l in f.read().splitlines() if l.strip()]
    try:
      results = json.loads(lines[-1]) if code == 0 and lines else None
    except json.JSONDecodeError:
      results = None
    if results is None:
      record.state = FAILED
      record.reason = "evaluation failed: " + failure_reason(output, code)
    else:
      record.eval_step = int(results.pop("step", record.step))
      record.metrics = results
      record.state, record.reason = FINISHED, ""
      bad = [k for k, v in results.items() if not math.isfinite(float(v))]
      if bad:
        record.state, record.reason = FAILED, f"non-finite {', '.join(bad)} at the final step"
  write_record(job.model_dir, record)
  return None


def _stop_all(active):
  for item in active:
    if item.proc.poll() is None:
      item.proc.send_signal(signal.SIGTERM)
  for item in active:
    try:
      item.proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
      item.proc.kill()
      item.proc.wait()
    record = item.job.record
    record.step = checkpoint_step(item.job.model_dir) or 0
    record.state = STOPPED
    record.reason = f"sweep stopped at step {record.step}/{record.max_steps}"
    write_record(item.job.model_dir, record)


def _format_duration(seconds):
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _progress_line(jobs, active, done, failed, steps_trained, elapsed):
  """`sweep: 3/10 runs done (1 failed) | running: NAME 120/10000 | 4.1 steps/s | ETA 0:41:00`.
  The rate is this invocation's training steps per second (all processes together); the ETA
  divides the steps left by it (evaluations not counted)."""
  by_name = {a.job.record.name: a for a in active}
  steps_left = 0
  for job in jobs:
    item = by_name.get(job.record.name)
    if item is None and job.record.state in (FINISHED, FAILED):
      continue
    current = item.step if item else job.record.step
    steps_left += max(job.record.max_steps - current, 0)
  trained = steps_trained + sum(a.step - a.first_step for a in active)
  rate = trained / elapsed if elapsed > 0 else 0.0
  eta = _format_duration(steps_left / rate) if rate > 0 else "?"
  running = ", ".join(f"{a.job.record.name} {a.step}/{a.job.record.max_steps}"
                      if a.phase == "train" else f"{a.job.record.name} evaluating"
                      for a in active)
  failed_text = f" ({failed} failed)" if failed else ""
  return (f"sweep: {done}/{len(jobs)} runs done{failed_text} | running: {running or '-'} | "
          f"{rate:.2f} steps/s | elapsed {_format_duration(elapsed)} | ETA {eta}")


# ----- results ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Cell:
  """One row of the results: a grid cell and its runs (one per seed)."""

  items: tuple  # ((flag, value), ...)
  records: list

  def value(self, flag):
    return dict(self.items).get(flag)

  def metric(self, name):
    """(mean, sample std or None, n) over the finished runs that report `name`."""
    values = [float(r.metrics[name]) for r in self.records
              if r.state == FINISHED and r.metrics and name in r.metrics]
    if not values:
      return None, None, 0
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std, len(values)


def cells(records, runs=()):
  """Groups records by cell: the planned cells first, in plan order, then any others (runs of
  an earlier grid) by name."""
  order = {}
  for run in runs:
    order.setdefault(run.cell, len(order))
  grouped = {}
  for record in records:
    grouped.setdefault(record.cell_items, []).append(record)
  keys = sorted(grouped, key=lambda k: (order.get(k, len(order)), ",".join(map("=".join, k))))
  return [Cell(k, sorted(grouped[k], key=lambda r: (r.seed is None, r.seed or 0)))
          for k in keys]


def metric_names(records, paper=()):
  """The metrics of the evaluated records (and of the paper's figures, if given), sorted."""
  names = {m for r in records if r.metrics for m in r.metrics}
  return sorted(names | {m for _, values in paper for m in values})


def flag_columns(records, groups=()):
  names = [n for g in groups for n in g.names]
  for record in records:
    names += [k for k, _ in record.cell if k not in names]
  return names


def groups_of(records, groups=()):
  """The grids to plot by: `groups` if given, else one per flag found in the records."""
  if groups:
    return list(groups)
  out = []
  for name in flag_columns(records):
    values = []
    for record in records:
      value = dict(record.cell_items).get(name)
      if value is not None and (value,) not in values:
        values.append((value,))
    out.append(Group((name,), tuple(values)))
  return out


def _format_stat(mean, std, n):
  if mean is None:
    return "-"
  if std is None:
    return f"{mean:.4g}" + (" (1 run)" if n == 1 else "")
  return f"{mean:.4g} ± {std:.2g} (n={n})"


def paper_value(paper, cell, metric):
  """The paper's figure for `cell` and `metric` from parse_paper() entries, or None."""
  for where, values in paper:
    if metric in values and all(canonical(cell.value(k) or "") == canonical(v)
                                for k, v in where.items()):
      return values[metric]
  return None


def _notes(cell):
  notes = []
  for record in cell.records:
    label = f"seed {record.seed}" if record.seed is not None else "run"
    if record.state == FAILED:
      notes.append(f"{label} failed: {record.reason}")
    elif record.state != FINISHED:
      notes.append(f"{label} {record.state} at step {record.step}/{record.max_steps}")
  return "; ".join(notes).replace("|", "/")


def write_csv(path, records, groups=()):
  """One row per run: its flags, seed, state, steps, metrics at the final step, reason."""
  columns = flag_columns(records, groups)
  metrics = metric_names(records)
  with open(path + ".tmp", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["run", *columns, "seed", "state", "step", "max_steps", "eval_step",
                     *metrics, "train_seconds", "reason"])
    for record in sorted(records, key=lambda r: r.name):
      cell = dict(record.cell_items)
      writer.writerow([record.name, *(cell.get(c, "") for c in columns),
                       "" if record.seed is None else record.seed, record.state, record.step,
                       record.max_steps, "" if record.eval_step is None else record.eval_step,
                       *((record.metrics or {}).get(m, "") for m in metrics),
                       f"{record.train_seconds:.1f}", record.reason])
  os.replace(path + ".tmp", path)


def write_markdown(path, rows, groups=(), paper=(), title="Sweep results", command=None):
  """A table like the paper's: one row per cell, mean ± std over seeds of each metric at the
  final step, and the paper's figure beside it where `paper` gives one."""
  records = [r for c in rows for r in c.records]
  columns = flag_columns(records, groups)
  metrics = metric_names(records, paper)
  with_paper = [m for m in metrics if any(paper_value(paper, c, m) is not None for c in rows)]
  context = context_metrics(records)
  # the paper's metrics first, then ours; the evaluation's context goes below the table
  metrics = with_paper + [m for m in metrics if m not in with_paper and m not in context]
  header = [*columns, "runs"]
  for metric in metrics:
    header += [metric] + (["paper"] if metric in with_paper else [])
  header.append("notes")
  lines = [f"# {title}", ""]
  if command:
    lines += ["```", command, "```", ""]
  lines += ["Each metric is evaluated at the final step of each run (never a best step): mean "
            "± sample standard deviation over the finished runs (seeds) of the cell; `(base)` "
            "is the value of the base flags.", "",
            "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  for cell in rows:
    finished = sum(r.state == FINISHED for r in cell.records)
    row = [cell.value(c) or "(base)" for c in columns] + [f"{finished}/{len(cell.records)}"]
    for metric in metrics:
      row.append(_format_stat(*cell.metric(metric)))
      if metric in with_paper:
        value = paper_value(paper, cell, metric)
        row.append("-" if value is None else f"{value:g}")
    row.append(_notes(cell))
    lines.append("| " + " | ".join(row) + " |")
  if context:
    lines += ["", "Evaluation: " + ", ".join(
        f"{name} = {_context_value(low)}" + (f" to {_context_value(high)}" if high != low else "")
        for name, (low, high) in context.items()) + "."]
  _write_atomic(path, "\n".join(lines) + "\n")


# Metrics that describe the evaluation, not the run: the number of test examples and the
# evaluation classifier's accuracy on real target images (the ceiling of translation accuracy).
CONTEXT_METRICS = ("count", "classifier_accuracy_")


def _context_value(value):
  return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def context_metrics(records):
  """{metric: (min, max)} over the finished runs of the CONTEXT_METRICS they report."""
  values = {}
  for record in records:
    if record.state == FINISHED and record.metrics:
      for name, value in record.metrics.items():
        if any(name == c or (c.endswith("_") and name.startswith(c)) for c in CONTEXT_METRICS):
          values.setdefault(name, []).append(float(value))
  return {name: (min(v), max(v)) for name, v in sorted(values.items())}


def _numeric(values):
  try:
    return [float(v) for v in values]
  except ValueError:
    return None


def write_plot(path, rows, groups, x_name=None, title=None):
  """Each metric against the swept value of one grid (`x_name`: one of its flags; default the
  first grid), one line per combination of the other grids, error bars = std over seeds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top

  records = [r for c in rows for r in c.records]
  metrics = metric_names(records)
  groups = groups_of(records, groups)
  if not metrics or not groups:
    return False
  x_group = groups[0]
  if x_name:
    matches = [g for g in groups if x_name in g.names]
    if not matches:
      raise SweepError(f"--plot_x={x_name}: not a swept flag ({flag_columns(records, groups)})")
    x_group = matches[0]
  others = [g for g in groups if g is not x_group]
  labels = [",".join(v) for v in x_group.values]
  numeric = _numeric(labels) if len(x_group.names) == 1 else None
  positions = numeric or list(range(len(labels)))
  figure, axes = pyplot.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
  for axis, metric in zip(axes[0], metrics):
    for combo in itertools.product(*(g.values for g in others)) if others else [()]:
      fixed = {n: v for g, vals in zip(others, combo) for n, v in zip(g.names, vals)}
      xs, ys, errs = [], [], []
      for position, values in zip(positions, x_group.values):
        wanted = {**fixed, **dict(zip(x_group.names, values))}
        for cell in rows:
          if all(canonical(cell.value(k) or "") == canonical(v) for k, v in wanted.items()):
            mean, std, _ = cell.metric(metric)
            if mean is not None:
              xs.append(position)
              ys.append(mean)
              errs.append(std or 0.0)
            break
      if xs:
        label = ", ".join(f"{k}={v}" for k, v in fixed.items()) or None
        axis.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
    if numeric and min(numeric) > 0 and max(numeric) / min(numeric) >= 10:
      axis.set_xscale("log")
    if not numeric:
      axis.set_xticks(positions)
      axis.set_xticklabels(labels)
    axis.ticklabel_format(axis="y", useOffset=False)
    axis.set_xlabel(x_group.label)
    axis.set_ylabel(f"{metric} (final step)")
    axis.grid(True, alpha=0.3)
    if others and axis.get_legend_handles_labels()[0]:
      axis.legend(fontsize="small")
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path + ".tmp.png", dpi=100)
  pyplot.close(figure)
  os.replace(path + ".tmp.png", path)
  return True


def _hparam_value(value):
  value = canonical(value)
  if value in ("true", "false"):
    return value == "true"
  return value


def write_hparams(sweep_dir, records, groups=()):
  """TensorBoard HParams: the experiment (swept flags, seed, final metrics) in
  `sweep_dir/_hparams`, and one session per run in `RUN/hparams` with its flag values, its
  metrics as scalars `final/METRIC` at the evaluated step and its status (success, failure,
  running for unfinished runs). Rewritten on every report."""
  import shutil  # pylint: disable=g-import-not-at-top
  import socket  # pylint: disable=g-import-not-at-top

  from tensorboard.compat.proto import event_pb2  # pylint: disable=g-import-not-at-top
  from tensorboard.compat.proto import summary_pb2  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api_pb2  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import metadata  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import plugin_data_pb2  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import summary_v2 as hp  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.scalar import summary_v2 as scalar  # pylint: disable=g-import-not-at-top
  from tensorboard.summary.writer.record_writer import RecordWriter  # pylint: disable=g-import-not-at-top

  def write(logdir, summaries):
    # RecordWriter on a plain file: TensorBoard's EventFileWriter would import TensorFlow for
    # its file system layer, seconds of start-up for a few records.
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
    with open(os.path.join(logdir, name), "wb") as f:
      writer = RecordWriter(f)
      events = [event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")]
      events += [event_pb2.Event(wall_time=time.time(), step=step, summary=summary)
                 for step, summary in summaries]
      for event in events:
        writer.write(event.SerializeToString())

  def session_end(status):
    content = plugin_data_pb2.HParamsPluginData(
        version=metadata.PLUGIN_DATA_VERSION,
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time()))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(content))])

  records = [r for r in records if r.state != PENDING]  # no directory of their own yet
  values_of = {}
  for record in records:
    for name, value in record.cell_items:
      values_of.setdefault(name, set()).add(_hparam_value(value))
  seeds = {r.seed for r in records if r.seed is not None}
  hparams = []
  for name in flag_columns(records, groups):
    values = values_of.get(name, set())
    same_type = len({type(v) for v in values}) == 1
    hparams.append(hp.HParam(name, hp.Discrete(sorted(values)) if same_type else None))
  if seeds:
    hparams.append(hp.HParam("seed", hp.Discrete(sorted(seeds))))
  write(os.path.join(sweep_dir, EXPERIMENT_SUBDIR),
        [(0, hp.hparams_config_pb(hparams=hparams, metrics=[
            hp.Metric(f"final/{m}") for m in metric_names(records)]))])
  statuses = {FINISHED: api_pb2.STATUS_SUCCESS, FAILED: api_pb2.STATUS_FAILURE}
  for record in records:
    values = {k: _hparam_value(v) for k, v in record.cell_items}
    if record.seed is not None:
      values["seed"] = record.seed
    summaries = [(0, hp.hparams_pb(values, trial_id=record.name))]
    step = record.eval_step or record.step
    for metric, value in (record.metrics or {}).items():
      summaries.append((step, scalar.scalar_pb(f"final/{metric}", float(value))))
    summaries.append((step, session_end(statuses.get(record.state, api_pb2.STATUS_RUNNING))))
    write(os.path.join(sweep_dir, record.name, HPARAMS_SUBDIR), summaries)


def write_reports(sweep_dir, records, runs=(), groups=(), paper=(), title="Sweep results",
                  command=None, plot_x=None):
  """results.csv, results.md, results.png (when there is a metric) and the HParams entries.
  Returns the paths written."""
  records = list(records)
  os.makedirs(sweep_dir, exist_ok=True)
  rows = cells(records, runs)
  paths = [os.path.join(sweep_dir, "results.csv"), os.path.join(sweep_dir, "results.md")]
  write_csv(paths[0], records, groups)
  write_markdown(paths[1], rows, groups, paper, title, command)
  plot = os.path.join(sweep_dir, "results.png")
  if write_plot(plot, rows, groups, plot_x, title):
    paths.append(plot)
  write_hparams(sweep_dir, records, groups)
  return paths
