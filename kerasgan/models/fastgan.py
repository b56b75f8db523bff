"""FastGAN (Liu et al., ICLR 2021): few-shot image synthesis that trains in hours, not days.

"Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image Synthesis":
a light generator with skip-layer excitation, and a discriminator regularised by
self-supervised reconstruction, for collections of a few hundred images.

Generator: latent -> dense + reshape to 4x4 -> batch norm -> GLU, then per resolution a
nearest x2 upsampling, a 3x3 convolution, batch norm and GLU (resize-convolutions, no
transposed convolutions: no checkerboard artefacts; the 8, 32 and 128 px blocks have a
second conv + BN + GLU, FastGAN's UpBlockComp, without its noise injection, which would
be a random op in the exported graph). Skip-layer excitation (SLE) gates the channels of
the highest-resolution features with a squeeze of low-resolution ones: adaptive average
pool to 4x4, 4x4 conv, LeakyReLU(0.1), 1x1 conv, sigmoid, multiply (`SLE_PAIRS`). Output:
3x3 conv + tanh. Widths: `base_channels * channel_multipliers[res]`, FastGAN's `nfc` table.

Discriminator: 3x3 conv + LeakyReLU at full resolution, then FastGAN's DownBlockComp to 8x8
(average of a 4x4 stride-2 conv/BN/LReLU/3x3 conv/BN/LReLU branch and an average-pool/1x1
conv/BN/LReLU branch); head: 1x1 conv/BN/LReLU, 4x4 conv to 5x5 patch logits, averaged to
one logit per image `(batch, 1)`. Its 8x8 and 16x16 features (layers `FEATURES_8`,
`FEATURES_16`) feed two small decoders (`FastGAN.decoder`, a model of its own): one
rebuilds the whole real image from the 8x8 features, the other one quadrant of it from
the matching 8x8 corner of the 16x16 features, both at `decoder_size` (min(128,
image_size / 2)). Their L1 error on real images is added to the discriminator's loss:
the discriminator must keep features that describe the image, which is what keeps it
from overfitting a small set. FastGAN's reference code also uses an LPIPS (VGG)
perceptual loss there; this one uses L1 only, and no pretrained network anywhere.

Spectral normalization, which FastGAN applies to every conv: `spectral_norm=True` (the
default) wraps every conv and the dense layer in `keras.layers.SpectralNormalization`. That
wrapper writes W / sigma(W) back into the kernel at each training call (a projection after
each update: no gradient flows through sigma, unlike PyTorch's `spectral_norm`) and leaves
the kernel as it is at inference, so the exported graph is plain convolutions. Under mixed
precision `FastGAN.compile` keeps the wrappers in float32 (`_spectral_norm_in_float32`).

Training (`FastGAN.default_compile_args`): hinge loss (the reference's random 0.8-1.0
margins are not used), adaptive augmentation ("ada": DiffAugment, plus StyleGAN2-ADA's
geometric transforms once the discriminator overfits), Adam(2e-4, 0.5, 0.999), EMA
generator (0.999).
"""
import types

import keras
from keras import layers
import tensorflow as tf

from kerasgan import noise as noise_lib
from kerasgan.adversarial import Stream
from kerasgan.gan import GAN

IMAGE_SIZES = (32, 64, 128, 256)
RESOLUTIONS = (4, 8, 16, 32, 64, 128, 256)
# Generator widths per resolution, x base_channels: FastGAN's nfc table (its ngf is 64).
CHANNEL_MULTIPLIERS = (16, 8, 4, 2, 2, 1, 0.5)
# Discriminator widths per feature resolution, x d_base_channels (FastGAN's D table, read
# by the resolution of each block's output for a <= 256 px image).
D_CHANNEL_MULTIPLIERS = {4: 8, 8: 8, 16: 4, 32: 2, 64: 1, 128: 0.5, 256: 0.25}
# Decoder widths per output resolution, x decoder_channels (FastGAN's SimpleDecoder).
DECODER_MULTIPLIERS = {16: 4, 32: 2, 64: 2, 128: 1}
# Resolutions with FastGAN's two-conv UpBlockComp; the others have one conv.
_COMP_BLOCKS = (8, 32, 128)
# Skip-layer excitation: (source resolution, excited resolution). FastGAN's 4->64, 8->128,
# 16->256, shifted down for smaller images so that the two largest feature maps are gated.
SLE_PAIRS = {32: ((4, 16), (8, 32)), 64: ((4, 32), (8, 64)), 128: ((4, 64), (8, 128)),
             256: ((4, 64), (8, 128), (16, 256))}
