"""pix2pix: paired image-to-image translation (Isola et al. 2017), e.g. sketch -> painting,
grey -> colour, damaged -> restored, from pairs of images matched by file name.

The generator is the inpainting model's U-Net (`unet_trunk`: skip connections, resize-
convolution upsampling, no normalisation, so a tile of a large image is computed as inside the
whole and `translate` works in tiles with memory bounded by the tile). The discriminator is
the PatchGAN shared with CycleGAN, conditioned on the input: it judges patches of
`[input, output]`, the real target or the translation. Loss: adversarial + `l1_weight`
(pix2pix's 100) x L1 to the target. Unlike CycleGAN, the target of every input is known, so
nothing keeps a cycle: the L1 term does, and the adversarial term makes the result sharp.

Example:

```python
import kerasgan
pairs = kerasgan.data.paired_dataset("sketches/", "paintings/", image_size=64, batch_size=16)
model = kerasgan.zoo.create("pix2pix", image_size=64)
model.compile()
model.fit(pairs, epochs=10)
painted = model.translate(sketches)  # any H x W; floats in [-1, 1]
```
"""
import numpy as np
import keras
import tensorflow as tf
from keras import layers

from kerasgan import losses as losses_lib
from kerasgan import precision as precision_lib
from kerasgan import tiling
from kerasgan.adversarial import AdversarialModel, ExportSignature
from kerasgan.gan import check_images
from kerasgan.models.cyclegan import patch_discriminator
from kerasgan.models.inpainting import check_unet_config, export_side, unet_trunk

DIRECTION = "a2b"  # the one direction a pix2pix model translates (its export's name)


def translator_generator(channels=3, base_channels=32, depth=4, max_channels=256,
                         name="generator"):
    """`image (H, W, channels) -> image`: the U-Net of `unet_trunk` (H and W multiples of
    2**depth), a tanh output in [-1, 1]."""
    image = keras.Input((None, None, channels), name="image")
    x = unet_trunk(image, base_channels, depth, max_channels)
    x = layers.Conv2D(channels, 3, padding="same", dtype="float32", name="to_image")(x)
    outputs = layers.Activation("tanh", dtype="float32", name="translation")(x)
    return keras.Model(image, outputs, name=name)


