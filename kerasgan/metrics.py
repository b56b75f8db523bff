"""Sample-quality metrics for GANs: FID and KID on the features of an image network.

Both compare the features of real and generated images. The standard feature space is
Inception-V3 (ImageNet) pooled features, `inception_v3()`; any Keras model (or callable)
that maps image batches to `(batch, d)` features works instead, so numbers are comparable
only between runs that use the same extractor, image counts and sizes.

The metrics work on numpy arrays in float64 and are meant for eager evaluation (between
epochs, after training), not inside a compiled `train_step`.

Why one module of ~500 lines: FID, KID, their feature extractors and the offline weight
checks belong together (`kerasgan evaluate` and the memorisation check use the extractors).
"""
import os
import socket

import numpy as np
import keras

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
# MD5 that keras.applications.InceptionV3 checks for the same file.
_INCEPTION_WEIGHTS_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"
# urllib waits forever on a silent network; this bounds every connect and read.
_DOWNLOAD_TIMEOUT_S = 20


# --------------------------------------------------------------------------- extractors


class ImageFeatureExtractor(keras.Model):
    """Wraps a backbone so that it takes images in [-1, 1] of any size and channel count.

    Grey images are repeated to RGB (alpha is dropped), resized bilinearly to the
    backbone's input size, passed through `preprocess`, then through the backbone.

    Args:
        backbone: a Keras model mapping `(batch, size, size, 3)` images to features.
        image_size: `(height, width)` the backbone expects.
        preprocess: optional function applied after resizing, e.g. `lambda x: (x + 1) * 127.5`
            for backbones that expect [0, 255]. Inception-V3 expects [-1, 1]: none needed.
    """

    def __init__(self, backbone, image_size, preprocess=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.image_size = tuple(int(s) for s in image_size)
        self.preprocess = preprocess

    def call(self, images, training=False):
        x = keras.ops.convert_to_tensor(images, "float32")
        if x.shape[-1] in (2, 4):  # grey + alpha, RGB + alpha: drop the alpha
            x = x[..., :-1]
        if x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        elif x.shape[-1] != 3:
            raise ValueError(f"Images must have 1 to 4 channels, got shape {tuple(x.shape)}.")
        if tuple(x.shape[1:3]) != self.image_size:
            x = keras.ops.image.resize(x, self.image_size, interpolation="bilinear")
        if self.preprocess is not None:
            x = self.preprocess(x)
        return self.backbone(x, training=False)


def _keras_cache_dirs():
    # Where keras.utils.get_file looks: $KERAS_HOME or ~/.keras, /tmp/.keras if unwritable.
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [os.path.join(home, "models"), os.path.join("/tmp", ".keras", "models")]


def cached_inception_weights():
    """The path of Keras' cached Inception-V3 no-top weights, or `None` if not cached."""
    for directory in _keras_cache_dirs():
        path = os.path.join(directory, INCEPTION_WEIGHTS_FILE)
        if os.path.isfile(path):
            return path
    return None


def _download_inception_weights():
    """Fetches the weights with keras.utils.get_file; a clear RuntimeError when it cannot."""
    try:  # the origin is Keras' own constant, so it follows Keras releases
        from keras.src.applications.inception_v3 import WEIGHTS_PATH_NO_TOP as origin
    except ImportError:
        origin = None
    error = None
    if origin is not None:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
        try:
            return keras.utils.get_file(INCEPTION_WEIGHTS_FILE, origin, cache_subdir="models",
                                        file_hash=_INCEPTION_WEIGHTS_MD5)
        except Exception as e:  # keras wraps URL errors in a bare Exception
            error = e
        finally:
            socket.setdefaulttimeout(previous)
    raise RuntimeError(
        f"Could not download the Inception-V3 ImageNet weights needed for FID/KID "
        f"({error or 'download location unknown to this Keras version'}). On an offline "
        f"machine, copy Keras' file {INCEPTION_WEIGHTS_FILE} from a machine where "
        f"keras.applications.InceptionV3(include_top=False) has downloaded it (it lands in "
        f"~/.keras/models/), then either put it in {_keras_cache_dirs()[0]}/ or pass "
        f"weights=\"/path/to/{INCEPTION_WEIGHTS_FILE}\". Or pass your own "
        f"feature_extractor= (numbers are then not comparable with Inception FIDs)."
    ) from error


def inception_v3(weights="imagenet"):
    """The standard FID/KID feature extractor: Inception-V3's 2048 pooled features.

    Takes images in [-1, 1] of any size (resized bilinearly to 299x299; grey -> RGB).

    Args:
        weights: "imagenet" (Keras' cached file, else downloaded), a path to Keras'
            `inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`, or `None`
            (random weights: only for testing pipelines).

    Raises:
        RuntimeError: "imagenet" weights are neither cached nor downloadable (offline).
        FileNotFoundError: `weights` is a path that does not exist.
    """
    if isinstance(weights, str) and weights == "imagenet":
        # Before building the 22M-parameter network, so that offline it fails in seconds.
        path = cached_inception_weights() or _download_inception_weights()
    elif weights is None:
        path = None
    else:
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Inception-V3 weights file not found: {path} (expected Keras' "
                f"{INCEPTION_WEIGHTS_FILE}).")
    backbone = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                              input_shape=(299, 299, 3))
    if path is not None:
        backbone.load_weights(path)
    backbone.trainable = False
    return ImageFeatureExtractor(backbone, (299, 299), name="inception_v3_features")


