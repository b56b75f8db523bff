"""Inpainting: fills the damaged regions of an image, for restoring paintings.

A U-Net generator (pix2pix, Isola et al. 2017) sees the image with its missing pixels filled
smoothly from the known ones (pull-push) and the mask (1 = missing), and predicts a correction
of that fill; the result keeps the known pixels exactly and takes the prediction only inside
the mask. A PatchGAN discriminator (pix2pix's,
shared with CycleGAN) judges patches of `[damaged image, mask, image]`, real or restored.
Loss: adversarial + `l1_weight` (pix2pix's 100) x L1 of the prediction, the hole weighted
`hole_weight` times the known pixels (Liu et al. 2018 use 6). Training is self-supervised on
clean images: masks of four families (`kerasgan.masks`) are drawn in the train step from the
model's stateless keys, so a resumed run draws the same masks.

The generator has no normalisation layers (as DeepFill v2's): a tile of a large image is
computed as it would be inside the whole, so `restore` works in tiles with memory bounded by
the tile. Two dilated convolutions at the bottleneck widen its receptive field for holes.

Example:

```python
import kerasgan
model = kerasgan.zoo.create("inpainting", image_size=64)
model.compile()
model.fit(kerasgan.data.image_dataset("paintings/", image_size=64, batch_size=16), epochs=10)
restored = model.restore(damaged, masks)  # any H x W; floats in [-1, 1], masks 1 = missing
```
"""
import numpy as np
import keras
import tensorflow as tf
from keras import layers

from kerasgan import losses as losses_lib
from kerasgan import masks as masks_lib
from kerasgan import precision as precision_lib
from kerasgan.adversarial import AdversarialModel, ExportSignature, Stream
from kerasgan.gan import check_images
from kerasgan.layers import PullPushFill
from kerasgan import tiling
from kerasgan.models.cyclegan import patch_discriminator, patch_side



def _conv(filters, kernel, name, strides=1, dilation=1):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same",
                         dilation_rate=dilation, name=name)


def unet_trunk(x, base_channels=32, depth=4, max_channels=256):
    """The U-Net body shared by the inpainting and pix2pix generators: `depth` stride-2
    levels (H and W multiples of 2**depth), two dilated convolutions at the bottleneck,
    resize-convolution upsampling (no checkerboard), skip connections, LeakyReLU, no
    normalisation (so a tile is computed as inside the whole image). Returns the features
    at the input's resolution, `base_channels` wide."""
    x = layers.LeakyReLU(0.2)(_conv(base_channels, 5, "enc0")(x))
    skips = [x]
    width = base_channels
    for level in range(1, depth + 1):
        width = min(2 * width, max_channels)
        x = layers.LeakyReLU(0.2)(_conv(width, 4, f"down{level}", strides=2)(x))
        x = layers.LeakyReLU(0.2)(_conv(width, 3, f"enc{level}")(x))
        skips.append(x)
    for i, dilation in enumerate((2, 4)):
        x = layers.LeakyReLU(0.2)(_conv(width, 3, f"dilated{i}", dilation=dilation)(x))
    for level in range(depth, 0, -1):
        width = max(base_channels, min(base_channels * 2 ** (level - 1), max_channels))
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = layers.LeakyReLU(0.2)(_conv(width, 3, f"up{level}")(x))
        x = layers.Concatenate()([x, skips[level - 1]])
        x = layers.LeakyReLU(0.2)(_conv(width, 3, f"dec{level}")(x))
    return x


