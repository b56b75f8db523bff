import math
import time

import numpy as np
import pytest
import keras

from kerasgan import metrics, zoo
from conftest import image_batches


def identity(x):
    return x


def flatten():
    return keras.Sequential([keras.layers.Flatten()])


def gaussian(n, mean, variances, seed):
    rng = np.random.default_rng(seed)
    return mean + rng.standard_normal((n, len(variances))) * np.sqrt(variances)


# --------------------------------------------------------------------------- frechet_distance


def test_frechet_distance_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_full_covariance_closed_form():
    # sigma2 = c * sigma1: Tr(S + cS - 2 sqrt(c) S) = (1 - sqrt(c))^2 Tr(S).
    rng = np.random.default_rng(0)
    root = rng.standard_normal((6, 6))
    sigma = root @ root.T
    got = metrics.frechet_distance(np.zeros(6), sigma, np.zeros(6), 4.0 * sigma)
    assert got == pytest.approx(np.trace(sigma), rel=1e-10)


def test_frechet_distance_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    r1, r2 = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    s1, s2 = r1 @ r1.T, r2 @ r2.T
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2)
                - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


# --------------------------------------------------------------------------- FID metric


def test_fid_of_a_set_with_itself_is_zero():
    features = gaussian(500, 0.0, np.linspace(0.5, 2.0, 16), seed=0)
    fid = metrics.FID(feature_extractor=identity)
    fid.update_state(features, features)
    assert abs(fid.result()) < 1e-6 * np.trace(np.cov(features, rowvar=False))


def test_streaming_fid_of_two_gaussians_matches_closed_form():
    n, d = 40_000, 8
    a, b = np.linspace(0.5, 2.0, d), np.linspace(2.0, 0.5, d)
    mu2 = np.full(d, 0.5)
    expected = np.sum(mu2 ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # = 3.67
    fid = metrics.FID(feature_extractor=identity, batch_size=10_000)
    fid.update_state(gaussian(n, 0.0, a, seed=1), gaussian(n, mu2, b, seed=2))
    # Sampling error: the mean term dominates, standard error
    # 2 sqrt(sum(dmu^2 (a + b)) / n) = 0.022 (0.021 measured over 20 seeds); 0.1 is 4.5 of them.
    assert fid.result() == pytest.approx(expected, abs=0.1)


def test_streaming_fid_equals_one_shot():
    real = gaussian(600, 0.0, np.ones(10), seed=3)
    fake = gaussian(450, 0.3, np.full(10, 2.0), seed=4)
    one_shot = metrics.FID(feature_extractor=identity)
    one_shot.update_state(real, fake)
    streaming = metrics.FID(feature_extractor=identity)
    for r, f in zip(np.array_split(real, 7), np.array_split(fake, 3) + [None] * 4):
        streaming.update_state(r, f)
    assert streaming.result() == pytest.approx(one_shot.result(), rel=1e-10)
    # The extractor is fed float32 images, so the reference uses float32 inputs too.
    expected = metrics.frechet_distance(*metrics.feature_statistics(real.astype("float32")),
                                        *metrics.feature_statistics(fake.astype("float32")))
    assert one_shot.result() == pytest.approx(expected, rel=1e-10)
    streaming.reset_state()
    with pytest.raises(ValueError, match="at least 2"):
        streaming.result()


def test_fid_on_images_with_a_conv_extractor():
    # 4-D feature maps are average-pooled; a shift of the fakes is seen.
    extractor = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(6, 3)])
    real = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype("float32")
    fid = metrics.FID(feature_extractor=extractor, batch_size=16)
    fid.update_state(real, real)
    same = fid.result()
    fid.reset_state()
    fid.update_state(real, np.clip(real + 0.5, -1, 1))
    assert same < 1e-6 < fid.result()


def test_image_feature_extractor_resizes_and_converts_grey():
    backbone = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D()])
    extractor = metrics.ImageFeatureExtractor(backbone, (16, 16))
    grey = np.random.default_rng(0).uniform(-1, 1, (3, 8, 8, 1)).astype("float32")
    features = metrics.extract_features(extractor, grey)
    assert features.shape == (3, 3)
    np.testing.assert_allclose(features[:, 0], features[:, 1])
    np.testing.assert_allclose(features[:, 0], grey.mean(axis=(1, 2, 3)), atol=1e-5)