FEATURE_EXTRACTORS = {"inception_v3": inception_v3}


def _resolve_extractor(feature_extractor):
    if feature_extractor is None:
        return inception_v3()
    if isinstance(feature_extractor, str):
        if feature_extractor not in FEATURE_EXTRACTORS:
            raise ValueError(f"Unknown feature extractor {feature_extractor!r}; valid names: "
                             f"{', '.join(FEATURE_EXTRACTORS)}.")
        return FEATURE_EXTRACTORS[feature_extractor]()
    if not callable(feature_extractor):
        raise TypeError("feature_extractor must be a Keras model, a callable, a name or None, "
                        f"got {type(feature_extractor).__name__}.")
    return feature_extractor


def _call_extractor(extractor, batch):
    batch = np.asarray(batch, dtype="float32")
    if isinstance(extractor, keras.layers.Layer):
        out = extractor(batch, training=False)
    else:
        out = extractor(batch)
    out = np.asarray(keras.ops.convert_to_numpy(out), dtype="float64")
    if out.ndim == 4:  # feature maps: global average pool
        out = out.mean(axis=(1, 2))
    return out.reshape(len(batch), -1)


def _batches(images, batch_size, max_images=None, seed=0):
    """Yields numpy batches from an array (random subset if capped) or an iterable of batches."""
    if isinstance(images, np.ndarray) or hasattr(images, "__array__"):
        images = np.asarray(images)
        if max_images is not None and len(images) > max_images:
            rng = np.random.default_rng(seed)
            images = images[np.sort(rng.choice(len(images), max_images, replace=False))]
        for i in range(0, len(images), batch_size):
            yield images[i:i + batch_size]
        return
    taken = 0
    for batch in images:  # e.g. a tf.data.Dataset of batches (or (images, labels) pairs)
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        batch = np.asarray(batch)
        if max_images is not None:
            batch = batch[:max_images - taken]
        taken += len(batch)
        if len(batch):
            yield batch
        if max_images is not None and taken >= max_images:
            return


def extract_features(feature_extractor, images, batch_size=50, max_images=None, seed=0):
    """`(n, d)` float64 features of images in [-1, 1].

    Args:
        feature_extractor: a Keras model or callable (4-D outputs are average-pooled).
        images: an array `(n, H, W, C)` or an iterable of batches (a tf.data dataset).
        batch_size: images per extractor call, for arrays.
        max_images: use at most this many (a seeded random subset of an array; the
            first ones of a dataset).
        seed: seed of that random subset.
    """
    out = [_call_extractor(feature_extractor, batch)
           for batch in _batches(images, batch_size, max_images, seed)]
    if not out:
        raise ValueError("No images to compute features of.")
    return np.concatenate(out)


