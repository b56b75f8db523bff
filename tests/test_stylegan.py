"""StyleGAN-lite: truncation, style mixing, noise inputs and the custom layers."""
import numpy as np
import pytest
import keras

from kerasgan import layers as kg_layers
from kerasgan import zoo
from kerasgan.models.stylegan import StyleGAN
from conftest import image_batches


def tiny(**overrides):
    return zoo.create("stylegan_lite", **{**zoo.tiny_config("stylegan_lite"), "seed": 3,
                                          **overrides})


def set_noise_strength(gan, value):
    for net in filter(None, (gan.generator, gan.ema_generator)):
        for layer in net.get_layer("synthesis").layers:
            if isinstance(layer, kg_layers.NoiseInjection):
                layer.strength.assign(np.full(layer.strength.shape, value, "float32"))


def test_generator_takes_latent_and_named_noise_inputs():
    gan = tiny(ema_decay=None)
    names = [t.name for t in gan.generator.inputs]
    assert names == ["latent"] + [f"noise_{i}" for i in range(7)]
    assert gan.noise_shapes == [(4, 4, 1)] + [(r, r, 1) for r in (8, 8, 16, 16, 32, 32)]
    assert gan.num_ws == 8
    z, noise = gan.latents(2, seed=0), gan.noise_inputs(2, seed=0)
    np.testing.assert_allclose(np.array(gan.generator([z] + noise)),
                               gan.generate(latents=z, noise=noise), atol=1e-6)
    # The noise is drawn from the seed: fixed by it, and it changes the image.
    set_noise_strength(gan, 0.5)
    np.testing.assert_array_equal(gan.generate(2, seed=1), gan.generate(2, seed=1))
    assert not np.allclose(gan.generate(latents=z, seed=1), gan.generate(latents=z, seed=2))


def test_truncation_psi_zero_gives_the_average_w_image():
    gan = tiny()
    w_avg = np.random.default_rng(0).standard_normal(gan.w_dim).astype("float32")
    gan.ema_generator.get_layer("truncation").w_avg.assign(w_avg)
    z = gan.latents(2, seed=0)
    noise = [np.repeat(a[:1], 2, axis=0) for a in gan.noise_inputs(1, seed=5)]
    images = gan.generate(latents=z, noise=noise, truncation_psi=0.0)
    np.testing.assert_allclose(images[0], images[1], atol=1e-6)
    average = gan.synthesize(np.broadcast_to(w_avg, (2, gan.num_ws, gan.w_dim)), noise=noise)
    np.testing.assert_allclose(images, average, atol=1e-6)
    untruncated = gan.generate(latents=z, noise=noise)
    assert not np.allclose(untruncated[0], untruncated[1], atol=1e-3)
    half = gan.generate(latents=z, noise=noise, truncation_psi=0.5)
    assert np.abs(half - average).mean() < np.abs(untruncated - average).mean()


def test_style_mixing_changes_only_the_later_layers():
    gan = tiny(ema_decay=None)
    synthesis = gan.synthesis
    # b8_act1 (the 8x8 block's output) uses styles 0..2: w 0 (4x4 conv), 1 and 2 (8x8 convs).
    coarse = keras.Model(synthesis.inputs, [synthesis.get_layer("b8_act1").output,
                                            synthesis.output])
    noise = gan.noise_inputs(2, seed=0)
    ws_a = gan.ws(gan.latents(2, seed=1))
    ws_b = gan.ws(gan.latents(2, seed=2))

    def mix(k):
        return np.concatenate([ws_a[:, :k], ws_b[:, k:]], axis=1)

    features_a, image_a = (np.array(t) for t in coarse([ws_a] + noise))
    features_k3, image_k3 = (np.array(t) for t in coarse([mix(3)] + noise))
    np.testing.assert_allclose(features_k3, features_a, atol=1e-6)
    assert np.abs(image_k3 - image_a).mean() > 1e-3
    np.testing.assert_allclose(gan.synthesize(mix(3), noise=noise), image_k3, atol=1e-6)
    features_k2, _ = (np.array(t) for t in coarse([mix(2)] + noise))
    assert np.abs(features_k2 - features_a).mean() > 1e-3  # style 2 feeds b8_conv1


def test_noise_changes_detail_not_the_whole_image():
    gan = tiny()
    set_noise_strength(gan, 0.02)  # untrained strengths are 0; ratio ~0.05-0.16 over seeds
    z = gan.latents(4, seed=0)
    base = gan.generate(latents=z, seed=10)
    other_noise = gan.generate(latents=z, seed=11)
    other_latent = gan.generate(latents=gan.latents(4, seed=1), seed=10)
    diff_noise = np.abs(base - other_noise).mean()
    diff_latent = np.abs(base - other_latent).mean()
    assert 0.0 < diff_noise < 0.5 * diff_latent


