"""Tests for kerasgan.data: folders (good, odd and bad files), arrays, tensorflow-datasets."""

import os
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from kerasgan import data
from kerasgan.data import DataError, SkippedImageWarning
from kerasgan.errors import KerasganWarning

try:
    from tests import fixtures_images as fx
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    import fixtures_images as fx


def batches(ds):
    return [b.numpy() for b in ds]


def one_image(folder, size=8, channels=3, **kwargs):
    """The single image of `folder` through the whole pipeline, as float [-1, 1]."""
    return batches(data.image_dataset(folder, size, channels, batch_size=1, shuffle=False, **kwargs))[0][0]


# --------------------------------------------------------------------------- good folders


@pytest.mark.parametrize("nested", [False, True])
def test_folder_formats_shape_range_drop_remainder(tmp_path, nested):
    paths = fx.good_images(tmp_path, n=10, nested=nested)
    assert {os.path.splitext(p)[1].lower() for p in paths} == {".png", ".jpg", ".bmp", ".gif", ".webp"}
    assert data.find_images(tmp_path) == sorted(paths)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedImageWarning)  # all good: no warning
        out = batches(data.image_dataset(tmp_path, 16, batch_size=4, seed=0))
    assert len(out) == 2  # 10 images, batch 4, drop_remainder
    for b in out:
        assert b.dtype == np.float32 and b.shape == (4, 16, 16, 3)
        assert b.min() >= -1.0 and b.max() <= 1.0
    assert out[0].min() < -0.5 and out[0].max() > 0.5  # really scaled, not all one value


def test_element_spec_is_static_and_image_only(tmp_path):
    fx.good_images(tmp_path, n=4)
    ds = data.image_dataset(str(tmp_path), 8, 1, batch_size=2)
    assert tuple(ds.element_spec.shape) == (2, 8, 8, 1)
    assert ds.element_spec.dtype.name == "float32"


def test_other_files_ignored_silently(tmp_path):
    good = fx.good_images(tmp_path, n=3)
    fx.ignored_files(tmp_path)
    assert data.find_images(tmp_path) == sorted(good)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedImageWarning)
        assert data.load_image_folder(tmp_path, 8).shape == (3, 8, 8, 3)


def test_palette_and_rgba_transparency_composited_on_background(tmp_path):
    fx.palette_transparent_png(tmp_path)  # left half transparent, right half red
    fx.rgba_png(tmp_path)  # left half transparent, right half blue
    white = batches(data.image_dataset(tmp_path, 8, batch_size=2, shuffle=False))[0]
    black = batches(data.image_dataset(tmp_path, 8, batch_size=2, shuffle=False, background=(0, 0, 0)))[0]
    palette, rgba = white
    np.testing.assert_allclose(palette[:, :4], 1.0)  # transparent -> white, not the green underneath
    np.testing.assert_allclose(palette[:, 4:], np.broadcast_to([1.0, -1.0, -1.0], (8, 4, 3)))
    np.testing.assert_allclose(rgba[:, :4], 1.0)
    np.testing.assert_allclose(rgba[:, 4:], np.broadcast_to([-1.0, -1.0, 1.0], (8, 4, 3)))
    np.testing.assert_allclose(black[:, :, :4], -1.0)


def test_grey_to_rgb_and_channels_1(tmp_path):
    fx.grey_png(tmp_path, value=100)
    rgb = one_image(tmp_path)
    assert rgb.shape == (8, 8, 3)
    np.testing.assert_allclose(rgb, 100 / 127.5 - 1, atol=1e-6)
    grey = one_image(tmp_path, channels=1)
    assert grey.shape == (8, 8, 1)
    np.testing.assert_allclose(grey, 100 / 127.5 - 1, atol=1e-6)


