"""Projection (GAN inversion): the latent from which a generator best reproduces an image.

For StyleGAN-lite the search is in w+ (one w per style input, started at the tracked average
w, as StyleGAN2's projector starts at the average), or in w (one w for all); for the other
generators in z, started at the best of 64 random latents. The noise inputs of StyleGAN-lite
are fixed (drawn from `seed`), not optimised.

The loss is the mean squared pixel error plus `feature_weight` x the mean squared error of
the model's own discriminator activations (each normalised by its spread), which matches
structure that pixels alone blur. No pretrained network is involved: kerasgan needs none
offline, and its quality numbers use ImageNet features that a projection must not fit.

Example:

```python
from kerasgan import projection, zoo
model = zoo.load("stylegan_lite_clipart64")
result = projection.project(model, image)  # image: (H, W, C) in [-1, 1]
result.latent, result.image, result.losses[-1]
```
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from kerasgan import precision as precision_lib

SPACES = ("auto", "w+", "w", "z")
RANDOM_STARTS = 64  # candidate z for the non-StyleGAN start: the closest by pixels wins
FEATURE_LAYERS = 4  # discriminator activations compared, spread from input to output


@dataclasses.dataclass
class Projection:
    """What `project` found: `latent` in `space` (w+: `(num_ws, w_dim)`, w: `(w_dim,)`,
    z: `(latent_dim,)`), the generated `image` `(H, W, C)` in [-1, 1], and the loss per step."""
    latent: np.ndarray
    space: str
    image: np.ndarray
    losses: list
    noise: list = dataclasses.field(default_factory=list)


def _is_stylegan(model):
    from kerasgan.models.stylegan import StyleGAN
    return isinstance(model, StyleGAN)


def check_request(model, target, space, steps):
    """`target` as float32 if `project` can take these arguments, else a ValueError."""
    if model.task != "generation":
        raise ValueError(f"projection needs a generation model (latents -> images), got a "
                         f"{model.task} model.")
    target = np.asarray(target, "float32")
    if target.shape != tuple(model.image_shape):
        raise ValueError(f"expected an image of shape {tuple(model.image_shape)} in [-1, 1], "
                         f"got shape {target.shape}.")
    if not np.isfinite(target).all() or target.min() < -1.0 - 1e-3 or target.max() > 1.0 + 1e-3:
        raise ValueError("expected an image in [-1, 1], got values outside it.")
    if model.num_classes:
        raise ValueError("projection of class-conditional models is not supported: project "
                         "with an unconditional model.")
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}.")
    if space in ("w", "w+") and not _is_stylegan(model):
        raise ValueError(f"space {space!r} needs a StyleGAN-lite model; this one projects in z.")
    if space == "z" and _is_stylegan(model):
        raise ValueError("project StyleGAN-lite in 'w' or 'w+' (its z space reproduces "
                         "images poorly).")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    return target


def discriminator_features(discriminator, count=FEATURE_LAYERS):
    """A model `image -> [activations]` of `count` of the discriminator's 4-D activations,
    evenly spaced from the first to the last."""
    maps = [layer.output for layer in discriminator.layers[1:]
            if not isinstance(layer.output, (list, tuple)) and len(layer.output.shape) == 4]
    if not maps:
        raise ValueError(f"the discriminator {discriminator.name!r} has no feature maps.")
    picks = sorted({round(i * (len(maps) - 1) / max(count - 1, 1)) for i in range(count)})
    return keras.Model(discriminator.inputs[0], [maps[i] for i in picks])


def project(model, target, steps=300, space="auto", learning_rate=0.05, feature_weight=0.1,
            seed=0, verbose=1):
    """Finds the latent whose image is closest to `target` (see the module docstring).

    Args:
        model: a generation model (`zoo.load(...)`): vanilla, dcgan, fastgan, stylegan_lite.
        target: one image `(H, W, C)`, floats in [-1, 1], at the model's image size.
        steps: Adam steps.
        space: "auto" (w+ for StyleGAN-lite, z otherwise), "w+", "w" or "z".
        learning_rate: Adam's learning rate.
        feature_weight: the weight of the discriminator-feature term (0: pixels only).
        seed: the noise inputs and the random starts.
        verbose: 1 shows a progress bar with the loss.

    Returns:
        A `Projection`.
    """
    target = check_request(model, target, space, steps)
    stylegan = _is_stylegan(model)
    space = ("w+" if stylegan else "z") if space == "auto" else space
    # float32 throughout: the discriminator's features too (bfloat16 maps would not add to
    # the float32 pixel loss, and would make the search coarser).
    with model.sampling(), precision_lib.float32_layers(model.discriminator):
        render, start, noise = (_stylegan_renderer(model, space, seed) if stylegan
                                else _z_renderer(model, target, seed))
        latent = tf.Variable(start, dtype="float32")
        features = discriminator_features(model.discriminator) if feature_weight else None
        loss_fn = _loss(features, target, float(feature_weight))
        optimizer = keras.optimizers.Adam(learning_rate)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = loss_fn(render(latent))
            optimizer.apply_gradients([(tape.gradient(loss, latent), latent)])
            return loss

        bar = keras.utils.Progbar(steps, stateful_metrics=["loss"]) if verbose else None
        losses = []
        for i in range(steps):
            losses.append(float(step()))
            if bar is not None:
                bar.update(i + 1, [("loss", losses[-1])])
        image = keras.ops.convert_to_numpy(render(latent))[0].astype("float32")
    return Projection(latent.numpy()[0], space, image, losses, noise)


def _loss(features, target, feature_weight):
    target = tf.constant(target[None])
    if features is None:
        return lambda image: tf.reduce_mean(tf.square(image - target))
    target_maps = [tf.constant(m) for m in _as_list(features(target, training=False))]
    scales = [tf.math.reduce_std(m) + 1e-6 for m in target_maps]

    def loss(image):
        pixels = tf.reduce_mean(tf.square(image - target))
        maps = _as_list(features(image, training=False))
        feature = tf.add_n([tf.reduce_mean(tf.square((m - t) / s))
                            for m, t, s in zip(maps, target_maps, scales)]) / len(maps)
        return pixels + feature_weight * feature
    return loss


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _stylegan_renderer(model, space, seed):
    synthesis = model.sampler.get_layer("synthesis")
    noise = model.noise_inputs(1, seed)
    w_avg = model.ws(model.latents(1, seed), truncation_psi=0.0)[:, 0]  # the tracked average
    start = np.repeat(w_avg[:, None], model.num_ws, axis=1) if space == "w+" else w_avg
    constants = [tf.constant(a) for a in noise]

    def render(latent):
        ws = latent if space == "w+" else tf.repeat(latent[:, None], model.num_ws, axis=1)
        return tf.cast(synthesis([ws] + constants, training=False), "float32")
    return render, start, noise


def _z_renderer(model, target, seed):
    candidates = model.latents(RANDOM_STARTS, seed)
    images = model.generate(latents=candidates)
    best = int(np.argmin(np.mean(np.square(images - target[None]), axis=(1, 2, 3))))

    def render(latent):
        return tf.cast(model.sampler(latent, training=False), "float32")
    return render, candidates[best:best + 1], []


def save(result, path):
    """Writes `result` as an .npz: latent, space, image, losses, noise_0, noise_1, ..."""
    arrays = {f"noise_{i}": a for i, a in enumerate(result.noise)}
    np.savez(path, latent=result.latent, space=np.array(result.space), image=result.image,
             losses=np.asarray(result.losses, "float32"), **arrays)
