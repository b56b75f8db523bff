import os

import numpy as np
import pytest
import keras
from PIL import Image

from kerasgan import callbacks, zoo
from conftest import image_batches


def tiny_vanilla():
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    gan.compile()
    return gan


def test_image_grid_layout_and_pixels():
    images = np.stack([np.full((2, 3, 3), v, "float32") for v in (-1.0, 0.0, 1.0)])
    grid = callbacks.image_grid(images, columns=2)
    assert grid.shape == (4, 6, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 128 and grid[2, 0, 0] == 255
    assert (grid[2:, 3:] == 255).all()  # the empty cell is white


def test_sample_grid_writes_the_same_latents_every_epoch(tmp_path):
    gan = tiny_vanilla()
    sampler = callbacks.SampleGrid(str(tmp_path), n=9, every_n_epochs=2)
    gan.fit(image_batches(gan.image_shape), epochs=4, verbose=0, callbacks=[sampler])
    assert sorted(os.listdir(tmp_path)) == ["epoch-0002.png", "epoch-0004.png"]
    grid = np.asarray(Image.open(tmp_path / "epoch-0004.png"))
    expected = callbacks.image_grid(gan.generate(latents=gan.latents(9, 0)))
    np.testing.assert_array_equal(grid, expected)  # grey: an 8-bit grey PNG, exactly


class NaNAtBatch(keras.callbacks.Callback):
    """Poisons the discriminator's last layer before batch `at`."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.at:
            kernel = self.model.discriminator.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_stop_names_the_loss_and_batch_and_keeps_the_good_checkpoint(tmp_path):
    gan = tiny_vanilla()
    stop, checkpoint = callbacks.StopOnNaN(), callbacks.Checkpoint(str(tmp_path))
    data = image_batches(gan.image_shape, n=48)  # 6 batches an epoch
    gan.fit(data, epochs=1, verbose=0, callbacks=[stop, checkpoint])
    assert callbacks.latest_checkpoint(str(tmp_path))[1] == 1
    with pytest.warns(UserWarning, match="Not checkpointing epoch 2"):
        gan.fit(data, epochs=3, initial_epoch=1, verbose=0,
                callbacks=[stop, checkpoint, NaNAtBatch(2)])
    epoch, batch, key, _ = stop.stopped
    assert (epoch, batch) == (1, 2)  # stopped on the poisoned batch, not later
    assert key in ("d_loss", "g_loss", "real_score", "fake_score")
    assert "at epoch 2, batch 3" in stop.message
    assert int(gan.step.numpy()) == 6 + 3
    path, saved_epoch = callbacks.latest_checkpoint(str(tmp_path))
    assert saved_epoch == 1
    restored = keras.models.load_model(path)
    assert all(np.isfinite(np.array(v)).all() for v in restored.weights)


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    gan = tiny_vanilla()
    gan.fit(image_batches(gan.image_shape), epochs=3, verbose=0,
            callbacks=[callbacks.Checkpoint(str(tmp_path), keep=2)])
    assert sorted(os.listdir(tmp_path)) == ["epoch-0002.keras", "epoch-0003.keras", "model.json"]
    path, epoch = callbacks.latest_checkpoint(str(tmp_path))
    assert epoch == 3 and int(keras.models.load_model(path).step.numpy()) == 9
    assert callbacks.latest_checkpoint(str(tmp_path / "missing")) is None


def test_snapshots_outlive_the_pruning_and_load_as_that_epoch(tmp_path):
    gan = tiny_vanilla()
    checkpoint = callbacks.Checkpoint(str(tmp_path / "checkpoints"), keep=1, snapshot_every=2,
                                      snapshot_dir=str(tmp_path / "snapshots"))
    gan.fit(image_batches(gan.image_shape), epochs=5, verbose=0, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["epoch-0005.keras", "model.json"]
    assert sorted(os.listdir(tmp_path / "snapshots")) == ["epoch-0002.keras", "epoch-0004.keras"]
    snapshot = keras.models.load_model(tmp_path / "snapshots" / "epoch-0004.keras")
    assert int(snapshot.step.numpy()) == 12  # 3 batches an epoch
    assert any(not np.array_equal(a, b) for a, b in
               zip(snapshot.generator.get_weights(), gan.generator.get_weights()))
    with pytest.raises(ValueError, match="snapshot_every needs a snapshot_dir"):
        callbacks.Checkpoint(str(tmp_path), snapshot_every=2)


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    gan = tiny_vanilla()
    gan.fit(image_batches(gan.image_shape), epochs=2, verbose=0,
            callbacks=[callbacks.Checkpoint(str(tmp_path))])
    latest = tmp_path / "epoch-0002.keras"
    latest.write_bytes(latest.read_bytes()[:1000])  # truncated, as by a full disk
    with pytest.warns(UserWarning, match="epoch-0002.keras could not be loaded"):
        restored, epoch = callbacks.load_latest_checkpoint(str(tmp_path))
    assert epoch == 1 and int(restored.step.numpy()) == 3
    assert callbacks.load_latest_checkpoint(str(tmp_path / "none")) is None


def test_checkpoints_of_another_model_are_refused(tmp_path):
    gan = tiny_vanilla()
    gan.fit(image_batches(gan.image_shape), epochs=1, verbose=0,
            callbacks=[callbacks.Checkpoint(str(tmp_path))])
    other = zoo.create("vanilla", image_size=12, channels=1, latent_dim=8)
    other.compile()
    with pytest.raises(ValueError, match="holds checkpoints of another model"):
        other.fit(image_batches(other.image_shape), epochs=1, verbose=0,
                  callbacks=[callbacks.Checkpoint(str(tmp_path))])
    assert callbacks.latest_checkpoint(str(tmp_path))[1] == 1  # untouched
