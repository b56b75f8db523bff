"""The inpainting model: masks, training, known pixels, any size, save/load, the CLI."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasgan import masks, zoo
from conftest import image_batches, run_cli


def tiny(**overrides):
    model = zoo.create("inpainting", **{**zoo.tiny_config("inpainting"), "seed": 3, **overrides})
    model.compile()
    return model


def test_mask_families_cover_what_they_promise():
    key = tf.constant([7, 1], tf.int64)
    for family, low, high in (("cracks", 0.002, 0.25), ("strokes", 0.01, 0.6),
                              ("boxes", 0.005, 0.5), ("holes", 0.1, 0.45)):
        m = masks.draw(key, 16, 64, 64, (family,)).numpy()
        assert m.shape == (16, 64, 64, 1) and set(np.unique(m)) <= {0.0, 1.0}
        coverage = m.mean(axis=(1, 2, 3))
        assert (coverage > low).all() and (coverage < high).all(), (family, coverage)
    with pytest.raises(ValueError, match="families must be a non-empty subset of"):
        masks.draw(key, 1, 8, 8, ("scribbles",))


def test_training_masks_are_fixed_per_step_and_differ_across_steps():
    model = tiny()
    first = model.masks(4).numpy()
    np.testing.assert_array_equal(first, model.masks(4).numpy())
    model.step.assign(1)
    assert not np.array_equal(first, model.masks(4).numpy())
    other_seed = tiny(seed=4)
    assert not np.array_equal(first, other_seed.masks(4).numpy())


def test_fit_moves_both_networks_with_finite_losses():
    model = tiny()
    before = [[np.array(w) for w in net.trainable_weights] for net in model.networks()]
    history = model.fit(image_batches(model.image_shape), epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "l1_loss", "hole_l1"}
    assert all(np.isfinite(v[-1]) for v in history.values())
    for net, weights in zip(model.networks(), before):
        assert any(not np.allclose(b, np.array(w)) for b, w in zip(weights, net.trainable_weights))
    assert int(model.step.numpy()) == 3


@pytest.mark.parametrize("shape", [(16, 16), (37, 53), (5, 70)])
def test_restore_keeps_known_pixels_exactly_at_any_size(shape):
    model = tiny()
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, shape + (3,)).astype("float32")
    mask = np.zeros(shape, bool)
    mask[1:4, 2:9] = True
    restored = model.restore(image, mask)
    assert restored.shape == image.shape and restored.dtype == np.float32
    np.testing.assert_array_equal(restored[~mask], image[~mask])
    assert np.abs(restored[mask] - image[mask]).mean() > 0  # the hole was filled, not copied
    assert np.isfinite(restored).all() and np.abs(restored).max() <= 1.0


def test_a_large_image_is_restored_in_tiles_that_agree_with_the_whole():
    model = tiny()
    rng = np.random.default_rng(1)
    image = rng.uniform(-1, 1, (1, 90, 70, 3)).astype("float32")
    mask = np.zeros((1, 90, 70), bool)
    mask[0, 30:50, 20:45] = True
    whole = model.restore(image, mask)
    tiled = model.restore(image, mask, tile_size=48, overlap=16)
    np.testing.assert_array_equal(tiled[~mask], image[~mask])
    # The generator has no normalisation: a tile differs from the whole only where its
    # receptive field is cut, near tile edges, which the blend weights down.
    assert np.abs(tiled - whole).mean() < 0.05


def test_restore_refuses_a_mask_of_another_size():
    model = tiny()
    with pytest.raises(ValueError, match=r"masks must have the images' height and width"):
        model.restore(np.zeros((16, 16, 3), "float32"), np.zeros((16, 15)))
    with pytest.raises(ValueError, match="images must be floats"):
        model.restore(np.zeros((16, 16, 3), "uint8"), np.zeros((16, 16)))


def test_keras_file_and_folder_round_trips_restore_alike(tmp_path):
    model = tiny()
    model.run_eagerly = True  # graph mode: test_fit_moves_both_networks_with_finite_losses
    model.fit(image_batches(model.image_shape), epochs=1, verbose=0)
    image = np.random.default_rng(2).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    mask = np.zeros((2, 16, 16), bool)
    mask[:, 4:12, 4:12] = True
    expected = model.restore(image, mask)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.restore(image, mask), expected)
    assert loaded.spec["architecture"] == "inpainting" and int(loaded.step.numpy()) == 3
    loaded.run_eagerly = True
    loaded.fit(image_batches(model.image_shape), epochs=1, verbose=0)  # resumes training
    assert int(loaded.step.numpy()) == 6
    zoo.save(model, str(tmp_path / "folder"))
    np.testing.assert_array_equal(zoo.load(str(tmp_path / "folder")).restore(image, mask),
                                  expected)


def _png(path, pixels):
    Image.fromarray(pixels).save(path)
    return str(path)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("inpaint") / "model")
    zoo.save(tiny(), folder)
    return folder


def test_cli_restores_an_image_keeping_its_known_pixels(model_folder, tmp_path, capsys):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (21, 34, 3), dtype=np.uint8)
    mask = np.zeros((21, 34), np.uint8)
    mask[5:12, 10:20] = 255
    out = str(tmp_path / "restored.png")
    result = run_cli(capsys, "restore", model_folder, _png(tmp_path / "damaged.png", pixels),
                     "--mask", _png(tmp_path / "mask.png", mask), "--out", out)
    assert result.returncode == 0, result.stderr
    restored = np.asarray(Image.open(out))
    assert restored.shape == pixels.shape
    np.testing.assert_array_equal(restored[mask == 0], pixels[mask == 0])


def test_cli_restore_refuses_a_bad_mask_in_one_line(model_folder, tmp_path, capsys):
    image = _png(tmp_path / "image.png", np.zeros((20, 20, 3), np.uint8))
    small = _png(tmp_path / "small.png", np.zeros((10, 20), np.uint8))
    result = run_cli(capsys, "restore", model_folder, image, "--mask", small, "--out",
                     str(tmp_path / "o.png"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "kerasgan: error: the mask must have the image's size 20x20, got 20x10")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    result = run_cli(capsys, "restore", model_folder, image, "--mask", str(broken), "--out",
                     str(tmp_path / "o.png"))
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and last.startswith("kerasgan: error: ") and "broken.png" in last
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "o.png")


def test_an_image_size_too_small_for_the_discriminator_is_refused_when_built():
    with pytest.raises(ValueError, match="image_size=16 is too small for a discriminator with "
                                         "d_layers=3; use fewer d_layers or larger images"):
        zoo.create("inpainting", image_size=16)


def test_compile_arguments_without_a_flag_are_set_with_compile_set(tmp_path, eager):
    import kerasgan
    from kerasgan.errors import UsageError
    from conftest import noise_image_folder

    data = noise_image_folder(tmp_path / "data", 8, 16, 16)
    config = dict(zoo.tiny_config("inpainting"))
    config.pop("image_size")
    model = kerasgan.train("inpainting", data=data, out=str(tmp_path / "run"), config=config,
                           image_size=16, batch_size=4, epochs=1, verbose=0,
                           compile_set={"l1_weight": 1000.0, "hole_weight": 2.0})
    assert (model.l1_weight, model.hole_weight) == (1000.0, 2.0)
    assert zoo.load(str(tmp_path / "run"), for_training=True).l1_weight == 1000.0
    with pytest.raises(UsageError, match="--compile l2_weight: not an argument inpainting's "
                                         "compile takes from --compile; it takes: l1_weight, hole_weight"):
        kerasgan.train("inpainting", data=data, out=str(tmp_path / "refused"), config=config,
                       image_size=16, batch_size=4, epochs=1, compile_set={"l2_weight": 1.0})
    assert not (tmp_path / "refused").exists()
