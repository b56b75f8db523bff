"""Differentiable augmentation for training on small collections (a few hundred images).

DiffAugment (Zhao et al., NeurIPS 2020) applies the same kind of random transform to real
and generated images before the discriminator sees them, and gradients flow through it to
the generator: the discriminator cannot memorise a small training set, and the generator is
not taught to produce augmented images. Policy "color,translation,cutout", as in the paper.

"ada" adds the geometric transforms of StyleGAN2-ADA (Karras et al., NeurIPS 2020) before
DiffAugment, each applied to an image with probability `strength`, which the model adapts
while it trains: up when the discriminator grows sure of the real images (it is overfitting
them), down when it is not: more augmentation only once the discriminator starts to
memorise a small collection; at strength 0 it is DiffAugment, at the same cost. fastgan's
default. (Measured in docs/small_data.md: at half the peer's KID or less on three
collections for an hour; better than DiffAugment alone on two of them, one run each.)

"ada_gated" gates DiffAugment's transforms by the strength too, as StyleGAN2-ADA gates all
of its own: nothing at all until the discriminator overfits. (Measured in
docs/small_data.md, session 23: no better than "ada" at 12 minutes on three collections.)

An augmentation is a callable `(images, params) -> images` with `num_params` uniform [0, 1)
numbers per image in `params` (shape `(batch, num_params)`): the caller draws them, so they
are reproducible and independent of how a batch is split over replicas.
"""
import math

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


def _lognormal(u, sigma):
    """exp(N(0, sigma^2)) from uniform `u` (clipped off 0 and 1, whose quantiles are infinite)."""
    return tf.exp(tf.math.ndtri(tf.clip_by_value(u, 1e-6, 1.0 - 1e-6)) * sigma)


def _rotation(angle):
    cos, sin = tf.cos(angle), tf.sin(angle)
    return tf.stack([tf.stack([cos, -sin], -1), tf.stack([sin, cos], -1)], -2)


def _geometric(images, u, strength):
    """ADA's geometric pipeline, each transform on with probability `strength` per image:
    x-flip, a quarter turn (k x 90 degrees), isotropic scale (lognormal, sigma 0.2 ln 2),
    rotation (uniform, on with probability 1 - sqrt(1 - strength), so that it and the
    quarter turns together rotate about as often as the other transforms), anisotropic scale
    (as the isotropic). One bilinear resampling about the image centre, reflecting at the
    border; differentiable in `images`. `u`: columns 0-8 of this pipeline's uniform params."""
    on = lambda column, p=strength: tf.cast(u[:, column] < p, tf.float32)  # noqa: E731
    ones = tf.ones_like(u[:, 0])
    flip = 1.0 - 2.0 * on(0)
    quarter_turns = tf.floor(u[:, 2] * 4.0) * on(1)
    iso = 1.0 + (_lognormal(u[:, 4], 0.2 * math.log(2.0)) - 1.0) * on(3)
    angle = (u[:, 6] * 2.0 - 1.0) * math.pi * on(5, 1.0 - tf.sqrt(1.0 - strength))
    aniso = 1.0 + (_lognormal(u[:, 8], 0.2 * math.log(2.0)) - 1.0) * on(7)
    zeros = tf.zeros_like(ones)
    matrix = tf.linalg.diag(tf.stack([flip, ones], -1))
    matrix = matrix @ _rotation(quarter_turns * (math.pi / 2.0))
    matrix = matrix * iso[:, None, None]
    matrix = matrix @ _rotation(angle)
    matrix = matrix @ tf.linalg.diag(tf.stack([aniso, 1.0 / aniso], -1))
    # Output pixel (x, y) reads input matrix @ ((x, y) - centre) + centre.
    height, width = images.shape[1], images.shape[2]
    centre = tf.constant([(width - 1) / 2.0, (height - 1) / 2.0])
    offset = centre - tf.linalg.matvec(matrix, centre)
    transforms = tf.stack([matrix[:, 0, 0], matrix[:, 0, 1], offset[:, 0],
                           matrix[:, 1, 0], matrix[:, 1, 1], offset[:, 1], zeros, zeros], -1)
    resampled = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32), transforms=transforms,
        output_shape=[height, width], fill_value=0.0, interpolation="BILINEAR",
        fill_mode="REFLECT")
    return tf.cast(resampled, images.dtype)