def unet_generator(channels=3, base_channels=32, depth=4, max_channels=256,
                   name="generator"):
    """`[image (H, W, channels), mask (H, W, 1)] -> image`: a U-Net (`unet_trunk`) of `depth`
    stride-2 levels (H and W multiples of 2**depth). Fully convolutional.

    The holes are first filled smoothly from the known pixels (`layers.PullPushFill`, as good
    as OpenCV's Telea inpainting by PSNR); the U-Net sees that fill and the mask and adds a
    correction to it. Its last convolution starts at zero, so an untrained generator already
    returns the smooth fill, and training only has to learn texture and structure on top."""
    image = keras.Input((None, None, channels), name="image")
    mask = keras.Input((None, None, 1), name="mask")
    keep = layers.Rescaling(-1.0, offset=1.0, name="keep")(mask)  # 1 - mask
    fill = PullPushFill(depth, dtype="float32", name="fill")([image, keep])
    x = layers.Concatenate(name="damaged")([fill, mask])
    x = unet_trunk(x, base_channels, depth, max_channels)
    correction = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros",
                               dtype="float32", name="to_image")(x)
    x = layers.Add(dtype="float32", name="corrected")([fill, correction])
    outputs = layers.Activation("hard_tanh", dtype="float32", name="prediction")(x)  # [-1, 1]
    return keras.Model([image, mask], outputs, name=name)


def _l1(x, y, weights):
    return tf.reduce_mean(tf.abs(tf.cast(x, "float32") - y) * weights)