def reference_modulated_conv(x, w, layer, demodulate):
    """StyleGAN2's per-sample weights: k' = k * s, demodulated per output channel; a naive
    'same' convolution per sample in numpy."""
    kernel = np.array(layer.kernel) * layer.kernel_gain
    styles = w @ (np.array(layer.affine_kernel) * layer.affine_gain) + np.array(layer.affine_bias)
    k = kernel.shape[0]
    pad = k // 2
    n, h, wd, _ = x.shape
    out = np.zeros((n, h, wd, kernel.shape[-1]), "float64")
    for i in range(n):
        weight = kernel * styles[i][None, None, :, None]
        if demodulate:
            weight = weight / np.sqrt((weight ** 2).sum(axis=(0, 1, 2)) + layer.epsilon)
        padded = np.pad(x[i], ((pad, pad), (pad, pad), (0, 0)))
        for r in range(h):
            for c in range(wd):
                out[i, r, c] = np.tensordot(padded[r:r + k, c:c + k], weight, axes=3)
    return out + np.array(layer.bias)


@pytest.mark.parametrize("kernel_size,demodulate", [(3, True), (1, False)])
def test_modulated_conv_matches_per_sample_weight_reference(kernel_size, demodulate):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 6, 4)).astype("float32")
    w = rng.standard_normal((3, 7)).astype("float32")
    layer = kg_layers.ModulatedConv2D(5, kernel_size, demodulate=demodulate)
    layer.build([x.shape, w.shape])
    layer.bias.assign(rng.standard_normal(5).astype("float32"))
    layer.affine_bias.assign(rng.uniform(0.5, 1.5, 4).astype("float32"))
    got = np.array(layer([x, w]))
    np.testing.assert_allclose(got, reference_modulated_conv(x, w, layer, demodulate),
                               atol=1e-4, rtol=1e-4)
    clone = kg_layers.ModulatedConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_minibatch_stddev_shape_and_values():
    layer = kg_layers.MinibatchStdDev(group_size=4)
    # Two samples (group = the batch): constant 0 and 2 -> std 1 at every position.
    x = np.stack([np.zeros((2, 3, 2)), np.full((2, 3, 2), 2.0)]).astype("float32")
    y = np.array(layer(x))
    assert y.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(y[..., :2], x)
    np.testing.assert_allclose(y[..., 2], 1.0, atol=1e-6)
    # Batch 8, groups of 4 consecutive samples (whole groups per replica under tf.distribute).
    x = np.random.default_rng(0).standard_normal((8, 2, 2, 3)).astype("float32")
    y = np.array(layer(x))
    assert y.shape == (8, 2, 2, 4)
    for m in range(2):
        expected = x[4 * m:4 * m + 4].std(axis=0).mean()
        np.testing.assert_allclose(y[4 * m:4 * m + 4, ..., 3], expected, atol=1e-5)
    # Two channel groups: one stddev map per group of channels.
    two = kg_layers.MinibatchStdDev(group_size=4, num_channels=2)
    x = np.random.default_rng(2).standard_normal((4, 2, 2, 4)).astype("float32")
    y = np.array(two(x))
    assert y.shape == (4, 2, 2, 6)
    np.testing.assert_allclose(y[0, 0, 0, 4:], [x[..., :2].std(axis=0).mean(),
                                                x[..., 2:].std(axis=0).mean()], atol=1e-5)
    # A batch that is not a multiple of the group size uses one group.
    x = np.random.default_rng(1).standard_normal((6, 2, 2, 3)).astype("float32")
    np.testing.assert_allclose(np.array(layer(x))[..., 3], x.std(axis=0).mean(), atol=1e-5)


def test_default_recipe_trains_with_lazy_r1_and_tracks_w_avg():
    gan = tiny(ema_decay=0.9)
    args = gan.default_compile_args(batch_size=8)
    assert args["r1_every"] == 16 and args["r1_gamma"] == pytest.approx(0.0002 * 32 ** 2 / 8)
    # Eager: tracing the lazy-R1 train step (a double backward inside tf.cond) was ~12 s of
    # this test's ~12.5 s. The same recipe is trained under tf.function by the CLI in
    # tests/test_cli.py::test_train_uses_the_architectures_recommended_compile_arguments.
    gan.compile(**args, run_eagerly=True)
    # Two steps: step 0 takes the R1 branch, step 1 the other.
    history = gan.fit(image_batches(gan.image_shape, n=16), epochs=1, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert history.history["penalty"][0] > 0  # step 0 is an R1 step
    w_avg = np.array(gan.generator.get_layer("truncation").w_avg)
    assert np.abs(w_avg).max() > 0
    np.testing.assert_array_equal(np.array(gan.ema_generator.get_layer("truncation").w_avg), w_avg)
    assert gan.generate(2, seed=0, truncation_psi=0.7).shape == (2, 32, 32, 3)
    assert isinstance(gan, StyleGAN)


def test_bad_noise_is_refused_with_the_expected_shapes():
    gan = tiny(ema_decay=None)
    with pytest.raises(ValueError, match=r"noise must be 7 arrays"):
        gan.generate(2, seed=0, noise=gan.noise_inputs(3, seed=0))
    with pytest.raises(ValueError, match="stylegan_lite makes images of size"):
        zoo.create("stylegan_lite", image_size=48)
