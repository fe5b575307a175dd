"""Flags describing an experiment (task, data, model, loss, training), shared by train.py and
benchmark.py, and their translation into the library's dataclasses and tasks. Importing this
module defines the flags; only tools/ parse flags.
"""

import dataclasses

from absl import app
from absl import flags

import flag_defs

FLAGS = flags.FLAGS

flags.DEFINE_enum("task", "toy", ["toy", "images", "celeba", "uda"],
                  "What to train on: toy = MNIST colour/edge domains (Appendix B; --data_path is "
                  "an .npz); images = unpaired image folders (--data_path=DIR with trainA/ "
                  "trainB/ [testA/ testB/], or --domain_a/--domain_b); celeba = CelebA faces with "
                  "/ without --attribute (tfds, --tfds_data_dir); uda = domain adaptation between "
                  "digit sets (Appendix C): labelled --source (domain a), unlabelled --target "
                  "(domain b).")
flag_defs.define_data_flags()
flag_defs.define_uda_data_flags()
# ----- data: natural images (--task=images / celeba) -----
flags.DEFINE_string("domain_a", None, "Task images: domain a's training images, a folder "
                    "(searched recursively) or a list file with one path per line (instead of "
                    "--data_path).")
flags.DEFINE_string("domain_b", None, "Task images: domain b's training images (as --domain_a).")
flags.DEFINE_string("test_domain_a", None, "Task images: domain a's test images for grids and "
                    "evaluation (default: its training images).")
flags.DEFINE_string("test_domain_b", None, "Task images: domain b's test images (as above).")
flags.DEFINE_integer("image_size", None, "Training crop height (and width unless --image_width); "
                     "a multiple of 32 for paper_natural. Default: 32 (toy), 128 (celeba).",
                     lower_bound=1)
flags.DEFINE_integer("image_width", None, "Training crop width if not --image_size.",
                     lower_bound=1)
flags.DEFINE_integer("load_size", 0, "Shorter side after resizing, before the crop (0: no "
                     "resize unless smaller than the crop). celeba: 132x132 as the paper.",
                     lower_bound=0)
flags.DEFINE_bool("random_crop", True, "Random crop position (else centre crop).")
flags.DEFINE_bool("random_flip", True, "Random horizontal flips.")
flags.DEFINE_bool("verify_images", True, "Decode every image once before training and skip the "
                  "undecodable ones (with a warning each); off: header check only.")
flags.DEFINE_string("attribute", None, "Task celeba: the attribute of domain a (domain b lacks "
                    "it), e.g. Blond_Hair, Smiling, Goatee, Eyeglasses.")
flags.DEFINE_enum("channels_a", "3", ["1", "3"], "Channels of domain a (1: thermal IR / grey).")
flags.DEFINE_enum("channels_b", "3", ["1", "3"], "Channels of domain b.")
# ----- model -----
flags.DEFINE_enum("arch", "toy", ["toy", "paper_natural", "digits_lenet", "digits_svhn", "nips"],
                  "Network preset: toy = the paper's Table 3 (32x32); paper_natural = Table 10 "
                  "(fully convolutional, stochastic skip connections); digits_lenet / "
                  "digits_svhn = Table 3 with the two-head discriminators of Tables 6 / 8 "
                  "(domain adaptation, 32x32); nips = the NIPS 2017 version of the authors' code "
                  "release (residual blocks, instance norm, multi-scale discriminators; README, "
                  "'--arch=nips').")
flags.DEFINE_bool("spatial_context", False, "Concatenate a y-coordinate channel (-1 top, +1 "
                  "bottom) to the encoders' and discriminators' input (Section 4).")
flags.DEFINE_bool("xy_context", False, "Concatenate x- and y-coordinate channels to the "
                  "encoders' input (the authors' SVHN -> MNIST code; see README).")
flags.DEFINE_integer("gen_filters", 32, "Filters of the first encoder layer, doubled per layer.",
                     lower_bound=1)
flags.DEFINE_integer("dis_filters", 32, "Filters of the first discriminator layer.",
                     lower_bound=1)
flags.DEFINE_integer("n_shared_enc", None, "n_E: shared last encoder layers (toy: the mu/var "
                     "head is one; nips: residual blocks at the latent end, the stem is a 5th). "
                     "Default: the paper's, 4 (toy), 3 (paper_natural), 1 (nips; 0 = the "
                     "release).", lower_bound=0)
flags.DEFINE_integer("n_shared_gen", None, "n_G: shared first generator layers (nips: residual "
                     "blocks from the latent on). Default: the paper's, 3 (toy), 4 "
                     "(paper_natural), 1 (nips; 0 = the release).", lower_bound=0)