@keras.saving.register_keras_serializable(package="kerasgan")
class Inpainter(AdversarialModel):
    """Fills masked regions of images; trains on clean images with masks it draws.

    `fit` takes batches of clean images, floats in [-1, 1] `(batch, image_size, image_size,
    channels)` (`kerasgan.data.image_dataset`). Each `train_step` draws one mask per image
    (`kerasgan.masks.draw`, keyed by seed and step), updates the discriminator on real and
    restored images, then the generator on adversarial + weighted L1 losses.

    Args:
        generator: `[image, mask] -> prediction` (`unet_generator`).
        discriminator: `[damaged image, mask, image]` concatenated on channels -> patch
            logits (`patch_discriminator(channels * 2 + 1)`).
        image_size: the training images' side.
        mask_families: the `kerasgan.masks.FAMILIES` drawn from in training.
        seed: seed of the masks; drawn at random when None and kept.

    Example:
        >>> model = kerasgan.zoo.create("inpainting", image_size=64)
        >>> restored = model.restore(images, masks)  # known pixels kept exactly
    """

    task = "inpainting"
    NETWORKS = ("generator", "discriminator")

    def __init__(self, generator, discriminator, image_size=64,
                 mask_families=masks_lib.FAMILIES, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.image_size = int(image_size)
        self.channels = int(generator.inputs[0].shape[-1])
        self.image_shape = (self.image_size, self.image_size, self.channels)
        self.mask_families = tuple(mask_families)
        masks_lib.draw(tf.constant([0, 0], tf.int64), 1, 8, 8, self.mask_families)  # checks
        self.stride = 2 ** sum(1 for layer in generator.layers
                               if layer.name.startswith("down"))
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.l1_tracker = keras.metrics.Mean(name="l1_loss")
        self.hole_l1_tracker = keras.metrics.Mean(name="hole_l1")

    # ------------------------------------------------------------------ compile / config
    def compile(self, d_optimizer=None, g_optimizer=None, loss="non_saturating",
                l1_weight=100.0, hole_weight=6.0, jit_compile="auto", precision="auto",
                **kwargs):
        """Configures training.

        Args:
            d_optimizer, g_optimizer: default Adam(2e-4, beta_1=0.5) each (pix2pix's).
            loss: the adversarial loss (`kerasgan.losses.LOSSES`; pix2pix's BCE by default).
            l1_weight: weight of the L1 loss (pix2pix's lambda, 100).
            hole_weight: weight of the missing pixels in the L1 loss relative to the known
                ones (the prediction is trained everywhere; only the hole is kept).
            jit_compile, precision: as for `kerasgan.GAN.compile`.
        """
        if l1_weight < 0 or hole_weight < 0:
            raise ValueError(f"l1_weight and hole_weight must be >= 0, got {l1_weight!r} and "
                             f"{hole_weight!r}.")
        self.adversarial_loss = losses_lib.get(loss)
        self.loss_name = loss
        self.l1_weight, self.hole_weight = float(l1_weight), float(hole_weight)
        self._compile_optimizers(
            d_optimizer, g_optimizer,
            lambda: keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5),
            jit_compile, precision, self.networks(), **kwargs)

    def _compile_settings(self):
        return {"loss": self.loss_name, "l1_weight": self.l1_weight,
                "hole_weight": self.hole_weight}

    def _settings(self):
        return {"image_size": self.image_size, "mask_families": list(self.mask_families)}

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def weight_files(self, for_preset=False):
        return {"generator.weights.h5": self.generator,
                "discriminator.weights.h5": self.discriminator}

    def export_signatures(self, image_size=None, **unused):
        """One signature, "inpaint": inputs `image` and `mask` (1 = missing) of `image_size`
        (default the training size; a multiple of the generator's stride), output the
        restored image with the known pixels kept."""
        size = export_side(image_size, self.image_size, self.stride)
        shape = (size, size)

        def run(inputs):
            image, mask = inputs
            return composite(image, mask, self.generator([image, mask], training=False))
        return [ExportSignature("inpaint", self.generator, ["image", "mask"],
                                [shape + (self.channels,), shape + (1,)], run)]

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.l1_tracker, self.hole_l1_tracker]

    def masks(self, batch_size, draw=0):
        """This step's training masks `(batch, H, W, 1)`, keyed by (seed, step)."""
        size = self.image_size
        return self._replica_share(
            lambda n: masks_lib.draw(self.key(Stream.MASKS, draw), n, size, size,
                                     self.mask_families), batch_size)

    def _judge(self, damaged, mask, image):
        return self.discriminator(tf.concat([damaged, mask, image], axis=-1), training=True)

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        check_images(real, self.image_shape, "The training images",
                     "kerasgan.data.image_dataset()")
        real = tf.cast(real, "float32")
        mask = self.masks(tf.shape(real)[0])
        damaged = real * (1.0 - mask)
        g_variables = self.generator_variables()
        with tf.GradientTape(watch_accessed_variables=False) as g_tape:
            g_tape.watch([v.value for v in g_variables])
            prediction = tf.cast(self.generator([real, mask], training=True), "float32")
            restored = composite(real, mask, prediction)
            with tf.GradientTape() as d_tape:
                d_loss = self.adversarial_loss.d_loss(
                    self._judge(damaged, mask, real),
                    self._judge(damaged, mask, tf.stop_gradient(restored)))
                scaled_d_loss = self.d_optimizer.scale_loss(self._per_replica(d_loss))
            d_variables = self.discriminator_variables()
            d_grads = d_tape.gradient(scaled_d_loss, d_variables)
            self.d_optimizer.apply_gradients(zip(d_grads, d_variables))
            adversarial = self.adversarial_loss.g_loss(self._judge(damaged, mask, restored))
            l1 = _l1(prediction, real, 1.0 + (self.hole_weight - 1.0) * mask) / (
                1.0 + (self.hole_weight - 1.0) * tf.reduce_mean(mask))
            g_loss = adversarial + self.l1_weight * l1
            scaled_g_loss = self.g_optimizer.scale_loss(self._per_replica(g_loss))
        g_grads = g_tape.gradient(scaled_g_loss, [v.value for v in g_variables])
        self.g_optimizer.apply_gradients(zip(g_grads, g_variables))
        self.step.assign_add(1)
        hole = tf.reduce_sum(tf.abs(prediction - real) * mask) / tf.maximum(
            tf.reduce_sum(mask) * self.channels, 1.0)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(adversarial)
        self.l1_tracker.update_state(l1)
        self.hole_l1_tracker.update_state(hole)
        return self._logs()

    # ------------------------------------------------------------------ inference
    def call(self, inputs, training=False):
        image, mask = inputs
        return composite(image, mask, self.generator([image, mask], training=training))

    def restore(self, images, masks, tile_size=None, overlap=None, batch_size=8):
        """Fills the masked pixels of `images`; the others are returned unchanged.

        Args:
            images: floats in [-1, 1], `(n, H, W, C)` or one image `(H, W, C)`, any H, W.
            masks: `(n, H, W)`, `(n, H, W, 1)` (or without n for one image), 1 (or > 0.5)
                where pixels are missing.
            tile_size: images larger than this side are restored in overlapping tiles of
                this side, blended (memory bounded by the tile); a multiple of the stride.
            overlap: the least overlap of neighbouring tiles (default 64).
            batch_size: images per forward pass when restored whole.

        Returns:
            float32 numpy array of the images' shape.
        """
        x, m, single = self._check_restore_inputs(images, masks)
        tile_size, overlap = tiling.stride_tile_settings(tile_size, overlap, self.stride)
        h, w = x.shape[1], x.shape[2]
        with precision_lib.float32_layers(self.generator):
            if h <= tile_size and w <= tile_size:
                out = np.concatenate([
                    tiling.run_at_stride(self.generator, [x[i:i + batch_size],
                                                          m[i:i + batch_size]], self.stride)
                    for i in range(0, len(x), batch_size)])
            else:
                out = np.zeros(x.shape, "float32")
                for i in range(len(x)):
                    tiling.run_tiled(self.generator, [x[i], m[i]], out[i], self.stride,
                                     tile_size, overlap)
        out = np.where(m > 0.5, out, x).astype("float32")  # known pixels exactly
        return out[0] if single else out

    def _check_restore_inputs(self, images, masks):
        x, single = tiling.image_batch(images, self.channels)
        m = np.asarray(masks)
        if single:
            m = m[None]
        if m.ndim == 3:
            m = m[..., None]
        if m.shape != x.shape[:3] + (1,):
            raise ValueError(f"masks must have the images' height and width, shape "
                             f"{x.shape[:3]} or {x.shape[:3] + (1,)}, got {np.shape(masks)}.")
        return x, (m > 0.5).astype("float32"), single


