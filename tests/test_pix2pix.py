"""pix2pix and paired data: pairing by name, aligned crops, training, any size, save/load,
export, the CLI."""
import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasgan import data, export, zoo
from conftest import run_cli


def tiny(**overrides):
    model = zoo.create("pix2pix", **{**zoo.tiny_config("pix2pix"), "seed": 3, **overrides})
    model.compile()
    return model


def paired_folders(root, n=6, size=20, seed=0):
    """`root/a` of noise PNGs and `root/b` of their negatives, named alike: a + b == 255."""
    rng = np.random.default_rng(seed)
    folders = [root / "a", root / "b"]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folders[0] / f"im{i}.png")
        Image.fromarray(255 - pixels).save(folders[1] / f"im{i}.png")
    return [str(f) for f in folders]


def pair_batches(shape, n=12, batch_size=4, seed=0):
    """Aligned pairs in [-1, 1]: the target is the input negated."""
    x = np.random.default_rng(seed).uniform(-1, 1, (n,) + shape).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, -x)).batch(batch_size)


def test_registered_as_a_translation_model_that_trains_on_pairs():
    assert zoo.kind("pix2pix") == "translation" and zoo.trains_on_pairs("pix2pix")
    assert not zoo.trains_on_pairs("cyclegan")


def test_pairs_are_matched_by_name_and_cropped_alike(tmp_path):
    a, b = paired_folders(tmp_path)
    Image.open(os.path.join(b, "im1.png")).save(os.path.join(b, "im1.bmp"))  # any extension
    os.remove(os.path.join(b, "im1.png"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every file has its partner: nothing to warn about
        ds = data.paired_dataset(a, b, image_size=16, batch_size=3, seed=1, flip=True)
    assert [os.path.basename(p) for p, _ in ds.pairs] == [f"im{i}.png" for i in range(6)]
    assert ds.batches_per_epoch == 2
    for x, y in ds:
        assert x.shape == y.shape == (3, 16, 16, 3)
        np.testing.assert_allclose(x.numpy(), -y.numpy(), atol=1e-5)  # the same crop, flip


def test_unpaired_ambiguous_and_unreadable_files_are_named_and_left_out(tmp_path):
    a, b = paired_folders(tmp_path, n=5)
    Image.new("RGB", (20, 20)).save(os.path.join(a, "lonely.png"))
    Image.new("RGB", (20, 20)).save(os.path.join(b, "im0.jpg"))  # now two "im0" in b
    open(os.path.join(a, "im1.png"), "wb").write(b"not a png")  # its partner goes too
    with pytest.warns(data.SkippedImageWarning) as caught:
        ds = data.paired_dataset(a, b, image_size=16, batch_size=2, seed=0)
    text = "\n".join(str(w.message) for w in caught)
    assert "lonely.png: no file named lonely.* in" in text
    assert "im0.jpg: 2 files in" in text and "im0.png: 2 files in" in text
    assert os.path.join(a, "im1.png") in text
    assert f"{os.path.join(b, 'im1.png')}: its partner could not be used" in text
    assert [os.path.basename(p) for p, _ in ds.pairs] == ["im2.png", "im3.png", "im4.png"]
    with pytest.raises(data.DataError, match="could not be paired"):
        data.paired_dataset(a, b, image_size=16, batch_size=2, strict=True)


def test_folders_without_a_single_pair_are_refused(tmp_path):
    a, _ = paired_folders(tmp_path / "x", n=2)
    b, _ = paired_folders(tmp_path / "y", n=2, seed=1)
    for name in os.listdir(b):
        os.rename(os.path.join(b, name), os.path.join(b, "other_" + name))
    with pytest.raises(data.DataError, match="No file of .* has a partner of the same name"):
        data.paired_dataset(a, b, image_size=16, batch_size=1)


def test_the_endless_stream_resumes_exactly_and_disk_equals_memory(tmp_path):
    a, b = paired_folders(tmp_path, n=7)
    common = dict(image_size=16, batch_size=2, seed=5, repeat=True)
    stream = [tuple(t.numpy() for t in pair) for pair in
              data.paired_dataset(a, b, **common).take(6)]
    resumed = [tuple(t.numpy() for t in pair) for pair in
               data.paired_dataset(a, b, skip_batches=4, **common).take(2)]
    for (x, y), (u, v) in zip(stream[4:], resumed):
        np.testing.assert_array_equal(x, u)
        np.testing.assert_array_equal(y, v)
    disk = data.paired_dataset(a, b, cache="disk", cache_dir=str(tmp_path / "cache"), **common)
    for (x, y), (u, v) in zip(stream, disk.take(6)):
        np.testing.assert_array_equal(x, u.numpy())
        np.testing.assert_array_equal(y, v.numpy())


def test_fit_moves_both_networks_and_the_l1_loss_falls():
    model = zoo.create("pix2pix", **{**zoo.tiny_config("pix2pix"), "seed": 3})
    model.compile(g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))  # quick to learn
    before = [[np.array(w) for w in net.trainable_weights] for net in model.networks()]
    batches = pair_batches(model.image_shape)
    first = model.fit(batches, epochs=1, verbose=0).history
    assert set(first) == {"d_loss", "g_loss", "l1_loss"}
    assert all(np.isfinite(v[-1]) for v in first.values())
    for net, weights in zip(model.networks(), before):
        assert any(not np.allclose(b, np.array(w)) for b, w in zip(weights, net.trainable_weights))
    later = model.fit(batches, epochs=10, verbose=0).history  # negation: easy to learn
    assert later["l1_loss"][-1] < 0.85 * first["l1_loss"][0]  # measured 0.78
    assert int(model.step.numpy()) == 3 * 11


def test_train_step_refuses_unpaired_batches():
    model = tiny()
    with pytest.raises(ValueError, match="pix2pix trains on batches of pairs"):
        model.fit(tf.data.Dataset.from_tensor_slices(np.zeros((4, 16, 16, 3), "float32")).batch(2),
                  verbose=0)


def test_translate_keeps_any_size_and_tiles_agree_with_the_whole():
    model = tiny()
    model.fit(pair_batches(model.image_shape), epochs=2, verbose=0)
    rng = np.random.default_rng(1)
    for shape in ((16, 16), (37, 53), (5, 70)):
        out = model.translate(rng.uniform(-1, 1, shape + (3,)).astype("float32"))
        assert out.shape == shape + (3,) and np.isfinite(out).all()
    image = rng.uniform(-1, 1, (1, 90, 70, 3)).astype("float32")
    whole, tiled = model.translate(image), model.translate(image, tile_size=48, overlap=16)
    assert np.abs(tiled - whole).mean() < 0.05  # no normalisation: only cut receptive fields
    with pytest.raises(ValueError, match="translates one way, 'a2b'"):
        model.translate(image, direction="b2a")
    with pytest.raises(ValueError, match="images must be floats"):
        model.translate(np.zeros((16, 16, 3), "uint8"))
    with pytest.raises(ValueError, match=r"tile_size must be a multiple of 4"):
        model.translate(image, tile_size=30)


def test_keras_file_and_folder_round_trips_translate_alike(tmp_path):
    model = tiny()
    model.fit(pair_batches(model.image_shape), epochs=1, verbose=0)
    image = np.random.default_rng(2).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    expected = model.translate(image)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.translate(image), expected)
    assert loaded.spec["architecture"] == "pix2pix" and int(loaded.step.numpy()) == 3
    assert loaded.get_compile_config() == model.get_compile_config()
    loaded.fit(pair_batches(model.image_shape), epochs=1, verbose=0)  # resumes training
    assert int(loaded.step.numpy()) == 6
    zoo.save(model, str(tmp_path / "folder"))
    np.testing.assert_array_equal(zoo.load(str(tmp_path / "folder")).translate(image), expected)


