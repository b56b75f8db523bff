"""The memorisation check: each generated image beside its nearest training images.

A GAN trained on a small data set can learn to reproduce training images instead of
making new ones. `nearest(generated, real)` finds, for every generated image, the `k` real
images closest to it in a feature space; `nearest_grid(model, data)` draws them as rows of
(generated, nearest, second nearest, ...): a row whose neighbour is the same picture is a
memorised sample. `kerasgan nearest MODEL --data DIR --out nn.png` writes that grid.

The default feature space is the pixels, downscaled to at most 32x32 (box filter), and the
distance is the root-mean-square difference of those values in [-1, 1] (0: identical,
2: black against white). Pixels, not a pretrained network's features, because no such
network can be downloaded on an offline machine, and because a pixel distance is what a
reader checks by eye on the grid: a near copy is close in pixels, whatever the network.
It misses copies that are shifted or mirrored; a feature extractor of your own (a `.keras`
model or any callable mapping images in [-1, 1] to vectors, as for `kerasgan evaluate
--features`) catches those if it is invariant to them.

The real images are read in batches and only the `k` best so far are kept for each
generated image, so the data set need not fit in memory.
"""
import collections
import math
import os

import numpy as np

PIXEL_SIZE = 32  # pixel features: images are box-downscaled to at most this side length

Nearest = collections.namedtuple("Nearest", ["indices", "distances", "images", "n_real"])
Nearest.__doc__ = """What `nearest` found, for `n` generated images and `k` neighbours each:
    indices: `(n, k)` int64, positions of the neighbours in `real` (in the order it yields
        them), nearest first;
    distances: `(n, k)` float64, their distances in the feature space;
    images: `(n, k, H, W, C)` float32, the neighbours themselves, in [-1, 1];
    n_real: how many real images were searched."""


def pixel_features(images, size=PIXEL_SIZE):
    """`(n, d)` float64 features of images in [-1, 1]: the pixels box-downscaled to at most
    `size` x `size` (smaller images keep their size), divided by sqrt(d) so that the L2
    distance of two feature vectors is the root-mean-square pixel difference."""
    images = np.asarray(images, "float32")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, height, width, channels), got "
                         f"{images.shape}.")
    height, width = images.shape[1:3]
    if height > size or width > size:
        import tensorflow as tf

        target = (min(height, size), min(width, size))
        images = tf.image.resize(images, target, method="area").numpy()
    flat = images.reshape(len(images), -1).astype("float64")
    return flat / math.sqrt(max(flat.shape[1], 1))


def load_feature_model(path):
    """The Keras model in the `.keras` file `path` (loaded in safe mode), as a feature
    extractor; a file that does not load is a ValueError of one line."""
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Feature model not found: {path}")
    try:
        return keras.models.load_model(path)  # safe_mode stays on: no arbitrary code
    except Exception as error:  # noqa: BLE001 - any failure to load is said in one line
        if isinstance(error, MemoryError):
            raise
        text = " ".join(str(error).split())[:300]
        raise ValueError(f"cannot load the feature model {path}: {type(error).__name__}: "
                         f"{text}") from error


def feature_function(features=None):
    """A function images -> `(n, d)` float64 features, for `features`:
    None or "pixels" (`pixel_features`), a path to a `.keras` model, or a Keras model or
    other callable mapping images in [-1, 1] to vectors (4-D outputs are average-pooled)."""
    if features is None or (isinstance(features, str) and features == "pixels"):
        return pixel_features
    if isinstance(features, (str, os.PathLike)):
        features = load_feature_model(features)
    if not callable(features):
        raise TypeError("features must be None, 'pixels', a .keras path, a Keras model or a "
                        f"callable, got {type(features).__name__}.")
    from kerasgan import metrics

    return lambda images: metrics._call_extractor(features, images)


