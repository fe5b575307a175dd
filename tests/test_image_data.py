"""Unpaired image data: folders, list files, decoding every format to the domain's channels,
bad-file skipping, clear errors for empty/missing folders, exact resume, CelebA on mocked TFDS;
odd inputs: WebP / GIF, ignored extensions counted, symlink loops, the pixel limit, files that fail
only at decode time."""

import io
import logging
import os
import struct
import zlib

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from unit_tf import tasks
from unit_tf.data import images
from unit_tf.data.errors import DataError

PRE = images.Preprocessing(32, 48, load_size=36)


def _rgb(h, w, seed):
  return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def write_images(folder, n, size=(40, 56), seed=0):
  """n small RGB JPEG/PNG files of `size` (h, w) in `folder`; returns their paths."""
  os.makedirs(folder, exist_ok=True)
  paths = []
  for i in range(n):
    path = os.path.join(folder, f"img{i:02d}." + ("jpg" if i % 2 else "png"))
    Image.fromarray(_rgb(*size, seed + i)).save(path)
    paths.append(path)
  return paths


def write_bad_files(folder):
  """A zero-byte file, a text file named .jpg and a truncated PNG."""
  os.makedirs(folder, exist_ok=True)
  open(os.path.join(folder, "empty.jpg"), "wb").close()
  with open(os.path.join(folder, "notes.jpg"), "w") as f:
    f.write("not an image")
  good = os.path.join(folder, "whole.png")
  Image.fromarray(_rgb(40, 56, 9)).save(good)
  with open(good, "rb") as f:
    data = f.read()
  os.remove(good)
  with open(os.path.join(folder, "truncated.png"), "wb") as f:
    f.write(data[:len(data) // 2])
  return ["empty.jpg", "notes.jpg", "truncated.png"]


@pytest.fixture
def unpaired(tmp_path):
  root = tmp_path / "data"
  for name, n, seed in (("trainA", 5, 0), ("trainB", 4, 10), ("testA", 2, 20), ("testB", 2, 30)):
    write_images(str(root / name), n, seed=seed)
  return str(root)


def test_every_format_decodes_to_the_domain_channels(tmp_path):
  rgb = _rgb(6, 8, 0)
  grey16 = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1365)  # 0 .. 64155
  files = {
      "rgb.jpg": Image.fromarray(rgb), "rgb.png": Image.fromarray(rgb),
      "rgb.bmp": Image.fromarray(rgb), "grey.png": Image.fromarray(rgb[..., 0]),
      "grey.bmp": Image.fromarray(rgb[..., 0]), "grey.jpg": Image.fromarray(rgb[..., 0]),
      "rgba.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
      "grey16.png": Image.fromarray(grey16),
  }
  for name, image in files.items():
    image.save(tmp_path / name)
  for name in files:
    contents = tf.io.read_file(str(tmp_path / name))
    for channels in (1, 3):
      image = images.decode_image(contents, channels).numpy()
      assert image.shape == (6, 8, channels), name
      assert -1.0 <= image.min() and image.max() <= 1.0, name
  lossless = images.decode_image(tf.io.read_file(str(tmp_path / "rgb.png")), 3).numpy()
  np.testing.assert_allclose(lossless, rgb / 127.5 - 1.0, atol=1e-6)
  rgba = images.decode_image(tf.io.read_file(str(tmp_path / "rgba.png")), 3).numpy()
  np.testing.assert_allclose(rgba, lossless, atol=1e-6)  # alpha dropped
  grey = images.decode_image(tf.io.read_file(str(tmp_path / "grey.png")), 3).numpy()
  np.testing.assert_array_equal(grey[..., 0], grey[..., 2])  # grey repeated to RGB
  sixteen = images.decode_image(tf.io.read_file(str(tmp_path / "grey16.png")), 1).numpy()
  np.testing.assert_allclose(sixteen[..., 0], grey16 / 65535.0 * 2.0 - 1.0, atol=1e-5)


def test_folder_list_file_and_glob(tmp_path):
  paths = write_images(str(tmp_path / "dom" / "sub"), 3) + write_images(str(tmp_path / "dom"), 2)
  found = images.list_images(str(tmp_path / "dom"))
  assert sorted(found) == sorted(paths) and len(found) == 5  # recursive
  listing = tmp_path / "list.txt"
  listing.write_text("# day frames\ndom/img00.png\n\n" + paths[1] + "\n")
  assert images.list_images(str(listing)) == [str(tmp_path / "dom" / "img00.png"), paths[1]]
  assert len(images.list_images(str(tmp_path / "dom" / "*.png"))) == 1


def test_empty_and_missing_sources_are_clear_errors(tmp_path, unpaired):
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="holds no images"):
    images.list_images(str(tmp_path / "empty"))
  with pytest.raises(DataError, match="does not exist"):
    images.list_images(str(tmp_path / "nowhere"))
  os.rename(os.path.join(unpaired, "trainB"), os.path.join(unpaired, "elsewhere"))
  with pytest.raises(DataError, match="trainB does not exist"):
    images.folder_sources(unpaired)


