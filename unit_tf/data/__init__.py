"""Data sources and tf.data pipelines (one module per source)."""