@keras.saving.register_keras_serializable(package="kerasgan")
class Pix2Pix(AdversarialModel):
    """Translates images of domain A into domain B, trained on aligned pairs.

    `fit` takes batches `(images_a, images_b)`, floats in [-1, 1] `(batch, image_size,
    image_size, channels)`, image `i` of B the target of image `i` of A
    (`kerasgan.data.paired_dataset`). Each `train_step` updates the discriminator on the real
    and the translated pairs, then the generator on adversarial + `l1_weight` x L1.

    Args:
        generator: `image -> image` (`translator_generator`).
        discriminator: `[input, output]` concatenated on channels -> patch logits
            (`patch_discriminator(2 * channels)`).
        image_size: the training crops' side.
        seed: seed of the training noise (kept for resume); drawn at random when None.

    Example:
        >>> model = kerasgan.zoo.create("pix2pix", image_size=64)
        >>> painted = model.translate(sketches)  # same shape as the input
    """

    task = "translation"
    DIRECTIONS = (DIRECTION,)  # what `translate` and export take
    NETWORKS = ("generator", "discriminator")

    def __init__(self, generator, discriminator, image_size=64, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.image_size = int(image_size)
        self.channels = int(generator.inputs[0].shape[-1])
        self.image_shape = (self.image_size, self.image_size, self.channels)
        self.stride = 2 ** sum(1 for layer in generator.layers if layer.name.startswith("down"))
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.l1_tracker = keras.metrics.Mean(name="l1_loss")

    # ------------------------------------------------------------------ compile / config
    def compile(self, d_optimizer=None, g_optimizer=None, loss="non_saturating",
                l1_weight=100.0, jit_compile="auto", precision="auto", **kwargs):
        """Configures training.

        Args:
            d_optimizer, g_optimizer: default Adam(2e-4, beta_1=0.5) each (pix2pix's).
            loss: the adversarial loss (`kerasgan.losses.LOSSES`; pix2pix's BCE by default).
            l1_weight: weight of the L1 distance to the target (pix2pix's lambda, 100).
            jit_compile, precision: as for `kerasgan.GAN.compile`.
        """
        if l1_weight < 0:
            raise ValueError(f"l1_weight must be >= 0, got {l1_weight!r}.")
        self.adversarial_loss = losses_lib.get(loss)
        self.loss_name = loss
        self.l1_weight = float(l1_weight)
        self._compile_optimizers(
            d_optimizer, g_optimizer,
            lambda: keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5),
            jit_compile, precision, self.networks(), **kwargs)

    def _compile_settings(self):
        return {"loss": self.loss_name, "l1_weight": self.l1_weight}

    def _settings(self):
        return {"image_size": self.image_size}

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def weight_files(self, for_preset=False):
        return {"generator.weights.h5": self.generator,
                "discriminator.weights.h5": self.discriminator}

    def export_signatures(self, directions=None, image_size=None, **unused):
        """One signature, "a2b": input `image` of `image_size` (default the training size; a
        multiple of the generator's stride), output the translation."""
        if directions is not None and list(directions) != [DIRECTION]:
            raise ValueError(f"A pix2pix model translates one way, {DIRECTION!r}; got "
                             f"directions {list(directions)!r}.")
        size = export_side(image_size, self.image_size, self.stride)
        shape = (size, size, self.channels)
        return [ExportSignature(DIRECTION, self.generator, ["image"], [shape], None)]

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.l1_tracker]

    def _judge(self, source, image):
        return self.discriminator(tf.concat([source, image], axis=-1), training=True)

    def train_step(self, data):
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError("pix2pix trains on batches of pairs (images_a, images_b): use "
                             "kerasgan.data.paired_dataset().")
        source, target = data
        check_images(source, self.image_shape, "The training images of domain A",
                     "kerasgan.data.paired_dataset()")
        check_images(target, self.image_shape, "The training images of domain B",
                     "kerasgan.data.paired_dataset()")
        source, target = tf.cast(source, "float32"), tf.cast(target, "float32")
        g_variables = self.generator_variables()
        with tf.GradientTape(watch_accessed_variables=False) as g_tape:
            g_tape.watch([v.value for v in g_variables])
            fake = tf.cast(self.generator(source, training=True), "float32")
            with tf.GradientTape() as d_tape:
                d_loss = self.adversarial_loss.d_loss(
                    self._judge(source, target), self._judge(source, tf.stop_gradient(fake)))
                scaled_d_loss = self.d_optimizer.scale_loss(self._per_replica(d_loss))
            d_variables = self.discriminator_variables()
            d_grads = d_tape.gradient(scaled_d_loss, d_variables)
            self.d_optimizer.apply_gradients(zip(d_grads, d_variables))
            adversarial = self.adversarial_loss.g_loss(self._judge(source, fake))
            l1 = tf.reduce_mean(tf.abs(fake - target))
            g_loss = adversarial + self.l1_weight * l1
            scaled_g_loss = self.g_optimizer.scale_loss(self._per_replica(g_loss))
        g_grads = g_tape.gradient(scaled_g_loss, [v.value for v in g_variables])
        self.g_optimizer.apply_gradients(zip(g_grads, g_variables))
        self.step.assign_add(1)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(adversarial)
        self.l1_tracker.update_state(l1)
        return self._logs()

    # ------------------------------------------------------------------ inference
    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def translate(self, images, direction=DIRECTION, batch_size=8, tile_size=None,
                  overlap=None):
        """Translates images of domain A, in tiles when they are large.

        Args:
            images: floats in [-1, 1], `(n, H, W, C)` or one image `(H, W, C)`, any H, W
                (run reflection-padded to a multiple of the stride, cropped back).
            direction: "a2b", the only one (for the same call as CycleGAN's).
            batch_size: images per forward pass when translated whole.
            tile_size: images larger than this side are translated in overlapping tiles
                of this side, blended (memory bounded by the tile); a multiple of the stride
                (default 512).
            overlap: the least overlap of neighbouring tiles (default 64).

        Returns:
            float32 numpy array of the input's shape, in [-1, 1].
        """
        if direction != DIRECTION:
            raise ValueError(f"A pix2pix model translates one way, {DIRECTION!r}; got "
                             f"direction {direction!r}.")
        x, single = tiling.image_batch(images, self.channels)
        tile_size, overlap = tiling.stride_tile_settings(tile_size, overlap, self.stride)
        h, w = x.shape[1], x.shape[2]
        with precision_lib.float32_layers(self.generator):
            if h <= tile_size and w <= tile_size:
                out = np.concatenate([
                    tiling.run_at_stride(self.generator, [x[i:i + batch_size]], self.stride)
                    for i in range(0, len(x), batch_size)])
            else:
                out = np.zeros(x.shape, "float32")
                for i in range(len(x)):
                    tiling.run_tiled(self.generator, [x[i]], out[i], self.stride, tile_size,
                                     overlap)
        return out[0] if single else out


def pix2pix(image_size=128, channels=3, base_channels=32, depth=4, max_channels=256,
            d_base_channels=64, d_layers=3, **gan_kwargs):
    """pix2pix: a U-Net generator of `depth` levels (image_size a multiple of 2**depth) and
    a PatchGAN discriminator with `d_layers` stride-2 layers on [input, output] (70 x 70
    receptive field at 3, as pix2pix's)."""
    image_size, depth = check_unet_config("pix2pix", image_size, depth, d_layers, gan_kwargs)
    generator = translator_generator(int(channels), int(base_channels), depth, int(max_channels))
    discriminator = patch_discriminator(2 * int(channels), int(d_base_channels), int(d_layers))
    return Pix2Pix(generator, discriminator, image_size=image_size, **gan_kwargs)
