"""Differentiable augmentation for training on small collections (a few hundred images).

DiffAugment (Zhao et al., NeurIPS 2020) applies the same kind of random transform to real
and generated images before the discriminator sees them, and gradients flow through it to
the generator: the discriminator cannot memorise a small training set, and the generator is
not taught to produce augmented images. Policy "color,translation,cutout", as in the paper.

An augmentation is a callable `(images, params) -> images` with `num_params` uniform [0, 1)
numbers per image in `params` (shape `(batch, num_params)`): the caller draws them, so they
are reproducible and independent of how a batch is split over replicas.
"""
import tensorflow as tf


def _color(images, u):
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5] (images in [-1, 1])."""
    brightness = u[:, 0, None, None, None] - 0.5
    images = images + brightness
    if images.shape[-1] > 1:
        mean = tf.reduce_mean(images, axis=-1, keepdims=True)
        images = (images - mean) * (u[:, 1, None, None, None] * 2.0) + mean
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * (u[:, 2, None, None, None] + 0.5) + mean


def _translation(images, u, ratio=0.125):
    """Shifts each image by up to `ratio` of its size, filling with zeros."""
    height, width = images.shape[1], images.shape[2]
    shift_y = tf.cast(tf.round((u[:, 3] * 2.0 - 1.0) * int(height * ratio + 0.5)), tf.int32)
    shift_x = tf.cast(tf.round((u[:, 4] * 2.0 - 1.0) * int(width * ratio + 0.5)), tf.int32)
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    # Output pixel y reads padded row y + 1 - shift (clipped onto the zero border).
    rows = tf.clip_by_value(tf.range(height)[None, :] + 1 - shift_y[:, None], 0, height + 1)
    cols = tf.clip_by_value(tf.range(width)[None, :] + 1 - shift_x[:, None], 0, width + 1)
    padded = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(padded, cols, axis=2, batch_dims=1)


def _cutout(images, u, ratio=0.5):
    """Zeroes one square of `ratio` x the image size at a random place in each image."""
    height, width = images.shape[1], images.shape[2]
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    top = tf.floor(u[:, 5] * (height + 1 - size_y % 2)) - size_y // 2
    left = tf.floor(u[:, 6] * (width + 1 - size_x % 2)) - size_x // 2
    ys = tf.range(height, dtype=tf.float32)[None, :]
    xs = tf.range(width, dtype=tf.float32)[None, :]
    inside_y = (ys >= top[:, None]) & (ys < top[:, None] + size_y)
    inside_x = (xs >= left[:, None]) & (xs < left[:, None] + size_x)
    hole = tf.cast(inside_y[:, :, None] & inside_x[:, None, :], images.dtype)
    return images * (1.0 - hole[..., None])


class DiffAugment:
    """DiffAugment with the policy "color,translation,cutout"."""

    num_params = 7

    def __call__(self, images, params):
        params = tf.cast(params, images.dtype)
        return _cutout(_translation(_color(images, params), params), params)


AUGMENTATIONS = {"diffaugment": DiffAugment}


def get(name):
    """The augmentation registered as `name`, or None for None."""
    if name is None:
        return None
    if name not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {name!r}; expected one of "
                         f"{sorted(AUGMENTATIONS)} or None.")
    return AUGMENTATIONS[name]()
