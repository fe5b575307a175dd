"""Runs a grid of trainings (the paper's Tables 4-5, Figures 10-12) and tabulates their results.

  python tools/sweep.py --flagfile=configs/mnist_toy.flags --sweep_dir=runs/table4 \\
      --grid="n_shared_enc,n_shared_gen=4,3 3,2 2,1 1,0 0,0" --grid="n_shared_dis=4,0" --seeds=0,1
  python tools/sweep.py --flagfile=configs/sweeps/table4.flags --sweep_dir=runs/table4 \\
      --data_path=../shared/data/mnist.npz [--parallel=2]
  python tools/sweep.py --sweep_dir=runs/table4 --report_only

Every flag that is not the sweep's own goes to tools/train.py, in order (the flagfiles are read
here and their flags passed on; write them as --name=value), followed by the cell's flags and
--model_dir=SWEEP_DIR/RUN. A
grid is NAME=V1,V2 or, for flags tied together, NAME1,NAME2=A1,A2 B1,B2; several grids make a
cross product, --seeds repeats every cell. Each run's final step is evaluated with
tools/evaluate.py; SWEEP_DIR gets results.csv (one row per run), results.md (one row per cell,
mean ± std over seeds, the paper's value beside it from --paper), results.png and TensorBoard
HParams entries (tensorboard --logdir=SWEEP_DIR).

Rerunning the same command skips finished runs, resumes unfinished ones from their checkpoints,
and leaves failed runs failed (--retry_failed runs them again); a changed grid adds runs and
keeps the old ones. Bad grids and unknown flags stop the sweep before any run starts; a run
that fails (non-finite loss, non-zero exit) is marked failed with its reason and the sweep goes
on. Exit code 1 when some run failed.
"""

import fcntl
import os
import shlex
import sys

from absl import app
from absl import flags
from absl import logging

from unit_tf import sweep

FLAGS = flags.FLAGS
TOOLS = os.path.dirname(os.path.abspath(__file__))

flags.DEFINE_string("sweep_dir", None, "Directory of the sweep: one model_dir per run, the "
                    "results files.", required=True)
flags.DEFINE_multi_string("grid", [], "NAME=V1,V2,... or NAME1,NAME2=A1,A2 B1,B2 (flags tied "
                          "together). Repeatable: the grids make a cross product.")
flags.DEFINE_list("seeds", [], "Train every cell with each of these --seed values (default: "
                  "once, with the base flags' seed).")
flags.DEFINE_integer("parallel", 1, "Trainings (and evaluations) at once. Each TensorFlow "
                     "process uses every core by default, so N > 1 shares them.", lower_bound=1)
flags.DEFINE_bool("report_only", False, "Train nothing: evaluate runs trained to their last "
                  "step that have no evaluation yet, and write the results.")
flags.DEFINE_bool("retry_failed", False, "Run failed runs again (they resume from their last "
                  "checkpoint).")
flags.DEFINE_multi_string("paper", [], "The paper's figure for a cell, shown beside ours: "
                          "NAME1,NAME2=V1,V2: METRIC=VALUE, METRIC=VALUE. Repeatable.")
flags.DEFINE_string("plot_x", None, "A swept flag for the x axis of results.png (default: the "
                    "first grid).")
flags.DEFINE_bool("translation_accuracy", True, "Digit tasks: also report whether the digit "
                  "survives translation (translation_accuracy_<dir>, classifier_fd_<dir>; "
                  "unit_tf.metrics.digits), with one classifier per domain trained once in "
                  "SWEEP_DIR/eval_cache.")
flags.DEFINE_string("title", "Sweep results", "Title of results.md and results.png.")
flags.DEFINE_float("progress_every", 60.0, "Seconds between progress lines (also one whenever "
                   "a run ends).", lower_bound=0.0)

_OWN_FLAGS = ("sweep_dir", "grid", "seeds", "parallel", "report_only", "retry_failed", "paper",
              "plot_x", "title", "progress_every", "translation_accuracy")


def _parse(argv):
  """The sweep's flags are parsed here; every other flag (from the command line and the
  flagfiles, in order) is returned for train.py."""
  return FLAGS(argv, known_only=True)


def _train_command():
  return [sys.executable, os.path.join(TOOLS, "train.py")]


def _evaluate_command():
  return [sys.executable, os.path.join(TOOLS, "evaluate.py")]


def _lock(sweep_dir):
  """Holds an exclusive lock on the sweep directory for this process's lifetime (released by
  the kernel if it dies), so two sweeps never train the same runs."""
  os.makedirs(sweep_dir, exist_ok=True)
  handle = open(os.path.join(sweep_dir, ".lock"), "w")  # pylint: disable=consider-using-with
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    raise app.UsageError(f"another sweep is running in {sweep_dir}") from None
  return handle


def _locked_by_another(sweep_dir):
  """Whether a sweep holds the lock of `sweep_dir` (for --report_only, which takes none)."""
  path = os.path.join(sweep_dir, ".lock")
  if not os.path.exists(path):
    return False
  with open(path) as handle:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      return True
    fcntl.flock(handle, fcntl.LOCK_UN)
  return False