def test_undecodable_files_are_skipped_by_name_with_a_count(tmp_path, caplog):
  good = write_images(str(tmp_path / "dom"), 3)
  bad = write_bad_files(str(tmp_path / "dom"))
  with caplog.at_level(logging.WARNING):
    kept = images.scan_images(images.list_images(str(tmp_path / "dom")), "domain a")
  assert sorted(kept) == sorted(good)
  for name in bad:
    assert any(name in r.getMessage() and "skipping" in r.getMessage() for r in caplog.records)
  assert any("skipped 3 of 6" in r.getMessage() for r in caplog.records)
  only_bad = tmp_path / "bad"
  write_bad_files(str(only_bad))
  with pytest.raises(DataError, match="none of the 3 files can be decoded"):
    images.scan_images(images.list_images(str(only_bad)), "domain b")


def test_folder_task_streams_resume_exactly(unpaired):
  task = tasks.ImageFolderTask(images.folder_sources(unpaired), 1, 3, PRE)
  assert task.image_shape_a == (32, 48, 1) and task.image_shape_b == (32, 48, 3)
  straight = [(a.numpy(), b.numpy()) for a, b in task.train_dataset(3, seed=7).take(4)]
  assert straight[0][0].shape == (3, 32, 48, 1) and straight[0][1].shape == (3, 32, 48, 3)
  assert all(-1.0 <= x.min() and x.max() <= 1.0 for pair in straight for x in pair)
  resumed = [(a.numpy(), b.numpy()) for a, b in task.train_dataset(3, 7, start_batch=2).take(2)]
  for (a, b), (ra, rb) in zip(straight[2:], resumed):
    np.testing.assert_array_equal(a, ra)
    np.testing.assert_array_equal(b, rb)
  other = next(iter(task.train_dataset(3, seed=8)))[1].numpy()
  assert not np.array_equal(other, straight[0][1])
  vis_a, vis_b = task.visualization_batch(8)
  assert vis_a.shape == (2, 32, 48, 1) and vis_b.shape == (2, 32, 48, 3)  # testA/B hold 2


def test_an_epoch_visits_every_file_once(tmp_path):
  # 5 distinct flat colours; no crop randomness matters for a flat image
  folder = tmp_path / "flat"
  folder.mkdir()
  for i in range(5):
    Image.fromarray(np.full((32, 48, 3), 40 * i, np.uint8)).save(folder / f"c{i}.png")
  domain = images.ImageDomain(images.list_images(str(folder)), 3, PRE)
  stream = domain.stream(seed=0, domain=0)
  values = sorted(round(float(stream(tf.constant(k, tf.int64))[0, 0, 0]), 3) for k in range(5))
  np.testing.assert_allclose(values, [40 * i / 127.5 - 1.0 for i in range(5)], atol=1e-3)


