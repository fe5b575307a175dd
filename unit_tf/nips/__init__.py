"""The NIPS 2017 UNIT of the authors' 2018 code release (`--arch=nips`): networks, objective
(LSGAN, VAE-cycle, coupled weight decay), weight average (`networks`, `model`, `ema`, `options`)."""