def test_rgb_to_channels_1_uses_luminance(tmp_path):
    fx.write(tmp_path, "red.png", np.full((8, 8, 3), (255, 0, 0), np.uint8))
    assert data.load_image(tmp_path / "red.png", channels=1)[0, 0, 0] == 76  # 0.299 * 255


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    fx.grey16_png(tmp_path)  # left 65535, right 32768
    x = one_image(tmp_path, channels=1)
    np.testing.assert_allclose(x[:, :4], 1.0)
    assert np.all(np.abs(x[:, 4:]) < 0.01)  # ~0.0, not saturated at 1.0


def test_animated_gif_uses_first_frame(tmp_path):
    fx.animated_gif(tmp_path)
    np.testing.assert_allclose(one_image(tmp_path), np.broadcast_to([1.0, -1.0, -1.0], (8, 8, 3)))


def test_crop_versus_pad(tmp_path):
    fx.left_right(tmp_path, w=40, h=20)  # left red, right blue
    crop = data.load_image(tmp_path / "wide.png", 16, resize="crop")
    pad = data.load_image(tmp_path / "wide.png", 16, resize="pad", background=(0, 255, 0))
    green = [0, 255, 0]
    # pad: the whole image, shrunk to 16x8, between green bars at top and bottom
    assert (pad[:4] == green).all() and (pad[-4:] == green).all()
    assert (pad[4:12, 0] == [255, 0, 0]).all() and (pad[4:12, -1] == [0, 0, 255]).all()
    # crop: the centre 20x20 square, no bars, both colours still there
    assert not (crop == green).all(axis=-1).any()
    assert (crop[:, 0] == [255, 0, 0]).all() and (crop[:, -1] == [0, 0, 255]).all()


def test_load_image_native_size(tmp_path):
    fx.left_right(tmp_path, w=40, h=20)
    x = data.load_image(tmp_path / "wide.png")
    assert x.shape == (20, 40, 3) and x.dtype == np.uint8


def test_flip_gives_original_or_mirror(tmp_path):
    image = fx.gradient(8, 8)  # every column differs
    for i in range(8):
        fx.write(tmp_path, f"same{i}.png", image)
    expected = image.astype(np.float32) / 127.5 - 1
    seen = set()
    for _ in range(3):
        for b in data.image_dataset(tmp_path, 8, batch_size=4, flip=True, seed=3):
            for x in b.numpy():
                if np.allclose(x, expected, atol=1e-6):
                    seen.add("original")
                else:
                    np.testing.assert_allclose(x, expected[:, ::-1], atol=1e-6)
                    seen.add("mirror")
    assert seen == {"original", "mirror"}


def test_shuffle_off_keeps_order_and_repeat(tmp_path):
    for i in range(4):
        fx.grey_png(tmp_path, f"g{i}.png", value=i * 50)
    out = batches(data.image_dataset(tmp_path, 4, 1, batch_size=2, shuffle=False))
    assert [round(float(v), 4) for v in np.concatenate(out)[:, 0, 0, 0]] == [
        round(i * 50 / 127.5 - 1, 4) for i in range(4)
    ]
    ds = data.image_dataset(tmp_path, 4, batch_size=2, repeat=True)
    assert len(batches(ds.take(5))) == 5  # more than one epoch


# --------------------------------------------------------------------------- bad folders


def skipped_warning(record):
    found = [w for w in record if issubclass(w.category, SkippedImageWarning)]
    assert len(found) == 1, [str(w.message) for w in record]
    return str(found[0].message)


def test_bad_files_skipped_with_one_warning_naming_each(tmp_path):
    good = fx.good_images(tmp_path, n=6)
    bad = fx.bad_images(tmp_path)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = batches(data.image_dataset(tmp_path, 8, batch_size=3, shuffle=False))
    assert time.perf_counter() - start < 10  # the 30000x30000 "bomb" was never decoded
    message = skipped_warning(record)
    assert message.startswith(f"Skipped {len(bad)} of {len(good) + len(bad)} image files")
    for path in bad:
        assert path in message
    lines = {line.strip().split(": ", 1)[0]: line for line in message.splitlines()[1:]}
    assert "truncated" in lines[os.path.join(tmp_path, "truncated.png")]
    assert "truncated" in lines[os.path.join(tmp_path, "truncated.jpg")]
    assert "empty" in lines[os.path.join(tmp_path, "empty.png")]
    assert "bomb" in lines[os.path.join(tmp_path, "bomb.png")]
    assert not any(issubclass(w.category, Image.DecompressionBombWarning) for w in record)
    assert len(out) == 2 and all(b.shape == (3, 8, 8, 3) for b in out)  # good images still load