FEATURES_8 = "d8_out"  # the discriminator's 8x8 features (layer name)
FEATURES_16 = "d16_out"  # its 16x16 features


def _check_size(image_size):
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"fastgan makes images of size {IMAGE_SIZES}, got "
                         f"image_size={image_size}.")


def _batch_norm(name):
    # synchronized: global-batch statistics under tf.distribute (a no-op on one device).
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True,
                                     gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
                                     name=name)


def _sn(layer, spectral_norm):
    return layers.SpectralNormalization(layer, name=layer.name + "_sn") if spectral_norm else layer


def _conv(filters, kernel_size, name, spectral_norm, strides=1, padding="same", use_bias=False):
    # Keras's default (Glorot) initialization, not FastGAN's N(0, 0.02): training normalizes
    # either (spectral and batch norm), but an untrained model's eval-mode output would
    # shrink by ~0.02 * sqrt(fan-in) per layer, to ~1e-10 at the tiny test widths.
    return _sn(layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                             use_bias=use_bias, name=name), spectral_norm)


@keras.saving.register_keras_serializable(package="kerasgan")
class GLU(layers.Layer):
    """Gated linear unit over channels: the first half times sigmoid(the second half)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // 2,)

    def call(self, x):
        value, gate = tf.split(x, 2, axis=-1)
        return value * tf.sigmoid(gate)


def _glu_block(x, width, name, spectral_norm):
    """3x3 conv to 2 x `width` channels, batch norm, GLU."""
    x = _conv(2 * width, 3, f"{name}_conv", spectral_norm)(x)
    return GLU(name=f"{name}_glu")(_batch_norm(f"{name}_bn")(x))


def _sle(source, target, name, spectral_norm):
    """Skip-layer excitation: `target`'s channels gated by a 4x4 squeeze of `source`."""
    width = target.shape[-1]
    if source.shape[1] > 4:  # adaptive average pooling to 4x4
        source = layers.AveragePooling2D(source.shape[1] // 4, name=f"{name}_pool")(source)
    s = _conv(width, 4, f"{name}_conv0", spectral_norm, padding="valid")(source)
    s = layers.LeakyReLU(0.1, name=f"{name}_lrelu")(s)
    s = _conv(width, 1, f"{name}_conv1", spectral_norm)(s)
    s = layers.Activation("sigmoid", name=f"{name}_gate")(s)
    return layers.Multiply(name=f"{name}_excite")([target, s])


def _widths(base_channels, multipliers, resolutions):
    return {res: max(1, int(round(m * base_channels))) for res, m in zip(resolutions, multipliers)}


def fastgan_generator(image_size=64, channels=3, latent_dim=256, base_channels=12,
                      channel_multipliers=CHANNEL_MULTIPLIERS, spectral_norm=True):
    """latent -> image in [-1, 1]; layer `g{res}_...` makes the `res` px features."""
    _check_size(image_size)
    if len(channel_multipliers) != len(RESOLUTIONS):
        raise ValueError(f"channel_multipliers needs one value per resolution {RESOLUTIONS}, "
                         f"got {list(channel_multipliers)}.")
    width = _widths(base_channels, channel_multipliers, RESOLUTIONS)
    sources = dict((big, small) for small, big in SLE_PAIRS[image_size])
    latent = keras.Input((latent_dim,), name="latent")
    x = _sn(layers.Dense(4 * 4 * 2 * width[4], use_bias=False, name="g4_dense"),
            spectral_norm)(latent)
    x = layers.Reshape((4, 4, 2 * width[4]), name="g4_reshape")(x)
    x = GLU(name="g4_glu")(_batch_norm("g4_bn")(x))
    features = {4: x}
    for res in [r for r in RESOLUTIONS if 8 <= r <= image_size]:
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"g{res}_up")(x)
        x = _glu_block(x, width[res], f"g{res}_0", spectral_norm)
        if res in _COMP_BLOCKS:
            x = _glu_block(x, width[res], f"g{res}_1", spectral_norm)
        if res in sources:
            x = _sle(features[sources[res]], x, f"g{res}_sle", spectral_norm)
        features[res] = x
    x = _conv(channels, 3, "g_to_rgb", spectral_norm, use_bias=True)(x)
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(latent, image, name="generator")


