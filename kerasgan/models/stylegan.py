"""StyleGAN-lite: a compact StyleGAN2 (Karras et al. 2020) at 32, 64 or 128 px.

Generator = mapping network (z -> w) + synthesis network (w+ and explicit noise -> image):
a learned 4x4 constant, per resolution a bilinear x2 upsampling and two modulated 3x3
convolutions with demodulation (each followed by noise, bias and LeakyReLU(0.2)), skip
toRGB outputs (modulated 1x1 without demodulation) upsampled and summed, tanh at the end.

The exported generator is `keras.Model([latent, noise_0, noise_1, ...], image)`: the noise
is an input (random ops do not convert to TFLite). `noise_i` has shape `(H_i, W_i, 1)`,
see `StyleGAN.noise_shapes`. Inside it are two sub-models, `mapping` and `synthesis`
(`generator.get_layer("mapping")`), and a `WAverage` layer "truncation" holding the
tracked average w (saved with the generator weights).

Discriminator: residual blocks (conv3x3-LReLU-conv3x3-LReLU-avgpool, skip avgpool + 1x1,
sum / sqrt(2)), minibatch standard deviation, conv + dense -> one logit.
"""
import math

import numpy as np
import keras
from keras import layers
import tensorflow as tf

from kerasgan import layers as kg_layers
from kerasgan import noise as noise_lib
from kerasgan.adversarial import Stream
from kerasgan.gan import GAN
from kerasgan import conditioning

IMAGE_SIZES = (32, 64, 128)


def _check_size(image_size):
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"stylegan_lite makes images of size {IMAGE_SIZES}, got "
                         f"image_size={image_size}.")


def _resolutions(image_size):
    return [2 ** i for i in range(2, int(math.log2(image_size)) + 1)]


