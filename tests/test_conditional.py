"""Class-conditional generation: labels from data, conditional models, sampling, export, CLI."""
import json
import warnings

import numpy as np
import pytest
import tensorflow as tf

from kerasgan import cli, data, export, zoo
from conftest import noise_image_folder

CONDITIONAL = ["dcgan", "stylegan_lite", "vanilla"]
CLASSES = ["cat", "dog", "owl"]


def tiny_conditional(name, **overrides):
    gan = zoo.create(name, **{**zoo.tiny_config(name), "class_names": CLASSES, **overrides})
    gan.compile(**gan.default_compile_args(8))
    return gan


def labeled_batches(shape, n=24, batch_size=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n,) + tuple(shape)).astype("float32")
    y = rng.integers(0, len(CLASSES), n).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size, drop_remainder=True)


def snapshot(variables):
    return [np.array(v) for v in variables]


@pytest.mark.auto_precision
@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_fit_trains_both_networks_and_the_label_steers_the_output(name):
    gan = tiny_conditional(name)
    g0 = snapshot(gan.generator.trainable_variables)
    d0 = snapshot(gan.discriminator.trainable_variables)
    history = gan.fit(labeled_batches(gan.image_shape), epochs=1, verbose=0)
    for key in ("d_loss", "g_loss"):
        assert np.all(np.isfinite(history.history[key])), key
    moved = [not np.allclose(a, np.array(b)) for a, b in zip(g0, gan.generator.trainable_variables)]
    assert all(moved), "a generator weight (the label embedding too) did not move"
    moved = [not np.allclose(a, np.array(b)) for a, b in zip(d0, gan.discriminator.trainable_variables)]
    assert all(moved), "a discriminator weight (the class projection too) did not move"
    cats = gan.generate(4, seed=0, labels="cat")
    np.testing.assert_array_equal(cats, gan.generate(4, seed=0, labels=0))  # name = index
    dogs = gan.generate(4, seed=0, labels="dog")
    # Same latents, another class: other images (the networks are deterministic, so any
    # difference is the label's; a DCGAN starts with class scales near 1, so it is small).
    assert np.abs(cats - dogs).max() > 0
    in_turn = gan.generate(6, seed=0)  # default: the classes in turn
    np.testing.assert_array_equal(in_turn, gan.generate(6, seed=0, labels=[0, 1, 2, 0, 1, 2]))


def test_conditional_model_folder_keeps_the_class_names(tmp_path):
    gan = tiny_conditional("dcgan")
    gan.fit(labeled_batches(gan.image_shape, n=8), epochs=1, verbose=0)
    zoo.save(gan, str(tmp_path))
    loaded = zoo.load(str(tmp_path))
    assert loaded.class_names == CLASSES
    np.testing.assert_array_equal(loaded.generate(3, seed=1, labels="owl"),
                                  gan.generate(3, seed=1, labels="owl"))


def test_bad_labels_and_unlabeled_data_are_refused_in_one_line():
    gan = tiny_conditional("vanilla")
    with pytest.raises(ValueError, match=r"Unknown class 'bat': expected an index 0-2 or one of cat, dog, owl"):
        gan.generate(2, labels="bat")
    with pytest.raises(ValueError, match="Unknown class 3"):
        gan.generate(2, labels=3)
    with pytest.raises(ValueError, match="labels must be one class or 2 of them, got 3"):
        gan.generate(2, labels=[0, 1, 2])
    images = np.zeros((8,) + gan.image_shape, "float32")
    with pytest.raises(ValueError, match=r"class-conditional \(3 classes\).*got images alone"):
        gan.fit(images, batch_size=8, epochs=1, verbose=0)
    plain = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    with pytest.raises(ValueError, match="labels apply to class-conditional models only"):
        plain.generate(2, labels=0)
    with pytest.raises(ValueError, match="at least two distinct names"):
        zoo.create("dcgan", **zoo.tiny_config("dcgan"), class_names=["only"])


def _class_folder(root):
    for i, name in enumerate(["dog", "cat"]):
        noise_image_folder(root / name / "nested", 5, 8, 8, name=f"{name}{{i}}.png", seed=i)
    noise_image_folder(root, 1, 8, 8, name="loose{i}.png")
    (root / "cat" / "broken.png").write_bytes(b"not a png")