flags.DEFINE_integer("n_shared_dis", None, "n_D: shared last discriminator layers (nips: of every "
                     "scale). Default: the paper's, 4; 0 for nips (the release).", lower_bound=0)
flags.DEFINE_enum("init", "keras", ["keras", "authors"], "Weight initialisation: keras = Keras' "
                  "defaults (Glorot uniform, zero bias); authors = the authors' domain-adaptation "
                  "code (discriminators Xavier uniform gain sqrt(2) with bias 0.1, encoders and "
                  "generators N(0, 0.02); one draw per variable).")
flags.DEFINE_enum("lenet_style", "paper", ["paper", "authors"], "digits_lenet: paper = ReLU "
                  "after every layer and dropout 0.5 after FC500; authors = the authors' LeNet "
                  "(CoGAN): no activation after the convolutions, PReLU after FC500, no dropout.")
flags.DEFINE_integer("num_scales", 3, "nips: discriminator scales (images average-pooled by 2 "
                     "between them); training images need at least 16 * 2^(scales-1) pixels.",
                     lower_bound=1)
flags.DEFINE_enum("norm", "batch", ["batch", "none"], "Normalization in the conv blocks of the "
                  "paper presets (nips has the release's instance / layer norm).")
flags.DEFINE_float("bn_momentum", 0.9, "Batch-norm moving-average momentum.", lower_bound=0.0,
                   upper_bound=1.0)
# ----- loss -----
flags.DEFINE_float("lambda_recon", 1.0, "lambda_1: weight of the image likelihood.",
                   lower_bound=0.0)
flags.DEFINE_float("lambda_kl", 1e-4, "lambda_2: weight of the KL term.", lower_bound=0.0)
flags.DEFINE_float("lambda_gan", 1.0, "Weight of the generators' adversarial terms.",
                   lower_bound=0.0)
flags.DEFINE_enum("recon_loss", "l2", ["l2", "l1", "l1_mean"], "Likelihood: l2 = Gaussian "
                  "(paper), l1 = Laplacian (sums over pixels), l1_mean = mean |x - x'| per image "
                  "(the release's, for its weights).")
flags.DEFINE_enum("gan_loss", "nonsaturating", ["nonsaturating", "lsgan"], "nips: adversarial "
                  "loss, lsgan = least squares (the release) or nonsaturating cross-entropy (the "
                  "paper presets always use the latter).")
flags.DEFINE_enum("kl_loss", "gaussian", ["gaussian", "mean_square"], "nips: latent loss, "
                  "mean_square = mean of mu^2 (the release) or gaussian = the closed-form KL "
                  "(0.5 * sum mu^2 for unit variance).")
flags.DEFINE_float("lambda_cycle", 0.0, "nips: weight of the VAE-cycle loss |x - x_aba| "
                   "(release: 10).", lower_bound=0.0)
flags.DEFINE_float("lambda_kl_cycle", 0.0, "nips: weight of the KL of the re-encoded "
                   "translation (release: 0.01).", lower_bound=0.0)
flags.DEFINE_bool("no_discriminators", False, "Train the coupled VAEs of Table 5 (no GAN).")
flags.DEFINE_float("lambda_cls", 0.0, "Task uda: weight of the source class-head cross-entropy "
                   "in the discriminator update (Appendix C; the configs use 10).",
                   lower_bound=0.0)
flags.DEFINE_float("lambda_feature", 0.0, "Task uda: weight of discriminator feature matching "
                   "(D_b features of a->b against D_a features of a->a, and the reverse; the "
                   "authors' code). 0 = off.", lower_bound=0.0)
flags.DEFINE_float("lambda_cls_translated", 0.0, "Task uda, our variant: weight of D_b's "
                   "class-head cross-entropy on a->b translations of the labelled source images "
                   "(source labels). 0 = the paper's method.", lower_bound=0.0)
flags.DEFINE_bool("feature_matching_dropout_free", False, "Task uda: compare dropout-free "
                  "discriminator features in feature matching (both authors' codes; an extra "
                  "discriminator pass). False = the features after dropout that the real/fake "
                  "head reads.")
flags.DEFINE_bool("source_only", False, "Task uda: the no-adaptation baseline: train only the "
                  "source classifier (D_a's class path) on source labels.")
# ----- training -----
flags.DEFINE_integer("max_steps", 10000, "Total encoder/generator updates.", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "N: images per domain per update (global batch).",
                     lower_bound=1)
flags.DEFINE_float("learning_rate", 2e-4, "Adam learning rate (both optimizers).",
                   lower_bound=0.0)
