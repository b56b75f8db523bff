"""Shared behaviour of every registered architecture, each built from its tiny config."""
import numpy as np
import pytest
import keras
import tensorflow as tf

import kerasgan
from kerasgan import zoo
from conftest import image_batches

ARCHITECTURES = zoo.list(kind="generation")  # image-to-image models: their own test files


def tiny_gan(name, **overrides):
    gan = zoo.create(name, **{**zoo.tiny_config(name), **overrides})
    gan.compile()
    return gan


def snapshot(variables):
    return [np.array(v) for v in variables]


def changed(before, variables):
    return [not np.allclose(b, np.array(v)) for b, v in zip(before, variables)]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_fit_trains_both_networks(name):
    gan = tiny_gan(name)
    g0, d0 = snapshot(gan.generator.trainable_variables), snapshot(gan.discriminator.trainable_variables)
    history = gan.fit(image_batches(gan.image_shape), epochs=2, verbose=0)
    for key in ("d_loss", "g_loss", "real_score", "fake_score"):
        assert np.all(np.isfinite(history.history[key])), key
    assert all(changed(g0, gan.generator.trainable_variables)), "a generator weight did not move"
    assert all(changed(d0, gan.discriminator.trainable_variables)), "a discriminator weight did not move"
    assert int(gan.step.numpy()) == 6  # 2 epochs x 3 batches


@pytest.mark.auto_precision
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_keras_file_round_trip_and_resume(name, tmp_path):
    # Eager steps: tracing twice (original and reloaded) took most of this test's time;
    # graph-mode training is test_fit_trains_both_networks'. One batch per epoch: an eager
    # step of the tiny FastGAN or StyleGAN-lite takes 2-3 s of CPU.
    gan = tiny_gan(name, ema_decay=0.9)
    gan.run_eagerly = True
    data = image_batches(gan.image_shape, n=8)
    gan.fit(data, epochs=1, verbose=0)
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: the model files are imported
    loaded.run_eagerly = True
    assert isinstance(loaded, kerasgan.GAN)
    np.testing.assert_array_equal(loaded.generate(4, seed=3), gan.generate(4, seed=3))
    for a, b in zip(snapshot(gan.variables), snapshot(loaded.variables)):
        np.testing.assert_array_equal(a, b)
    for opt, loaded_opt in ((gan.d_optimizer, loaded.d_optimizer), (gan.g_optimizer, loaded.g_optimizer)):
        assert len(opt.variables) == len(loaded_opt.variables) > 2
        for a, b in zip(snapshot(opt.variables), snapshot(loaded_opt.variables)):
            np.testing.assert_array_equal(a, b)
    assert loaded.get_compile_config() == gan.get_compile_config()
    assert int(loaded.step.numpy()) == 1
    # Resumed training continues the count and the random stream of an uninterrupted run.
    loaded.fit(data, epochs=1, verbose=0)
    gan.fit(data, epochs=1, verbose=0)
    assert int(loaded.step.numpy()) == 2
    np.testing.assert_allclose(loaded.generate(4, seed=3), gan.generate(4, seed=3), atol=1e-5)


@pytest.mark.auto_precision
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_model_folder_round_trip_and_fine_tune(name, tmp_path):
    gan = tiny_gan(name, ema_decay=0.9)
    gan.run_eagerly = True  # graph mode: test_fit_trains_both_networks
    data = image_batches(gan.image_shape, n=8)  # one step an epoch (eager steps are slow)
    gan.fit(data, epochs=1, verbose=0)
    zoo.save(gan, str(tmp_path), metadata={"note": "test"})
    loaded = zoo.load(str(tmp_path))
    np.testing.assert_array_equal(loaded.generate(5, seed=0), gan.generate(5, seed=0))
    gan.save(str(tmp_path / "gan.keras"))
    from_file = zoo.load(str(tmp_path / "gan.keras"))
    np.testing.assert_array_equal(from_file.generate(5, seed=0), gan.generate(5, seed=0))
    trainable = zoo.load(str(tmp_path), for_training=True)
    trainable.run_eagerly = True
    history = trainable.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["g_loss"]).all()


@pytest.mark.auto_precision
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_generate_is_deterministic_and_in_range(name):
    gan = zoo.create(name, **zoo.tiny_config(name))
    a, b, c = gan.generate(6, seed=7), gan.generate(6, seed=7), gan.generate(6, seed=8)
    assert a.shape == (6,) + gan.image_shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.min() >= -1.0 and a.max() <= 1.0


def test_generate_rejects_bad_latents():
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    with pytest.raises(ValueError, match=r"shape \(n, 8\), got \(2, 5\)"):
        gan.generate(latents=np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="positive integer"):
        gan.generate(0)


def test_jit_compile_auto_leaves_xla_off_on_cpu():
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("auto turns XLA on where a GPU is present")
    gan = tiny_gan("vanilla")
    assert gan.jit_compile is False
    assert gan.get_compile_config()["jit_compile"] == "auto"


# Only "auto" depends on the machine (float32 is pinned): .ci/run's second pass runs that one.
@pytest.mark.parametrize("precision_name",
                         ["float32", pytest.param("auto", marks=pytest.mark.auto_precision)])