def test_labels_are_inferred_from_class_folders_and_stay_aligned_when_files_are_skipped(tmp_path):
    _class_folder(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = data.image_dataset(tmp_path, image_size=8, batch_size=10, labels="inferred",
                                shuffle=False)
    messages = "\n".join(str(w.message) for w in caught)
    assert "loose0.png: not in a class sub-folder" in messages
    assert "broken.png" in messages
    assert ds.class_names == ["cat", "dog"]
    images, labels = next(iter(ds))
    assert labels.dtype == tf.int32 and list(labels.numpy()) == [0] * 5 + [1] * 5
    cats = data.load_image_folder(tmp_path / "cat", 8)
    np.testing.assert_allclose(images.numpy()[:5], cats / 127.5 - 1.0, atol=1e-6)
    assert data.class_names(tmp_path) == ["cat", "dog"]


def test_labels_from_an_npz_and_from_an_array(tmp_path):
    ds = data.image_dataset(data.bundled("fashion_mnist"), image_size=28, channels=1,
                            batch_size=16, labels="inferred", seed=0)
    assert ds.class_names[0] == "T-shirt/top" and len(ds.class_names) == 10
    images, labels = next(iter(ds))
    assert images.shape == (16, 28, 28, 1) and 0 <= labels.numpy().min() <= labels.numpy().max() <= 9
    x = np.zeros((6, 8, 8, 3), "uint8")
    x[3:] = 255
    ds = data.image_dataset(x, image_size=8, batch_size=6, labels=np.array([7, 7, 7, 9, 9, 9]),
                            shuffle=False)
    assert ds.class_names == ["7", "9"]
    images, labels = next(iter(ds))
    assert list(labels.numpy()) == [0, 0, 0, 1, 1, 1] and images.numpy()[3].min() == 1.0
    np.savez(tmp_path / "unlabeled.npz", x_train=x)
    with pytest.raises(data.DataError, match="has no labels: expected an array named y_train"):
        data.image_dataset(tmp_path / "unlabeled.npz", image_size=8, batch_size=2, labels="inferred")
    with pytest.raises(data.DataError, match=r"one integer per image, shape \(6,\), got shape \(5,\)"):
        data.image_dataset(x, image_size=8, batch_size=2, labels=np.arange(5))
    (tmp_path / "one" / "only").mkdir(parents=True)
    noise_image_folder(tmp_path / "one" / "only", 2, 8, 8)
    with pytest.raises(data.DataError, match="found 1 \\(only\\): at least two are needed"):
        data.image_dataset(tmp_path / "one", image_size=8, batch_size=2, labels="inferred")


def test_conditional_export_takes_the_label_as_a_named_int32_input(tmp_path):
    gan = tiny_conditional("dcgan")
    report = export.export(gan, str(tmp_path), formats=["tflite"], quantizations=["float32"])
    assert report["class_names"] == CLASSES
    artifact = report["artifacts"][0]
    assert {"name": "label", "shape": [1], "dtype": "int32"} in artifact["inputs"]
    assert artifact["within_tolerance"], artifact
    interpreter = tf.lite.Interpreter(str(tmp_path / artifact["path"]))
    runner = interpreter.get_signature_runner("serving_default")
    latent = gan.latents(1, seed=0)
    for label in (0, 2):
        out = runner(latent=latent, label=np.array([label], "int32"))["image"]
        np.testing.assert_allclose(out, gan.generate(latents=latent, labels=label), atol=1e-4)


def test_cli_trains_a_conditional_run_and_samples_a_class_by_name(tmp_path, capsys, eager):
    _class_folder(tmp_path / "data")
    out = tmp_path / "run"
    assert cli.main(["train", "vanilla", "--data", str(tmp_path / "data"), "--conditional",
                     "--image-size", "8", "--set", "latent_dim=4", "--batch-size", "4",
                     "--epochs", "1", "--verbose", "0", "--out", str(out)]) == 0
    assert "loose0.png: not in a class sub-folder" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["config"]["class_names"] == ["cat", "dog"]
    assert cli.main(["sample", str(out), "--label", "dog", "--n", "4", "--out",
                     str(tmp_path / "dogs.npz")]) == 0
    dogs = np.load(tmp_path / "dogs.npz")["images"]
    np.testing.assert_allclose(dogs, zoo.load(str(out)).generate(4, seed=0, labels="dog"), atol=1e-5)
    capsys.readouterr()
    assert cli.main(["sample", str(out), "--label", "owl", "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "kerasgan: error: --label owl: Unknown class 'owl': expected an index 0-1 or one of cat, dog."]
    assert cli.main(["train", "fastgan", "--data", str(tmp_path / "data"), "--conditional",
                     "--out", str(tmp_path / "f")]) == 2
    assert "fastgan has no class-conditional version; these have: dcgan, stylegan_lite, vanilla" \
        in capsys.readouterr().err
    assert not (tmp_path / "f").exists()