class DiffAugment:
    """DiffAugment with the policy "color,translation,cutout"."""

    num_params = 7
    adaptive = False  # called as (images, params)

    def __call__(self, images, params):
        params = tf.cast(params, images.dtype)
        return _cutout(_translation(_color(images, params), params), params)


class AdaptiveAugment(DiffAugment):
    """ADA's geometric transforms with probability `strength`, then DiffAugment.

    Called as `(images, params, strength)`; the model owns `strength` (0 at the start) and
    moves it by `adjust` after each discriminator update.

    Attributes:
        target: the mean sign of the discriminator's real logits that the strength steers
            to (ADA's r_t target, 0.6): above it D is too sure of the real images.
        speed_kimg: thousands of images over which the strength can go from 0 to 1. ADA
            uses 500 for runs of millions of images; 100 suits runs of a CPU-hour.
    """

    num_params = DiffAugment.num_params + 9
    adaptive = True
    target = 0.6
    speed_kimg = 100.0

    def __call__(self, images, params, strength):
        strength = tf.cast(strength, tf.float32)
        # At strength 0 every transform is off and the resampling would return the images
        # as they are: skip it (short runs, where the strength stays 0, cost what
        # DiffAugment costs).
        geometric = tf.cond(
            strength > 0.0,
            lambda: _geometric(images, params[:, DiffAugment.num_params:], strength),
            lambda: tf.identity(images))
        return super().__call__(geometric, params[:, :DiffAugment.num_params])

    def adjust(self, strength, real_logits, num_images):
        """The next strength: `strength` +- num_images / (1000 x speed_kimg), up when the
        mean sign of `real_logits` is above `target`, clipped to [0, 1]."""
        overfitting = tf.reduce_mean(tf.sign(tf.cast(real_logits, tf.float32)))
        change = tf.sign(overfitting - self.target) * tf.cast(num_images, tf.float32) \
            / (1000.0 * self.speed_kimg)
        return tf.clip_by_value(strength + change, 0.0, 1.0)


class GatedAdaptiveAugment(AdaptiveAugment):
    """ADA as StyleGAN2-ADA gates it: every transform, DiffAugment's colour, translation
    and cutout too, is applied to an image with probability `strength`; at strength 0 the
    discriminator sees the images as they are.

    `AdaptiveAugment` keeps DiffAugment always on, which keeps the discriminator from
    growing sure of the real images in a short run, so its strength stays near 0; here the
    strength alone decides how much augmentation there is.
    """

    num_params = AdaptiveAugment.num_params + 3  # one gate per DiffAugment transform

    def __call__(self, images, params, strength):
        strength = tf.cast(strength, tf.float32)
        return tf.cond(strength > 0.0, lambda: self._gated(images, params, strength),
                       lambda: tf.identity(images))

    def _gated(self, images, params, strength):
        images = _geometric(images, params[:, DiffAugment.num_params:AdaptiveAugment.num_params],
                            strength)
        diff_params = tf.cast(params[:, :DiffAugment.num_params], images.dtype)
        gates = params[:, AdaptiveAugment.num_params:] < strength
        for column, transform in enumerate((_color, _translation, _cutout)):
            on = tf.reshape(gates[:, column], [-1, 1, 1, 1])
            images = tf.where(on, transform(images, diff_params), images)
        return images


AUGMENTATIONS = {"diffaugment": DiffAugment, "ada": AdaptiveAugment,
                 "ada_gated": GatedAdaptiveAugment}


def get(name):
    """The augmentation registered as `name`, or None for None."""
    if name is None:
        return None
    if name not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {name!r}; expected one of "
                         f"{sorted(AUGMENTATIONS)} or None.")
    return AUGMENTATIONS[name]()