def _down_block(x, width, name, spectral_norm):
    """FastGAN's DownBlockComp: the mean of a conv branch and an average-pool branch."""
    main = _conv(width, 4, f"{name}_conv0", spectral_norm, strides=2)(x)
    main = layers.LeakyReLU(0.2, name=f"{name}_act0")(_batch_norm(f"{name}_bn0")(main))
    main = _conv(width, 3, f"{name}_conv1", spectral_norm)(main)
    main = layers.LeakyReLU(0.2, name=f"{name}_act1")(_batch_norm(f"{name}_bn1")(main))
    direct = layers.AveragePooling2D(2, name=f"{name}_pool")(x)
    direct = _conv(width, 1, f"{name}_skip", spectral_norm)(direct)
    direct = layers.LeakyReLU(0.2, name=f"{name}_skip_act")(_batch_norm(f"{name}_skip_bn")(direct))
    return layers.Average(name=f"{name}_out")([main, direct])


def fastgan_discriminator(image_size=64, channels=3, base_channels=12, spectral_norm=True):
    """image -> logit `(batch, 1)`; the 8x8 and 16x16 features are layers `FEATURES_8` and
    `FEATURES_16` (what `FastGAN.decoder` reconstructs from)."""
    _check_size(image_size)

    def width(res):
        return max(1, int(round(D_CHANNEL_MULTIPLIERS[res] * base_channels)))

    image = keras.Input((image_size, image_size, channels), name="image")
    x = _conv(width(image_size), 3, f"d{image_size}_from_rgb", spectral_norm)(image)
    x = layers.LeakyReLU(0.2, name=f"d{image_size}_act")(x)
    res = image_size
    while res > 8:
        res //= 2
        x = _down_block(x, width(res), f"d{res}", spectral_norm)
    x = _conv(width(8), 1, "d_head_conv", spectral_norm)(x)
    x = layers.LeakyReLU(0.2, name="d_head_act")(_batch_norm("d_head_bn")(x))
    x = _conv(1, 4, "d_patch_logits", spectral_norm, padding="valid", use_bias=True)(x)
    logit = layers.GlobalAveragePooling2D(dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


def _simple_decoder(x, size, channels, base_channels, name, spectral_norm):
    """FastGAN's SimpleDecoder: 8x8 features -> GLU up-blocks -> 3x3 conv + tanh at `size`."""
    res = 8
    while res < size:
        res *= 2
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}{res}_up")(x)
        width = max(1, int(round(DECODER_MULTIPLIERS[res] * base_channels)))
        x = _glu_block(x, width, f"{name}{res}", spectral_norm)
    x = _conv(channels, 3, f"{name}_to_rgb", spectral_norm, use_bias=True)(x)
    return layers.Activation("tanh", dtype="float32", name=f"{name}_image")(x)


def fastgan_decoder(discriminator, size, channels=3, base_channels=8, spectral_norm=True):
    """`[features_8, features_16_part] -> [whole image, quadrant]`, both `size` px.

    `features_16_part` is one 8x8 quadrant of the discriminator's 16x16 features."""
    if size not in DECODER_MULTIPLIERS:
        raise ValueError(f"decoder_size must be one of {tuple(DECODER_MULTIPLIERS)}, got {size}.")
    width_8 = discriminator.get_layer(FEATURES_8).output.shape[-1]
    width_16 = discriminator.get_layer(FEATURES_16).output.shape[-1]
    features_8 = keras.Input((8, 8, width_8), name="features_8")
    part = keras.Input((8, 8, width_16), name="features_16_part")
    whole = _simple_decoder(features_8, size, channels, base_channels, "rec_all", spectral_norm)
    piece = _simple_decoder(part, size, channels, base_channels, "rec_part", spectral_norm)
    return keras.Model([features_8, part], [whole, piece], name="decoder")


def quadrant(x, index):
    """Quadrant `index[i]` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of each
    `x[i]`, `(batch, H, W, C)` -> `(batch, H/2, W/2, C)`."""
    h, w, c = x.shape[1] // 2, x.shape[2] // 2, x.shape[3]
    x = tf.reshape(x, [-1, 2, h, 2, w, c])
    x = tf.reshape(tf.transpose(x, [0, 1, 3, 2, 4, 5]), [-1, 4, h, w, c])
    return tf.gather(x, index, axis=1, batch_dims=1)


