"""What every tool does before TensorFlow is imported, and its clean exit on Ctrl-C.

Import this first in a tool (before anything that imports TensorFlow):
- TensorFlow's C++ start-up chatter (CUDA probing on machines without a GPU, the oneDNN and
  CPU-instruction banners) is hidden, unless the user set TF_CPP_MIN_LOG_LEVEL themselves or
  asked for it with --verbosity / -v (>= 1). TensorFlow 2.21 prints those lines before its
  logging is initialised, where TF_CPP_MIN_LOG_LEVEL does not reach them, so TensorFlow is
  imported (and its devices probed) here with file descriptor 2 pointed at a temporary file;
  if that fails, what it printed is replayed before the error. Later C++ messages follow
  TF_CPP_MIN_LOG_LEVEL=2 (warnings and errors still show).
- `run(main)` is absl's `app.run` with Ctrl-C turned into one line and exit status 130 (the
  shell's convention for SIGINT) instead of a traceback.
"""

import contextlib
import os
import sys


def _asks_for_verbosity(argv):
  for i, arg in enumerate(argv):
    for prefix in ("--verbosity=", "-v=", "--v="):
      if arg.startswith(prefix):
        value = arg[len(prefix):]
        return value.lstrip("-").isdigit() and int(value) >= 1
    if arg in ("--verbosity", "-v") and i + 1 < len(argv):
      return argv[i + 1].lstrip("-").isdigit() and int(argv[i + 1]) >= 1
  return False


def _flush_c_streams():
  """C's stdio buffers: TensorFlow's early messages may sit there until exit otherwise."""
  import ctypes  # pylint: disable=g-import-not-at-top
  with contextlib.suppress(OSError, AttributeError):  # no C library to flush: nothing buffered
    ctypes.CDLL(None).fflush(None)


def _import_tensorflow_quietly():
  import tempfile  # pylint: disable=g-import-not-at-top
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      tf.config.list_physical_devices("GPU")  # the CUDA probe (does not start the runtime)
    except BaseException:
      _flush_c_streams()
      os.dup2(saved, 2)
      captured.seek(0)
      sys.stderr.buffer.write(captured.read())
      raise
    finally:
      _flush_c_streams()
      os.dup2(saved, 2)
      os.close(saved)


QUIET = "TF_CPP_MIN_LOG_LEVEL" not in os.environ and not _asks_for_verbosity(sys.argv[1:])
if QUIET:
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
  _import_tensorflow_quietly()


def run(main):
  """absl.app.run(main); Ctrl-C ends with "interrupted" and exit status 130."""
  from absl import app  # pylint: disable=g-import-not-at-top
  try:
    app.run(main)
  except KeyboardInterrupt:
    sys.stderr.write("interrupted (Ctrl-C)\n")
    sys.exit(130)
