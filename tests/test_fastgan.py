"""FastGAN: skip-layer excitation generator, discriminator with self-supervised decoders.

The shared tests (tests/test_models.py, test_precision.py, test_export.py) train, save,
reload and export `fastgan` with its tiny config; these check what is FastGAN's own.
"""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasgan
from kerasgan import zoo
from kerasgan.models import fastgan as fastgan_lib

STEPS_PER_EPOCH, EPOCHS = 10, 3


def tiny(**overrides):
    return zoo.create("fastgan", **{**zoo.tiny_config("fastgan"), "seed": 0, **overrides})


def fixed_images(n=8, size=32, seed=0):
    """Smooth colour gradients and blobs in [-1, 1]: a small set with structure to rebuild."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    images = []
    for _ in range(n):
        cy, cx, r = rng.uniform(0.25, 0.75, 2).tolist() + [rng.uniform(0.15, 0.3)]
        blob = ((ys - cy) ** 2 + (xs - cx) ** 2 < r ** 2).astype("float32")
        colour, back = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
        ramp = (xs[..., None] - 0.5) * 0.5
        images.append(np.clip(blob[..., None] * colour + (1 - blob[..., None]) * back + ramp,
                              -1, 1))
    return np.stack(images).astype("float32")


def snapshot(variables):
    return [np.array(v) for v in variables]


@pytest.fixture(scope="module")  # its tests: one pytest-xdist group, trained once per run
def trained():
    """A tiny FastGAN trained 30 steps (hinge loss, no augmentation: fixed targets) on 8
    fixed images: (gan, history, decoder weights before training)."""
    keras.utils.set_random_seed(0)
    gan = tiny(decoder_channels=4)
    gan.compile(**{**gan.default_compile_args(8), "augment": None})
    before = snapshot(gan.decoder.trainable_variables)
    data = tf.data.Dataset.from_tensor_slices(fixed_images()).batch(8).repeat()
    history = gan.fit(data, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0)
    yield gan, history.history, before
    keras.backend.clear_session()


@pytest.mark.xdist_group("fastgan_trained")
def test_reconstruction_loss_decreases_while_adversarial_losses_stay_finite(trained):
    gan, history, _ = trained
    recon = history["recon_loss"]
    assert np.all(np.isfinite(recon)) and recon[0] > 0
    assert recon[-1] < 0.9 * recon[0], recon
    for key in ("d_loss", "g_loss", "real_score", "fake_score"):
        assert np.all(np.isfinite(history[key])), key
    assert int(gan.step.numpy()) == EPOCHS * STEPS_PER_EPOCH


@pytest.mark.xdist_group("fastgan_trained")
def test_the_decoders_train_with_the_discriminator(trained):
    gan, _, before = trained
    moved = [not np.allclose(b, np.array(v))
             for b, v in zip(before, gan.decoder.trainable_variables)]
    assert moved and all(moved), "a decoder weight did not move"
    # One optimizer updates both networks (FastGAN's decoders are part of its D).
    assert int(gan.d_optimizer.iterations.numpy()) == EPOCHS * STEPS_PER_EPOCH


def test_recipe_is_hinge_ada_and_adam():
    gan = tiny()
    args = gan.default_compile_args(16)
    assert args["loss"] == "hinge" and args["augment"] == "ada"
    for key in ("d_optimizer", "g_optimizer"):
        config = args[key].get_config()
        assert isinstance(args[key], keras.optimizers.Adam)
        np.testing.assert_allclose([config["learning_rate"], config["beta_1"], config["beta_2"]],
                                   [2e-4, 0.5, 0.999])
    assert gan.ema_decay == 0.999


def _all_layers(network):
    return network._flatten_layers(include_self=False, recursive=True)


@pytest.mark.parametrize("image_size", fastgan_lib.IMAGE_SIZES)
def test_shapes_and_no_transposed_convolutions(image_size):
    gan = tiny(image_size=image_size)
    generator, discriminator = gan.generator, gan.discriminator
    assert generator.output_shape == (None, image_size, image_size, 3)
    assert not [l for l in _all_layers(generator) if isinstance(l, keras.layers.Conv2DTranspose)]
    excited = [l.name for l in generator.layers if l.name.endswith("_excite")]
    assert len(excited) == len(fastgan_lib.SLE_PAIRS[image_size])
    # The discriminator alone maps images to one logit per image.
    images = np.random.default_rng(0).uniform(-1, 1, (3, image_size, image_size, 3))
    logits = discriminator(images.astype("float32"), training=False)
    assert discriminator.output_shape == (None, 1) and tuple(logits.shape) == (3, 1)
    assert discriminator.get_layer(fastgan_lib.FEATURES_8).output.shape[1:3] == (8, 8)
    assert discriminator.get_layer(fastgan_lib.FEATURES_16).output.shape[1:3] == (16, 16)
    size = min(128, image_size // 2)
    assert [tuple(o.shape[1:]) for o in gan.decoder.outputs] == [(size, size, 3)] * 2


@pytest.mark.xdist_group("fastgan_trained")
def test_generator_output_is_in_range(trained):
    gan, _, _ = trained
    latents = 50.0 * gan.latents(8, seed=1)  # far out: tanh still bounds it
    for images in (gan.generate(8, seed=0), gan.generate(latents=latents),
                   np.array(gan.generator(latents, training=True))):
        assert images.min() >= -1.0 and images.max() <= 1.0
        assert images.std() > 1e-2, images.std()


def test_quadrant_picks_each_corner():
    x = np.arange(2 * 4 * 6 * 1, dtype="float32").reshape(2, 4, 6, 1)
    for index in range(4):
        out = fastgan_lib.quadrant(tf.constant(x), tf.constant([index, 3 - index])).numpy()
        for i, q in enumerate((index, 3 - index)):
            top, left = (q // 2) * 2, (q % 2) * 3
            np.testing.assert_array_equal(out[i], x[i, top:top + 2, left:left + 3])


def test_quadrant_draws_are_keyed_and_cover_all_four():
    gan = tiny()
    a = gan._quadrants(tf.constant(256), 0).numpy()
    np.testing.assert_array_equal(a, gan._quadrants(tf.constant(256), 0).numpy())
    assert set(a.tolist()) == {0, 1, 2, 3}
    assert not np.array_equal(a, gan._quadrants(tf.constant(256), 1).numpy())


@pytest.mark.xdist_group("fastgan_trained")
def test_keras_file_and_folder_round_trips_keep_the_decoders(trained, tmp_path):
    gan, _, _ = trained
    path = str(tmp_path / "fastgan.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, fastgan_lib.FastGAN)
    np.testing.assert_array_equal(loaded.generate(4, seed=3), gan.generate(4, seed=3))
    for a, b in zip(snapshot(gan.decoder.weights), snapshot(loaded.decoder.weights)):
        np.testing.assert_array_equal(a, b)
    assert loaded.get_compile_config() == gan.get_compile_config()
    assert "recon_loss" in [m.name for m in loaded.metrics]

    zoo.save(gan, str(tmp_path / "run"))
    from_folder = zoo.load(str(tmp_path / "run"), for_training=True)
    np.testing.assert_array_equal(from_folder.generate(4, seed=3), gan.generate(4, seed=3))
    for a, b in zip(snapshot(gan.decoder.weights), snapshot(from_folder.decoder.weights)):
        np.testing.assert_array_equal(a, b)

    # A preset holds the sampler's (EMA) generator, the discriminator and the decoders.
    zoo.save_preset(gan, str(tmp_path / "preset"), metadata={"name": "p"})
    files = json.load(open(tmp_path / "preset" / "metadata.json"))["files"]
    assert {"generator.weights.h5", "discriminator.weights.h5", "decoder.weights.h5"} <= set(files)
    np.testing.assert_array_equal(zoo.load(str(tmp_path / "preset")).generate(4, seed=3),
                                  gan.generate(4, seed=3))


def test_spectral_norm_keeps_float32_weights_under_mixed_precision():
    """keras.layers.SpectralNormalization writes the normalized kernel back at every training
    call; FastGAN keeps the wrapper in float32 so that the weights are not rounded to
    bfloat16 there, and computes the wrapped conv in bfloat16."""
    gan = tiny()
    gan.compile(precision="mixed_bfloat16")
    gan.run_eagerly = True  # one step: tracing would be most of the time
    gan.fit(tf.data.Dataset.from_tensor_slices(fixed_images(4)).batch(4), epochs=1, verbose=0)
    wrappers = [l for l in gan.discriminator.layers
                if isinstance(l, keras.layers.SpectralNormalization)]
    assert wrappers
    for wrapper in wrappers:
        assert wrapper.compute_dtype == "float32" and wrapper.layer.compute_dtype == "bfloat16"
    kernel = np.array(wrappers[1].layer.kernel)
    assert not np.array_equal(kernel, np.array(tf.cast(tf.cast(kernel, tf.bfloat16), tf.float32)))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"fastgan makes images of size \(32, 64, 128, 256\)"):
        zoo.create("fastgan", image_size=48)
    with pytest.raises(ValueError, match="one value per resolution"):
        tiny(channel_multipliers=[1, 2])
    with pytest.raises(ValueError, match="recon_weight must be >= 0"):
        tiny(recon_weight=-1)
    gan = tiny()
    used = keras.optimizers.Adam()
    used.build(gan.generator.trainable_variables)
    with pytest.raises(ValueError, match="has not been used yet"):
        gan.compile(d_optimizer=used)
    assert isinstance(gan, kerasgan.GAN)
