"""Trains (or resumes) a UNIT model.

  python tools/train.py --flagfile=configs/mnist_toy.flags --model_dir=runs/toy

Running again with the same --model_dir resumes from the latest checkpoint. The effective flags
are written to MODEL_DIR/flags.txt (usable as a --flagfile).
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

import flag_defs

FLAGS = flags.FLAGS

# ----- run -----
flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, TensorBoard events, config.",
                    required=True)
flags.DEFINE_enum("task", "toy", ["toy"], "What to train on: toy = MNIST colour/edge domains "
                  "(Appendix B).")
flag_defs.define_data_flags()
# ----- model -----
flags.DEFINE_enum("arch", "toy", ["toy"], "Network preset: toy = the paper's Table 3.")
flags.DEFINE_integer("gen_filters", 32, "Filters of the first encoder layer, doubled per layer.",
                     lower_bound=1)
flags.DEFINE_integer("dis_filters", 32, "Filters of the first discriminator layer.",
                     lower_bound=1)
flags.DEFINE_integer("n_shared_enc", 4, "n_E: shared last encoder layers (the mu/var head is one).",
                     lower_bound=0)
flags.DEFINE_integer("n_shared_gen", 3, "n_G: shared first generator layers.", lower_bound=0)
flags.DEFINE_integer("n_shared_dis", 4, "n_D: shared last discriminator layers.", lower_bound=0)
flags.DEFINE_enum("norm", "batch", ["batch", "none"], "Normalization in the conv blocks.")
flags.DEFINE_float("bn_momentum", 0.9, "Batch-norm moving-average momentum.", lower_bound=0.0,
                   upper_bound=1.0)
# ----- loss -----
flags.DEFINE_float("lambda_recon", 1.0, "lambda_1: weight of the image likelihood.",
                   lower_bound=0.0)
flags.DEFINE_float("lambda_kl", 1e-4, "lambda_2: weight of the KL term.", lower_bound=0.0)
flags.DEFINE_float("lambda_gan", 1.0, "Weight of the generators' adversarial terms.",
                   lower_bound=0.0)
flags.DEFINE_enum("recon_loss", "l2", ["l2", "l1"], "Likelihood: l2 = Gaussian (paper), l1.")
flags.DEFINE_bool("no_discriminators", False, "Train the coupled VAEs of Table 5 (no GAN).")
# ----- training -----
flags.DEFINE_integer("max_steps", 10000, "Total encoder/generator updates.", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "N: images per domain per update (global batch).",
                     lower_bound=1)
flags.DEFINE_float("learning_rate", 2e-4, "Adam learning rate (both optimizers).",
                   lower_bound=0.0)
flags.DEFINE_float("beta_1", 0.5, "Adam beta_1.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("beta_2", 0.999, "Adam beta_2.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("disc_steps", 1, "K: discriminator updates per generator update.",
                     lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of weights, data order and sampling noise.", lower_bound=0)
# ----- bookkeeping -----
flags.DEFINE_integer("log_every", 50, "Steps between progress lines and loss summaries.",
                     lower_bound=1)
flags.DEFINE_integer("image_every", 500, "Steps between TensorBoard image grids (0: never).",
                     lower_bound=0)
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints (and at the end).",
                     lower_bound=1)
flags.DEFINE_integer("eval_every", 1000, "Steps between metric evaluations (0: never).",
                     lower_bound=0)
flags.DEFINE_integer("eval_examples", 10000, "Test examples per evaluation.", lower_bound=1)
flags.DEFINE_integer("keep_checkpoints", 5, "Checkpoints to keep.", lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")


def _write_effective_flags(model_dir):
  module = sys.modules[__name__]
  names = [f for f in FLAGS.get_key_flags_for_module(module)]
  names += FLAGS.get_key_flags_for_module(flag_defs)
  lines = [f.serialize() for f in names if f.value is not None]
  path = os.path.join(model_dir, "flags.txt")
  with open(path + ".tmp", "w") as f:
    f.write("\n".join(sorted(lines)) + "\n")
  os.replace(path + ".tmp", path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import training  # pylint: disable=g-import-not-at-top
  from unit_tf.config import LossConfig, ModelConfig, TrainConfig  # pylint: disable=g-import-not-at-top

  model_config = ModelConfig(
      arch=FLAGS.arch, image_size=32, channels_a=3, channels_b=3, gen_filters=FLAGS.gen_filters,
      dis_filters=FLAGS.dis_filters, n_shared_enc=FLAGS.n_shared_enc,
      n_shared_gen=FLAGS.n_shared_gen, n_shared_dis=FLAGS.n_shared_dis, norm=FLAGS.norm,
      bn_momentum=FLAGS.bn_momentum)
  loss_config = LossConfig(lambda_recon=FLAGS.lambda_recon, lambda_kl=FLAGS.lambda_kl,
                           lambda_gan=FLAGS.lambda_gan, recon_loss=FLAGS.recon_loss,
                           use_discriminators=not FLAGS.no_discriminators)
  train_config = TrainConfig(
      batch_size=FLAGS.batch_size, max_steps=FLAGS.max_steps, learning_rate=FLAGS.learning_rate,
      beta_1=FLAGS.beta_1, beta_2=FLAGS.beta_2, disc_steps=FLAGS.disc_steps, seed=FLAGS.seed,
      log_every=FLAGS.log_every, image_every=FLAGS.image_every,
      checkpoint_every=FLAGS.checkpoint_every, eval_every=FLAGS.eval_every,
      eval_examples=FLAGS.eval_examples, keep_checkpoints=FLAGS.keep_checkpoints,
      jit_compile=FLAGS.jit_compile)
  try:
    from unit_tf import networks  # pylint: disable=g-import-not-at-top
    networks.architecture_for(model_config)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  os.makedirs(FLAGS.model_dir, exist_ok=True)
  task = flag_defs.load_task(FLAGS.data_path, FLAGS.tfds_data_dir)
  _write_effective_flags(FLAGS.model_dir)
  try:
    logs = training.train(FLAGS.model_dir, task, model_config, loss_config, train_config)
  except (training.NonFiniteLossError, ValueError) as e:
    raise SystemExit(f"error: {e}") from None
  logging.info("done: %s", logs)


if __name__ == "__main__":
  app.run(main)