def test_list_files_as_domains(tmp_path):
  paths_a = write_images(str(tmp_path / "x"), 3)
  paths_b = write_images(str(tmp_path / "y"), 3, seed=5)
  (tmp_path / "a.txt").write_text("\n".join(os.path.relpath(p, tmp_path) for p in paths_a))
  (tmp_path / "b.txt").write_text("\n".join(paths_b))
  sources = images.Sources(str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
  task = tasks.ImageFolderTask(sources, 3, 1, PRE)
  a, b = next(iter(task.train_dataset(2, seed=0)))
  assert a.shape == (2, 32, 48, 3) and b.shape == (2, 32, 48, 1)
  assert task.visualization_batch(2)[0].shape == (2, 32, 48, 3)  # falls back to training images


def test_celeba_attribute_domains_on_mocked_tfds():
  tfds = pytest.importorskip("tensorflow_datasets")
  pre = images.Preprocessing(32, 32, load_size=36)
  tf.random.set_seed(0)  # as training does: global seed 0 once broke a tensor-seeded shuffle
  with tfds.testing.mock_data(num_examples=12):
    task = tasks.CelebATask("Smiling", preprocessing=pre)
    train_a, train_b = task.domains["train_a"], task.domains["train_b"]
    assert train_a.count + train_b.count == 12 and train_a.count > 0 and train_b.count > 0
    records = tfds.load("celeb_a", split="train", download=False)
    smiling = [bool(ex["attributes"]["Smiling"]) for ex in records]
    assert train_a.count == sum(smiling) and train_b.count == len(smiling) - sum(smiling)
    straight = [(a.numpy(), b.numpy()) for a, b in task.train_dataset(2, 0).take(4)]
    assert straight[0][0].shape == (2, 32, 32, 3)
    resumed = next(iter(task.train_dataset(2, 0, start_batch=3)))
    np.testing.assert_array_equal(resumed[0].numpy(), straight[3][0])
    np.testing.assert_array_equal(resumed[1].numpy(), straight[3][1])
    assert task.visualization_batch(3)[1].shape == (3, 32, 32, 3)
    with pytest.raises(DataError, match="unknown CelebA attribute"):
      tasks.CelebATask("Purple_Hair", preprocessing=pre)


# ----- odd inputs (issue 16): WebP / GIF, listing counts, symlink loops, huge images, files that
# only fail at decode time -----

def _write_truncated_jpeg(path):
  out = io.BytesIO()
  Image.fromarray(_rgb(40, 56, 3)).save(out, "JPEG")
  with open(path, "wb") as f:
    f.write(out.getvalue()[:len(out.getvalue()) // 2])  # the header reads, the data does not


def test_webp_and_gif_decode_and_ignored_extensions_are_counted(tmp_path, caplog):
  folder = tmp_path / "dom"
  folder.mkdir()
  rgb = _rgb(6, 8, 0)
  Image.fromarray(rgb).save(folder / "still.webp", lossless=True)
  frames = [Image.fromarray(np.full((6, 8, 3), v, np.uint8)) for v in (30, 220)]
  frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:])
  frames[0].save(folder / "gif_named.jpg", "GIF", save_all=True, append_images=frames[1:])
  frames[0].save(folder / "moving.webp", save_all=True, append_images=frames[1:], lossless=True)
  for name in ("notes.txt", "a.heic", "b.heic"):
    (folder / name).write_bytes(b"x")
  with caplog.at_level(logging.WARNING):
    listed = images.list_images(str(folder), "domain a")
    kept = images.scan_images(listed, "domain a")
  assert len(listed) == 4
  assert any("ignored 3 files by extension (.heic: 2, .txt: 1)" in r.getMessage()
             for r in caplog.records)
  assert sorted(os.path.basename(p) for p in kept) == ["gif_named.jpg", "moving.gif", "still.webp"]
  assert any("moving.webp" in r.getMessage() and "animated WebP" in r.getMessage()
             for r in caplog.records)
  still = images.decode_image(tf.io.read_file(str(folder / "still.webp")), 3).numpy()
  np.testing.assert_allclose(still, rgb / 127.5 - 1.0, atol=1e-6)  # lossless WebP
  for name in ("moving.gif", "gif_named.jpg"):
    first = images.decode_image(tf.io.read_file(str(folder / name)), 3).numpy()
    assert first.shape == (6, 8, 3)
    np.testing.assert_allclose(first, 30 / 127.5 - 1.0, atol=1e-6)  # the first frame


def test_symlink_loops_list_each_real_folder_once(tmp_path, caplog):
  root = tmp_path / "trainA"
  paths = write_images(str(root / "sub"), 2) + write_images(str(root), 1, seed=5)
  os.symlink("..", root / "sub" / "loop")  # trainA/sub/loop -> trainA
  os.symlink(root / "sub", root / "again")  # a second name for sub/
  with caplog.at_level(logging.WARNING):
    found = images.list_images(str(root), "domain a")
  assert sorted(found) == sorted(paths)  # each image once, under its real folder's name
  message = [r.getMessage() for r in caplog.records if "symlinked folders" in r.getMessage()]
  assert len(message) == 1 and "did not follow 2" in message[0] and "loop" in message[0]


def _tiny_png_header(width, height):
  """A PNG whose header claims width x height (a decompression bomb's first bytes) and whose
  data is a few bytes: Pillow reads the size, nothing is decoded."""
  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
  ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 8))
          + chunk(b"IEND", b""))