def _generated_features(gan, feature_extractor, n, seed, batch_size):
    # Generated and featurised chunk by chunk: n large images never sit in memory at once.
    latents = gan.latents(n, seed)
    return np.concatenate([
        _call_extractor(feature_extractor, gan.generate(latents=latents[i:i + batch_size],
                                                        batch_size=batch_size))
        for i in range(0, n, batch_size)])


# --------------------------------------------------------------------------- distances


def _as_features(features, name):
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {features.shape}.")
    return features


def feature_statistics(features):
    """`(mean, covariance)` of `(n, d)` features in float64 (covariance with n - 1)."""
    features = _as_features(features, "features")
    if len(features) < 2:
        raise ValueError(f"Need at least 2 feature vectors, got {len(features)}.")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], -1)


def _sqrt_psd(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1^1/2 sigma2 sigma1^1/2)^1/2). The trace of
    the square root is the sum of the square roots of the eigenvalues of the symmetric PSD
    matrix sigma1^1/2 sigma2 sigma1^1/2 (the same eigenvalues as sigma1 sigma2): exact, and
    stable for singular covariances where a general `sqrtm(sigma1 @ sigma2)` goes complex.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, "float64")), np.atleast_1d(np.asarray(mu2, "float64"))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, "float64")), np.atleast_2d(np.asarray(sigma2, "float64"))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"Shapes do not match: mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
                         f"mu2 {mu2.shape}, sigma2 {sigma2.shape}.")
    root1 = _sqrt_psd((sigma1 + sigma1.T) / 2)
    product = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))  # round-off can give -1e-12 for identical sets


def kernel_inception_distance(f_real, f_fake, subsets=10, subset_size=1000, seed=0):
    """KID: unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, `(mean, std)` over subsets.

    Each of `subsets` draws `m = min(n_real, n_fake, subset_size)` features of each set
    without replacement (Binkowski et al. 2018; the definition of tools/kid.py).
    Plain scale: multiply by 1000 for the usual "KID x 10^3".
    """
    a, b = _as_features(f_real, "f_real"), _as_features(f_fake, "f_fake")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature sizes differ: {a.shape[1]} and {b.shape[1]}.")
    d, m = a.shape[1], min(len(a), len(b), int(subset_size))
    if m < 2:
        raise ValueError(f"KID needs at least 2 features of each set, got {len(a)} and {len(b)}.")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(subsets)):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                      + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


# --------------------------------------------------------------------------- streaming metrics


class _Moments:
    """Running float64 mean and scatter matrix, merged batch by batch (Chan et al.)."""

    def __init__(self):
        self.n, self.mean, self.scatter = 0, None, None

    def update(self, features):
        n_b = len(features)
        if n_b == 0:
            return
        mean_b = features.mean(axis=0)
        centred = features - mean_b
        scatter_b = centred.T @ centred
        if self.n == 0:
            self.n, self.mean, self.scatter = n_b, mean_b, scatter_b
            return
        if features.shape[1] != self.mean.shape[0]:
            raise ValueError(f"Feature size changed from {self.mean.shape[0]} to {features.shape[1]}.")
        n = self.n + n_b
        delta = mean_b - self.mean
        self.scatter = self.scatter + scatter_b + np.outer(delta, delta) * (self.n * n_b / n)
        self.mean = self.mean + delta * (n_b / n)
        self.n = n

    def statistics(self, which):
        if self.n < 2:
            raise ValueError(f"FID needs at least 2 {which} images, got {self.n}.")
        return self.mean, self.scatter / (self.n - 1)


