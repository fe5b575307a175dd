"""EXIF orientation with TensorFlow ops, so that every path shows an image the way viewers do.

A phone stores a portrait photo as a landscape pixel array plus the EXIF tag 0x0112
(Orientation) saying how to turn it for display; TensorFlow's decoders ignore the tag. Here
`orientation(contents)` reads the tag from the encoded bytes with string and integer ops only (no
Python, no Pillow), so it runs inside an exported SavedModel (TF Serving's `*_bytes` signatures)
and in tf.data for bytes nobody inspected; `apply_orientation(image, value)` turns the decoded
array. Training and translate read the tag from the file header instead (Pillow, in
`unit_tf.data.images.inspect_image`, once per file) and pass it to `apply_orientation`: a folder
where no file needs turning then costs nothing per image. tests/test_exif.py checks that the two
readings agree for every value.

Where the tag is looked for: the TIFF block that follows "Exif\\0\\0" (the JPEG APP1 segment, also
some WebP writers), the PNG "eXIf" chunk or the WebP "EXIF" chunk, found in the first 64 KiB of
the file (JPEG, PNG) or the last (WebP, which stores it after the image data). Only the first IFD
is read, and only within the first 4 KiB of the TIFF block (cameras and Pillow write it at offset
8). A missing, malformed or out-of-range tag means 1 (show as stored).

Values (EXIF 2.3; the transposes Pillow's ImageOps.exif_transpose applies):
  1 as stored, 2 mirrored left-right, 3 rotated 180, 4 mirrored top-bottom, 5 transposed,
  6 rotated 90 degrees clockwise, 7 transversed, 8 rotated 90 degrees counter-clockwise.
"""

import tensorflow as tf

ORIENTATION_TAG = 0x0112
_SEARCH = 1 << 16  # bytes searched for the markers (at the start; WebP: at the end)
_WINDOW = 4096  # bytes of the TIFF block read after the marker
_MAX_ENTRIES = 64  # entries of the first IFD looked at (the tag is among the first ten)
# (marker, bytes between the marker and the TIFF header): JPEG APP1 / PNG eXIf / WebP EXIF chunk.
_MARKERS = ((b"Exif\x00\x00", 0), (b"eXIf", 0), (b"EXIF", 4))
_SHORT = 3  # TIFF field type of the tag's value


def _from_tiff(window):
  """The orientation in a TIFF block (a string of _WINDOW bytes), or 0 if there is none.

  TIFF keeps IFDs and their 12-byte entries on word boundaries, so the block is read as 16-bit
  words in its byte order ("II" little-endian, "MM" big-endian).
  """
  order = tf.strings.substr(window, 0, 2)
  little = tf.equal(order, b"II")
  words = tf.cast(tf.where(little, tf.io.decode_raw(window, tf.uint16, little_endian=True),
                           tf.io.decode_raw(window, tf.uint16, little_endian=False)), tf.int64)
  size = _WINDOW // 2
  magic = tf.equal(words[1], 42)
  ifd = tf.where(little, words[2] + words[3] * 65536, words[2] * 65536 + words[3])
  ifd_word = ifd // 2
  count = tf.gather(words, tf.clip_by_value(ifd_word, 0, size - 1))
  entry = tf.range(_MAX_ENTRIES, dtype=tf.int64)
  first = ifd_word + 1 + 6 * entry  # each entry: tag, type, count (2 words), value (2 words)
  usable = tf.logical_and(entry < count, first + 6 <= size)
  fields = tf.gather(words, tf.clip_by_value(first[:, None] + [0, 1, 4], 0, size - 1))
  match = tf.logical_and(usable, tf.logical_and(tf.equal(fields[:, 0], ORIENTATION_TAG),
                                                tf.equal(fields[:, 1], _SHORT)))
  value = tf.reduce_max(tf.where(match, fields[:, 2], 0))
  ok = tf.logical_and(tf.logical_or(little, tf.equal(order, b"MM")),
                      tf.logical_and(magic, tf.equal(ifd % 2, 0)))
  return tf.where(ok, value, 0)


def is_webp(contents):
  """Whether encoded bytes (a string scalar) start like a WebP file ("RIFF" size "WEBP")."""
  head = tf.strings.join([tf.strings.substr(contents, 0, 12), tf.constant(b"\x00" * 12)])
  return tf.logical_and(tf.equal(tf.strings.substr(head, 0, 4), b"RIFF"),
                        tf.equal(tf.strings.substr(head, 8, 4), b"WEBP"))


def orientation(contents, webp=None):
  """EXIF orientation 1..8 of encoded image bytes (a string scalar); 1 when absent.

  `webp`: `is_webp(contents)` if the caller has it. Files without the letters "exif" (any case)
  in the searched 64 KiB cost one scan; the markers are looked for only in the others.
  """
  contents = tf.convert_to_tensor(contents, tf.string)
  length = tf.strings.length(contents)
  webp = is_webp(contents) if webp is None else webp
  # WebP puts its EXIF chunk after the image data; the others before it.
  region = tf.strings.substr(contents, tf.where(webp, tf.maximum(length - _SEARCH, 0), 0),
                             _SEARCH)

  def parse():
    starts, present = [], []
    for marker, gap in _MARKERS:
      parts = tf.strings.split(region, sep=marker, maxsplit=1)
      present.append(tf.size(parts) > 1)
      starts.append(tf.strings.length(parts[0]) + len(marker) + gap)
    start = tf.where(present[0], starts[0], tf.where(present[1], starts[1], starts[2]))
    padded = tf.strings.join([region, tf.constant(b"\x00" * _WINDOW)])
    value = _from_tiff(tf.strings.substr(padded, start, _WINDOW))
    return tf.where(tf.reduce_any(tf.stack(present)), value, 0)

  # Every marker reads "exif" in lower case: one scan tells whether to look further.
  candidate = tf.size(tf.strings.split(tf.strings.lower(region), sep=b"exif", maxsplit=1)) > 1
  found = tf.cond(candidate, parse, lambda: tf.constant(0, tf.int64))
  return tf.where(tf.logical_and(found >= 1, found <= 8), found, 1)


def apply_orientation(image, value):
  """Turns a decoded [H, W, C] image as its EXIF orientation `value` (1..8) says."""
  image = tf.convert_to_tensor(image)

  def transposed():
    return tf.transpose(image, [1, 0, 2])

  branches = [
      lambda: image,                                  # 1 as stored
      lambda: tf.reverse(image, [1]),                 # 2 mirrored left-right
      lambda: tf.reverse(image, [0, 1]),              # 3 rotated 180
      lambda: tf.reverse(image, [0]),                 # 4 mirrored top-bottom
      transposed,                                     # 5 transposed
      lambda: tf.reverse(transposed(), [1]),          # 6 rotate 90 clockwise to view
      lambda: tf.reverse(transposed(), [0, 1]),       # 7 transversed
      lambda: tf.reverse(transposed(), [0]),          # 8 rotate 90 counter-clockwise
  ]
  index = tf.cast(tf.clip_by_value(value, 1, 8) - 1, tf.int32)
  out = tf.cond(tf.equal(index, 0), lambda: image, lambda: tf.switch_case(index, branches))
  out.set_shape([None, None, image.shape[-1]])
  return out