def test_images_above_the_pixel_limit_are_reduced_or_refused(tmp_path, caplog, monkeypatch):
  folder = tmp_path / "dom"
  folder.mkdir()
  ramp = np.linspace(0, 255, 64)[:, None, None] * np.linspace(0.2, 1, 48)[None, :, None]
  Image.fromarray(np.broadcast_to(ramp, (64, 48, 3)).astype(np.uint8)).save(folder / "big.jpg")
  Image.fromarray(_rgb(64, 48, 2)).save(folder / "big.png")
  Image.fromarray(_rgb(20, 30, 3)).save(folder / "small.png")
  (folder / "bomb.png").write_bytes(_tiny_png_header(20000, 20000))
  limit = 1000  # 64 x 48 = 3072 pixels: a JPEG fits at 1/2 (32 x 24 = 768), a PNG does not
  with caplog.at_level(logging.WARNING):
    files = images.scan_files(images.list_images(str(folder)), "domain a", max_pixels=limit)
  assert [(os.path.basename(f.path), f.scale) for f in files] == [("big.jpg", 2), ("small.png", 1)]
  messages = " ".join(r.getMessage() for r in caplog.records)
  assert "big.png: 48x64 = 3,072 pixels is above the limit of 1,000" in messages
  assert "bomb.png: 20000x20000 = 400,000,000 pixels" in messages  # ours, not Pillow's error
  assert "--max_image_pixels" in messages and "decoded at reduced scale" in messages
  reduced = images.decode_image(tf.io.read_file(files[0].path), 3, files[0].scale)
  assert reduced.shape == (32, 24, 3)
  full = images.decode_image(tf.io.read_file(files[0].path), 3).numpy()
  shrunk = tf.image.resize(full, [32, 24], antialias=True).numpy()
  assert np.abs(reduced.numpy() - shrunk).mean() < 0.02  # the same picture, smaller
  # Training decodes at the file's scale too: the stream is built and crops as usual.
  domain = images.ImageDomain([f.path for f in files], 3, images.Preprocessing(16, 16),
                              files=files)
  assert domain.stream(0, 0)(tf.constant(0, tf.int64)).shape == (16, 16, 3)
  assert images.decode_scale("JPEG", 64, 48, max_pixels=100) == 8
  assert images.decode_scale("JPEG", 64, 48, max_pixels=10) is None
  assert images.DEFAULT_MAX_PIXELS == 4096 * 4096
  monkeypatch.syspath_prepend(os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), "tools"))
  import flag_defs  # pylint: disable=g-import-not-at-top
  assert flag_defs.DEFAULT_MAX_IMAGE_PIXELS == images.DEFAULT_MAX_PIXELS  # the flag's default


def test_unverified_file_that_fails_to_decode_is_replaced_with_a_warning(tmp_path, caplog):
  root = tmp_path / "data"
  write_images(str(root / "trainA"), 3)
  _write_truncated_jpeg(str(root / "trainA" / "cut.jpg"))
  write_images(str(root / "trainB"), 2, seed=10)
  sources = images.Sources(str(root / "trainA"), str(root / "trainB"))
  domains = images.load_domains(sources, 3, 3, PRE, verify=False)
  train_a = domains["train_a"]
  assert len(train_a.paths) == 4 and not train_a.verified  # the header check lets it through
  with caplog.at_level(logging.WARNING):
    straight = [a.numpy() for a, _ in
                images.paired_stream(train_a, domains["train_b"], 2, seed=3).take(6)]
  assert all(a.shape == (2, 32, 48, 3) and np.isfinite(a).all() for a in straight)
  warned = [r.getMessage() for r in caplog.records if "at decode time" in r.getMessage()]
  assert len(warned) == 1 and "cut.jpg" in warned[0] and "1 files skipped so far" in warned[0]
  assert train_a.skipped_at_decode == {str(root / "trainA" / "cut.jpg")}
  resumed = [a.numpy() for a, _ in
             images.paired_stream(train_a, domains["train_b"], 2, seed=3, start_batch=3).take(3)]
  for a, b in zip(straight[3:], resumed):
    np.testing.assert_array_equal(a, b)  # still stateless: resume is exact
  verified = images.load_domains(sources, 3, 3, PRE, verify=True)["train_a"]
  assert len(verified.paths) == 3 and verified.verified


def test_unverified_domain_where_nothing_decodes_stops_naming_the_files(tmp_path):
  (tmp_path / "bad").mkdir()
  for name in ("cut0.jpg", "cut1.jpg"):
    _write_truncated_jpeg(str(tmp_path / "bad" / name))
  listed = images.list_images(str(tmp_path / "bad"))
  broken = images.ImageDomain(images.scan_images(listed, verify=False), 3, PRE, verified=False)
  good = images.ImageDomain(write_images(str(tmp_path / "good"), 1), 3, PRE)
  with pytest.raises(tf.errors.InvalidArgumentError, match="none of.*cut0.jpg"):
    next(iter(images.paired_stream(broken, good, 1, seed=0)))


def test_unequal_test_folders_give_a_grid_of_equal_rows(tmp_path):
  """3 test images of a and 5 of b: the TensorBoard grid uses 3 of each (it crashed before)."""
  from unit_tf import visualize  # pylint: disable=g-import-not-at-top
  for name, count in (("trainA", 2), ("trainB", 2), ("testA", 3), ("testB", 5)):
    (tmp_path / name).mkdir()
    for i in range(count):
      Image.fromarray(np.full((32, 48, 3), 30 * i, np.uint8)).save(tmp_path / name / f"{i}.png")
  task = tasks.ImageFolderTask(images.folder_sources(str(tmp_path)), 3, 3, PRE)
  vis_a, vis_b = task.visualization_batch(8)
  assert vis_a.shape[0] == vis_b.shape[0] == 3
  grid = visualize.image_grid([vis_a, vis_b])
  assert tuple(grid.shape) == (1, 2 * 32, 3 * 48, 3)