def _batches(images, batch_size):
    """Numpy batches of an array, or of an iterable of batches (a tf.data dataset)."""
    if isinstance(images, np.ndarray) or hasattr(images, "__array__"):
        images = np.asarray(images)
        for i in range(0, len(images), batch_size):
            yield images[i:i + batch_size]
        return
    for batch in images:
        if isinstance(batch, (tuple, list)):  # (images, labels)
            batch = batch[0]
        yield np.asarray(batch)


def nearest(generated, real, features=None, k=1, batch_size=256):
    """The `k` real images nearest to each generated image, in a feature space.

    Args:
        generated: images in [-1, 1], `(n, H, W, C)`.
        real: images in [-1, 1] of the same channel count: an array `(N, H', W', C)` or an
            iterable of such batches (e.g. a `kerasgan.data.image_dataset` with
            `shuffle=False`). Read once, in batches.
        features: the feature space: None (default) for the downscaled pixels
            (`pixel_features`; the distance is then the RMS pixel difference), a `.keras`
            model path, or a Keras model / callable mapping images in [-1, 1] to vectors.
        k: neighbours per generated image.
        batch_size: real images per feature computation (for arrays).

    Returns:
        `Nearest(indices, distances, images, n_real)`, nearest first: `(n, k)` positions
        in `real`, `(n, k)` L2 distances between feature vectors, `(n, k, H', W', C)`
        images, and the number of real images searched. A real image identical to a
        generated one is found at distance 0.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    generated = np.asarray(generated, "float32")
    if generated.ndim != 4 or len(generated) == 0:
        raise ValueError(f"generated must have shape (n, height, width, channels) with n >= 1, "
                         f"got {generated.shape}.")
    compute = feature_function(features)
    query = compute(generated)
    n = len(query)
    query_norms = (query ** 2).sum(axis=1)
    best_d = np.full((n, 0), np.inf)
    best_i = np.zeros((n, 0), "int64")
    best_images = None
    seen = 0
    for batch in _batches(real, batch_size):
        if len(batch) == 0:
            continue
        batch = np.asarray(batch, "float32")
        if batch.ndim != 4 or batch.shape[-1] != generated.shape[-1]:
            raise ValueError(f"real images must have shape (n, height, width, "
                             f"{generated.shape[-1]}) like the generated ones, got a batch of "
                             f"shape {batch.shape}.")
        keys = compute(batch)
        if keys.shape[1] != query.shape[1]:
            raise ValueError(f"the features of the real images have {keys.shape[1]} values, "
                             f"those of the generated ones {query.shape[1]}.")
        # Squared distances by |q|^2 + |x|^2 - 2 q.x to choose the candidates, then the
        # candidates' distances computed exactly from the differences (an identical image
        # is at distance 0, not at the expansion's round-off).
        approx = query_norms[:, None] + (keys ** 2).sum(axis=1)[None, :] - 2.0 * query @ keys.T
        take = min(k, len(batch))
        candidates = np.argpartition(approx, take - 1, axis=1)[:, :take]
        exact = np.sqrt(((query[:, None, :] - keys[candidates]) ** 2).sum(axis=-1))
        if best_images is None:
            best_images = np.zeros((n, 0) + batch.shape[1:], "float32")
        elif batch.shape[1:] != best_images.shape[2:]:
            raise ValueError(f"real images must all have one size, got {best_images.shape[2:]} "
                             f"and {batch.shape[1:]}.")
        all_d = np.concatenate([best_d, exact], axis=1)
        all_i = np.concatenate([best_i, candidates + seen], axis=1)
        all_images = np.concatenate([best_images, batch[candidates]], axis=1)
        order = np.lexsort((all_i, all_d), axis=1)[:, :k]  # by distance, then position
        best_d = np.take_along_axis(all_d, order, axis=1)
        best_i = np.take_along_axis(all_i, order, axis=1)
        best_images = np.take_along_axis(all_images, order[:, :, None, None, None], axis=1)
        seen += len(batch)
    if seen == 0:
        raise ValueError("No real images to compare with.")
    if seen < k:
        raise ValueError(f"k={k} neighbours asked, but there are only {seen} real images.")
    return Nearest(best_i, best_d, best_images, seen)


def real_images(model, data, batch_size=256, data_dir=None):
    """The images of `data` (folder, .npz/.npy file or "tfds:NAME") at the model's image
    size and channels, in [-1, 1], as a dataset of batches in a fixed order (every image,
    the last batch may be smaller)."""
    from kerasgan import data as data_lib

    height, _, channels = model.image_shape
    images = data_lib.image_dataset(data, image_size=height, channels=channels, batch_size=1,
                                    shuffle=False, data_dir=data_dir)
    return images.unbatch().batch(batch_size)


def source_names(data, n_real):
    """The file of each position `nearest` reports for `data`, relative to the folder, when
    `data` is a folder whose every image was read (`n_real` of them, in the sorted order
    `kerasgan.data` reads them); else None (arrays, .npz files, tfds, or a folder with
    skipped files: the positions are then counted in the images read)."""
    from kerasgan import data as data_lib

    if not isinstance(data, (str, os.PathLike)) or not os.path.isdir(data):
        return None
    paths = data_lib.find_images(data)
    if len(paths) != n_real:
        return None
    return [os.path.relpath(path, data) for path in paths]


def check_generation_model(model, what):
    """Refuses a model that does not generate from latents (translation, inpainting)."""
    task = getattr(model, "task", None)
    if task != "generation":
        use = {"translation": "kerasgan translate", "inpainting": "kerasgan restore"}.get(task)
        raise ValueError(f"{what} needs a model that generates images from latents; this is "
                         f"a {getattr(model, 'architecture', None) or task or type(model).__name__}"
                         f" model ({task or 'no task'})"
                         + (f", which maps images to images (use `{use}`)." if use else "."))


def nearest_grid(model, data, n=8, k=3, seed=0, features=None, batch_size=256,
                 data_dir=None, return_result=False):
    """A uint8 image of `n` rows: a generated image, then its `k` nearest images of `data`.

    Args:
        model: a generating kerasgan model (`task == "generation"`).
        data: the training images: a folder, .npz/.npy file or "tfds:NAME", read with
            `kerasgan.data` at the model's image size and channels; or an array of images in
            [-1, 1] of that shape.
        n: generated images (rows), from `model.generate(n, seed=seed)`.
        k: neighbours per row.
        seed: seed of the generated images.
        features: the feature space, as for `nearest` (default: downscaled pixels).
        batch_size: real images per feature computation.
        data_dir: tensorflow-datasets data_dir for "tfds:NAME".
        return_result: also return the `Nearest` result: `(grid, result)`.

    Returns:
        `(n * H, (k + 1) * W, C)` uint8 (`(n * H, (k + 1) * W)` for grey images).
    """
    from kerasgan import callbacks

    check_generation_model(model, "the memorisation check")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if isinstance(data, np.ndarray):
        real = data
    else:
        real = real_images(model, data, batch_size, data_dir=data_dir)
    generated = model.generate(int(n), seed=seed)
    result = nearest(generated, real, features=features, k=k, batch_size=batch_size)
    rows = np.concatenate([generated[:, None], result.images], axis=1)  # (n, k + 1, H, W, C)
    grid = callbacks.image_grid(rows.reshape((-1,) + rows.shape[2:]), columns=k + 1)
    return (grid, result) if return_result else grid


def save_image(pixels, path):
    """Writes a uint8 image array (`(H, W)`, `(H, W, 1)` or `(H, W, 3)`) to `path`, in the
    format its extension names, through a temporary file; returns the path."""
    from PIL import Image

    from kerasgan.callbacks import image_format_of
    from kerasgan.files import atomic_file

    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    image_format = image_format_of(path)
    with atomic_file(path) as tmp:
        Image.fromarray(pixels).save(tmp, format=image_format)
    return path