class _FeatureMetric(keras.metrics.Metric):
    """Shared plumbing: an extractor, and `update_state(real_images, fake_images)`."""

    def __init__(self, feature_extractor=None, name=None, batch_size=50, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.feature_extractor = _resolve_extractor(feature_extractor)
        self.batch_size = int(batch_size)
        self.reset_state()

    def update_state(self, real_images=None, fake_images=None):
        """Adds a batch of real and/or fake images in [-1, 1] (arrays or datasets)."""
        self.update_features(
            None if real_images is None else extract_features(
                self.feature_extractor, real_images, self.batch_size),
            None if fake_images is None else extract_features(
                self.feature_extractor, fake_images, self.batch_size))

    def get_config(self):
        return {**super().get_config(), "batch_size": self.batch_size}


class FID(_FeatureMetric):
    """Streaming Frechet Inception Distance between real and fake images (lower is better).

    Feature means and covariances accumulate in float64 numpy, so memory does not grow
    with the number of images. Eager only: call it between epochs or after training, not
    inside a compiled `train_step`.

    Args:
        feature_extractor: a Keras model (or callable) mapping images in [-1, 1] to
            `(batch, d)` features (4-D outputs are average-pooled); default `inception_v3()`.
        name: metric name.
        batch_size: images per extractor call.

    Example:

    ```python
    fid = kerasgan.metrics.FID()
    for real in dataset.take(20):
        fid.update_state(real, gan.generate(len(real)))
    print(fid.result())
    ```
    """

    def __init__(self, feature_extractor=None, name="fid", batch_size=50, dtype=None):
        super().__init__(feature_extractor, name=name, batch_size=batch_size, dtype=dtype)

    def update_features(self, real_features=None, fake_features=None):
        """Adds precomputed `(n, d)` features of real and/or fake images."""
        if real_features is not None:
            self._real.update(_as_features(real_features, "real_features"))
        if fake_features is not None:
            self._fake.update(_as_features(fake_features, "fake_features"))

    def result(self):
        return frechet_distance(*self._real.statistics("real"), *self._fake.statistics("fake"))

    def reset_state(self):
        self._real, self._fake = _Moments(), _Moments()


class KID(_FeatureMetric):
    """Streaming Kernel Inception Distance between real and fake images (lower is better).

    Keeps every feature vector (KID needs them all); `result()` is the mean unbiased MMD^2
    over `subsets` random subsets, plain scale (x1, not x1000); `result_with_std()` also
    gives the spread over subsets. Eager only, like `FID`.

    Args:
        feature_extractor: as for `FID`; default `inception_v3()`.
        name: metric name.
        subsets: number of random subsets averaged.
        subset_size: features per set and subset (fewer if fewer were added).
        seed: seed of the subset draws: the same features give the same result.
        batch_size: images per extractor call.
    """

    def __init__(self, feature_extractor=None, name="kid", subsets=10, subset_size=1000,
                 seed=0, batch_size=50, dtype=None):
        self.subsets, self.subset_size, self.seed = int(subsets), int(subset_size), seed
        super().__init__(feature_extractor, name=name, batch_size=batch_size, dtype=dtype)

    def update_features(self, real_features=None, fake_features=None):
        """Adds precomputed `(n, d)` features of real and/or fake images."""
        if real_features is not None:
            self._real.append(_as_features(real_features, "real_features"))
        if fake_features is not None:
            self._fake.append(_as_features(fake_features, "fake_features"))

    def result_with_std(self):
        """`(mean, std)` of KID over the subsets."""
        if not self._real or not self._fake:
            raise ValueError("KID needs real and fake images: call update_state first.")
        return kernel_inception_distance(np.concatenate(self._real), np.concatenate(self._fake),
                                         self.subsets, self.subset_size, self.seed)

    def result(self):
        return self.result_with_std()[0]

    def reset_state(self):
        self._real, self._fake = [], []  # lists of (n, d) float64 arrays

    def get_config(self):
        return {**super().get_config(), "subsets": self.subsets,
                "subset_size": self.subset_size, "seed": self.seed}


METRICS = {"fid": FID, "kid": KID}


# --------------------------------------------------------------------------- training and evaluation


class KIDCallback(keras.callbacks.Callback):
    """Every `every_n_epochs`, measures KID of `n` generated images against `real_data`.

    The real features are computed once, at the first measurement; the fakes come from
    the same latents every time (`seed`), so successive values differ by training only.
    Adds `logs["kid"]` and `logs["kid_std"]` (plain scale, x1: multiply by 1000 for the
    usual "KID x 10^3"), prints them, and appends `{"epoch", "kid", "kid_std"}` to `history`.

    Args:
        real_data: real images in [-1, 1]: an array `(N, H, W, C)` or a dataset of batches.
        every_n_epochs: measure after every this many epochs.
        n: generated images per measurement; also the most real images used.
        feature_extractor: as for `FID`; default `inception_v3()` (built now, so a missing
            download fails before training, not after the first epochs).
        seed: seed of the latents and of the KID subsets.
        subsets, subset_size: as for `KID`.
        batch_size: images per generator and extractor call.
    """

    def __init__(self, real_data, every_n_epochs=5, n=1000, feature_extractor=None, seed=0,
                 subsets=10, subset_size=1000, batch_size=50, verbose=1):
        super().__init__()
        self.real_data, self.every_n_epochs, self.n, self.seed = real_data, every_n_epochs, n, seed
        self.subsets, self.subset_size, self.batch_size = subsets, subset_size, batch_size
        self.verbose = verbose
        self.feature_extractor = _resolve_extractor(feature_extractor)
        self.real_features = None
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        if self.real_features is None:
            self.real_features = extract_features(self.feature_extractor, self.real_data,
                                                  self.batch_size, self.n, self.seed)
        fake = _generated_features(self.model, self.feature_extractor, self.n, self.seed,
                                   self.batch_size)
        kid, std = kernel_inception_distance(self.real_features, fake, self.subsets,
                                             self.subset_size, self.seed)
        self.history.append({"epoch": epoch + 1, "kid": kid, "kid_std": std})
        if logs is not None:
            logs["kid"], logs["kid_std"] = kid, std
        if self.verbose:
            print(f"\nkerasgan: epoch {epoch + 1}: kid={kid:.5f} (std {std:.5f}, "
                  f"{len(self.real_features)} real, {len(fake)} generated)", flush=True)


def evaluate(gan, real, n=1000, feature_extractor=None, batch_size=50, seed=0, n_real=None,
             subsets=10, subset_size=1000):
    """FID and KID of `n` images from `gan` against real images.

    Args:
        gan: a `kerasgan.GAN` (anything with `latents` and `generate`).
        real: real images in [-1, 1]: an array `(N, H, W, C)` or a dataset of batches.
        n: generated images.
        feature_extractor: as for `FID`; default `inception_v3()`.
        batch_size: images per generator and extractor call.
        seed: seed of the latents, of the real subset and of the KID subsets.
        n_real: the most real images used (a seeded random subset of an array, the first
            ones of a dataset); default `n`.
        subsets, subset_size: as for `KID`.

    Returns:
        `{"fid", "kid", "kid_std", "n_real", "n_fake"}`; KID on the plain (x1) scale.
    """
    extractor = _resolve_extractor(feature_extractor)
    real_features = extract_features(extractor, real, batch_size,
                                     n if n_real is None else n_real, seed)
    fake_features = _generated_features(gan, extractor, int(n), seed, batch_size)
    kid, kid_std = kernel_inception_distance(real_features, fake_features, subsets,
                                             subset_size, seed)
    fid = frechet_distance(*feature_statistics(real_features), *feature_statistics(fake_features))
    return {"fid": fid, "kid": kid, "kid_std": kid_std,
            "n_real": len(real_features), "n_fake": len(fake_features)}