def _spectral_norm_in_float32(network):
    """Moves each `SpectralNormalization` wrapper's precision onto the layer it wraps, and
    keeps the wrapper in float32. The wrapper writes the normalized kernel back into the
    float32 variable at every training call, computed at its own precision: under a mixed
    policy that rounded every weight to bfloat16 (or float16) at every step, and the
    wrapped convolution, left in float32 by `precision.apply`, gained nothing."""
    for layer in network.layers:
        if isinstance(layer, layers.SpectralNormalization):
            layer.layer.dtype_policy = layer.dtype_policy
            layer.dtype_policy = "float32"


def _adam():
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.999)


@keras.saving.register_keras_serializable(package="kerasgan")
class FastGAN(GAN):
    """A `GAN` whose discriminator also learns to reconstruct the real images it sees.

    Each discriminator step adds `recon_weight` x (L1 of the whole real image rebuilt from
    D's 8x8 features + L1 of a random quadrant rebuilt from the matching corner of its
    16x16 features) to D's loss; both are computed on the (augmented) real batch D sees.
    The decoders are `decoder` (a Keras model of their own, outside the discriminator, so
    that `discriminator(images)` stays images -> logits) and train with the discriminator's
    optimizer. The quadrant of each image is drawn from `Stream.QUADRANT`. Logged as
    `recon_loss` (`d_loss` stays the adversarial loss plus any penalty).

    `gan.compile(**gan.default_compile_args(batch_size))` is kerasgan's recipe for it: hinge
    loss, adaptive augmentation, Adam(2e-4, 0.5, 0.999) for both networks.

    Args:
        generator, discriminator: as for `GAN`; the discriminator must have the layers
            `FEATURES_8` and `FEATURES_16` (`fastgan_discriminator` builds one).
        decoder: `[features_8, features_16_part] -> [whole, part]` (`fastgan_decoder`).
        recon_weight: weight of the reconstruction loss (FastGAN's 1).
    """

    NETWORKS = ("generator", "discriminator", "decoder")
    # Fine-tuned at the full rate: at 12 minutes level with half on painting crops and
    # Fashion-MNIST, far better on clip art from a source that never saw it
    # (docs/small_data.md, sessions 25-26).
    fine_tune_lr_scale = 1.0

    def __init__(self, generator, discriminator, decoder, recon_weight=1.0, d_steps=1,
                 ema_decay=None, seed=None, **kwargs):
        super().__init__(generator, discriminator, d_steps=d_steps, ema_decay=ema_decay,
                         seed=seed, **kwargs)
        if not float(recon_weight) >= 0.0:
            raise ValueError(f"recon_weight must be >= 0, got {recon_weight!r}.")
        self.decoder = decoder
        self.recon_weight = float(recon_weight)
        self.recon_loss_tracker = keras.metrics.Mean(name="recon_loss")
        # The discriminator with its 8x8 and 16x16 features as extra outputs: the same
        # layers, so kept out of Keras's tracking (it would list and save them twice).
        self._taps = types.SimpleNamespace(model=keras.Model(
            discriminator.inputs[0], [discriminator.outputs[0],
                                   discriminator.get_layer(FEATURES_8).output,
                                   discriminator.get_layer(FEATURES_16).output],
            name="discriminator_taps"))

    # ------------------------------------------------------------------ compile / config
    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """As `GAN.compile`; the discriminator's optimizer also trains the decoders (in
        FastGAN they are part of D: `discriminator_variables`). Default optimizers:
        Adam(2e-4, 0.5, 0.999)."""
        d_optimizer = keras.optimizers.get(d_optimizer or _adam())
        if d_optimizer.built:
            raise ValueError("FastGAN builds its d_optimizer over the discriminator's and the "
                             "decoders' variables: pass one that has not been used yet.")
        super().compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer or _adam(), **kwargs)
        for network in self.networks():
            _spectral_norm_in_float32(network)

    def default_compile_args(self, batch_size=32, total_steps=None):
        """The recipe: hinge loss, Adam(2e-4, beta_1=0.5, beta_2=0.999) for both networks
        (FastGAN's), and "ada" augmentation: DiffAugment (colour, translation, cutout, the
        reference's), plus geometric transforms at a strength that rises only while the
        discriminator overfits (measured: docs/small_data.md, session 16).
        `gan.compile(**these)`. `batch_size` is not used (the recipe does not depend on it)."""
        del batch_size, total_steps
        return {"d_optimizer": _adam(), "g_optimizer": _adam(), "loss": "hinge",
                "r1_gamma": 0.0, "augment": "ada"}

    def _settings(self):
        return {**super()._settings(), "recon_weight": self.recon_weight}

    # ------------------------------------------------------------------ model folders
    def weight_files(self, for_preset=False):
        """The `GAN`'s files and decoder.weights.h5 (presets too: fine-tuning uses it)."""
        return {**super().weight_files(for_preset), "decoder.weights.h5": self.decoder}

    def missing_weight_file(self, filename, path):
        if filename != "decoder.weights.h5":  # the decoders only matter for training:
            super().missing_weight_file(filename, path)  # a folder without keeps fresh ones

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        return super().metrics + [self.recon_loss_tracker]

    def _quadrants(self, batch_size, draw):
        """Each real image's quadrant (0-3) for the part reconstruction, keyed like the
        base class's noise (the same per image whatever the replica count)."""
        return self._replica_share(lambda n: tf.minimum(tf.cast(
            4.0 * noise_lib.uniform(tf.reshape(n, [1]), self.key(Stream.QUADRANT, draw)),
            tf.int32), 3), batch_size)

    def reconstruction_loss(self, images, features_8, features_16, draw):
        """L1 of the whole image and of one quadrant, each rebuilt by the decoders from the
        discriminator's features of `images` and compared at the decoders' size."""
        size = self.decoder.outputs[0].shape[1]
        index = self._quadrants(tf.shape(images)[0], draw)
        whole, part = self.decoder([features_8, quadrant(features_16, index)], training=True)
        whole_target = tf.image.resize(images, (size, size), method="area")
        part_target = tf.image.resize(quadrant(images, index), (size, size), method="area")
        return (tf.reduce_mean(tf.abs(tf.cast(whole, "float32") - whole_target))
                + tf.reduce_mean(tf.abs(tf.cast(part, "float32") - part_target)))

    def real_logits(self, real_seen, draw, labels=None):
        """The discriminator's logits on the real batch, and the decoders' reconstruction
        loss of it (weighted; logged as `recon_loss`), trained with the discriminator.
        (FastGAN is unconditional: `labels` is always None.)"""
        real_logits, features_8, features_16 = self._taps.model(real_seen, training=True)
        recon = self.reconstruction_loss(real_seen, features_8, features_16, draw)
        self.recon_loss_tracker.update_state(recon)
        return real_logits, self.recon_weight * recon

    def discriminator_variables(self):
        return self.discriminator.trainable_variables + self.decoder.trainable_variables


