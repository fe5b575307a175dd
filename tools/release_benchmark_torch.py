r"""Times the authors' PyTorch release (mingyuliutw/UNIT, master) on the CPU, for issue 15.

Runs under a Python that has PyTorch (not this project's environment: unit_tf never imports
torch), against a checkout of the release that the user provides; nothing of the release is copied
here. It imports the release's `trainer.UNIT_Trainer` and `networks` from `--release_dir` and
times, on synthetic images, what `tools/benchmark.py` times for `--arch=nips`:
  - a training iteration: `dis_update` then `gen_update` (the release's train.py loop body), batch
    1, float32, the release's YAML config;
  - translation of one image a -> b with the latent mean (`gen_a.encode`, `gen_b.decode`) under
    `torch.inference_mode()`, at each of `--translate_sizes`.

The release calls `.cuda()` in its trainer and networks; this script makes `Tensor.cuda` return
the tensor itself so that the release runs unchanged on the CPU. The release's `utils.py` imports
modules that current PyTorch no longer has (`torch.utils.serialization`) and torchvision; the
trainer needs only two of its functions, so a small stand-in module `utils` gives the weight
initialisation its configs name (kaiming / gaussian) and the step learning-rate schedule, written
from their description in the release's configs.

  pip install torch==2.13.0+cpu pyyaml numpy      # a separate environment
  git clone https://github.com/mingyuliutw/UNIT release_unit
  python tools/release_benchmark_torch.py --release_dir=release_unit \
      --config=release_unit/configs/unit_edges2shoes_folder.yaml --image_size=128 \
      --steps=5 --warmup=2 --translate_sizes=256,512 --output=release.json

`tools/compare_release.py` runs this and `tools/benchmark.py` in turn and prints the ratios.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import types


def _percentile(values, q):
  ordered = sorted(values)
  return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(walls, cpus, images):
  median = statistics.median(walls)
  return {"median_s": median, "p10_s": _percentile(walls, 0.1), "p90_s": _percentile(walls, 0.9),
          "calls": len(walls), "images_per_s": images / median,
          "cpu_median_s": statistics.median(cpus)}


def _timed(fn, steps, warmup, images):
  for _ in range(warmup):
    fn()
  walls, cpus = [], []
  for _ in range(steps):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    walls.append(time.perf_counter() - wall)
    cpus.append(time.process_time() - cpu)
  return _summary(walls, cpus, images)


def _utils_stand_in(torch):
  """The two functions of the release's utils.py that UNIT_Trainer calls."""
  module = types.ModuleType("utils")

  def weights_init(init_type="gaussian"):
    def init_fun(m):
      name = m.__class__.__name__
      if not (name.startswith("Conv") or name.startswith("Linear")) or not hasattr(m, "weight"):
        return
      if init_type == "gaussian":
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
      elif init_type == "kaiming":
        torch.nn.init.kaiming_normal_(m.weight.data, a=0, mode="fan_in")
      else:
        raise ValueError(f"this stand-in knows the kaiming and gaussian inits, not {init_type!r}")
      if getattr(m, "bias", None) is not None:
        torch.nn.init.constant_(m.bias.data, 0.0)
    return init_fun

  def get_scheduler(optimizer, hyperparameters, iterations=-1):
    if hyperparameters.get("lr_policy", "constant") == "constant":
      return None
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=hyperparameters["step_size"],
                                           gamma=hyperparameters["gamma"], last_epoch=iterations)

  def refuse(name):
    def refused(*args, **kwargs):
      raise RuntimeError(f"utils.{name}: the timing run loads no VGG and writes no checkpoints "
                         "(main() refuses configs with vgg_w > 0)")
    return refused

  module.weights_init, module.get_scheduler = weights_init, get_scheduler
  # trainer.py imports these three by name; a timing run never reaches them.
  for name in ("get_model_list", "vgg_preprocess", "load_vgg16"):
    setattr(module, name, refuse(name))
  return module


def _cpu_model():
  with contextlib.suppress(OSError):  # no /proc/cpuinfo (not Linux): the platform's name
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  return platform.processor() or "unknown"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--release_dir", required=True, help="checkout of mingyuliutw/UNIT")
  parser.add_argument("--config", required=True, help="the release's YAML config")
  parser.add_argument("--image_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--translate_sizes", default="", help="comma-separated sizes")
  parser.add_argument("--translate_calls", type=int, default=10)
  parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = its default")
  parser.add_argument("--output", default=None, help="write the results as JSON here")
  args = parser.parse_args(argv)
  for path in (os.path.join(args.release_dir, "trainer.py"), args.config):
    if not os.path.isfile(path):
      parser.error(f"{path} does not exist (--release_dir is a checkout of mingyuliutw/UNIT)")
  if args.steps < 1 or args.warmup < 0 or args.image_size < 16:
    parser.error("--steps >= 1, --warmup >= 0 and --image_size >= 16")

  import torch  # pylint: disable=import-outside-toplevel
  import yaml  # pylint: disable=import-outside-toplevel
  if args.threads:
    torch.set_num_threads(args.threads)
  torch.Tensor.cuda = lambda self, *a, **k: self  # the release on the CPU, unchanged
  sys.modules["utils"] = _utils_stand_in(torch)
  sys.path.insert(0, os.path.abspath(args.release_dir))
  from trainer import UNIT_Trainer  # pylint: disable=import-outside-toplevel,import-error

  with open(args.config) as f:
    hyper = yaml.safe_load(f)
  if not isinstance(hyper, dict) or "gen" not in hyper or "dis" not in hyper:
    parser.error(f"{args.config} is not one of the release's UNIT configs (no gen / dis)")
  if hyper.get("vgg_w", 0) > 0:
    parser.error(f"{args.config} sets vgg_w > 0: the perceptual loss needs VGG16 weights, which "
                 "this timing run does not load (our --arch=nips leaves that loss out too)")
  torch.manual_seed(0)
  trainer = UNIT_Trainer(hyper)
  trainer.train()
  size = args.image_size
  x_a = torch.rand(1, hyper["input_dim_a"], size, size) * 2 - 1
  x_b = torch.rand(1, hyper["input_dim_b"], size, size) * 2 - 1

  def iteration():
    trainer.dis_update(x_a, x_b, hyper)
    trainer.gen_update(x_a, x_b, hyper)
    trainer.update_learning_rate()

  result = {
      "machine": {"cpu_model": _cpu_model(), "torch": torch.__version__,
                  "threads": torch.get_num_threads(),
                  "mkldnn": bool(torch.backends.mkldnn.is_available()),
                  "cpu_capability": torch.backends.cpu.get_cpu_capability()},
      "image_size": size, "batch_size": 1, "precision": "float32",
      "train_step": _timed(iteration, args.steps, args.warmup, 1),
      "translate": {},
  }
  trainer.eval()
  for text in filter(None, args.translate_sizes.split(",")):
    n = int(text)
    image = torch.rand(1, hyper["input_dim_a"], n, n) * 2 - 1

    def translate(image=image):
      with torch.inference_mode():
        hidden, _ = trainer.gen_a.encode(image)
        return trainer.gen_b.decode(hidden)

    result["translate"][str(n)] = _timed(translate, args.translate_calls, 2, 1)
  text = json.dumps(result, indent=2)
  print(text)
  if args.output:
    with open(args.output, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main()