def test_export_has_one_direction_and_refuses_the_other(tmp_path):
    model = tiny()
    (signature,) = model.export_signatures()
    assert signature.name == "a2b" and signature.input_names == ["image"]
    with pytest.raises(ValueError, match="translates one way"):
        export.export(model, tmp_path / "x", directions=("b2a",))
    assert not os.path.exists(tmp_path / "x")


def test_cli_trains_on_pairs_writes_pair_grids_and_translates(tmp_path, capsys, eager):
    a, b = paired_folders(tmp_path, n=4)
    Image.new("RGB", (20, 20)).save(os.path.join(a, "lonely.png"))
    run = str(tmp_path / "run")
    result = run_cli(capsys, "train", "pix2pix", "--data", a, "--data-b", b, "--paired",
                     "--image-size", "16", "--set", "base_channels=4", "--set", "depth=2",
                     "--set", "d_layers=2", "--batch-size", "2", "--epochs", "2", "--seed", "0",
                     "--verbose", "0", "--out", run)
    assert result.returncode == 0, result.stderr
    assert "lonely.png: no file named lonely.* in" in result.stderr
    grid = np.asarray(Image.open(os.path.join(run, "samples", "epoch-0002.png")))
    assert grid.shape[1] > 2 * grid.shape[0] / 4  # 3 columns (input, translated, target)
    assert json.load(open(os.path.join(run, "config.json")))["architecture"] == "pix2pix"
    out = str(tmp_path / "t.png")
    image = os.path.join(a, "im0.png")
    result = run_cli(capsys, "translate", run, image, "--out", out)
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(out)).shape == (20, 20, 3)
    result = run_cli(capsys, "translate", run, image, "--direction", "b2a",
                     "--out", str(tmp_path / "u.png"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "kerasgan: error: A pix2pix model translates one way, 'a2b'; got direction 'b2a'.")
    assert not os.path.exists(tmp_path / "u.png")


def test_cli_refuses_paired_for_a_model_that_does_not_learn_from_pairs(tmp_path, capsys):
    a, b = paired_folders(tmp_path, n=2)
    result = run_cli(capsys, "train", "cyclegan", "--data", a, "--data-b", b, "--paired",
                     "--epochs", "1", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "kerasgan: error: --paired: cyclegan does not learn from pairs of images; pix2pix does.")
    assert not os.path.exists(tmp_path / "run")
