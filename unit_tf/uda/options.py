"""The options of the domain-adaptation variant (archs digits_lenet and digits_svhn)."""

import dataclasses

from unit_tf.config import option


@dataclasses.dataclass(frozen=True)
class UdaOptions:
  """Weights of the multi-task discriminator update (Appendix C) and the baseline switch."""

  lambda_cls: float = option(0.0, "Task uda: weight of the source class-head cross-entropy in "
                             "the discriminator update (Appendix C; the configs use 10).",
                             lower=0.0)
  lambda_feature: float = option(0.0, "Task uda: weight of discriminator feature matching (D_b "
                                 "features of a->b against D_a features of a->a, and the "
                                 "reverse; the authors' code). 0 = off.", lower=0.0)
  source_only: bool = option(False, "Task uda: the no-adaptation baseline: train only the "
                             "source classifier (D_a's class path) on source labels.")
  lambda_cls_translated: float = option(0.0, "Task uda, our variant: weight of D_b's class-head "
                                        "cross-entropy on a->b translations of the labelled "
                                        "source images (source labels). 0 = the paper's "
                                        "method.", lower=0.0)
  lambda_semantic: float = option(0.0, "Task uda, our variant: weight of the semantic "
                                  "consistency term in the encoder/generator update: D_a's class "
                                  "head (not updated there) on a->b translations against the "
                                  "source labels and on b->a translations against its own "
                                  "prediction for the real target image (CyCADA's). 0 = the "
                                  "paper's method.", lower=0.0)
  semantic_target_pseudo_labels: bool = option(
      True, "Task uda, with --lambda_semantic: also hold b->a translations to the class D_a's "
      "head gives the real target image (a pseudo-label, wrong wherever the unadapted "
      "classifier is). False = only a->b translations, against the true source labels.")
  feature_matching_dropout_free: bool = option(
      False, "Task uda: compare dropout-free discriminator features in feature matching (both "
      "authors' codes; an extra discriminator pass). False = the features after dropout that "
      "the real/fake head reads.")
  init: str = option("keras", "Task uda: weight initialisation: keras = Keras' defaults (Glorot "
                     "uniform, zero bias); authors = the authors' domain-adaptation code "
                     "(discriminators Xavier uniform gain sqrt(2) with bias 0.1, encoders and "
                     "generators N(0, 0.02); one draw per variable).",
                     choices=("keras", "authors"))
  lenet_style: str = option("paper", "digits_lenet: paper = ReLU after every layer and dropout "
                            "0.5 after FC500; authors = the authors' LeNet (CoGAN): no "
                            "activation after the convolutions, PReLU after FC500, no dropout.",
                            choices=("paper", "authors"))
  weight_decay: float = option(0.0, "Task uda: coupled L2 weight decay on both optimizers "
                               "(PyTorch Adam's weight_decay; the authors' digit code uses 5e-4). "
                               "0 = off.", lower=0.0)

  @property
  def needs_labels(self):
    """Whether training reads source labels (a task must then provide them)."""
    return (self.lambda_cls > 0 or self.lambda_cls_translated > 0 or self.lambda_semantic > 0 or
            self.source_only)