def test_xla_train_step_matches_the_default_path(precision_name):
    """One CI test of the XLA path: jit_compile=True trains, and agrees with the oneDNN path:
    to float32 rounding in float32; within 5 % of how far the weights moved at the precision
    "auto" picks (bfloat16 rounds differently in XLA's and oneDNN's kernels)."""
    results = []
    for jit in (True, False):
        keras.utils.set_random_seed(5)
        gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"), seed=11)
        initial = snapshot(gan.generator.trainable_variables)
        # SGD, not Adam: Adam's m/sqrt(v) turns rounding noise in near-zero gradients
        # into full-size steps, which would hide real differences behind lr-sized ones.
        gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1),
                    jit_compile=jit, precision=precision_name)
        history = gan.fit(image_batches(gan.image_shape), epochs=1, verbose=0)
        assert gan.jit_compile is jit
        assert np.isfinite(history.history["d_loss"]).all()
        results.append(snapshot(gan.generator.trainable_variables))
    moved = max(np.abs(a - b).max() for a, b in zip(results[1], initial))
    assert moved > 1e-3
    tolerance = 1e-5 if gan.compute_precision == "float32" else 0.05 * moved
    for with_xla, without in zip(*results):
        np.testing.assert_allclose(with_xla, without, atol=tolerance)


def test_d_steps_updates_discriminator_more_often():
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"), d_steps=3)
    gan.compile()
    gan.fit(image_batches(gan.image_shape), epochs=1, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 3
    assert int(gan.d_optimizer.iterations.numpy()) == 9


def test_ema_generator_averages_and_is_used_for_sampling():
    gan = tiny_gan("vanilla", ema_decay=0.5)
    gan.fit(image_batches(gan.image_shape), epochs=2, verbose=0)
    raw, ema = gan.generator.weights[0], gan.ema_generator.weights[0]
    assert not np.allclose(np.array(raw), np.array(ema))
    z = gan.latents(3, seed=0)
    np.testing.assert_allclose(gan.generate(latents=z), np.array(gan.ema_generator(z)), atol=1e-6)


@pytest.mark.parametrize("loss", sorted(kerasgan.losses.LOSSES))
def test_every_loss_trains(loss):
    gan = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    gan.compile(loss=loss, r1_gamma=1.0 if loss == "non_saturating" else 0.0)
    history = gan.fit(image_batches(gan.image_shape), epochs=1, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    has_penalty = loss in ("wasserstein", "non_saturating")
    assert ("penalty" in history.history) == has_penalty
    if has_penalty:
        assert history.history["penalty"][0] > 0


def test_registry_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="valid names: " + ", ".join(zoo.list())):
        zoo.create("stylegan9000")
    with pytest.raises(ValueError, match="Unknown argument.*'widht'"):
        zoo.create("dcgan", widht=3)
    with pytest.raises(ValueError, match=r"dcgan makes images of size \(32, 64, 128\), got image_size=48"):
        zoo.create("dcgan", image_size=48)


def test_dcgan_matches_the_reference_widths():
    gan = zoo.create("dcgan", image_size=64, latent_dim=100, base_channels=64)
    convs = [l for l in gan.generator.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert [l.filters for l in convs] == [256, 128, 64, 3]
    assert gan.generator.output_shape == (None, 64, 64, 3)
    assert gan.discriminator.output_shape == (None, 1)


def _statistics_gap(generator, latents):
    """How far the moving statistics of `generator`'s batch-norm layers are from the mean
    and variance of what reaches each layer at inference: the mean over layers and channels
    of |moving mean - mean| / std + |log(moving variance / variance)|."""
    layers = kerasgan.gan.batch_norm_layers(generator)
    probe = keras.Model(generator.inputs, [layer.input for layer in layers])
    gaps = []
    for layer, x in zip(layers, probe(latents, training=False)):
        x = np.asarray(x, "float32").reshape(-1, x.shape[-1])
        mean, variance = x.mean(0), x.var(0) + 1e-6
        gaps.append(np.mean(np.abs(np.asarray(layer.moving_mean) - mean) / np.sqrt(variance)
                            + np.abs(np.log((np.asarray(layer.moving_variance) + 1e-6) / variance))))
    return float(np.mean(gaps))


@pytest.mark.parametrize("name", ["dcgan", "fastgan"])  # the generators with batch norm
def test_the_ema_generator_keeps_batch_norm_statistics_of_its_own_and_recalibrates(name):
    gan = tiny_gan(name, ema_decay=0.9)
    # 80 steps: the moving statistics (momentum 0.9) forget their start (variance 1)
    gan.fit(image_batches(gan.image_shape, n=64), epochs=10, verbose=0)
    ema_layers = kerasgan.gan.batch_norm_layers(gan.ema_generator)
    for ema, raw in zip(ema_layers, kerasgan.gan.batch_norm_layers(gan.generator)):
        assert not np.allclose(ema.moving_mean, raw.moving_mean)  # not copied
    latents = gan.latents(256, seed=0)
    own = _statistics_gap(gan.ema_generator, latents)
    for layer in ema_layers:  # stale: the statistics it was built with
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, "float32"))
    stale = _statistics_gap(gan.ema_generator, latents)
    assert own < 0.1 * stale

    statistics = {id(w) for layer in ema_layers for w in (layer.moving_mean, layer.moving_variance)}
    others = [w for w in gan.generator.weights + gan.ema_generator.weights
              if id(w) not in statistics]
    before = snapshot(others)
    gan.recalibrate_ema_statistics(batches=8, batch_size=64, seed=1)
    assert _statistics_gap(gan.ema_generator, latents) < 0.1 * stale
    assert not any(changed(before, others))  # only the EMA generator's statistics change
