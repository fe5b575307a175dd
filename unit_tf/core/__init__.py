"""The UNIT engine, which names no variant: layers, losses, networks from specs with sharing by
identity (`nets`), the model with Algorithm 1 and the one update routine (`model`), pixels."""
