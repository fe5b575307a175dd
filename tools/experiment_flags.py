"""Flags describing an experiment (task, data, model, loss, training), shared by train.py and
benchmark.py, and their translation into the library's dataclasses and tasks. Importing this
module defines the flags; only tools/ parse flags.
"""

import dataclasses

from absl import app
from absl import flags

import config_flags
import flag_defs
import runtime_env
from unit_tf import variants
from unit_tf.config import LossConfig, MIXED_PRECISION_POLICIES, ModelConfig, TrainConfig

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
flag_defs.define_image_flags()
# ----- data: natural images (--task=images / celeba) -----
flags.DEFINE_string("domain_a", None, "Task images: domain a's training images, a folder "
                    "(searched recursively) or a list file with one path per line (instead of "
                    "--data_path).")
flags.DEFINE_string("domain_b", None, "Task images: domain b's training images (as --domain_a).")
flags.DEFINE_string("test_domain_a", None, "Task images: domain a's test images for grids and "
                    "evaluation (default: its training images).")
flags.DEFINE_string("test_domain_b", None, "Task images: domain b's test images (as above).")
flags.DEFINE_integer("load_size", 0, "Shorter side after resizing, before the crop (0: no "
                     "resize unless smaller than the crop). celeba: 132x132 as the paper.",
                     lower_bound=0)
flags.DEFINE_bool("random_crop", True, "Random crop position (else centre crop).")
flags.DEFINE_bool("random_flip", True, "Random horizontal flips.")
flags.DEFINE_bool("verify_images", True, "Decode every image once before training and skip the "
                  "undecodable ones (with a warning each). Off: header check only, faster "
                  "start; a file that fails to decode during training is replaced by the next "
                  "file of the epoch (a warning per file, with a count); that stream costs more "
                  "CPU.")
flags.DEFINE_string("attribute", None, "Task celeba: the attribute of domain a (domain b lacks "
                    "it), e.g. Blond_Hair, Smiling, Goatee, Eyeglasses.")
# ----- model, loss, training, and each variant's options: generated from the dataclass fields
# (unit_tf.config, unit_tf.<variant>.options), where each field's default, help and bounds live.
config_flags.define(ModelConfig, choices={"arch": sorted(variants.ARCHS)})
config_flags.define(LossConfig)
# "auto" is a choice of the flag only: the tool resolves it (runtime_env.resolve) and the
# library sees a Keras dtype policy.
config_flags.define(TrainConfig, choices={"mixed_precision": MIXED_PRECISION_POLICIES + ("auto",)})
for _variant in variants.VARIANTS:
  if _variant.options_class is not None:
    config_flags.define(_variant.options_class)


def image_size():
  """(height, width or None) of the training crops, checked against the task."""
  default = {"toy": 32, "images": None, "celeba": 128, "uda": 32}[FLAGS.task]
  height = FLAGS.image_size or default
  if height is None:
    raise app.UsageError("--task=images needs --image_size (the training crop, e.g. 256)")
  if FLAGS.task == "toy" and (height != 32 or FLAGS.image_width not in (None, 32) or
                              int(FLAGS.channels_a) != 3 or int(FLAGS.channels_b) != 3):
    raise app.UsageError("--task=toy has 32x32 RGB images in both domains: leave --image_size, "
                         "--image_width, --channels_a and --channels_b at their defaults")
  if FLAGS.task == "celeba" and (int(FLAGS.channels_a) != 3 or int(FLAGS.channels_b) != 3):
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
                                 preprocessing, verify=FLAGS.verify_images,
                                 max_pixels=FLAGS.max_image_pixels)
  except DataError as e:
    raise SystemExit(f"error: {e}") from None


def configs():
  """(ModelConfig, LossConfig, TrainConfig, variant options or None, (height, width)) from the
  flags; bad values and combinations are usage errors."""
  variant = variants.variant_of(FLAGS.arch)
  uda_archs = sorted(variants.named("uda").presets)
  if FLAGS.task == "uda" and variant.name != "uda":
    raise app.UsageError("--task=uda needs a discriminator with a class head: --arch=" +
                         " or --arch=".join(uda_archs) + " (Tables 6 / 8)")
  uda_options = variants.named("uda").options_class
  if FLAGS.task != "uda" and config_flags.build(uda_options).needs_labels:
    raise app.UsageError("--lambda_cls, --lambda_cls_translated and --source_only need "
                         "labelled source images: --task=uda")
  own = ({f.name for f in dataclasses.fields(variant.options_class)}
         if variant.options_class is not None else set())
  owners = {}  # flag of another variant's options, set here -> the archs that implement it
  for other in variants.VARIANTS:
    if other is not variant and other.options_class is not None:
      for name in config_flags.changed(other.options_class):
        if name not in own:
          owners.setdefault(name, []).extend(sorted(other.presets))
  if owners:
    raise app.UsageError("; ".join(
        f"--{name} is an option of --arch={' / '.join(archs)}" for name, archs in owners.items())
        + f": --arch={FLAGS.arch} does not implement it")
  fixed_size = variant.presets[FLAGS.arch]().fixed_size
  if FLAGS.task not in ("toy", "uda") and fixed_size is not None:
    fully_convolutional = [a for v in variants.VARIANTS for a in v.presets
                           if v.presets[a]().fixed_size is None]
    raise app.UsageError(f"--task={FLAGS.task} needs --arch={' or '.join(fully_convolutional)} "
                         f"(fully convolutional): {FLAGS.arch} takes {fixed_size}x{fixed_size} "
                         "images only")
  height, width = image_size()
  sharing = variant.default_sharing(FLAGS.arch)
  resolved = {"image_size": height, "image_width": width}
  for i, name in enumerate(("n_shared_enc", "n_shared_gen", "n_shared_dis")):
    resolved[name] = sharing[i] if FLAGS[name].value is None else FLAGS[name].value
  try:
    model_config = config_flags.build(ModelConfig, resolved)
    loss_config = config_flags.build(LossConfig)
    train_config = config_flags.build(TrainConfig, {"mixed_precision": runtime_env.resolve(
        FLAGS.mixed_precision or "auto")[0]})
    options = (config_flags.build(variant.options_class) if variant.options_class is not None
               else None)
    variants.architecture(model_config, options)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  return model_config, loss_config, train_config, options, (height, width)
