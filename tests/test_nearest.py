"""The memorisation check: `kerasgan.nearest` and `kerasgan nearest`."""
import pathlib
import numpy as np
import pytest
from PIL import Image

import keras

from conftest import noise_image_folder
from kerasgan import callbacks, cli, nearest, zoo


@pytest.fixture
def dcgan():
    return zoo.create("dcgan", **zoo.tiny_config("dcgan"), seed=0)  # 32x32 RGB, untrained


@pytest.fixture
def image_folder(tmp_path):
    folder = noise_image_folder(tmp_path / "train", 10, 40, 36, name="{i:02d}.png")
    return pathlib.Path(folder)


def _brute_force(generated, real, k):
    features = nearest.pixel_features
    d = np.sqrt(((features(generated)[:, None] - features(real)[None]) ** 2).sum(-1))
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_a_generated_image_among_the_real_ones_is_its_own_nearest_at_distance_0():
    rng = np.random.default_rng(0)
    generated = rng.uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
    real = rng.uniform(-1, 1, (45, 32, 32, 3)).astype("float32")
    real[23] = generated[1]
    real[40] = generated[3] + 0.01  # a near copy: close, not 0
    found = nearest.nearest(generated, real, k=3, batch_size=16)  # three batches
    assert found.indices.shape == found.distances.shape == (4, 3) and found.n_real == 45
    assert found.indices[1, 0] == 23 and found.distances[1, 0] == 0.0
    np.testing.assert_array_equal(found.images[1, 0], generated[1])
    assert found.indices[3, 0] == 40 and 0 < found.distances[3, 0] < 0.0101
    # streamed batch by batch, the same as all distances at once
    indices, distances = _brute_force(generated, real, 3)
    np.testing.assert_array_equal(found.indices, indices)
    np.testing.assert_allclose(found.distances, distances, atol=1e-9)
    np.testing.assert_array_equal(found.images, real[indices])
    assert (np.diff(found.distances, axis=1) >= 0).all()


def test_pixel_features_downscale_to_32_and_measure_the_rms_difference():
    a = np.zeros((1, 64, 64, 3), "float32")
    b = np.full((1, 64, 64, 3), 0.5, "float32")
    assert nearest.pixel_features(a).shape == (1, 32 * 32 * 3)
    assert nearest.pixel_features(np.zeros((2, 8, 8, 1))).shape == (2, 64)  # not upscaled
    found = nearest.nearest(a, b)
    assert found.distances[0, 0] == pytest.approx(0.5)


def test_a_feature_model_file_or_callable_sets_the_distance(dcgan, tmp_path):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))  # mean colour
    path = str(tmp_path / "colour.keras")
    model.save(path)
    generated = dcgan.generate(2, seed=0)
    real = np.stack([np.full((32, 32, 3), v, "float32") for v in (-0.5, 0.0, 0.5)])
    shuffled = generated[0][np.random.default_rng(0).permutation(32)]  # same colours
    real = np.concatenate([real, shuffled[None]])
    for features in (path, model, lambda x: np.asarray(x).mean(axis=(1, 2))):
        found = nearest.nearest(generated, real, features=features, k=2)
        assert found.indices[0, 0] == 3 and found.distances[0, 0] < 1e-6
    with pytest.raises(ValueError, match="cannot load the feature model"):
        (tmp_path / "bad.keras").write_text("no")
        nearest.nearest(generated, real, features=str(tmp_path / "bad.keras"))


def test_the_grid_has_a_row_per_generated_image_and_k_neighbours(dcgan, image_folder):
    grid, found = nearest.nearest_grid(dcgan, str(image_folder), n=3, k=2, seed=5,
                                       return_result=True)
    assert grid.shape == (3 * 32, 3 * 32, 3) and grid.dtype == np.uint8
    assert found.n_real == 10 and found.indices.shape == (3, 2)
    # the first column is generate(n, seed), the others the neighbours found
    np.testing.assert_array_equal(grid[:32, :32], callbacks.image_grid(dcgan.generate(1, seed=5)))
    np.testing.assert_array_equal(grid[32:64, 64:96], callbacks.image_grid(found.images[1, 1:2]))
    grey = zoo.create("vanilla", **zoo.tiny_config("vanilla"))  # 8x8 grey
    assert nearest.nearest_grid(grey, str(image_folder), n=2, k=4).shape == (16, 40)


def test_translation_models_are_refused(image_folder):
    cyclegan = zoo.create("cyclegan", **zoo.tiny_config("cyclegan"))
    with pytest.raises(ValueError, match="generates images from latents.*kerasgan translate"):
        nearest.nearest_grid(cyclegan, str(image_folder))


def test_command_writes_the_grid_and_prints_the_distances(dcgan, image_folder, tmp_path,
                                                          capsys):
    run = str(tmp_path / "model")
    zoo.save(dcgan, run)
    out = str(tmp_path / "nn.png")
    assert cli.main(["nearest", run, "--data", str(image_folder), "--out", out, "--n", "2",
                     "--k", "3", "--seed", "1"]) == 0
    assert Image.open(out).size == (4 * 32, 2 * 32)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("row 1: ") and lines[1].startswith("row 2: ")
    assert lines[0].count(".png (") == 3  # the files, by name
    assert "its 3 nearest of 10 images" in lines[2]


@pytest.mark.parametrize("data", ["/no/such/folder", "tfds:no_such_dataset_kerasgan"])
def test_bad_data_is_one_line_and_exit_code_2(dcgan, data, tmp_path, capsys):
    run = str(tmp_path / "model")
    zoo.save(dcgan, run)
    assert cli.main(["nearest", run, "--data", data, "--out", str(tmp_path / "nn.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasgan: error:") and err.count("\n") == 1
    assert not (tmp_path / "nn.png").exists()
