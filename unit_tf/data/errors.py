"""The one error type data loaders raise for bad or missing input."""


class DataError(ValueError):
  """Input data is missing, unreachable or malformed; the message says which and how to fix it."""
