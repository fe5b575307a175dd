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
  weight_decay: float = option(0.0, "Task uda: coupled L2 weight decay on both optimizers "
                               "(PyTorch Adam's weight_decay; the authors' digit code uses 5e-4). "
                               "0 = off.", lower=0.0)

  @property
  def needs_labels(self):
    """Whether training reads source labels (a task must then provide them)."""
    return self.lambda_cls > 0 or self.lambda_cls_translated > 0 or self.source_only
