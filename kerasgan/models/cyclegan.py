"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between domains A and B.

Two ResNet generators, G: A -> B (`generator_a2b`) and F: B -> A (`generator_b2a`), and two
70x70 PatchGAN discriminators, D_A (real A vs F(b)) and D_B (real B vs G(a)), trained with
the least-squares adversarial loss, an L1 cycle loss (weight lambda = 10) and an L1 identity
loss (weight 0.5 * lambda), as in the authors' PyTorch reference (`pytorch-CycleGAN-and-pix2pix`).

Example:

```python
import kerasgan
model = kerasgan.zoo.create("cyclegan", image_size=128)
data = kerasgan.data.unpaired_dataset("photos/", "paintings/", image_size=128, batch_size=1)
model.compile(total_steps=200 * data.batches_per_epoch)  # lr constant, then linear to 0
model.fit(data, epochs=200)
paintings = model.translate(photos, direction="a2b")  # any H x W, floats in [-1, 1]
```

Why one file of ~630 lines: one file per architecture (`kerasgan/models/`). Besides the
networks and the model it holds CycleGAN's own tiled translation (instance-norm statistics
shared by the tiles); the tiling itself is `kerasgan/tiling.py`, shared with inpainting.
"""
import numpy as np
import keras
import tensorflow as tf
from keras import layers

from kerasgan import augment as augment_lib
from kerasgan import noise, tiling
from kerasgan import precision as precision_lib
from kerasgan.adversarial import AdversarialModel, ExportSignature, Stream
from kerasgan.gan import check_images

DIRECTIONS = ("a2b", "b2a")
DOMAINS = ("a", "b")
UPSAMPLINGS = ("transpose", "resize")


# ---------------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="kerasgan")
class CycleGANReflectionPadding2D(layers.Layer):
    """Reflection padding of the two spatial axes (channels last).

    Args:
        padding: an int (all sides) or `((top, bottom), (left, right))`. Each pad must be
            smaller than the padded side (TensorFlow's REFLECT mode).
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)

    def call(self, x):
        (top, bottom), (left, right) = self.padding
        return keras.ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        h, w = input_shape[1], input_shape[2]
        return (input_shape[0], None if h is None else h + top + bottom,
                None if w is None else w + left + right, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


def _instance_norm():
    # GroupNormalization with one group per channel is instance normalisation.
    return layers.GroupNormalization(groups=-1, epsilon=1e-5)


def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)  # the reference's init_type="normal"


def _conv(filters, kernel, strides=1, padding="valid", use_bias=False):
    return layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
                         kernel_initializer=_init())


# ---------------------------------------------------------------------------- networks
def resnet_generator(channels=3, base_channels=64, n_blocks=6, upsampling="transpose",
                     name="generator"):
    """The reference ResNet generator: c7s1-64, d128, d256, `n_blocks` x R256, u128, u64, c7s1-3.

    Fully convolutional (input `(None, None, channels)`); the height and width must be
    multiples of 4 and at least 8 to come back unchanged (`CycleGAN.translate` pads to that).
    """
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}.")
    inputs = keras.Input((None, None, channels), name="image")
    x = CycleGANReflectionPadding2D(3)(inputs)
    x = layers.ReLU()(_instance_norm()(_conv(base_channels, 7)(x)))
    width = base_channels
    for _ in range(2):
        width *= 2
        x = layers.ReLU()(_instance_norm()(_conv(width, 3, strides=2, padding="same")(x)))
    for _ in range(n_blocks):
        y = CycleGANReflectionPadding2D(1)(x)
        y = layers.ReLU()(_instance_norm()(_conv(width, 3)(y)))
        y = CycleGANReflectionPadding2D(1)(y)
        y = _instance_norm()(_conv(width, 3)(y))
        x = layers.Add()([x, y])
    for _ in range(2):
        width //= 2
        if upsampling == "transpose":
            x = layers.Conv2DTranspose(width, 3, strides=2, padding="same", use_bias=False,
                                       kernel_initializer=_init())(x)
        else:  # resize + conv: no checkerboard artefacts
            x = layers.UpSampling2D(2, interpolation="nearest")(x)
            x = _conv(width, 3)(CycleGANReflectionPadding2D(1)(x))
        x = layers.ReLU()(_instance_norm()(x))
    x = CycleGANReflectionPadding2D(3)(x)
    x = _conv(channels, 7, use_bias=True)(x)
    outputs = layers.Activation("tanh", dtype="float32", name="translated")(x)
    return keras.Model(inputs, outputs, name=name)