# --------------------------------------------------------------------------- KID


def test_kernel_inception_distance_matches_definition():
    # One subset of everything: the draw is a permutation, so KID is the plain unbiased MMD^2.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 3)), rng.standard_normal((12, 3)) + 0.5
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    kid, std = metrics.kernel_inception_distance(x, y, subsets=1, subset_size=100)
    assert kid == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert std == 0.0


def test_kid_is_zero_for_one_distribution_and_grows_with_noise():
    d = 16
    real = gaussian(600, 0.0, np.ones(d), seed=5)
    fake = gaussian(600, 0.0, np.ones(d), seed=6)
    kid, std = metrics.kernel_inception_distance(real, fake, subsets=10, subset_size=300)
    assert abs(kid) < max(3 * std, 1e-3)
    values = []
    for sigma in (0.0, 0.5, 1.0, 2.0):
        metric = metrics.KID(feature_extractor=identity, subsets=5, subset_size=300)
        noise = np.random.default_rng(7).standard_normal(fake.shape)
        metric.update_state(real, fake + sigma * noise)
        values.append(metric.result())
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_streaming_kid_equals_one_shot():
    real, fake = gaussian(200, 0.0, np.ones(4), 8), gaussian(150, 0.2, np.ones(4), 9)
    one_shot = metrics.KID(feature_extractor=identity, subsets=3, subset_size=100)
    one_shot.update_state(real, fake)
    streaming = metrics.KID(feature_extractor=identity, subsets=3, subset_size=100)
    for r, f in zip(np.array_split(real, 4), np.array_split(fake, 4)):
        streaming.update_state(r, f)
    assert streaming.result_with_std() == one_shot.result_with_std()
    streaming.reset_state()
    with pytest.raises(ValueError):
        streaming.result()


def test_metric_registry():
    assert metrics.METRICS == {"fid": metrics.FID, "kid": metrics.KID}


# --------------------------------------------------------------------------- Inception offline


def test_inception_missing_path_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match=metrics.INCEPTION_WEIGHTS_FILE):
        metrics.inception_v3(weights="/no/such/inception_weights.h5")


def test_inception_offline_fails_fast_with_instructions():
    if metrics.cached_inception_weights():
        pytest.skip("Inception-V3 weights are cached: nothing to fail.")
    start = time.monotonic()
    try:
        metrics.inception_v3()
    except RuntimeError as e:
        message = str(e)
    else:
        pytest.skip("The Inception-V3 weights could be downloaded (online machine).")
    assert time.monotonic() - start < 30
    assert "Could not download" in message
    assert f'weights="/path/to/{metrics.INCEPTION_WEIGHTS_FILE}"' in message


# --------------------------------------------------------------------------- with a GAN


def tiny_gan():
    gan = zoo.create("vanilla", image_size=8, channels=1, latent_dim=8)
    gan.compile()
    return gan


def test_kid_callback_logs_kid_each_epoch():
    gan = tiny_gan()
    real = np.random.default_rng(0).uniform(-1, 1, (40, 8, 8, 1)).astype("float32")
    callback = metrics.KIDCallback(real, every_n_epochs=1, n=32, feature_extractor=flatten(),
                                   subsets=3, subset_size=32, batch_size=16, verbose=0)
    history = gan.fit(image_batches(gan.image_shape), epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["kid"]) == 2
    assert all(math.isfinite(v) for v in history.history["kid"])
    assert [h["epoch"] for h in callback.history] == [1, 2]
    assert callback.real_features.shape == (32, 64)


def test_evaluate_returns_finite_metrics():
    gan = tiny_gan()
    result = metrics.evaluate(gan, image_batches(gan.image_shape, n=48), n=40,
                              feature_extractor=flatten(), batch_size=16, subsets=3)
    assert set(result) == {"fid", "kid", "kid_std", "n_real", "n_fake"}
    assert all(math.isfinite(result[k]) for k in ("fid", "kid", "kid_std"))
    assert (result["n_real"], result["n_fake"]) == (40, 40)