def fastgan(image_size=64, channels=3, latent_dim=256, base_channels=12,
            channel_multipliers=CHANNEL_MULTIPLIERS, d_base_channels=None, decoder_channels=8,
            decoder_size=None, spectral_norm=True, recon_weight=1.0, ema_decay=0.999,
            **gan_kwargs):
    """FastGAN at 32, 64, 128 or 256 px.

    Widths: the generator's `base_channels * channel_multipliers` (one per resolution
    4, 8, ..., 256; FastGAN's table with base 64 is its full size), the discriminator's
    from `d_base_channels` (default `base_channels`), the decoders' from `decoder_channels`.
    `decoder_size`: the reconstructions' side (default min(128, image_size / 2)).
    Train with `gan.compile(**gan.default_compile_args(batch_size))`.

    The defaults are sized for a CPU: at 64 px the generator has 2.3 M parameters (1.6 M in
    the 4x4 dense layer; widths 192-96-48-24-24), the discriminator 0.23 M (12-24-48-96),
    the decoders 0.10 M; a batch-16 step is 26 GFLOP: 0.83 s measured while other jobs
    loaded the 2-core development machine, where DCGAN-64 batch 16 took 1.06 s
    (`python bench/train_speed.py --arch fastgan --image-size 64 --batch-size 16
    --jit off`). `spectral_norm=True` stores each wrapped kernel twice in
    weight files (the Keras wrapper tracks the kernel it normalizes as its own too):
    generator.weights.h5 is 18.6 MB at 64 px, 9.3 MB with `spectral_norm=False`.
    """
    image_size = int(image_size)
    _check_size(image_size)
    generator = fastgan_generator(image_size, int(channels), int(latent_dim), int(base_channels),
                                  tuple(float(m) for m in channel_multipliers), bool(spectral_norm))
    discriminator = fastgan_discriminator(image_size, int(channels),
                                          int(d_base_channels or base_channels),
                                          bool(spectral_norm))
    decoder = fastgan_decoder(discriminator, int(decoder_size or min(128, image_size // 2)),
                              int(channels), int(decoder_channels), bool(spectral_norm))
    return FastGAN(generator, discriminator, decoder, recon_weight=recon_weight,
                   ema_decay=ema_decay, **gan_kwargs)
