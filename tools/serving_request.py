"""Builds the TF Serving REST `predict` body for an exported translator and, given --url, posts it.

  # print the body (row form) for two files, to send with curl -d @body.json
  python tools/serving_request.py --signature=a2b_bytes --images=x.png,y.jpg > body.json
  # post it and write the translations to out/x_a2b.png, out/y_a2b.png
  python tools/serving_request.py --signature=a2b_bytes --images=x.png,y.jpg \\
      --url=http://localhost:8501/v1/models/unit:predict --out_dir=out

*_bytes signatures send the files themselves ({"b64": ...}; any size, JPEG/PNG/BMP); a2b / b2a
send uint8 arrays (the files decoded here; all of one size). Models exported with --sample need
--seeds, one per image. Imports neither TensorFlow nor unit_tf's model: numpy and Pillow suffice.
"""

import tool_env  # first: quiets TensorFlow's start-up before it is imported
import json
import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_list("images", None, "Image files to translate (comma-separated).", required=True)
flags.DEFINE_enum("signature", "a2b_bytes", ["a2b", "b2a", "a2b_bytes", "b2a_bytes",
                                             "classify_a", "classify_b"],
                  "Signature to call (see docs/serving.md); classify_* (domain-adaptation models) "
                  "print one JSON line per image with its class and scores.")
flags.DEFINE_enum("format", "row", ["row", "columnar"],
                  "JSON form of the inputs: row = \"instances\", columnar = \"inputs\".")
flags.DEFINE_list("seeds", None, "One integer per image, for models exported with --sample.")
flags.DEFINE_integer("channels", 3, "Channels of the source domain (a2b / b2a only: the files are "
                     "decoded here, 3 = RGB, 1 = grey).")
flags.register_validator("channels", lambda c: c in (1, 3), "--channels must be 1 or 3")
flags.DEFINE_string("url", None, "Predict URL, e.g. http://localhost:8501/v1/models/unit:predict. "
                    "Without it the body is only written.")
flags.DEFINE_string("body_out", None, "Write the JSON body here (default: stdout when no --url).")
flags.DEFINE_string("out_dir", ".", "Where returned images go, as <file stem>_<direction>.png.")


def _read_inputs(paths, signature, channels):
  from unit_tf import serving  # pylint: disable=g-import-not-at-top
  images = []
  for path in paths:
    if serving.is_bytes_signature(signature):
      with open(path, "rb") as f:
        images.append(f.read())
    else:
      import numpy as np  # pylint: disable=g-import-not-at-top
      from PIL import Image  # pylint: disable=g-import-not-at-top
      from PIL import ImageOps  # pylint: disable=g-import-not-at-top
      with Image.open(path) as image:
        # Upright as its EXIF orientation says, as the *_bytes signatures decode it.
        upright = ImageOps.exif_transpose(image)
        array = np.asarray(upright.convert("L" if channels == 1 else "RGB"), np.uint8)
      images.append(array[..., None] if array.ndim == 2 else array)
  return images


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import serving  # pylint: disable=g-import-not-at-top
  try:
    seeds = [int(s) for s in FLAGS.seeds] if FLAGS.seeds is not None else None
  except ValueError:
    raise app.UsageError(f"--seeds must be integers, got {FLAGS.seeds}") from None
  try:
    images = _read_inputs(FLAGS.images, FLAGS.signature, FLAGS.channels)
    body = serving.predict_body(FLAGS.signature, images, seeds=seeds,
                                columnar=FLAGS.format == "columnar")
  except (OSError, ValueError) as e:
    raise SystemExit(f"error: {e}") from None

  text = json.dumps(body)
  if FLAGS.body_out:
    with open(FLAGS.body_out, "w") as f:
      f.write(text)
  elif not FLAGS.url:
    sys.stdout.write(text + "\n")
  if not FLAGS.url:
    return

  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    response = serving.post(FLAGS.url, body)
    if FLAGS.signature in serving.CLASSIFIERS:
      classes, scores = serving.classes_from_response(FLAGS.signature, response)
    else:
      outputs = serving.images_from_response(FLAGS.signature, response)
  except (OSError, ValueError, KeyError) as e:
    raise SystemExit(f"error: {e}") from None
  if FLAGS.signature in serving.CLASSIFIERS:
    for path, label, score in zip(FLAGS.images, classes, scores):
      print(json.dumps({"image": path, "class": int(label),
                        "scores": [round(float(v), 6) for v in score]}))
    return
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  direction = FLAGS.signature.replace("_bytes", "")
  for path, array in zip(FLAGS.images, outputs):
    stem = os.path.splitext(os.path.basename(path))[0]
    out = os.path.join(FLAGS.out_dir, f"{stem}_{direction}.png")
    Image.fromarray(np.squeeze(array, -1) if array.shape[-1] == 1 else array).save(out)
    print(out)


if __name__ == "__main__":
  tool_env.run(main)
