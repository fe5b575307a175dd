"""The options of `--arch=nips` (the authors' 2018 release); every other variant lacks them."""

import dataclasses

from unit_tf.config import option
from unit_tf.core import losses

KL_LOSSES = ("mean_square", "gaussian")


@dataclasses.dataclass(frozen=True)
class NipsOptions:
  """Discriminator scales, the release's objective and its optimizer extras.

  The defaults are the paper model's choices (one would get the paper's objective on the release's
  networks); `configs/nips_base.flags` sets the release's values.
  """

  num_scales: int = option(3, "nips: discriminator scales (images average-pooled by 2 between "
                           "them); training images need at least 16 * 2^(scales-1) pixels.",
                           lower=1)
  gan_loss: str = option("nonsaturating", "nips: adversarial loss, lsgan = least squares (the "
                         "release) or nonsaturating cross-entropy (the paper presets always use "
                         "the latter).", choices=tuple(losses.MULTISCALE_GAN_LOSSES))
  kl_loss: str = option("gaussian", "nips: latent loss, mean_square = mean of mu^2 (the "
                        "release) or gaussian = the closed-form KL (0.5 * sum mu^2 for unit "
                        "variance).", choices=KL_LOSSES)
  lambda_cycle: float = option(0.0, "nips: weight of the VAE-cycle loss |x - x_aba| (release: "
                               "10).", lower=0.0)
  lambda_kl_cycle: float = option(0.0, "nips: weight of the KL of the re-encoded translation "
                                  "(release: 0.01).", lower=0.0)
  weight_decay: float = option(0.0, "nips: coupled L2 weight decay (PyTorch Adam's, the "
                               "release's 1e-4), not Keras' decoupled AdamW decay.", lower=0.0)
  ema_decay: float = option(0.0, "nips: keep an exponential moving average of the "
                            "encoder/generator weights with this decay (e.g. 0.999) and translate "
                            "/ export with it. 0 = off.", lower=0.0, upper=0.999999)
