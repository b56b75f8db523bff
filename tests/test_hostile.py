"""Hostile input everywhere a user can give it: one clear error, exit code 2, nothing written."""
import os

import numpy as np
import pytest
import keras
from PIL import Image

import kerasgan
from kerasgan import cli, zoo
from conftest import image_batches

TINY = ["--image-size", "8", "--set", "latent_dim=4", "--batch-size", "4", "--epochs", "1"]


def run_cli(argv, capsys):
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.fixture
def corrupt_folder(tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "b.jpg").write_bytes(b"")
    return str(folder)


@pytest.mark.parametrize("make_data, message", [
    (lambda tmp: str(tmp / "missing"), "not found"),
    (lambda tmp: str((tmp / "empty").mkdir() or tmp / "empty"), "No image files"),
])
def test_missing_or_empty_data_folder(make_data, message, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = run_cli(["train", "vanilla", "--data", make_data(tmp_path), "--out", str(out), *TINY],
                        capsys)
    assert code == 2 and err.startswith("kerasgan: error:") and message.lower() in err.lower()
    assert not out.exists(), "a failed start must not leave a run directory"


def test_a_folder_of_only_corrupt_files_names_them(corrupt_folder, tmp_path, capsys):
    code, err = run_cli(["train", "vanilla", "--data", corrupt_folder, "--out",
                         str(tmp_path / "run"), *TINY], capsys)
    assert code == 2 and "a.png" in err and "b.jpg" in err


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, err = run_cli(["train", "vanilla", "--data", "x", "--out", str(blocker / "run"), *TINY],
                        capsys)
    assert code == 2 and "cannot write the run directory" in err


@pytest.mark.parametrize("flag, value", [("--image-size", "0"), ("--batch-size", "-3"),
                                         ("--epochs", "0"), ("--steps-per-epoch", "-1")])
def test_zero_or_negative_sizes(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "vanilla", "--data", "x", "--out", "y", flag, value])
    assert exit_info.value.code == 2
    assert f"expected a positive integer, got '{value}'" in capsys.readouterr().err


@pytest.fixture
def vanilla_run(tmp_path):
    """(image folder, a one-epoch vanilla run trained on it)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(folder / f"{i}.png")
    run = str(tmp_path / "run")
    assert cli.main(["train", "vanilla", "--data", str(folder), "--out", run, *TINY,
                     "--verbose", "0"]) == 0
    return folder, run


def test_resume_refuses_another_architecture_or_size(vanilla_run, capsys):
    folder, run = vanilla_run
    code, err = run_cli(["train", "dcgan", "--data", str(folder), "--out", run, "--resume",
                         "--image-size", "32", "--epochs", "2"], capsys)
    assert code == 2 and "holds a 'vanilla' run, not 'dcgan'" in err
    code, err = run_cli(["train", "vanilla", "--data", str(folder), "--out", run, "--resume",
                         "--image-size", "16", "--epochs", "2"], capsys)
    assert code == 2 and "trained at --image-size 8, not 16" in err


def test_resume_takes_the_runs_architecture_and_data_and_says_when_it_has_none(vanilla_run,
                                                                              tmp_path, capsys):
    import json

    folder, run = vanilla_run
    code, err = run_cli(["train", "vanilla", "--out", str(tmp_path / "new"), *TINY], capsys)
    assert code == 2 and "train needs --data" in err and not (tmp_path / "new").exists()
    assert cli.main(["train", "--resume", "--out", run, "--epochs", "2", "--verbose", "0"]) == 0
    metadata = json.load(open(os.path.join(run, "metadata.json")))
    assert metadata["architecture"] == "vanilla" and metadata["epochs"] == 2
    assert metadata["data"] == str(folder) and metadata["steps"] == 2

    config_path = os.path.join(run, "config.json")
    spec = json.load(open(config_path))
    del spec["train"]["data"]  # a run folder from elsewhere that does not say
    with open(config_path, "w") as f:
        json.dump(spec, f)
    before = sorted(os.listdir(os.path.join(run, "checkpoints")))
    code, err = run_cli(["train", "--resume", "--out", run, "--epochs", "3"], capsys)
    assert code == 2 and "does not record the data it trained on; give --data" in err
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == before


def test_evaluate_offline_without_inception_weights_says_what_to_pass(tmp_path, capsys):
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    zoo.save(gan, str(tmp_path / "run"))
    code, err = run_cli(["evaluate", str(tmp_path / "run"), "--data", "x"], capsys)
    if code == 0:
        pytest.skip("Inception weights are cached on this machine")
    assert code == 2 and "--inception-weights PATH" in err


def test_evaluate_with_a_feature_model_writes_results_next_to_the_run(tmp_path, capsys):
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    run = str(tmp_path / "run")
    zoo.save(gan, run)
    inputs = keras.Input((8, 8, 1))
    keras.Model(inputs, keras.layers.Flatten()(inputs)).save(str(tmp_path / "flat.keras"))
    np.savez(str(tmp_path / "real.npz"), x_train=np.random.default_rng(0).integers(
        0, 255, (40, 8, 8), dtype=np.uint8))
    assert cli.main(["evaluate", run, "--data", str(tmp_path / "real.npz"), "--n", "40",
                     "--features", str(tmp_path / "flat.keras")]) == 0
    import json
    result = json.load(open(os.path.join(run, "evaluation.json")))[-1]
    assert np.isfinite(result["fid"]) and result["n_fake"] == 40


def test_fit_refuses_images_of_the_wrong_shape_or_dtype():
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    gan.compile()
    with pytest.raises(ValueError, match=r"shape \(batch, 8, 8, 1\).*got \(8, 8, 8, 3\)"):
        gan.fit(image_batches((8, 8, 3)), epochs=1, verbose=0)
    uint8 = image_batches((8, 8, 1)).map(lambda x: keras.ops.cast(x, "uint8"))
    with pytest.raises(ValueError, match="floats in \\[-1, 1\\], got dtype uint8"):
        gan.fit(uint8, epochs=1, verbose=0)


def test_a_keras_file_with_a_lambda_layer_is_refused_unless_safe_mode_is_off(tmp_path):
    inputs = keras.Input((4,))
    hidden = keras.layers.Lambda(lambda z: z * 2.0)(inputs)  # arbitrary code in a model file
    image = keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4, activation="tanh")(hidden))
    generator = keras.Model(inputs, image)
    image_in = keras.Input((2, 2, 1))
    discriminator = keras.Model(image_in, keras.layers.Dense(1)(keras.layers.Flatten()(image_in)))
    path = str(tmp_path / "lambda.keras")
    kerasgan.GAN(generator, discriminator).save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.models.load_model(path)
    with pytest.raises(ValueError, match="safe_mode"):
        zoo.load(path)
    assert isinstance(keras.models.load_model(path, safe_mode=False), kerasgan.GAN)


def test_generate_refuses_integer_latents():
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    with pytest.raises(ValueError, match="floating point, got dtype int64"):
        gan.generate(latents=np.zeros((2, 8), np.int64))


def test_multiworker_needs_a_cluster_and_a_seed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    argv = ["train", "vanilla", "--data", "x", "--out", str(tmp_path / "run"), *TINY,
            "--strategy", "multiworker"]
    code, err = run_cli(argv, capsys)
    assert code == 2 and "needs TF_CONFIG" in err
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    code, err = run_cli(argv, capsys)
    assert code == 2 and "needs --seed" in err