def patch_discriminator(channels=3, base_channels=64, n_layers=3, name="discriminator"):
    """The reference PatchGAN (70x70 receptive field with `n_layers=3`): C64-C128-C256-C512.

    4x4 convs with padding 1 (zero), LeakyReLU 0.2, instance norm except on the first;
    outputs a map of patch logits `(batch, h, w, 1)`. Fully convolutional.
    """
    inputs = keras.Input((None, None, channels), name="image")
    x = inputs
    width = base_channels
    for i in range(n_layers + 1):
        width = base_channels * min(2 ** i, 8)
        stride = 2 if i < n_layers else 1
        x = _conv(width, 4, strides=stride, use_bias=(i == 0))(layers.ZeroPadding2D(1)(x))
        if i > 0:
            x = _instance_norm()(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(1, 4, kernel_initializer=_init())(layers.ZeroPadding2D(1)(x))
    outputs = layers.Activation("linear", dtype="float32", name="patch_logits")(x)
    return keras.Model(inputs, outputs, name=name)


def patch_side(size, n_layers):
    """The side of `patch_discriminator`'s logit map for images of side `size`."""
    for _ in range(n_layers):
        size = (size + 2 - 4) // 2 + 1
    return (size + 2 - 4 + 1) + 2 - 4 + 1


# ---------------------------------------------------------------------------- schedule
@keras.saving.register_keras_serializable(package="kerasgan")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate, then linear decay to 0 at `total_steps` (CycleGAN's schedule).

    lr(step) = initial_learning_rate * min(1, (total_steps - step) / (total_steps - decay_start)),
    clipped at 0; `decay_start` defaults to `total_steps // 2` (the second half decays).
    The step is the optimizer's own `iterations`, which is saved with the optimizer, so the
    schedule survives `.keras` save/load (it is serialized in the compile config).
    """

    def __init__(self, initial_learning_rate, total_steps, decay_start=None):
        if int(total_steps) < 1:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}.")
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.decay_start = self.total_steps // 2 if decay_start is None else int(decay_start)
        if not 0 <= self.decay_start < self.total_steps:
            raise ValueError(f"decay_start must be in [0, total_steps), got {decay_start!r}.")

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        remaining = (self.total_steps - step) / float(self.total_steps - self.decay_start)
        return self.initial_learning_rate * keras.ops.clip(remaining, 0.0, 1.0)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "total_steps": self.total_steps, "decay_start": self.decay_start}


def _default_optimizer(total_steps=None):
    lr = 2e-4 if total_steps is None else LinearDecay(2e-4, total_steps)
    return keras.optimizers.Adam(learning_rate=lr, beta_1=0.5)


def _mse(x, target):
    return tf.reduce_mean(tf.square(tf.cast(x, "float32") - target))


def _l1(x, y):
    return tf.reduce_mean(tf.abs(tf.cast(x, "float32") - tf.cast(y, "float32")))


# ---------------------------------------------------------------------------- the model
@keras.saving.register_keras_serializable(package="kerasgan")
class CycleGAN(AdversarialModel):
    """Unpaired translation A <-> B with two generators and two PatchGAN discriminators.

    `fit` takes batches `(images_a, images_b)` of floats in [-1, 1] shaped
    `(batch, image_size, image_size, channels)` (see `kerasgan.data.unpaired_dataset`).
    Each `train_step` updates both generators together (adversarial + cycle + identity
    losses against the current discriminators), then both discriminators on real images
    and on fakes drawn through the history pools.

    History pool (Shrivastava et al. 2017, as in the reference `ImagePool`): per domain a
    buffer of `pool_size` earlier generated images kept in model weights (so it is saved in
    `.keras` checkpoints and works in the compiled step). Images of a batch are processed
    one by one: while the pool is not full, the new image is stored and returned; once it
    is full, with probability 0.5 a random stored image is returned and replaced by the new
    one, otherwise the new image is returned. `pool_size=0` turns it off. The draws are
    stateless, keyed by `(seed, step)`. The pool is not distribution-aware: under
    `tf.distribute` use `pool_size=0`.

    Args:
        generator_a2b, generator_b2a: image -> image models (G and F).
        discriminator_a, discriminator_b: image -> patch logits models (D_A, D_B).
        image_size: the training images' side length (the pools have this size).
        pool_size: images in each history pool (the paper's 50).
        seed: seed of the pool's random draws; drawn at random when None and kept.
    """

    task = "translation"
    DIRECTIONS = DIRECTIONS  # what `translate` and export take
    NETWORKS = ("generator_a2b", "generator_b2a", "discriminator_a", "discriminator_b")

    def __init__(self, generator_a2b, generator_b2a, discriminator_a, discriminator_b,
                 image_size=128, pool_size=50, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if int(pool_size) < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size!r}.")
        self.generator_a2b = generator_a2b
        self.generator_b2a = generator_b2a
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.image_size = int(image_size)
        self.channels = int(generator_a2b.input_shape[-1])
        self.image_shape = (self.image_size, self.image_size, self.channels)
        self.pool_size = int(pool_size)
        self.pool_a = self.pool_b = self.pool_a_count = self.pool_b_count = None
        if self.pool_size:
            shape = (self.pool_size,) + self.image_shape
            self.pool_a = self.add_weight(name="pool_a", shape=shape, dtype="float32",
                                          initializer="zeros", trainable=False)
            self.pool_b = self.add_weight(name="pool_b", shape=shape, dtype="float32",
                                          initializer="zeros", trainable=False)
            self.pool_a_count = self.add_weight(name="pool_a_count", shape=(), dtype="int64",
                                                initializer="zeros", trainable=False)
            self.pool_b_count = self.add_weight(name="pool_b_count", shape=(), dtype="int64",
                                                initializer="zeros", trainable=False)
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_a_loss_tracker = keras.metrics.Mean(name="d_a_loss")
        self.d_b_loss_tracker = keras.metrics.Mean(name="d_b_loss")
        self.cycle_loss_tracker = keras.metrics.Mean(name="cycle_loss")
        self.identity_loss_tracker = keras.metrics.Mean(name="identity_loss")
        self.augment_name = self.augmentation = None  # set by compile

    # ------------------------------------------------------------------ compile
    def compile(self, g_optimizer=None, d_optimizer=None, cycle_weight=10.0,
                identity_weight=0.5, total_steps=None, augment=None, jit_compile="auto",
                precision="auto", **kwargs):
        """Configures training.

        Args:
            g_optimizer: one optimizer for both generators; d_optimizer: one for both
                discriminators. Default Adam(2e-4, beta_1=0.5), with a `LinearDecay`
                learning rate when `total_steps` is given.
            cycle_weight: lambda, the weight of each L1 cycle loss.
            identity_weight: the identity loss weight RELATIVE to `cycle_weight` (the
                reference's lambda_identity): the identity terms are weighted
                `cycle_weight * identity_weight`. 0 turns them off.
            total_steps: training length in steps, for the default optimizers' schedule
                (constant for the first half, then linear to 0); ignored for optimizers
                you pass.
            augment: "diffaugment" (colour, translation, cutout; `kerasgan.augment`) on
                every image either discriminator sees, real and translated, in both the
                generators' and the discriminators' updates, for a domain of a few dozen
                images; the cycle and identity losses see the images unaugmented. None
                (the reference recipe) turns it off. Adaptive augmentations are refused.
            jit_compile: XLA for the train step ("auto": on with a GPU, off on CPU).
            precision: "float32", "mixed_bfloat16", "mixed_float16" (loss-scaled) or
                "auto" (bfloat16 where the hardware has it, else float32); see
                `kerasgan.GAN.compile`.
        """
        if cycle_weight < 0 or identity_weight < 0:
            raise ValueError("cycle_weight and identity_weight must be >= 0, got "
                             f"{cycle_weight!r} and {identity_weight!r}.")
        augmentation = augment_lib.get(augment)
        if augmentation is not None and augmentation.adaptive:
            raise ValueError(f"CycleGAN takes augment='diffaugment' or None, got {augment!r}: "
                             "an adaptive strength follows a single discriminator.")
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        self.augment_name, self.augmentation = augment, augmentation
        self.total_steps = None if total_steps is None else int(total_steps)
        self._compile_optimizers(d_optimizer, g_optimizer, lambda: _default_optimizer(total_steps),
                                 jit_compile, precision, self.networks(), **kwargs)

    def generator_variables(self):
        return self.generator_a2b.trainable_variables + self.generator_b2a.trainable_variables

    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    def _compile_settings(self):
        return {"cycle_weight": self.cycle_weight, "identity_weight": self.identity_weight,
                "total_steps": self.total_steps, "augment": self.augment_name}

    def default_compile_args(self, batch_size=1, total_steps=None):
        """The reference recipe: least-squares loss, Adam(2e-4, 0.5) decaying linearly to 0
        over the second half of `total_steps`."""
        del batch_size
        return {"g_optimizer": _default_optimizer(total_steps),
                "d_optimizer": _default_optimizer(total_steps), "total_steps": total_steps}

    # ------------------------------------------------------------------ config
    def _settings(self):
        return {"image_size": self.image_size, "pool_size": self.pool_size}

    def fingerprint(self):
        # "latent_dim": None as in run folders written before the base class.
        return {**super().fingerprint(), "latent_dim": None}

    def export_signatures(self, directions=None, image_size=None, **unused):
        """One signature per direction ("a2b", "b2a"; None: both): the generator, input
        `image` of `image_size` (default the training size; a multiple of 4, at least 8)."""
        directions = DIRECTIONS if directions is None else directions
        bad = [d for d in directions if d not in DIRECTIONS]
        if bad or not directions:
            raise ValueError(f"directions must be a non-empty subset of {DIRECTIONS}, "
                             f"got {list(directions)!r}.")
        size = export_side(image_size, self.image_size)
        shape = (size, size, self.channels)
        return [ExportSignature(d, getattr(self, f"generator_{d}"), ["image"], [shape], None)
                for d in directions]

    # ------------------------------------------------------------------ model folders
    def weight_files(self, for_preset=False):
        """One file per network, `NAME.weights.h5` (presets too)."""
        return {f"{key}.weights.h5": getattr(self, key) for key in self.NETWORKS}

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_a_loss_tracker, self.d_b_loss_tracker,
                self.cycle_loss_tracker, self.identity_loss_tracker]

    def _check_images(self, images, which):
        check_images(images, self.image_shape, f"The training images of domain {which}",
                     "kerasgan.data.unpaired_dataset()")

    def query_pool(self, domain, images):
        """Passes generated images of `domain` ("a" or "b") through its history pool and
        returns what the discriminator sees (same shape); updates the pool. See the class
        docstring for the semantics."""
        if self.pool_size == 0:
            return images
        pool, count = (self.pool_a, self.pool_a_count) if domain == "a" else (
            self.pool_b, self.pool_b_count)
        images = tf.cast(images, "float32")
        n = tf.shape(images)[0]
        draws = noise.uniform(tf.stack([n, 2]), self.key(Stream.POOL_A if domain == "a" else Stream.POOL_B))
        size = self.pool_size

        def body(i, buffer, filled, out):
            image = images[i]

            def insert():  # not full yet: store the new image and return it
                return (tf.tensor_scatter_nd_update(buffer, tf.reshape(filled, [1, 1]),
                                                    image[None]), filled + 1, image)

            def swap():  # return a random stored image, store the new one in its place
                index = tf.minimum(tf.cast(draws[i, 1] * size, tf.int64), size - 1)
                return (tf.tensor_scatter_nd_update(buffer, tf.reshape(index, [1, 1]),
                                                    image[None]), filled, buffer[index])

            def keep():
                return buffer, filled, image

            buffer, filled, chosen = tf.cond(
                filled < size, insert, lambda: tf.cond(draws[i, 0] < 0.5, swap, keep))
            return i + 1, buffer, filled, out.write(i, chosen)

        out = tf.TensorArray(tf.float32, size=n, element_shape=self.image_shape)
        _, buffer, filled, out = tf.while_loop(
            lambda i, *_: i < n, body,
            (tf.constant(0), tf.convert_to_tensor(pool.value), tf.convert_to_tensor(count.value),
             out))
        pool.assign(buffer)
        count.assign(filled)
        return tf.reshape(out.stack(), tf.shape(images))

    def critic(self, domain, images, stream):
        """The logits of domain `domain`'s discriminator ("a" or "b") for `images`, seen
        through the augmentation (if any) drawn from random `stream`."""
        if self.augmentation is not None:
            params = self._augmentation_params(self.augmentation, tf.shape(images)[0], stream,
                                               draw=DOMAINS.index(domain))
            images = self.augmentation(images, params)
        discriminator = self.discriminator_a if domain == "a" else self.discriminator_b
        return discriminator(images, training=True)

    def train_step(self, data):
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError("CycleGAN trains on batches (images_a, images_b), e.g. from "
                             "kerasgan.data.unpaired_dataset(dir_a, dir_b); got "
                             f"{type(data).__name__}.")
        real_a, real_b = data
        self._check_images(real_a, "A")
        self._check_images(real_b, "B")
        real_a, real_b = tf.cast(real_a, "float32"), tf.cast(real_b, "float32")
        G, F = self.generator_a2b, self.generator_b2a

        g_variables = self.generator_variables()
        # Only the generators' weights are watched: the discriminators stay fixed here.
        with tf.GradientTape(watch_accessed_variables=False) as g_tape:
            g_tape.watch([v.value for v in g_variables])
            fake_b = G(real_a, training=True)
            fake_a = F(real_b, training=True)
            cycle = self.cycle_weight * (_l1(F(fake_b, training=True), real_a)
                                         + _l1(G(fake_a, training=True), real_b))
            if self.identity_weight:
                identity = self.cycle_weight * self.identity_weight * (
                    _l1(G(real_b, training=True), real_b) + _l1(F(real_a, training=True), real_a))
            else:
                identity = tf.constant(0.0)
            adversarial = (_mse(self.critic("b", fake_b, Stream.AUGMENT_GENERATOR), 1.0)
                           + _mse(self.critic("a", fake_a, Stream.AUGMENT_GENERATOR), 1.0))
            g_loss = adversarial + cycle + identity
            scaled_g_loss = self.g_optimizer.scale_loss(self._per_replica(g_loss))
        g_grads = g_tape.gradient(scaled_g_loss, [v.value for v in g_variables])
        self.g_optimizer.apply_gradients(zip(g_grads, g_variables))

        seen_fake_a = self.query_pool("a", tf.stop_gradient(fake_a))
        seen_fake_b = self.query_pool("b", tf.stop_gradient(fake_b))
        d_variables = self.discriminator_variables()
        with tf.GradientTape() as d_tape:
            d_a_loss = 0.5 * (_mse(self.critic("a", real_a, Stream.AUGMENT_REAL), 1.0)
                              + _mse(self.critic("a", seen_fake_a, Stream.AUGMENT_FAKE), 0.0))
            d_b_loss = 0.5 * (_mse(self.critic("b", real_b, Stream.AUGMENT_REAL), 1.0)
                              + _mse(self.critic("b", seen_fake_b, Stream.AUGMENT_FAKE), 0.0))
            scaled_d_loss = self.d_optimizer.scale_loss(self._per_replica(d_a_loss + d_b_loss))
        d_grads = d_tape.gradient(scaled_d_loss, d_variables)
        self.d_optimizer.apply_gradients(zip(d_grads, d_variables))
        self.step.assign_add(1)

        self.g_loss_tracker.update_state(g_loss)
        self.d_a_loss_tracker.update_state(d_a_loss)
        self.d_b_loss_tracker.update_state(d_b_loss)
        self.cycle_loss_tracker.update_state(cycle)
        self.identity_loss_tracker.update_state(identity)
        return self._logs()

    # ------------------------------------------------------------------ inference
    def call(self, images, training=False):
        return self.generator_a2b(images, training=training)

    def translate(self, images, direction="a2b", batch_size=8, tile_size=None, overlap=None):
        """Translates images with G (`"a2b"`) or F (`"b2a"`), in tiles when they are large.

        An image of at most `tile_size` x `tile_size` pixels is translated whole (each pass
        reflection-padded to a multiple of 4, at least 8, run and cropped back). A larger one
        is translated in overlapping tiles, one tile per forward pass, blended without seams
        (`kerasgan.tiling`), so that memory is bounded by the tile size whatever
        the image size (a whole-image pass needs ~2.3 GB per megapixel at 24 base channels,
        measured: ~28 GB for a 12-megapixel photo). The result is written
        into one float32 array of the output's size, the only memory that grows with the
        image. Always computed in float32, also for a model compiled in mixed precision.

        Args:
            images: floats in [-1, 1], `(n, H, W, C)` or one image `(H, W, C)`, any H and W.
            direction: "a2b" or "b2a".
            batch_size: images per forward pass when translated whole (fewer when
                `batch_size` images would have more than `tile_size`**2 pixels).
            tile_size: the tiles' side, a multiple of 4, at least 16 (default `tiling.TILE_SIZE`,
                512: ~0.6 GB of working memory for the cyclegan_photo2painting preset).
            overlap: the least overlap of neighbouring tiles in pixels, a multiple of 4 less
                than `tile_size / 2` (default `TILE_OVERLAP`, 64, or about `tile_size / 4` if
                smaller). Tiles are blended over its middle half.

        Returns:
            float32 numpy array of the input's shape, in [-1, 1].
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
        net = self.generator_a2b if direction == "a2b" else self.generator_b2a
        return translate_with(net, images, self.channels, batch_size, tile_size, overlap)


# ---------------------------------------------------------------------------- tiled translation
def translate_with(net, images, channels, batch_size=8, tile_size=None, overlap=None):
    """`net`, a `resnet_generator`, on images of any size, whole or in tiles, in float32:
    `CycleGAN.translate` (which documents the arguments) for one generator."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    tile_size, overlap = tiling.check_tile_settings(tile_size, overlap)
    x, single = tiling.image_batch(images, channels)
    h, w = x.shape[1], x.shape[2]
    with precision_lib.float32_layers(net):
        if h <= tile_size and w <= tile_size:
            # Whole images, as many per pass as fit the tile's pixel budget.
            per_pass = max(1, min(batch_size, tile_size**2 // (tiling.padded_side(h)
                                                               * tiling.padded_side(w))))
            result = np.concatenate([_run(net, x[i:i + per_pass])
                                     for i in range(0, len(x), per_pass)])
        else:
            result = np.zeros(x.shape, "float32")  # the only image-sized allocation
            for image, out in zip(x, result):
                _translate_tiled(net, image, out, tile_size, overlap)
    return result[0] if single else result


def export_side(image_size, default):
    """The side of an exported translator's input: `image_size`, or `default` (the training
    size) when None; a multiple of 4 and at least 8, else ValueError."""
    size = default if image_size is None else image_size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8 or size % 4:
        raise ValueError(f"image_size must be a multiple of 4 and >= 8 (the generator "
                         f"downsamples twice), got {size!r}.")
    return int(size)


def _run(net, batch):
    """`net` on a batch `(n, h, w, c)` of any h and w: reflection-padded to
    `tiling.padded_side` sizes (edge-padded when a side is 1 px), run, cropped back; float32
    numpy."""
    batch = np.asarray(batch, "float32")
    h, w = batch.shape[1], batch.shape[2]
    ph, pw = tiling.padded_side(h) - h, tiling.padded_side(w) - w
    pad = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
    if ph or pw:
        batch = np.pad(batch, pad, mode="reflect" if min(h, w) > 1 else "edge")
    y = keras.ops.convert_to_numpy(net(batch, training=False))
    return y[:, pad[1][0]:pad[1][0] + h, pad[2][0]:pad[2][0] + w].astype("float32", copy=False)


def _instance_norm_layers(net):
    """`net`'s instance normalisation layers: GroupNormalization with one group per channel."""
    found = []
    for layer in net._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, layers.GroupNormalization) and layer.built \
                and layer.axis in (-1, 3) and layer.input_spec is not None:
            channels = (layer.input_spec.axes or {}).get(layer.axis)
            if layer.groups == channels:  # groups=-1 becomes the channel count when built
                found.append(layer)
    return found


class _SharedInstanceNorm:
    """Makes `net`'s instance norm layers record, then reuse, per-channel statistics.

    After `record()` a forward pass (of one image) normalises as usual and keeps each
    layer's mean and variance; after `reuse()` forward passes normalise with the kept
    statistics instead of their own, so that all the tiles of an image are normalised
    alike. A context manager: on exit the layers' own `call` is back.
    """

    def __init__(self, net):
        self.layers = _instance_norm_layers(net)
        self.stats = {}
        self.mode = "record"
        for layer in self.layers:
            layer.call = self._call_for(layer)  # an instance attribute: shadows the class's

    def _call_for(self, layer):
        own_call = type(layer).call.__get__(layer)

        def call(inputs):
            if self.mode == "record":
                x = keras.ops.cast(inputs, "float32")
                self.stats[id(layer)] = keras.ops.moments(x, axes=[1, 2], keepdims=True)
                return own_call(inputs)
            mean, variance = self.stats[id(layer)]  # then as GroupNormalization computes
            inv = keras.ops.rsqrt(variance + layer.epsilon)
            if layer.scale:
                inv = inv * keras.ops.cast(layer.gamma, "float32")
            shift = -mean * inv
            if layer.center:
                shift = shift + keras.ops.cast(layer.beta, "float32")
            out = keras.ops.cast(inputs, "float32") * inv + shift
            return keras.ops.cast(out, layer.compute_dtype)
        return call

    def record(self):
        self.mode, self.stats = "record", {}

    def reuse(self):
        self.mode = "reuse"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            layer.__dict__.pop("call", None)


def _translate_tiled(net, image, out, tile_size, overlap):
    """Translates one `(H, W, C)` image tile by tile into `out`, float32 `(H, W, C)` zeros.

    Each tile (`kerasgan.tiling.tiles`) is cut from the image, reflection-padded where it
    reaches beyond the image (as a whole-image pass pads), translated on its own, and its
    part inside the image is added into `out` times its blending weight. Peak
    memory: one tile's forward pass, plus `out`.

    Instance normalisation: every tile is normalised with the same statistics, taken once
    from a pass over the image box-filtered down to at most `tile_size`**2 pixels. Each
    tile's own statistics would differ from tile to tile (and from the whole image's):
    the blend would hide the seams but not the tile-sized patches of different colour and
    contrast. Measured with the cyclegan_photo2painting preset on a 2048x1152 photo, tiles
    of 512, mean absolute difference from the whole-image translation: 0.32 with per-tile
    statistics, 0.12 with the shared ones, 0.0000 with the whole image's exact statistics
    (so the tiles' cut edges cost nothing measurable; what is left is the full resolution's
    finer statistics, which a small copy cannot give). Tiles therefore do not agree exactly
    with a whole-image translation, but agree with each other, without seams.
    """
    with _SharedInstanceNorm(net) as norm:
        if norm.layers:
            norm.record()
            _run(net, tiling.box_downscale(image, tile_size**2)[None])
            norm.reuse()
        for (top, bottom, left, right), weight in tiling.tiles(*image.shape[:2], tile_size,
                                                               overlap):
            y0, y1 = max(top, 0), min(bottom, image.shape[0])
            x0, x1 = max(left, 0), min(right, image.shape[1])
            tile = np.asarray(image[y0:y1, x0:x1], "float32")
            pad = ((y0 - top, bottom - y1), (x0 - left, right - x1), (0, 0))
            if any(pad[0] + pad[1]):
                tile = np.pad(tile, pad, mode="reflect" if min(tile.shape[:2]) > 1 else "edge")
            y = keras.ops.convert_to_numpy(net(tile[None], training=False))[0]
            out[y0:y1, x0:x1] += y[y0 - top:y1 - top, x0 - left:x1 - left] * weight
    np.clip(out, -1.0, 1.0, out=out)  # a convex blend of tanh outputs, up to rounding


def check_builder_arguments(name, image_size, channels, d_layers, gan_kwargs):
    """`image_size`, `channels`, `d_layers` as ints, checked for a ResNet generator and a
    PatchGAN (architecture `name`: cyclegan, cut); `gan_kwargs` loses d_steps and ema_decay,
    which these models refuse unless left at their defaults."""
    for key in ("d_steps", "ema_decay"):
        if gan_kwargs.pop(key, None) not in (None, 1):
            raise ValueError(f"{name} does not support {key!r}.")
    image_size, channels, d_layers = int(image_size), int(channels), int(d_layers)
    if image_size < 8 or image_size % 4:
        raise ValueError(f"{name}'s image_size must be a multiple of 4 and >= 8, "
                         f"got {image_size}.")
    if patch_side(image_size, d_layers) < 1:
        raise ValueError(f"image_size={image_size} is too small for a discriminator with "
                         f"d_layers={d_layers}; use fewer d_layers or larger images.")
    return image_size, channels, d_layers


def cyclegan(image_size=128, channels=3, base_channels=64, n_blocks=6, d_base_channels=None,
             d_layers=3, upsampling="transpose", pool_size=50, **gan_kwargs):
    """CycleGAN: ResNet generators with `n_blocks` residual blocks (6 for 128 px, 9 for
    256 px in the paper) and `base_channels` width, PatchGAN discriminators with `d_layers`
    stride-2 layers (3 = 70x70 patches) and `d_base_channels` width (default base_channels)."""
    image_size, channels, d_layers = check_builder_arguments("cyclegan", image_size, channels,
                                                             d_layers, gan_kwargs)
    d_width = int(d_base_channels or base_channels)
    nets = dict(
        generator_a2b=resnet_generator(channels, int(base_channels), int(n_blocks), upsampling,
                                       name="generator_a2b"),
        generator_b2a=resnet_generator(channels, int(base_channels), int(n_blocks), upsampling,
                                       name="generator_b2a"),
        discriminator_a=patch_discriminator(channels, d_width, d_layers, name="discriminator_a"),
        discriminator_b=patch_discriminator(channels, d_width, d_layers, name="discriminator_b"))
    return CycleGAN(**nets, image_size=image_size, pool_size=int(pool_size), **gan_kwargs)