flags.DEFINE_float("beta_1", 0.5, "Adam beta_1.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("beta_2", 0.999, "Adam beta_2.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("weight_decay", 0.0, "nips and the digit presets (digits_lenet, "
                   "digits_svhn): coupled L2 weight decay (PyTorch Adam's; the release's 1e-4, "
                   "the authors' domain-adaptation code's 5e-4), not Keras' decoupled AdamW "
                   "decay. 0 = off.", lower_bound=0.0)
flags.DEFINE_integer("lr_decay_steps", 0, "Multiply the learning rate by --lr_decay_factor every "
                     "N updates (staircase; release: 100000). 0 = constant.", lower_bound=0)
flags.DEFINE_float("lr_decay_factor", 0.5, "Factor of each learning-rate decay.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("ema_decay", 0.0, "nips: keep an exponential moving average of the "
                   "encoder/generator weights with this decay (e.g. 0.999) and translate / export "
                   "with it. 0 = off.", lower_bound=0.0, upper_bound=0.999999)
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
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step (on CPU it was slower in our "
                  "measurements; see README).")
flags.DEFINE_enum("mixed_precision", "float32", ["float32", "mixed_float16", "mixed_bfloat16"],
                  "Keras dtype policy: compute in float16/bfloat16, variables and losses in "
                  "float32 (dynamic loss scaling for float16).")



def image_size():
  """(height, width or None) of the training crops, checked against the task."""
  default = {"toy": 32, "images": None, "celeba": 128, "uda": 32}[FLAGS.task]
  height = FLAGS.image_size or default
  if height is None:
    raise app.UsageError("--task=images needs --image_size (the training crop, e.g. 256)")
  if FLAGS.task == "toy" and (height != 32 or FLAGS.image_width not in (None, 32) or
                              FLAGS.channels_a != "3" or FLAGS.channels_b != "3"):
    raise app.UsageError("--task=toy has 32x32 RGB images in both domains: leave --image_size, "
                         "--image_width, --channels_a and --channels_b at their defaults")
  if FLAGS.task == "celeba" and (FLAGS.channels_a != "3" or FLAGS.channels_b != "3"):
    raise app.UsageError("--task=celeba has RGB faces: --channels_a=3 --channels_b=3")
  return height, FLAGS.image_width


def _image_sources():
  """unit_tf.data.images.Sources from --data_path or --domain_a/--domain_b."""
  from unit_tf.data import images as image_data  # pylint: disable=g-import-not-at-top
  if FLAGS.data_path and (FLAGS.domain_a or FLAGS.domain_b):
    raise app.UsageError("give either --data_path (trainA/ trainB/ testA/ testB/) or "
                         "--domain_a and --domain_b, not both")
  if FLAGS.data_path:
    return image_data.folder_sources(FLAGS.data_path)
  if not (FLAGS.domain_a and FLAGS.domain_b):
    raise app.UsageError("--task=images needs --data_path=DIR (with trainA/ trainB/) or both "
                         "--domain_a and --domain_b")
  return image_data.Sources(FLAGS.domain_a, FLAGS.domain_b, FLAGS.test_domain_a,
                            FLAGS.test_domain_b)


def load_task(height, width):
  """The task of --task; data errors become a one-line exit message."""
  if FLAGS.task == "toy":
    return flag_defs.load_task(FLAGS.data_path, FLAGS.tfds_data_dir)
  if FLAGS.task == "uda":
    return flag_defs.load_uda_task(FLAGS.source, FLAGS.target, FLAGS.data_path_a,
                                   FLAGS.data_path_b, FLAGS.tfds_data_dir, height,
                                   int(FLAGS.channels_a), int(FLAGS.channels_b),
                                   FLAGS.usps_split or "esl")
  from unit_tf import tasks  # pylint: disable=g-import-not-at-top
  from unit_tf.data import images as image_data  # pylint: disable=g-import-not-at-top
  from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
  preprocessing = image_data.Preprocessing(
      height, width or height, FLAGS.load_size, random_crop=FLAGS.random_crop,
      random_flip=FLAGS.random_flip)
  try:
    if FLAGS.task == "celeba":
      if not FLAGS.attribute:
        raise app.UsageError("--task=celeba needs --attribute (e.g. Blond_Hair)")
      if FLAGS.load_size == 0:
        preprocessing = dataclasses.replace(preprocessing, load_size=max(height, width or 0) + 4)
      return tasks.CelebATask(FLAGS.attribute, FLAGS.tfds_data_dir, preprocessing)
    sources = _image_sources()
    return tasks.ImageFolderTask(sources, int(FLAGS.channels_a), int(FLAGS.channels_b),
                                 preprocessing, verify=FLAGS.verify_images)
  except DataError as e:
    raise SystemExit(f"error: {e}") from None


def configs():
  """(ModelConfig, LossConfig, TrainConfig, (height, width)) from the flags; bad combinations
  are usage errors."""
  from unit_tf import networks  # pylint: disable=g-import-not-at-top
  from unit_tf import training  # pylint: disable=g-import-not-at-top
  from unit_tf.config import LossConfig, ModelConfig, TrainConfig  # pylint: disable=g-import-not-at-top

  uda_archs = ("digits_lenet", "digits_svhn")
  if FLAGS.task == "uda" and FLAGS.arch not in uda_archs:
    raise app.UsageError("--task=uda needs a discriminator with a class head: --arch="
                         "digits_lenet (Table 6) or --arch=digits_svhn (Table 8)")
  if FLAGS.task != "uda" and (FLAGS.lambda_cls > 0 or FLAGS.lambda_cls_translated > 0 or
                              FLAGS.source_only):
    raise app.UsageError("--lambda_cls, --lambda_cls_translated and --source_only need "
                         "labelled source images: --task=uda")
  if FLAGS.task not in ("toy", "uda") and FLAGS.arch not in ("paper_natural", "nips"):
    raise app.UsageError(f"--task={FLAGS.task} needs --arch=paper_natural or nips (the toy "
                         "network takes 32x32 images only)")
  height, width = image_size()
  sharing = networks.PRESETS[FLAGS.arch]().paper_sharing
  n_shared = [sharing[i] if value is None else value for i, value in enumerate(
      (FLAGS.n_shared_enc, FLAGS.n_shared_gen, FLAGS.n_shared_dis))]
  model_config = ModelConfig(
      arch=FLAGS.arch, image_size=height, image_width=width, channels_a=int(FLAGS.channels_a),
      channels_b=int(FLAGS.channels_b), gen_filters=FLAGS.gen_filters,
      dis_filters=FLAGS.dis_filters, n_shared_enc=n_shared[0], n_shared_gen=n_shared[1],
      n_shared_dis=n_shared[2], norm=FLAGS.norm, bn_momentum=FLAGS.bn_momentum,
      spatial_context=FLAGS.spatial_context, xy_context=FLAGS.xy_context,
      num_scales=FLAGS.num_scales, init=FLAGS.init, lenet_style=FLAGS.lenet_style)
  loss_config = LossConfig(lambda_recon=FLAGS.lambda_recon, lambda_kl=FLAGS.lambda_kl,
                           lambda_gan=FLAGS.lambda_gan, recon_loss=FLAGS.recon_loss,
                           use_discriminators=not FLAGS.no_discriminators,
                           lambda_cls=FLAGS.lambda_cls, lambda_feature=FLAGS.lambda_feature,
                           source_only=FLAGS.source_only,
                           lambda_cls_translated=FLAGS.lambda_cls_translated,
                           gan_loss=FLAGS.gan_loss, kl_loss=FLAGS.kl_loss,
                           lambda_cycle=FLAGS.lambda_cycle, lambda_kl_cycle=FLAGS.lambda_kl_cycle,
                           feature_matching_dropout_free=FLAGS.feature_matching_dropout_free)
  train_config = TrainConfig(
      batch_size=FLAGS.batch_size, max_steps=FLAGS.max_steps, learning_rate=FLAGS.learning_rate,
      beta_1=FLAGS.beta_1, beta_2=FLAGS.beta_2, disc_steps=FLAGS.disc_steps, seed=FLAGS.seed,
      log_every=FLAGS.log_every, image_every=FLAGS.image_every,
      checkpoint_every=FLAGS.checkpoint_every, eval_every=FLAGS.eval_every,
      eval_examples=FLAGS.eval_examples, keep_checkpoints=FLAGS.keep_checkpoints,
      jit_compile=FLAGS.jit_compile, mixed_precision=FLAGS.mixed_precision,
      weight_decay=FLAGS.weight_decay, lr_decay_steps=FLAGS.lr_decay_steps,
      lr_decay_factor=FLAGS.lr_decay_factor, ema_decay=FLAGS.ema_decay)
  try:
    networks.architecture_for(model_config)
    if model_config.arch == "nips":
      from unit_tf import nips_networks  # pylint: disable=g-import-not-at-top
      nips_networks.check_config(model_config)
    else:
      from unit_tf import nips_model  # pylint: disable=g-import-not-at-top
      nips_model.reject_nips_options(loss_config, train_config.weight_decay,
                                     train_config.ema_decay, arch=model_config.arch)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  return model_config, loss_config, train_config, (height, width)
