"""`kerasgan train --tensorboard` and the losses.png of every run."""
import glob
import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

import kerasgan
from conftest import noise_image_folder
from kerasgan import callbacks, cli, plots, zoo
from kerasgan.errors import UsageError


@pytest.fixture
def image_folder(tmp_path):
    folder = noise_image_folder(tmp_path / "art", 8, 10, 12, name="{i}.png")
    return folder


def _events(folder):
    """{tag: {step: value}} of the event files in `folder` (scalars as floats, images as
    (width, height) from the encoded PNG)."""
    import tensorflow as tf

    found = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                tensor = tf.make_ndarray(value.tensor)
                if plugin == "images":  # [width, height, png, ...]
                    content = (int(tensor[0]), int(tensor[1]), tensor[2][:8])
                else:
                    content = float(tensor)
                found.setdefault(value.tag, {})[event.step] = content
    return found


def test_a_tensorboard_run_logs_losses_learning_rates_and_grids(image_folder, tmp_path,
                                                                capsys):
    run = str(tmp_path / "run")
    tiny = zoo.tiny_config("vanilla")  # 8x8 grey
    kerasgan.train("vanilla", data=image_folder, out=run, config=tiny, epochs=2,
                   batch_size=4, seed=0, verbose=0, lr=3e-4, tensorboard=True)
    assert f"tensorboard --logdir {os.path.join(run, 'tensorboard')}" in capsys.readouterr().out
    history = plots.read_history(os.path.join(run, plots.HISTORY_FILE))
    scalars = _events(os.path.join(run, "tensorboard", "train"))
    for name in ("d_loss", "g_loss", "real_score", "fake_score"):
        assert set(scalars[f"epoch_{name}"]) == {0, 1}  # Keras' steps: epochs from 0
        np.testing.assert_allclose([scalars[f"epoch_{name}"][e] for e in (0, 1)],
                                   history[name], rtol=1e-6)
    for name in ("generator", "discriminator"):
        assert scalars[f"epoch_learning_rate_{name}"] == {0: pytest.approx(3e-4),
                                                         1: pytest.approx(3e-4)}
    images = _events(os.path.join(run, "tensorboard", "samples"))["samples"]
    assert set(images) == {0, 1}
    width, height, png = images[1]
    assert png == b"\x89PNG\r\n\x1a\n"
    assert (width, height) == Image.open(os.path.join(run, "samples", "epoch-0002.png")).size

    # A resumed run goes on with the next epoch, in TensorBoard and in losses.png.
    kerasgan.train("vanilla", data=image_folder, out=run, resume=True, epochs=3, verbose=0,
                   tensorboard=True)
    assert set(_events(os.path.join(run, "tensorboard", "train"))["epoch_g_loss"]) == {0, 1, 2}
    assert plots.read_history(os.path.join(run, plots.HISTORY_FILE))["epoch"] == [1, 2, 3]

    # The command's flag; --overwrite removes the previous run's events and history.
    assert cli.main(["train", "vanilla", "--data", image_folder, "--out", run, "--overwrite",
                     "--epochs", "1", "--batch-size", "4", "--verbose", "0", "--tensorboard",
                     "--image-size", "8", "--channels", "1",
                     *[f"--set={k}={v}" for k, v in tiny.items()
                       if k not in ("image_size", "channels")]]) == 0
    assert _events(os.path.join(run, "tensorboard", "train"))["epoch_g_loss"].keys() == {0}
    assert list(_events(os.path.join(run, "tensorboard", "samples"))["samples"]) == [0]
    assert plots.read_history(os.path.join(run, plots.HISTORY_FILE))["epoch"] == [1]


def test_every_run_ends_with_losses_png(image_folder, tmp_path, capsys):
    run = str(tmp_path / "run")
    kerasgan.train("vanilla", data=image_folder, out=run, config=zoo.tiny_config("vanilla"),
                   epochs=2, batch_size=4, seed=0, verbose=0)
    path = os.path.join(run, "losses.png")
    assert f"Losses: {path}" in capsys.readouterr().out
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG" and image.size == (800, 640)  # two panels
    assert not os.path.exists(os.path.join(run, "tensorboard"))  # only when asked
    lines = open(os.path.join(run, plots.HISTORY_FILE)).read().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert {"d_loss", "g_loss"} <= set(json.loads(lines[0]))


def test_history_replaces_the_epochs_a_resumed_run_trains_again(tmp_path):
    path = tmp_path / "history.jsonl"
    records = [{"epoch": 1, "g_loss": 1.0}, {"epoch": 2, "g_loss": 2.0},
               {"epoch": 3, "g_loss": 3.0},  # then resumed from the epoch-1 checkpoint:
               {"epoch": 2, "g_loss": 2.5, "penalty": 0.1}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"epoch": 3, "g_lo')
    history = plots.read_history(str(path))
    assert history["epoch"] == [1, 2] and history["g_loss"] == [1.0, 2.5]
    assert np.isnan(history["penalty"][0]) and history["penalty"][1] == 0.1
    assert plots.plot_history({"learning_rate_generator": [1e-4]}, str(tmp_path / "x.png")) \
        is None  # nothing to draw


def test_tensorboard_without_its_package_is_refused_before_anything_is_written(
        image_folder, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else find_spec(name, *a))
    with pytest.raises(UsageError, match="--tensorboard needs the tensorboard package"):
        kerasgan.train("vanilla", data=image_folder, out=str(tmp_path / "run"), epochs=1,
                       tensorboard=True)
    assert not os.path.exists(tmp_path / "run")


def test_the_callback_alone_generates_its_grid_and_reads_learning_rates(tmp_path):
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    gan.compile()
    logs = {"g_loss": 1.0}
    images = callbacks.TensorBoardImages(str(tmp_path / "tb"), n=4, every_n_epochs=2)
    images.set_model(gan)
    images.on_train_begin()
    images.on_epoch_end(0, logs)  # no grid at epoch 1 of every 2
    images.on_epoch_end(1, dict(logs))
    images.on_train_end()
    assert logs["learning_rate_generator"] == pytest.approx(2e-4)  # the default Adam
    samples = _events(str(tmp_path / "tb"))["samples"]
    assert list(samples) == [1] and samples[1][:2] == (16, 16)  # 2 x 2 tiles of 8 px