def test_bomb_between_pillow_limits_is_skipped_not_warned(tmp_path):
    # 10000x10000 is above Pillow's warning limit but below its error limit.
    fx.good_images(tmp_path, n=2)
    bomb = fx.bomb_png(tmp_path, "big.png", 10000, 10000)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert data.load_image_folder(tmp_path, 8).shape == (2, 8, 8, 3)
    assert bomb in skipped_warning(record)
    assert not any(issubclass(w.category, Image.DecompressionBombWarning) for w in record)


def test_max_pixels_checked_before_decoding(tmp_path):
    path = fx.good_images(tmp_path, n=1, size=24)[0]
    with pytest.raises(DataError, match=r"24x24 = 576 pixels \(max_pixels=100\)") as info:
        data.load_image(path, 8, max_pixels=100)
    assert path in str(info.value)


def test_strict_raises_naming_bad_files(tmp_path):
    fx.good_images(tmp_path, n=4)
    bad = [fx.truncated_png(tmp_path), fx.text_as_png(tmp_path)]
    with pytest.raises(DataError, match="strict=True") as info:
        data.image_dataset(tmp_path, 8, batch_size=2, strict=True)
    for path in bad:
        assert path in str(info.value)


def test_load_image_bad_file_names_path_and_reason(tmp_path):
    path = fx.empty_file(tmp_path)
    with pytest.raises(DataError, match="empty file") as info:
        data.load_image(path)
    assert path in str(info.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_permission_denied_is_skipped(tmp_path):
    fx.good_images(tmp_path, n=2)
    locked = fx.write(tmp_path, "locked.png", fx.gradient())
    os.chmod(locked, 0)
    with pytest.warns(SkippedImageWarning, match="locked.png"):
        data.load_image_folder(tmp_path, 8)


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        data.image_dataset(missing)
    with pytest.raises(FileNotFoundError, match="nope"):
        data.load_image_folder(missing, 8)


def test_folder_without_images(tmp_path):
    fx.ignored_files(tmp_path)
    with pytest.raises(DataError, match="No image files found under .*recursively.*\\.png"):
        data.image_dataset(tmp_path)


def test_folder_of_only_bad_files(tmp_path):
    bad = fx.bad_images(tmp_path)
    with pytest.raises(DataError, match=f"None of the {len(bad)} image files") as info:
        data.image_dataset(tmp_path, 8, batch_size=1)
    for path in bad:
        assert path in str(info.value)


def test_fewer_images_than_batch_size(tmp_path):
    fx.good_images(tmp_path, n=3)
    with pytest.raises(DataError, match="Only 3 usable images.*batch_size=4.*drop_remainder.*--batch-size"):
        data.image_dataset(tmp_path, 8, batch_size=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": 0}, "image_size must be a positive int, got 0"),
        ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
        ({"channels": 2}, "channels must be 1 .* or 3 .*, got 2"),
        ({"resize": "stretch"}, "resize must be one of .*'stretch'"),
        ({"background": (0, 0)}, "background must be"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    fx.good_images(tmp_path, n=2)
    with pytest.raises(ValueError, match=match):
        data.image_dataset(tmp_path, **{"batch_size": 1, **kwargs})


# --------------------------------------------------------------------------- arrays


def mnist_like(n=6, value=255):
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, :, :] = value
    return x


@pytest.mark.parametrize("channels", [1, 3])
def test_uint8_greyscale_array_resized(channels):
    out = batches(data.image_dataset(mnist_like(), 32, channels, batch_size=3))
    assert len(out) == 2 and out[0].shape == (3, 32, 32, channels) and out[0].dtype == np.float32
    np.testing.assert_allclose(np.concatenate(out), 1.0)


def test_npz_uses_x_train_and_float_ranges(tmp_path):
    x = np.linspace(-1, 1, 4 * 28 * 28, dtype=np.float32).reshape(4, 28, 28, 1)
    np.savez(tmp_path / "d.npz", other=np.zeros((4, 5)), x_train=x)
    out = np.concatenate(batches(data.image_dataset(tmp_path / "d.npz", 28, 1, batch_size=2, shuffle=False)))
    np.testing.assert_allclose(out, x, atol=1e-5)  # [-1, 1] kept, not rescaled
    np.save(tmp_path / "unit.npy", (x + 1) / 2)  # [0, 1]
    out = np.concatenate(batches(data.image_dataset(tmp_path / "unit.npy", 28, 1, batch_size=2, shuffle=False)))
    np.testing.assert_allclose(out, x, atol=1e-5)
    out = np.concatenate(batches(data.image_dataset((x + 1) * 127.5, 28, 1, batch_size=2, shuffle=False)))
    np.testing.assert_allclose(out, x, atol=1e-4)  # float [0, 255]


def test_npz_key_choice_and_shape_error_names_key(tmp_path):
    np.savez(tmp_path / "a.npz", images=mnist_like(2), labels=np.zeros(2))
    assert batches(data.image_dataset(tmp_path / "a.npz", 28, 1, batch_size=2))[0].shape == (2, 28, 28, 1)
    np.savez(tmp_path / "b.npz", pixels=np.zeros((2, 28, 28, 2), np.uint8))
    with pytest.raises(DataError, match=r"'pixels' in .*b\.npz.*\(2, 28, 28, 2\).*expected"):
        data.image_dataset(tmp_path / "b.npz", 28, batch_size=1)


def test_array_errors():
    with pytest.raises(ValueError, match=r"shape \(28, 28\); expected"):
        data.image_dataset(np.zeros((28, 28), np.uint8), 28, batch_size=1)
    with pytest.raises(DataError, match="values in"):
        data.image_dataset(np.full((2, 4, 4), -5.0), 4, batch_size=1)
    with pytest.raises(DataError, match="Only 2 usable images"):
        data.image_dataset(mnist_like(2), 28, batch_size=4)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        data.image_dataset("/nonexistent/missing.npz")


def test_array_rgba_composite_and_pad():
    x = np.zeros((2, 10, 20, 4), np.uint8)  # fully transparent, wide
    x[:, :, :, 3] = 0
    x[:, :, 10:] = (255, 0, 0, 255)  # right half opaque red
    out = batches(data.image_dataset(x, 20, batch_size=2, resize="pad", background=(0, 0, 0)))[0]
    np.testing.assert_allclose(out[:, :5], -1.0, atol=1e-2)  # padding bars: black background
    np.testing.assert_allclose(out[:, 5:15, :8], -1.0, atol=1e-2)  # transparent: black
    np.testing.assert_allclose(out[:, 5:15, 12:], np.broadcast_to([1.0, -1.0, -1.0], (2, 10, 8, 3)), atol=1e-2)


# --------------------------------------------------------------------------- tensorflow-datasets

_TINY_BUILDER = []


def tiny_tfds_builder():
    """Register (once per process) a 6+2 example dataset with one Image feature, 'picture'."""
    import tensorflow_datasets as tfds

    if not _TINY_BUILDER:

        class KerasganTinyShapes(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")

            def _info(self):
                features = {
                    "picture": tfds.features.Image(shape=(None, None, 3)),
                    "label": tfds.features.ClassLabel(num_classes=2),
                }
                return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

            def _generate_examples(self, n):
                for i in range(n):
                    yield i, {"picture": fx.gradient(20, 30, seed=i), "label": i % 2}

        _TINY_BUILDER.append(KerasganTinyShapes)
    return "kerasgan_tiny_shapes"


def test_tfds_unknown_name_fast(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DataError, match="Unknown tensorflow-datasets name 'mnistt'.*mnist"):
        data.image_dataset("tfds:mnistt", data_dir=tmp_path)
    assert time.perf_counter() - start < 20


def test_tfds_not_prepared_fails_fast_without_download(tmp_path):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        data.image_dataset("tfds:mnist", data_dir=tmp_path)
    assert time.perf_counter() - start < 20
    message = str(info.value)
    for part in ("'mnist'", "not prepared", str(tmp_path), "download=True", "--download", "mnist/3.0.1/"):
        assert part in message
    assert not os.listdir(tmp_path)  # nothing downloaded or created


def test_tfds_prepared_dataset_loads_offline(tmp_path):
    name = tiny_tfds_builder()
    # download=True on a generator builder needs no network: it writes the data to data_dir.
    data.image_dataset(f"tfds:{name}", 16, batch_size=2, data_dir=tmp_path, download=True)
    out = batches(data.image_dataset(f"tfds:{name}", 16, 1, batch_size=4, data_dir=tmp_path, seed=0))
    assert len(out) == 1 and out[0].shape == (4, 16, 16, 1) and out[0].dtype == np.float32
    assert -1 <= out[0].min() < out[0].max() <= 1
    test = batches(data.image_dataset(f"tfds:{name}:test", 8, batch_size=2, data_dir=tmp_path, resize="pad"))
    assert len(test) == 1 and test[0].shape == (2, 8, 8, 3)
    with pytest.raises(DataError, match="split 'validation'.*train, test"):
        data.image_dataset(f"tfds:{name}", batch_size=2, data_dir=tmp_path, split="validation")


def test_bundled_data_sets_load():
    clipart = data.load_image_folder(data.bundled("clipart64"), 64)
    assert clipart.shape == (1000, 64, 64, 3) and clipart.dtype == np.uint8
    fashion = next(iter(data.image_dataset(data.bundled("fashion_mnist"), 28, channels=1,
                                           batch_size=16)))
    assert fashion.shape == (16, 28, 28, 1)
    with pytest.raises(ValueError, match="bundled: clipart64, fashion_mnist"):
        data.bundled("cifar")


def test_repeated_stream_is_reproducible_and_resumable():
    images = np.random.default_rng(0).integers(0, 255, (10, 8, 8, 3), dtype=np.uint8)
    kwargs = dict(image_size=8, batch_size=4, flip=True, seed=3, repeat=True)
    stream = data.image_dataset(images, **kwargs)
    assert stream.batches_per_epoch == 2
    first = [b.numpy() for b in stream.take(7)]
    again = [b.numpy() for b in data.image_dataset(images, **kwargs).take(7)]
    resumed = [b.numpy() for b in data.image_dataset(images, skip_batches=4, **kwargs).take(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first[4:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[2])  # each pass is shuffled anew
    with pytest.raises(ValueError, match="skip_batches needs repeat=True"):
        data.image_dataset(images, image_size=8, batch_size=4, skip_batches=2)


# --------------------------------------------------------------------------- caching: memory or disk


def cached_folder(tmp_path, n=12):
    """`n` good images and a corrupt one sorted among them (so the disk cache has a hole)."""
    folder = tmp_path / "images"
    fx.good_images(folder, n=n, size=24)
    bad = fx.corrupt_png(folder, "img005_bad.png")
    return folder, bad


def build(folder, cache, cache_dir, **kwargs):
    """image_dataset(folder) at 16 px, batch 4, seed 7; also returns the warnings it gave."""
    kwargs = {"image_size": 16, "batch_size": 4, "seed": 7, **kwargs}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ds = data.image_dataset(folder, cache=cache, cache_dir=cache_dir, **kwargs)
    return ds, record


def npy_files(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(".npy")) if os.path.isdir(folder) else []


@pytest.mark.parametrize("kwargs, passes", [
    ({"shuffle": False}, 1),
    ({"shuffle": True, "flip": True}, 3),  # a finite dataset: each pass reshuffled and reflipped
    ({"shuffle": True, "flip": True, "repeat": True, "skip_batches": 3}, 1),
])
def test_disk_and_memory_give_identical_batches(tmp_path, kwargs, passes):
    folder, bad = cached_folder(tmp_path)
    memory, _ = build(folder, "memory", tmp_path / "cache", **kwargs)
    disk, record = build(folder, "disk", tmp_path / "cache", **kwargs)
    assert (memory.cache_kind, disk.cache_kind) == ("memory", "disk")
    assert bad in skipped_warning(record)
    assert npy_files(tmp_path / "cache")
    assert memory.element_spec == disk.element_spec
    assert tuple(disk.element_spec.shape) == (4, 16, 16, 3)  # static: the train step is traced once
    assert memory.batches_per_epoch == disk.batches_per_epoch == 3  # 12 usable images
    take = 7 if kwargs.get("repeat") else -1  # 7 batches of the endless stream: over 2 passes
    seen = []
    for _ in range(passes):
        a, b = batches(memory.take(take)), batches(disk.take(take))
        assert len(a) == len(b) == (7 if take > 0 else 3)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
        seen.append(np.concatenate(a))
    with pytest.warns(SkippedImageWarning):
        expected = data.load_image_folder(folder, 16).astype(np.float32) / 127.5 - 1
    if not kwargs["shuffle"]:  # really the images, in file order: the corrupt file's row left out
        np.testing.assert_allclose(seen[0], expected, atol=1e-6)
    else:  # each pass a new order (and flips) of the same 12 images, not a frozen one
        if passes > 1:
            assert not np.array_equal(seen[0], seen[1])
        assert not np.array_equal(seen[0][:12], expected)
        unflipped = np.concatenate([expected, expected[:, :, ::-1]])
        for image in seen[0]:
            assert np.abs(unflipped - image).max(axis=(1, 2, 3)).min() < 1e-6


def test_auto_picks_disk_above_the_memory_budget(tmp_path, monkeypatch):
    folder, _ = cached_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    for cache in ("auto", True, False, "memory"):
        assert build(folder, cache, cache_dir)[0].cache_kind == "memory"
    assert not os.path.exists(cache_dir)  # nothing written for in-memory data
    monkeypatch.setattr(data, "MEMORY_BUDGET", 13 * 16 * 16 * 3 - 1)  # 13 files at 16x16x3: 1 byte over
    for cache in ("auto", True):
        assert build(folder, cache, cache_dir)[0].cache_kind == "disk"
    assert len(npy_files(cache_dir)) == 1  # one cache, reused
    assert build(folder, False, cache_dir)[0].cache_kind == "memory"  # False: in memory, as before
    monkeypatch.setattr(data, "MEMORY_BUDGET", 13 * 16 * 16 * 3)
    assert build(folder, "auto", cache_dir)[0].cache_kind == "memory"


def test_default_cache_dir_follows_kerasgan_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "kc"))
    assert data.default_cache_dir() == str(tmp_path / "kc" / "images")
    folder, _ = cached_folder(tmp_path)
    assert build(folder, "disk", None)[0].cache_kind == "disk"
    assert len(npy_files(tmp_path / "kc" / "images")) == 1
    monkeypatch.delenv("KERASGAN_CACHE")
    assert data.default_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "kerasgan", "images")


def refuse_decoding(monkeypatch):
    def decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(data.decode, "decode_file", decode)


def test_disk_cache_is_reused_and_still_reports_skipped_files(tmp_path, monkeypatch):
    folder, bad = cached_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    first, record = build(folder, "disk", cache_dir, shuffle=False)
    message = skipped_warning(record)
    (name,) = npy_files(cache_dir)
    stamp = os.stat(cache_dir / name).st_mtime_ns
    refuse_decoding(monkeypatch)
    again, record = build(folder, "disk", cache_dir, shuffle=False)
    assert skipped_warning(record) == message and bad in message  # nothing skipped silently
    assert os.stat(cache_dir / name).st_mtime_ns == stamp and npy_files(cache_dir) == [name]
    for x, y in zip(batches(first), batches(again)):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(DataError, match="strict=True") as info:
        build(folder, "disk", cache_dir, strict=True)
    assert bad in str(info.value)


def test_changed_file_or_option_decodes_again(tmp_path):
    folder, _ = cached_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    before = batches(build(folder, "disk", cache_dir, shuffle=False)[0])
    first = os.path.join(folder, "img000.png")
    fx.write(folder, "img000.png", np.zeros((24, 24, 3), np.uint8))  # same size, new content
    stat = os.stat(first)
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = batches(build(folder, "disk", cache_dir, shuffle=False)[0])
    np.testing.assert_array_equal(after[0][0], -1.0)  # the new, black image
    assert not np.array_equal(before[0][0], after[0][0])
    np.testing.assert_array_equal(before[1], after[1])  # the others unchanged
    assert len(npy_files(cache_dir)) == 2
    assert batches(build(folder, "disk", cache_dir, image_size=8)[0])[0].shape == (4, 8, 8, 3)
    assert len(npy_files(cache_dir)) == 3


def test_interrupted_decode_leaves_no_cache(tmp_path, monkeypatch):
    folder, _ = cached_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    monkeypatch.setattr(data.disk_cache, "_DISK_CHUNK_BYTES", 2 * 16 * 16 * 3)  # 2 images a chunk: several written
    decode, calls = data.decode.decode_file, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 9:
            raise RuntimeError("interrupted")
        return decode(*args, **kwargs)

    monkeypatch.setattr(data.decode, "decode_file", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        build(folder, "disk", cache_dir)
    assert os.listdir(cache_dir) == []  # no .npy, no sidecar, no temporary file
    monkeypatch.setattr(data.decode, "decode_file", decode)
    ds, record = build(folder, "disk", cache_dir, shuffle=False)
    assert len(npy_files(cache_dir)) == 1 and skipped_warning(record)
    expected = batches(build(folder, "memory", cache_dir, shuffle=False)[0])
    for x, y in zip(batches(ds), expected):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other shape", "sidecar"])
def test_damaged_cache_is_rebuilt_with_a_warning(tmp_path, damage):
    folder, _ = cached_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    expected = batches(build(folder, "disk", cache_dir, shuffle=False)[0])
    (name,) = npy_files(cache_dir)
    path = cache_dir / name
    if damage == "garbage":
        path.write_bytes(b"not a numpy file at all" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-1000])
    elif damage == "other shape":
        np.save(path, np.zeros((13, 8, 8, 3), np.uint8))
    else:
        (cache_dir / name.replace(".npy", ".json")).write_text("{")
    ds, record = build(folder, "disk", cache_dir, shuffle=False)
    warned = [str(w.message) for w in record if "damaged image cache" in str(w.message)]
    assert len(warned) == 1 and str(path) in warned[0] and "rebuilding" in warned[0]
    skipped_warning(record)  # the skipped file still reported, once
    for x, y in zip(batches(ds), expected):
        np.testing.assert_array_equal(x, y)
    _, record = build(folder, "disk", cache_dir, shuffle=False)  # rebuilt: no warning now
    assert not [str(w.message) for w in record if "damaged image cache" in str(w.message)]


@pytest.mark.parametrize("cache", ["ram", "Disk", None, 1])
def test_bad_cache_choice(tmp_path, cache):
    folder, _ = cached_folder(tmp_path)
    for source in (folder, mnist_like()):
        with pytest.raises(ValueError, match="cache must be one of 'auto', 'memory', 'disk'"):
            data.image_dataset(source, 16, batch_size=2, cache=cache)
    with pytest.raises(ValueError, match="cache must be one of"):
        data.unpaired_dataset(folder, folder, image_size=8, cache=cache)
    with pytest.raises(ValueError, match="cache='disk' is for image folders"):
        data.image_dataset("tfds:mnist", cache="disk")


def test_unpaired_disk_and_memory_give_identical_batches(tmp_path, monkeypatch):
    folder, bad = cached_folder(tmp_path)
    other = tmp_path / "other"
    fx.good_images(other, n=5, size=20)
    kwargs = dict(image_size=12, batch_size=2, seed=1, repeat=True, skip_batches=2, cache_dir=tmp_path / "cache")
    with pytest.warns(SkippedImageWarning, match="img005_bad"):
        memory = data.unpaired_dataset(folder, other, cache="memory", **kwargs)
    monkeypatch.setattr(data, "MEMORY_BUDGET", 0)
    with pytest.warns(SkippedImageWarning, match="img005_bad"):
        disk = data.unpaired_dataset(folder, other, **kwargs)
    assert (memory.cache_kind, disk.cache_kind) == ("memory", "disk")
    assert len(npy_files(tmp_path / "cache")) == 2  # one per folder
    for (a, b), (c, d) in zip(memory.take(8), disk.take(8)):
        assert a.shape == c.shape == (2, 12, 12, 3)
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate here")
def test_full_disk_is_an_error_not_a_crash(tmp_path, monkeypatch):
    folder, _ = cached_folder(tmp_path)
    cache_dir = tmp_path / "cache"

    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="cannot write the image cache .*No space left"):
        build(folder, "disk", cache_dir)
    assert os.listdir(cache_dir) == []


def test_every_warning_points_at_the_callers_line(tmp_path):
    """Warnings are issued by the public functions themselves, so they name the user's line."""
    folder, bad = cached_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    images = np.full((4, 8, 8), 1.0005, np.float32)  # [0, 1] with float rounding above it: clipped

    def check(record, *expected):
        assert [(w.category, w.filename) for w in record] == [(c, __file__) for c in expected], [
            (w.category.__name__, w.filename, str(w.message)[:60]) for w in record]

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        data.image_dataset(folder, 16, batch_size=4, cache="disk", cache_dir=cache_dir)
        check(record, SkippedImageWarning)
        assert bad in str(record[0].message)
        (name,) = npy_files(cache_dir)
        (cache_dir / name).write_bytes(b"damaged")
        record.clear()
        data.image_dataset(folder, 16, batch_size=4, cache="disk", cache_dir=cache_dir)
        check(record, KerasganWarning, SkippedImageWarning)  # the damaged cache, rebuilt
        record.clear()
        data.load_image_folder(folder, 8)
        check(record, SkippedImageWarning)
        record.clear()
        data.unpaired_dataset(folder, folder, image_size=8, batch_size=2, seed=0)
        check(record, SkippedImageWarning, SkippedImageWarning)
        record.clear()
        data.image_dataset(images, 8, 1, batch_size=2)
        check(record, KerasganWarning)  # floats clipped


def test_the_endless_stream_is_the_same_with_a_global_seed_set():
    # keras.utils.set_random_seed (and `kerasgan train --deterministic`) set TensorFlow's
    # global seed; the keyed stream must neither fail under it nor depend on it.
    import keras

    def batches():
        ds = data.image_dataset(data.bundled("fashion_mnist"), 28, channels=1, batch_size=8,
                                repeat=True, seed=7, skip_batches=700)
        return np.concatenate([b.numpy() for b, _ in zip(ds, range(3))])

    unseeded = batches()
    keras.utils.set_random_seed(5)
    np.testing.assert_array_equal(batches(), unseeded)
