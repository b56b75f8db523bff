"""Numpy arrays (and ``.npy`` / ``.npz`` files) as a source: value ranges, channels and size.

An array may hold uint8 [0, 255], float [0, 1] / [-1, 1] or float [0, 255] images, grey, RGB
or RGBA, at any size; `prepare_array` brings it to `ImageOptions` with TF's resize (the same
`convert_tf` the tensorflow-datasets source maps over its examples). A float range that is
read with a little clipping gives a warning back, for the public function to issue.
"""
import os

import numpy as np
import tensorflow as tf

from kerasgan.data.errors import DataError
from kerasgan.errors import KerasganWarning
from kerasgan.data.options import luma

_ARRAY_CHUNK = 2048  # images converted per eager TF call for array sources

# Float arrays: [-1, 1] / [0, 1] up to this much float rounding (then clipped); floats above
# 1 + tolerance are [0, 255] only when their max is at least _FLOAT_0_255_MIN_MAX (a whole
# array of 0-255 images whose brightest pixel is below 16 is implausible; a standardised or
# overshooting [0, 1] array is not), else refused as ambiguous.
_RANGE_TOLERANCE = 1e-3
_FLOAT_0_255_MIN_MAX = 16.0


def convert_tf(x, options):
    """Channels and size of a float32 [0, 255] batch (N, H, W, C) with C in {1, 3, 4}."""
    image_size, channels, resize = options.image_size, options.channels, options.resize
    bg = tf.constant(options.background, tf.float32)
    c = x.shape[-1]
    if c == 4:  # straight (non-premultiplied) alpha over the background colour
        alpha = x[..., 3:] / 255.0
        x = x[..., :3] * alpha + bg * (1.0 - alpha)
        c = 3
    if channels == 1 and c == 3:  # before resizing: fewer channels to resize
        x = tf.reduce_sum(x * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
    if channels == 1:
        bg = tf.constant([float(luma(options.background))])
    elif c == 1 and resize == "pad":  # the padding must be the RGB background
        x, c = tf.repeat(x, 3, axis=-1), 3
    h, w = x.shape[1], x.shape[2]
    if (h, w) != (image_size, image_size):
        # Antialiasing only matters (and costs ~7x) when shrinking.
        antialias = h is None or w is None or max(h, w) > image_size
        if h is None or w is None:
            h, w = tf.shape(x)[1], tf.shape(x)[2]
        size = (image_size, image_size)
        if resize == "crop":
            side = tf.minimum(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            x = x[:, top : top + side, left : left + side, :]
            x = tf.image.resize(x, size, method="bicubic", antialias=antialias)
        else:
            # Shift so the background is 0: resize_with_pad's zero padding then IS the background.
            x = tf.image.resize_with_pad(x - bg, *size, method="bicubic", antialias=antialias) + bg
        x = tf.clip_by_value(x, 0.0, 255.0)  # bicubic overshoots
    if channels == 3 and c == 1:
        x = tf.repeat(x, 3, axis=-1)
    return x


def _array_to_unit255(x, what):
    """Validate an image array; returns (array in its value range as float32 0-255 or uint8,
    warnings to issue)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"{what} has shape {x.shape}; expected images shaped (N, H, W) or (N, H, W, C) with C in (1, 3, 4)"
        )
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DataError(f"{what} has shape {x.shape}: no images")
    if x.dtype == np.uint8:
        return x, []
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{what} has dtype {x.dtype}; expected uint8 or float images")
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DataError(f"{what} contains NaN or Inf values")
    is_float = np.issubdtype(x.dtype, np.floating)
    x = x.astype(np.float32)  # a copy: scaled and clipped in place below
    found = f"[{lo:.7g}, {hi:.7g}]"
    tol = _RANGE_TOLERANCE
    notes = []
    if is_float and lo >= -1.0 - tol and hi <= 1.0 + tol:
        # [-1, 1] or [0, 1]; float rounding (e.g. a max of 1.0000001) is within `tol` and clipped.
        detected, (low, high) = ("[-1, 1]", (-1.0, 1.0)) if lo < 0 else ("[0, 1]", (0.0, 1.0))
        if lo < low or hi > high:
            notes.append(KerasganWarning(f"{what} has float values in {found}: read as {detected}, the values "
                                     f"outside it (by at most {tol:g}) clipped"))
        np.clip(x, low, high, out=x)
        if low < 0:
            x += 1.0
            x *= 127.5
        else:
            x *= 255.0
        return x, notes
    if lo < 0 or hi > 255.0 + tol or (is_float and hi < _FLOAT_0_255_MIN_MAX):
        # Floats a little above 1 (max 3.0, say) are neither [0, 1] / [-1, 1] nor plausibly
        # [0, 255] images (their brightest pixel that dark): refused rather than guessed.
        raise DataError(f"{what} has {'float ' if is_float else ''}values in {found}; expected "
                        f"[-1, 1] or [0, 1] (floats, within {tol:g}) or [0, 255]"
                        + (f" (floats: max at least {_FLOAT_0_255_MIN_MAX:g})" if is_float else ""))
    np.clip(x, 0.0, 255.0, out=x)
    return x, notes


def prepare_array(x, what, options):
    """Array source -> ((N, S, S, channels), uint8 if given uint8 else float32 in [0, 255];
    warnings to issue). `what` names the array in errors."""
    integer_input = np.asarray(x).dtype == np.uint8
    x, notes = _array_to_unit255(x, what)
    image_size, channels = options.image_size, options.channels
    if x.shape[1:] == (image_size, image_size, channels):
        return x, notes
    dtype = np.uint8 if integer_input else np.float32
    out = np.empty((len(x), image_size, image_size, channels), dtype)
    for start in range(0, len(x), _ARRAY_CHUNK):
        chunk = tf.cast(x[start : start + _ARRAY_CHUNK], tf.float32)
        chunk = convert_tf(chunk, options)
        if integer_input:
            chunk = tf.cast(tf.round(chunk), tf.uint8)
        out[start : start + len(chunk)] = chunk.numpy()
    return out, notes


def existing_file(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Array file not found: {path}")
    return path


def load_array_file(path):
    """Images from an .npy or .npz file; returns (array, description for errors)."""
    path = existing_file(path)
    try:
        # allow_pickle=False: loading data must never execute code.
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"cannot read {path} as a numpy file: {e}") from e
    if isinstance(data, np.ndarray):
        return data, f"array in {path}"
    with data:
        keys = list(data.files)
        if not keys:
            raise DataError(f"{path} contains no arrays")
        key = "x_train" if "x_train" in keys else "images" if "images" in keys else keys[0]
        try:
            return data[key], f"array {key!r} in {path} (keys: {', '.join(keys)})"
        except Exception as e:
            raise DataError(f"cannot read array {key!r} from {path}: {e}") from e


LABEL_KEYS = ("y_train", "labels", "y")  # an .npz's labels, the first of these it holds


def load_label_file(path):
    """`(labels, class names or None)` of an `.npz`: its `y_train` / `labels` / `y` array, and
    its `class_names` array if it has one. DataError if it has no labels."""
    path = os.fspath(path)
    if not path.lower().endswith(".npz"):
        raise DataError(f"labels='inferred' needs an .npz with a {' / '.join(LABEL_KEYS)} "
                        f"array or a folder of class sub-folders, got {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"cannot read {path} as a numpy file: {e}") from e
    with data:
        key = next((k for k in LABEL_KEYS if k in data.files), None)
        if key is None:
            raise DataError(f"{path} has no labels: expected an array named "
                            f"{' or '.join(LABEL_KEYS)} (keys: {', '.join(data.files)})")
        names = data["class_names"] if "class_names" in data.files else None
        return data[key], None if names is None else [str(n) for n in names]


def class_indices(labels, n, class_names=None, what="the labels"):
    """`(int32 class indices, class names)` of `n` integer labels. Without `class_names` the
    classes are the distinct label values, sorted, named by their values; with them the
    labels must be indices into them. DataError naming what is wrong."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"{what} must be one integer per image, shape ({n},), got shape "
                        f"{labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what} must be integers (class indices), got dtype {labels.dtype}")
    if class_names is not None:
        if labels.min() < 0 or labels.max() >= len(class_names):
            raise DataError(f"{what} must be indices 0-{len(class_names) - 1} into its "
                            f"{len(class_names)} class names, got {labels.min()}-{labels.max()}")
        return labels.astype("int32"), list(class_names)
    values = np.unique(labels)
    if len(values) < 2:
        raise DataError(f"{what} hold {len(values)} class; a conditional model needs at least two")
    return np.searchsorted(values, labels).astype("int32"), [str(v) for v in values]
