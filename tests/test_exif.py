"""EXIF orientation read with TensorFlow ops: every tag value turns the image as Pillow's
exif_transpose does, in JPEG, PNG and WebP, in both TIFF byte orders; no tag or garbage is 1."""

import io
import struct

import numpy as np
from PIL import Image
from PIL import ImageOps
import pytest
import tensorflow as tf

from unit_tf.data import exif
from unit_tf.data import images


def _rgb(h, w, seed=0):
  return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def encode(array, image_format, orientation=None, exif_bytes=None):
  """`array` encoded as `image_format`, with an EXIF orientation tag if given."""
  out = io.BytesIO()
  extra = {"lossless": True} if image_format == "WEBP" else {}
  if orientation is not None:
    tags = Image.Exif()
    tags[exif.ORIENTATION_TAG] = orientation
    extra["exif"] = tags.tobytes()
  if exif_bytes is not None:
    extra["exif"] = exif_bytes
  Image.fromarray(array).save(out, image_format, **extra)
  return out.getvalue()


def _pillow_upright(data):
  with Image.open(io.BytesIO(data)) as image:
    return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_every_orientation_turns_as_pillow_does(image_format):
  stored = _rgb(5, 8)
  for value in range(1, 9):
    data = encode(stored, image_format, value)
    assert int(exif.orientation(data)) == value
    decoded = tf.io.decode_image(data, channels=3, expand_animations=False)
    upright = exif.apply_orientation(decoded, exif.orientation(data)).numpy()
    np.testing.assert_array_equal(upright, _pillow_upright(data), err_msg=str(value))
  assert upright.shape == (8, 5, 3)  # 8: rotated, height and width swapped


def test_a_portrait_phone_jpeg_decodes_upright():
  # Stored 64 high x 96 wide with orientation 6, as phones save portrait photos: shown 96 x 64.
  data = encode(_rgb(64, 96), "JPEG", 6)
  image = images.decode_image(tf.constant(data), 3).numpy()
  assert image.shape == (96, 64, 3)
  reference = _pillow_upright(data) / 127.5 - 1.0  # same pixels up to the two JPEG decoders
  assert np.abs(image - reference).mean() < 0.02
  assert images.decode_image(tf.constant(encode(_rgb(64, 96), "JPEG")), 1).shape == (64, 96, 1)


def test_big_endian_exif_and_files_without_a_tag():
  # A TIFF block in Motorola byte order ("MM"), one IFD entry: orientation (SHORT) = 8.
  tiff = (b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
          + struct.pack(">HHIHH", exif.ORIENTATION_TAG, 3, 1, 8, 0) + b"\x00" * 4)
  data = encode(_rgb(6, 10), "JPEG", exif_bytes=b"Exif\x00\x00" + tiff)
  assert _pillow_upright(data).shape == (10, 6, 3)
  assert int(exif.orientation(data)) == 8
  assert images.decode_image(tf.constant(data), 3).shape == (10, 6, 3)
  # No tag, other tags only, garbage, an empty string and a bad value all mean "as stored".
  other = Image.Exif()
  other[0x010F] = "camera maker"
  bad_value = tiff[:-8] + struct.pack(">HH", 9, 0) + b"\x00" * 4
  for data in (encode(_rgb(6, 10), "JPEG"), encode(_rgb(6, 10), "JPEG", exif_bytes=other.tobytes()),
               b"Exif\x00\x00II*\x00\xff\xff\xff\xff", b"", b"\xff\xd8 not a jpeg exif",
               encode(_rgb(6, 10), "JPEG", exif_bytes=b"Exif\x00\x00" + bad_value)):
    assert int(exif.orientation(data)) == 1


def test_header_check_reads_the_same_orientation_as_the_graph(tmp_path):
  for image_format in ("JPEG", "PNG", "WEBP"):
    for value in range(1, 9):
      path = tmp_path / f"o{value}.{image_format.lower()}"
      path.write_bytes(encode(_rgb(5, 8), image_format, value))
      found, problem = images.inspect_image(str(path))
      assert problem is None and found.orientation == value, (image_format, value)
      assert int(exif.orientation(path.read_bytes())) == value


def test_training_stream_and_test_batch_are_upright(tmp_path):
  upright = np.zeros((48, 32, 3), np.uint8)
  upright[:24] = 255  # top half white: a sideways image would have a white left or right half
  folder = tmp_path / "trainA"
  folder.mkdir()
  Image.fromarray(upright).save(folder / "plain.png")
  tags = Image.Exif()
  tags[exif.ORIENTATION_TAG] = 6
  Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(
      folder / "phone.jpg", exif=tags.tobytes())
  sources = images.Sources(str(folder), str(folder))
  pre = images.Preprocessing(32, 32, random_crop=False)
  domain = images.load_domains(sources, 3, 3, pre)["train_a"]
  assert [f.orientation for f in domain.files] == [6, 1]  # phone.jpg, plain.png
  stream = domain.stream(seed=0, domain=0)
  crops = [stream(tf.constant(k, tf.int64)).numpy() for k in range(2)]
  crops += list(domain.test_batch(2).numpy())
  for crop in crops:  # centre crop of rows 8..40: rows 0..15 white, 16..31 black
    assert crop[:12].mean() > 0.9 and crop[20:].mean() < -0.9