def _plan(base):
  """(grids, runs, {run name: effective train.py flags}, paper values), all checked before
  anything runs. The sweep's own mistakes are found before train.py is asked for its flags (a
  TensorFlow start-up), so they are reported at once."""
  groups = [sweep.parse_grid(g) for g in FLAGS.grid]
  seeds = sweep.parse_seeds(FLAGS.seeds)
  paper = [sweep.parse_paper(p) for p in FLAGS.paper]
  report_only_all = not groups and not seeds and FLAGS.report_only
  if not report_only_all:
    sweep.plan(groups, seeds)  # empty, repeated or reserved flags
    swept = [n for g in groups for n in g.names]
    if FLAGS.plot_x and groups and FLAGS.plot_x not in swept:
      raise sweep.SweepError(f"--plot_x={FLAGS.plot_x}: not a swept flag ({', '.join(swept)})")
  known = sweep.query_flags(_train_command(), base)
  clash = [n for n in _OWN_FLAGS if n in known]
  if clash:
    raise sweep.SweepError(f"train.py defines the sweep's own flags {clash}")
  sweep.check_args(base, known)
  if report_only_all:
    return groups, [], {}, paper
  runs = sweep.plan(groups, seeds, set(known))
  effective = {}
  for run in runs:
    try:
      effective[run.name] = sweep.effective_flags(known, run)
    except sweep.SweepError as e:
      raise sweep.SweepError(f"run {run.cell_name}: {e}") from None
  return groups, runs, effective, paper


def _jobs(base, runs, effective):
  """The jobs that bring every planned run to an evaluated final step (with --report_only: the
  evaluation only, of every trained run found in the sweep directory), and the runs counted by
  what they need."""
  jobs = []
  states = {"finished": 0, "failed (not retried)": 0, "to train": 0, "to evaluate": 0}
  if FLAGS.report_only:
    states["not trained (--report_only)"] = states.pop("to train")
  planned = {run.name: run for run in runs}
  found = sweep.collect(FLAGS.sweep_dir)
  other_sweep_running = FLAGS.report_only and _locked_by_another(FLAGS.sweep_dir)
  if other_sweep_running:
    states["running in another sweep"] = 0
  for name in list(planned) + [n for n in found if n not in planned]:
    model_dir = os.path.join(FLAGS.sweep_dir, name)
    record = found.get(name)
    if name in planned:
      flags_of_run = effective[name]
      max_steps = int(flags_of_run["max_steps"])
      record = record or sweep.RunRecord.for_run(planned[name], max_steps)
      record.max_steps = max_steps
    else:
      flags_of_run = sweep.read_flags_file(os.path.join(model_dir, "flags.txt"))
    need = sweep.refresh(record, model_dir, FLAGS.retry_failed, other_sweep_running)
    if need is None:
      states[{sweep.FINISHED: "finished", sweep.FAILED: "failed (not retried)"}.get(
          record.state, "running in another sweep")] += 1
      continue
    if need == "train" and (FLAGS.report_only or name not in planned):
      if name in planned:  # runs of an earlier grid are reported, not trained
        states["not trained (--report_only)"] += 1
      continue
    states[f"to {need}"] += 1
    evaluate = sweep.evaluation_args(
        flags_of_run, os.path.join(FLAGS.sweep_dir, "eval_cache")
        if FLAGS.translation_accuracy else None)
    jobs.append(sweep.Job(
        record, model_dir,
        train=(_train_command() + base + list(planned[name].args) + [f"--model_dir={model_dir}"]
               if need == "train" else None),
        # no --step: once trained, the latest checkpoint is the final step (never a best one)
        evaluate=(_evaluate_command() + [f"--model_dir={model_dir}"] + evaluate
                  if evaluate is not None else None)))
  return jobs, states


def main(argv):
  base = argv[1:]
  try:
    groups, runs, effective, paper = _plan(base)
  except sweep.SweepError as e:
    raise app.UsageError(str(e)) from None
  lock = None if FLAGS.report_only else _lock(FLAGS.sweep_dir)
  jobs, states = _jobs(base, runs, effective)
  logging.info("sweep %s: %d runs planned; %s", FLAGS.sweep_dir, len(runs),
               ", ".join(f"{n} {what}" for what, n in states.items()))
  for job in jobs:
    what = "evaluate" if job.train is None else (
        f"resume from step {job.record.step}" if job.record.step else "train")
    logging.info("  %s: %s", job.record.name, what)
  interrupted = None
  try:
    sweep.execute(jobs, FLAGS.parallel, progress_every=FLAGS.progress_every)
  except sweep.Interrupted as e:
    interrupted = e
  found = sweep.collect(FLAGS.sweep_dir)
  records = list(found.values()) + [  # planned runs not started yet, as pending rows
      sweep.RunRecord.for_run(run, int(effective[run.name]["max_steps"]))
      for run in runs if run.name not in found]
  command = "python tools/sweep.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
  paths = sweep.write_reports(FLAGS.sweep_dir, records, runs, groups, paper, FLAGS.title,
                              command, FLAGS.plot_x)
  logging.info("wrote %s", ", ".join(paths))
  if lock:
    lock.close()
  if interrupted:
    raise SystemExit(f"sweep: {interrupted}")
  failed = [r for r in records if r.state == sweep.FAILED]
  for record in failed:
    logging.error("failed: %s: %s", record.name, record.reason)
  if failed:
    raise SystemExit(f"sweep: {len(failed)} of {len(records)} runs failed (see results.md)")


if __name__ == "__main__":
  app.run(main, flags_parser=_parse)