def _width(res, channel_base, max_channels):
    return max(1, min(int(max_channels), int(channel_base) // res))


def noise_shapes(image_size):
    """The `(H, W, 1)` shapes of the noise inputs: one at 4x4, two per higher resolution."""
    shapes = [(4, 4, 1)]
    for res in _resolutions(image_size)[1:]:
        shapes += [(res, res, 1), (res, res, 1)]
    return shapes


def num_ws(image_size):
    """Style vectors per image: one per modulated conv plus the last toRGB (StyleGAN2's)."""
    return 2 * len(_resolutions(image_size))


def mapping_network(latent_dim=256, w_dim=256, depth=4, lr_multiplier=0.01, num_classes=0):
    """z -> pixel norm -> `depth` equalized-lr dense + LeakyReLU layers -> w. With
    `num_classes`, inputs `[latent, label]`: the label's embedding, pixel-normed too, is
    joined to z (StyleGAN2-ADA's conditioning)."""
    z = keras.Input((latent_dim,), name="latent")
    inputs = z
    x = kg_layers.PixelNorm(name="pixel_norm")(z)
    if num_classes:
        label = conditioning.label_input()
        inputs = [z, label]
        embedded = conditioning.embed_label(label, num_classes, w_dim)
        x = layers.Concatenate(name="latent_and_label")(
            [x, kg_layers.PixelNorm(name="label_norm")(embedded)])
    for i in range(depth):
        x = kg_layers.EqualizedDense(w_dim, lr_multiplier=lr_multiplier, activation="lrelu",
                                     name=f"dense_{i}")(x)
    return keras.Model(inputs, x, name="mapping")


def synthesis_network(image_size=64, channels=3, w_dim=256, channel_base=8192,
                      max_channels=256):
    """[w+ (batch, num_ws, w_dim), noise_0, ...] -> image in [-1, 1] (tanh).

    Layer names: `b{res}_conv{0,1}` (modulated convs), `b{res}_noise{0,1}`,
    `b{res}_act{0,1}` (a block's features), `b{res}_torgb`, `b{res}_rgb` (the summed skip).
    Style index: the 4x4 conv uses w 0 and its toRGB w 1; block k (8 px is k=1) uses
    w 2k-1, 2k for its convs and 2k+1 for its toRGB.
    """
    resolutions = _resolutions(image_size)
    ws = keras.Input((num_ws(image_size), w_dim), name="ws")
    noises = [keras.Input(shape, name=f"noise_{i}")
              for i, shape in enumerate(noise_shapes(image_size))]
    width = lambda res: _width(res, channel_base, max_channels)  # noqa: E731

    selected = {}

    def w_(index):  # one StyleSelect per style index (toRGB shares the next conv's)
        if index not in selected:
            selected[index] = kg_layers.StyleSelect(index, name=f"w_{index}")(ws)
        return selected[index]

    def layer(x, res, conv, w_index, noise_index):
        x = kg_layers.ModulatedConv2D(width(res), 3, name=f"b{res}_conv{conv}")([x, w_(w_index)])
        x = kg_layers.NoiseInjection(name=f"b{res}_noise{conv}")([x, noises[noise_index]])
        return layers.LeakyReLU(0.2, name=f"b{res}_act{conv}")(x)

    x = kg_layers.ConstantInput(width(4), 4, name="const")(ws)
    x = layer(x, 4, 1, 0, 0)
    rgb = kg_layers.ModulatedConv2D(channels, 1, demodulate=False, name="b4_torgb")([x, w_(1)])
    for k, res in enumerate(resolutions[1:], start=1):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"b{res}_up")(x)
        x = layer(x, res, 0, 2 * k - 1, 2 * k - 1)
        x = layer(x, res, 1, 2 * k, 2 * k)
        y = kg_layers.ModulatedConv2D(channels, 1, demodulate=False,
                                      name=f"b{res}_torgb")([x, w_(2 * k + 1)])
        skip = layers.UpSampling2D(2, interpolation="bilinear", name=f"b{res}_rgb_up")(rgb)
        rgb = layers.Add(name=f"b{res}_rgb")([skip, y])
    image = layers.Activation("tanh", dtype="float32", name="image")(rgb)
    return keras.Model([ws] + noises, image, name="synthesis")


def stylegan_generator(image_size=64, channels=3, latent_dim=256, w_dim=256, mapping_layers=4,
                       mapping_lr_multiplier=0.01, channel_base=8192, max_channels=256,
                       num_classes=0):
    """`keras.Model([latent, noise_0, ...], image)` (`[latent, label, noise_0, ...]` with
    `num_classes`): mapping -> truncation -> w+ -> synthesis."""
    _check_size(image_size)
    mapping = mapping_network(latent_dim, w_dim, mapping_layers, mapping_lr_multiplier,
                              num_classes)
    synthesis = synthesis_network(image_size, channels, w_dim, channel_base, max_channels)
    mapping_inputs = [keras.Input((latent_dim,), name="latent")]
    if num_classes:
        mapping_inputs.append(conditioning.label_input())
    noises = [keras.Input(shape, name=f"noise_{i}")
              for i, shape in enumerate(noise_shapes(image_size))]
    w = kg_layers.WAverage(name="truncation")(
        mapping(mapping_inputs if num_classes else mapping_inputs[0]))
    ws = layers.RepeatVector(num_ws(image_size), name="broadcast_w")(w)
    image = synthesis([ws] + noises)
    return keras.Model(mapping_inputs + noises, image, name="generator")


def stylegan_discriminator(image_size=64, channels=3, channel_base=8192, max_channels=256,
                           mbstd_group_size=4, num_classes=0):
    """Residual discriminator with a minibatch-stddev layer; image -> logit `(batch, 1)`;
    with `num_classes`, `[image, label]` -> logit with the label projected on its last
    features."""
    _check_size(image_size)
    width = lambda res: _width(res, channel_base, max_channels)  # noqa: E731
    image = keras.Input((image_size, image_size, channels), name="image")
    conv = kg_layers.EqualizedConv2D  # equalized learning rate, as in every StyleGAN layer
    x = conv(width(image_size), 1, activation="lrelu", name=f"d{image_size}_fromrgb")(image)
    res = image_size
    while res > 4:
        y = conv(width(res), 3, activation="lrelu", name=f"d{res}_conv0")(x)
        y = conv(width(res // 2), 3, activation="lrelu", name=f"d{res}_conv1")(y)
        y = layers.AveragePooling2D(2, name=f"d{res}_down")(y)
        skip = layers.AveragePooling2D(2, name=f"d{res}_skip_down")(x)
        skip = conv(width(res // 2), 1, use_bias=False, name=f"d{res}_skip")(skip)
        x = layers.Add(name=f"d{res}_sum")([y, skip])
        x = layers.Rescaling(1.0 / math.sqrt(2.0), name=f"d{res}_scale")(x)
        res //= 2
    x = kg_layers.MinibatchStdDev(mbstd_group_size, name="mbstd")(x)
    x = conv(width(4), 3, activation="lrelu", name="d4_conv")(x)
    x = layers.Flatten()(x)
    x = kg_layers.EqualizedDense(width(4), activation="lrelu", name="d4_dense")(x)
    if not num_classes:
        logit = kg_layers.EqualizedDense(1, dtype="float32", name="logit")(x)
        return keras.Model(image, logit, name="discriminator")
    label = conditioning.label_input()
    logit = conditioning.projection_logit(
        kg_layers.EqualizedDense(1, name="logit_dense")(x), x, label, num_classes)
    return keras.Model([image, label], logit, name="discriminator")


@keras.saving.register_keras_serializable(package="kerasgan")
class StyleGAN(GAN):
    """A `GAN` with StyleGAN's mapping/synthesis generator, style mixing and truncation.

    Training: style mixing regularisation (with probability `style_mixing` two latents, and
    the second one's w from a random crossover layer on), the tracked average w
    (`w_avg_beta`), explicit noise inputs drawn with the stateless `(seed, step, draw)` keys.

    Sampling: `generate(n, seed, latents, truncation_psi=1.0, noise=None)`; the noise is drawn
    from `seed` unless given (`noise_inputs(n, seed)`); `ws(latents, truncation_psi)` and
    `synthesize(ws, noise)` expose the two halves (for style mixing by hand). All use the EMA
    generator when there is one (its `w_avg` is copied from the trained generator's).
    """

    truncates = True

    def __init__(self, generator, discriminator, style_mixing=0.9, w_avg_beta=0.995,
                 d_steps=1, ema_decay=None, seed=None, **kwargs):
        if not 0.0 <= float(style_mixing) <= 1.0:
            raise ValueError(f"style_mixing must be in [0, 1], got {style_mixing!r}.")
        if not 0.0 <= float(w_avg_beta) < 1.0:
            raise ValueError(f"w_avg_beta must be in [0, 1), got {w_avg_beta!r}.")
        super().__init__(generator, discriminator, d_steps=d_steps, ema_decay=ema_decay,
                         seed=seed, **kwargs)
        self.style_mixing = float(style_mixing)
        self.w_avg_beta = float(w_avg_beta)
        # The mapping's inputs (latent, and a conditional model's label), then the noise.
        self.num_mapping_inputs = 2 if self.num_classes else 1
        self.noise_shapes = [tuple(int(d) for d in t.shape[1:])
                             for t in generator.inputs[self.num_mapping_inputs:]]
        self.num_ws = int(self.synthesis.inputs[0].shape[1])
        self.w_dim = int(self.synthesis.inputs[0].shape[2])

    # Sub-models are looked up, not stored, so that Keras does not track them twice.
    @property
    def mapping(self):
        return self.generator.get_layer("mapping")

    @property
    def synthesis(self):
        return self.generator.get_layer("synthesis")

    def _settings(self):
        return {**super()._settings(), "style_mixing": self.style_mixing,
                "w_avg_beta": self.w_avg_beta}

    def truncated_sampler(self, psi):
        """The sampler's `[latent, noise_0, ...] -> images` with w pulled towards the
        tracked average w by `psi` (None for psi 1): what `export` runs in its graph."""
        if psi == 1.0:
            return None
        generator = self.sampler
        mapping, truncation = generator.get_layer("mapping"), generator.get_layer("truncation")
        synthesis = generator.get_layer("synthesis")

        k = self.num_mapping_inputs

        def run(inputs):
            w = truncation.truncate(mapping(inputs[0] if k == 1 else list(inputs[:k]),
                                            training=False), psi)
            ws = keras.ops.repeat(keras.ops.expand_dims(w, 1), self.num_ws, axis=1)
            return synthesis([ws] + list(inputs[k:]), training=False)
        return run

    def default_compile_args(self, batch_size=32, total_steps=None):
        """StyleGAN2's recipe: non-saturating loss, lazy R1 every 16 steps with the
        StyleGAN2-ADA gamma heuristic `0.0002 * image_size**2 / batch_size`, Adam(0.002,
        beta_1=0, beta_2=0.99, epsilon=1e-8) for both networks: `gan.compile(**these)`."""
        del total_steps

        def adam():
            return keras.optimizers.Adam(learning_rate=0.002, beta_1=0.0, beta_2=0.99,
                                         epsilon=1e-8)
        return {"d_optimizer": adam(), "g_optimizer": adam(), "loss": "non_saturating",
                "r1_gamma": 0.0002 * self.image_shape[0] ** 2 / int(batch_size), "r1_every": 16}

    # ------------------------------------------------------------------ training
    def _noise(self, batch_size, draw):
        return [self._replica_share(
            lambda n, i=i, shape=shape: noise_lib.normal(
                tf.concat([[n], tf.constant(shape, tf.int32)], 0),
                self.key(Stream.STYLEGAN_NOISE + i, draw)), batch_size)
            for i, shape in enumerate(self.noise_shapes)]

    def generator_inputs(self, batch_size, draw, labels=None):
        """`[latent, noise_0, ...]` (`[latent, label, noise_0, ...]` if conditional): the
        exported generator's inputs for a training draw."""
        return self._mapping_inputs(self._latents(batch_size, draw), labels) + self._noise(
            batch_size, draw)

    @staticmethod
    def _mapping_inputs(latents, labels):
        return [latents] if labels is None else [latents, labels]

    def _map(self, mapping, latents, labels, training):
        inputs = self._mapping_inputs(latents, labels)
        return mapping(inputs if len(inputs) > 1 else inputs[0], training=training)

    def _mixed_ws(self, batch_size, draw, update_w_avg, labels=None):
        """w+ of the draw's latents, mixed with a second latent's w from a random layer on
        (of the same class in a conditional model)."""
        w = self._map(self.mapping, self._latents(batch_size, draw), labels, training=True)
        if update_w_avg:
            self.generator.get_layer("truncation").update(tf.stop_gradient(w), self.w_avg_beta)
        ws = tf.repeat(w[:, None, :], self.num_ws, axis=1)
        if self.style_mixing > 0.0:
            z2 = self._replica_share(
                lambda n: noise_lib.normal(tf.stack([n, self.latent_dim]),
                                           self.key(Stream.STYLE_MIX_LATENT, draw)), batch_size)
            w2 = self._map(self.mapping, z2, labels, training=True)
            u = noise_lib.uniform([2], self.key(Stream.STYLE_MIX_CUTOFF, draw))
            cutoff = 1 + tf.cast(tf.floor(u[0] * (self.num_ws - 1)), tf.int32)  # 1..num_ws-1
            cutoff = tf.where(u[1] < self.style_mixing, cutoff, self.num_ws)
            first = tf.range(self.num_ws) < cutoff
            ws = tf.where(first[None, :, None], ws, w2[:, None, :])
        return ws

    def fake_images(self, batch_size, draw, generator_step=False, labels=None):
        """Mapping + style mixing + synthesis; the generator step updates the average w."""
        ws = self._mixed_ws(batch_size, draw, update_w_avg=generator_step, labels=labels)
        return self.synthesis([ws] + self._noise(batch_size, draw), training=True)

    # ------------------------------------------------------------------ sampling
    def call(self, inputs, training=False):
        """`generator([latent, noise_0, ...])` (`[latent, label, noise_0, ...]` if
        conditional); the mapping's inputs alone get zero noise."""
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(inputs) == self.num_mapping_inputs:
            n = tf.shape(inputs[0])[0]
            inputs += [tf.zeros(tf.concat([[n], tf.constant(s, tf.int32)], 0))
                       for s in self.noise_shapes]
        return self.generator(inputs, training=training)

    def noise_inputs(self, n, seed=None):
        """Standard-normal noise inputs `[noise_0 (n, H0, W0, 1), ...]`, float32 numpy arrays.

        A fixed seed repeats them (they are drawn from a stream separate from `latents`)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        rng = np.random.default_rng(None if seed is None else [int(seed), 0x5E1D])
        return [rng.standard_normal((int(n),) + s).astype("float32") for s in self.noise_shapes]

    def ws(self, latents, truncation_psi=1.0, batch_size=256, labels=None):
        """w+ `(n, num_ws, w_dim)` of `latents` (of classes `labels`, int indices, in a
        conditional model) from the sampler, truncated towards the tracked average w by
        `truncation_psi` (1: none, 0: the average w, over all classes)."""
        latents = self._check_latents(latents)
        if (labels is None) != (not self.num_classes):
            raise ValueError("a conditional model's ws() needs labels (see sample_labels); "
                             "an unconditional model's takes none.")
        mapping = self.sampler.get_layer("mapping")
        truncation = self.sampler.get_layer("truncation")
        out = []
        with self.sampling():
            for i in range(0, len(latents), batch_size):
                w = self._map(mapping, latents[i:i + batch_size],
                              None if labels is None else labels[i:i + batch_size], False)
                if truncation_psi != 1.0:
                    w = truncation.truncate(w, float(truncation_psi))
                out.append(keras.ops.convert_to_numpy(w))
        w = np.concatenate(out).astype("float32")
        return np.repeat(w[:, None, :], self.num_ws, axis=1)

    def synthesize(self, ws, noise=None, seed=None, batch_size=256):
        """Images from w+ `(n, num_ws, w_dim)` and noise (drawn from `seed` when None)."""
        ws = np.asarray(ws, "float32")
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (n, {self.num_ws}, {self.w_dim}), "
                             f"got {ws.shape}.")
        noise = self.noise_inputs(len(ws), seed) if noise is None else list(noise)
        if len(noise) != len(self.noise_shapes) or any(
                np.shape(a) != (len(ws),) + s for a, s in zip(noise, self.noise_shapes)):
            raise ValueError(f"noise must be {len(self.noise_shapes)} arrays of shapes "
                             f"{[(len(ws),) + s for s in self.noise_shapes]}, got "
                             f"{[np.shape(a) for a in noise]}.")
        noise = [np.asarray(a, "float32") for a in noise]
        synthesis = self.sampler.get_layer("synthesis")
        with self.sampling():
            out = [keras.ops.convert_to_numpy(synthesis(
                [ws[i:i + batch_size]] + [a[i:i + batch_size] for a in noise], training=False))
                for i in range(0, len(ws), batch_size)]
        return np.concatenate(out).astype("float32")

    def generate(self, n=None, seed=None, latents=None, batch_size=256, truncation_psi=1.0,
                 noise=None, labels=None):
        """Samples images in [-1, 1] as a float32 numpy array `(n, H, W, C)`.

        Args:
            n: how many images (ignored when `latents` is given).
            seed: fixes the latents and the noise: the same images every call. With
                `seed=None` both are random (pass `noise=` to fix the noise alone).
            latents: explicit latents `(n, latent_dim)` instead of drawn ones.
            batch_size: images per forward pass.
            truncation_psi: the truncation trick (1: off; 0.7 is StyleGAN's usual value).
            noise: explicit noise inputs, a list like `noise_inputs(n)`.
            labels: a conditional model's classes (see `sample_labels`).
        """
        if latents is None:
            latents = self.latents(n, seed)
        labels = self.sample_labels(len(latents), labels)
        ws = self.ws(latents, truncation_psi, batch_size, labels)
        return self.synthesize(ws, noise=noise, seed=seed, batch_size=batch_size)


def stylegan_lite(image_size=64, channels=3, latent_dim=256, w_dim=256, mapping_layers=4,
                  mapping_lr_multiplier=0.01, channel_base=8192, max_channels=256,
                  d_channel_base=None, d_max_channels=None, style_mixing=0.9,
                  w_avg_beta=0.995, ema_decay=0.999, class_names=None, **gan_kwargs):
    """StyleGAN-lite at 32, 64 or 128 px. Widths: `min(max_channels, channel_base // res)`
    (the discriminator's from `d_channel_base` / `d_max_channels`, default the same).
    Class-conditional with `class_names` (a list of names; labels are their indices).
    Train with `gan.compile(**gan.default_compile_args(batch_size))`."""
    image_size = int(image_size)
    class_names = conditioning.check_class_names(class_names)
    num_classes = len(class_names or ())
    generator = stylegan_generator(image_size, int(channels), int(latent_dim), int(w_dim),
                                   int(mapping_layers), float(mapping_lr_multiplier),
                                   int(channel_base), int(max_channels), num_classes)
    discriminator = stylegan_discriminator(image_size, int(channels),
                                           int(d_channel_base or channel_base),
                                           int(d_max_channels or max_channels),
                                           num_classes=num_classes)
    return StyleGAN(generator, discriminator, style_mixing=style_mixing, w_avg_beta=w_avg_beta,
                    ema_decay=ema_decay, class_names=class_names, **gan_kwargs)
