"""The options of the paper's variant (archs toy and paper_natural)."""

import dataclasses

from unit_tf.config import option

# --drop_networks value -> the networks it removes (Table 5's one-sided rows).
DROPPED = {
    "none": (),
    "E_a": ("E_a",),
    "E_b": ("E_b",),
    "G_a+D_a": ("G_a", "D_a"),
    "G_b+D_b": ("G_b", "D_b"),
}
ALL_NETWORKS = ("E_a", "E_b", "G_a", "G_b", "D_a", "D_b")


@dataclasses.dataclass(frozen=True)
class PaperOptions:
  """Table 5's ablations of the paper's objective."""

  drop_networks: str = option(
      "none", "Table 5's one-sided ablations: train without one domain's encoder (E_a or E_b) "
      "or without one domain's generator and discriminator (G_a+D_a or G_b+D_b); every term "
      "that needs a dropped network is left out, and the model translates only in the "
      "direction that remains. The coupled VAEs row (no D_a, D_b) is --no_discriminators.",
      choices=tuple(DROPPED))

  @property
  def networks(self):
    """The networks trained, as Table 5 names them (E_a = E_1, ...)."""
    return tuple(n for n in ALL_NETWORKS if n not in DROPPED[self.drop_networks])