def check_unet_config(arch, image_size, depth, d_layers, gan_kwargs):
    """`(image_size, depth)` as ints for a U-Net + PatchGAN builder (inpainting, pix2pix),
    after refusing what such a model cannot do: `d_steps` or `ema_decay` in `gan_kwargs` (popped),
    a size off the U-Net's stride, a size too small for the discriminator."""
    for key in ("d_steps", "ema_decay"):
        if gan_kwargs.pop(key, None) not in (None, 1):
            raise ValueError(f"{arch} does not support {key!r}.")
    image_size, depth = int(image_size), int(depth)
    if image_size < 2 ** depth or image_size % 2 ** depth:
        raise ValueError(f"{arch}'s image_size must be a multiple of 2**depth = "
                         f"{2 ** depth}, got {image_size}.")
    if patch_side(image_size, int(d_layers)) < 1:
        raise ValueError(f"image_size={image_size} is too small for a discriminator with "
                         f"d_layers={d_layers}; use fewer d_layers or larger images.")
    return image_size, depth


def export_side(image_size, default, stride):
    """The side of an exported U-Net's input: `image_size`, or `default` when None; a
    multiple of `stride` (ValueError otherwise)."""
    size = default if image_size is None else image_size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) \
            or size < stride or size % stride:
        raise ValueError(f"image_size must be a multiple of {stride} (the generator's "
                         f"stride), got {size!r}.")
    return int(size)


def composite(image, mask, prediction):
    """The known pixels of `image` where `mask` is 0, `prediction` where it is 1."""
    return image * (1.0 - mask) + tf.cast(prediction, image.dtype) * mask


def inpainting(image_size=64, channels=3, base_channels=32, depth=4, max_channels=256,
               d_base_channels=32, d_layers=3, mask_families=masks_lib.FAMILIES, **gan_kwargs):
    """Inpainting: a U-Net generator of `depth` levels (image_size a multiple of 2**depth)
    and a PatchGAN discriminator with `d_layers` stride-2 layers on [damaged, mask, image]."""
    image_size, depth = check_unet_config("inpainting", image_size, depth, d_layers, gan_kwargs)
    generator = unet_generator(int(channels), int(base_channels), depth, int(max_channels))
    discriminator = patch_discriminator(2 * int(channels) + 1, int(d_base_channels),
                                        int(d_layers))
    return Inpainter(generator, discriminator, image_size=image_size,
                     mask_families=tuple(mask_families), **gan_kwargs)
