"""Registered, serializable layers shared by the architectures (written with `keras.ops` only)."""
import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgan")
class PixelNorm(keras.layers.Layer):
    """Normalizes each feature vector to unit root-mean-square over the last axis.

    `x / sqrt(mean(x ** 2, axis=-1) + epsilon)`, as StyleGAN applies to the latent `z`.
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _check_activation(activation):
    if activation not in (None, "linear", "lrelu"):
        raise ValueError(f"activation must be None, 'linear' or 'lrelu', got {activation!r}.")


@keras.saving.register_keras_serializable(package="kerasgan")
class EqualizedDense(keras.layers.Layer):
    """Dense layer with StyleGAN's equalized learning rate.

    The kernel is stored as N(0, 1 / lr_multiplier) and scaled at run time by
    `lr_multiplier / sqrt(fan_in)`; the bias is scaled by `lr_multiplier`. So the optimizer's
    effective learning rate for this layer is multiplied by `lr_multiplier` (0.01 in the
    mapping network). `activation="lrelu"` is LeakyReLU(0.2) times sqrt(2).
    """

    def __init__(self, units, lr_multiplier=1.0, bias_init=0.0, activation=None, **kwargs):
        super().__init__(**kwargs)
        _check_activation(activation)
        self.units = int(units)
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.activation = activation

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier))
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier))
        self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)

    def call(self, x):
        y = ops.matmul(x, self.kernel * self.weight_gain) + self.bias * self.lr_multiplier
        if self.activation == "lrelu":
            y = ops.leaky_relu(y, 0.2) * math.sqrt(2.0)
        return y

    def get_config(self):
        return {**super().get_config(), "units": self.units, "lr_multiplier": self.lr_multiplier,
                "bias_init": self.bias_init, "activation": self.activation}


@keras.saving.register_keras_serializable(package="kerasgan")
class EqualizedConv2D(keras.layers.Layer):
    """Stride-1 "same" convolution with StyleGAN's equalized learning rate.

    The kernel is stored as N(0, 1) and scaled at run time by `1 / sqrt(k * k * in)`, so
    every layer learns at the same speed under Adam whatever its fan-in (StyleGAN2 trains
    with lr 0.002, ten times what glorot-initialized layers tolerate).
    `activation="lrelu"` is LeakyReLU(0.2) times sqrt(2).
    """

    def __init__(self, filters, kernel_size, use_bias=True, activation=None, **kwargs):
        super().__init__(**kwargs)
        _check_activation(activation)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.use_bias = bool(use_bias)
        self.activation = activation

    def build(self, input_shape):
        k, fan_in = self.kernel_size, int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(k, k, fan_in, self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") \
            if self.use_bias else None
        self.weight_gain = 1.0 / math.sqrt(k * k * fan_in)

    def call(self, x):
        y = ops.conv(x, self.kernel * self.weight_gain, strides=1, padding="same")
        if self.bias is not None:
            y = y + self.bias
        if self.activation == "lrelu":
            y = ops.leaky_relu(y, 0.2) * math.sqrt(2.0)
        return y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "use_bias": self.use_bias,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="kerasgan")
class ConstantInput(keras.layers.Layer):
    """A learned constant `(size, size, channels)` tensor, repeated over the batch of its input.

    The input is only used for its batch size (StyleGAN's synthesis starts from this constant).
    """

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.size = int(size)

    def build(self, input_shape):
        self.constant = self.add_weight(
            name="constant", shape=(1, self.size, self.size, self.channels),
            initializer=keras.initializers.RandomNormal(0.0, 1.0))

    def call(self, x):
        batch = ops.shape(x)[0]
        return ops.broadcast_to(ops.cast(self.constant, self.compute_dtype),
                                (batch, self.size, self.size, self.channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size}


@keras.saving.register_keras_serializable(package="kerasgan")
class StyleSelect(keras.layers.Layer):
    """Picks layer `index`'s style vector `w` from a w+ tensor `(batch, num_ws, w_dim)`."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, ws):
        return ws[:, self.index]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "index": self.index}


@keras.saving.register_keras_serializable(package="kerasgan")
class WAverage(keras.layers.Layer):
    """Tracks the average `w` for StyleGAN's truncation trick (a saved, non-trainable weight).

    Called on `w (batch, w_dim)` it returns `w_avg + psi * (w - w_avg)`; with the default
    `psi=1` that is `w` unchanged. `update(w, beta)` moves `w_avg` towards the batch mean
    of `w`: `w_avg <- mean(w) + beta * (w_avg - mean(w))` (called by the training step).
    """

    def __init__(self, psi=1.0, **kwargs):
        super().__init__(**kwargs)
        self.psi = float(psi)

    def build(self, input_shape):
        self.w_avg = self.add_weight(name="w_avg", shape=(int(input_shape[-1]),),
                                     initializer="zeros", trainable=False, aggregation="mean")

    def truncate(self, w, psi):
        w_avg = ops.cast(self.w_avg, w.dtype)
        return w_avg + psi * (w - w_avg)

    def call(self, w):
        if self.psi == 1.0:
            return w
        return self.truncate(w, self.psi)

    def update(self, w, beta):
        mean = ops.mean(ops.cast(w, "float32"), axis=0)
        self.w_avg.assign(mean + beta * (self.w_avg - mean))

    def get_config(self):
        return {**super().get_config(), "psi": self.psi}


@keras.saving.register_keras_serializable(package="kerasgan")
class ModulatedConv2D(keras.layers.Layer):
    """StyleGAN2's modulated convolution in the export-friendly ("fused=False") form.

    Inputs `[x (batch, H, W, in), w (batch, w_dim)]`. A learned affine map (equalized
    learning rate, bias initialized to 1) turns `w` into per-input-channel styles `s`. The
    reference computes a per-sample kernel `k' = k * s` and, with `demodulate`, divides it by
    `sqrt(sum_{kh, kw, in} k'^2 + eps)` per output channel. Here the same result is obtained
    with one shared convolution: scale the input by `s`, convolve with the shared kernel,
    scale the output by the demodulation factor. (That form converts to TFLite with builtin
    ops and is much faster than grouped convolution.) The kernel uses an equalized learning
    rate (stored N(0, 1), scaled by `1/sqrt(fan_in)`). Output: `(batch, H, W, filters)`,
    plus `bias` when `use_bias`. No demodulation (`demodulate=False`) is the toRGB layer.
    """

    def __init__(self, filters, kernel_size=3, demodulate=True, use_bias=True, epsilon=1e-8,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.demodulate = bool(demodulate)
        self.use_bias = bool(use_bias)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        x_shape, w_shape = input_shape
        in_channels, w_dim = int(x_shape[-1]), int(w_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, in_channels, self.filters),
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.affine_kernel = self.add_weight(name="affine_kernel", shape=(w_dim, in_channels),
                                             initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.affine_bias = self.add_weight(name="affine_bias", shape=(in_channels,),
                                           initializer="ones")
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.kernel_gain = 1.0 / math.sqrt(k * k * in_channels)
        self.affine_gain = 1.0 / math.sqrt(w_dim)

    def styles(self, w):
        """The per-sample input-channel scales `s = A(w)`, `(batch, in_channels)`."""
        return ops.matmul(w, self.affine_kernel * self.affine_gain) + self.affine_bias

    def call(self, inputs):
        x, w = inputs
        styles = self.styles(w)
        kernel = self.kernel * self.kernel_gain
        y = ops.conv(x * styles[:, None, None, :], kernel, padding="same")
        if self.demodulate:
            # sum over (kh, kw, in) of (kernel * s)^2, per sample and output channel.
            energy = ops.matmul(ops.square(styles), ops.sum(ops.square(kernel), axis=(0, 1)))
            y = y * ops.rsqrt(energy + self.epsilon)[:, None, None, :]
        if self.use_bias:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0]
        return tuple(x_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "demodulate": self.demodulate,
                "use_bias": self.use_bias, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kerasgan")
class NoiseInjection(keras.layers.Layer):
    """Adds explicit per-pixel noise scaled by a learned per-channel strength.

    Inputs `[x (batch, H, W, C), noise (batch, H, W, 1)]`; returns `x + noise * strength`,
    `strength` of shape `(C,)` initialized to `strength_init` (StyleGAN2: 0). The noise is an
    input, not drawn inside the layer, so that the generator exports to TFLite.
    """

    def __init__(self, strength_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.strength_init = float(strength_init)

    def build(self, input_shape):
        self.strength = self.add_weight(name="strength", shape=(int(input_shape[0][-1]),),
                                        initializer=keras.initializers.Constant(
                                            self.strength_init))

    def call(self, inputs):
        x, noise = inputs
        return x + ops.cast(noise, x.dtype) * self.strength

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "strength_init": self.strength_init}


@keras.saving.register_keras_serializable(package="kerasgan")
class MinibatchStdDev(keras.layers.Layer):
    """Appends the minibatch standard deviation as extra feature maps (ProGAN/StyleGAN2).

    The batch is split into groups of `group_size` consecutive samples (the whole batch
    when it is smaller, or when the batch is not a multiple of `group_size`). StyleGAN2
    groups samples `m, m + M, m + 2M, ...` instead; consecutive groups make the result
    independent of the replica count under tf.distribute whenever the per-replica batch is
    a multiple of `group_size` (each replica holds whole groups). For each group, the
    standard deviation over its members of every feature (split into `num_channels`
    channel groups) is averaged over height, width and channels; the result is appended as
    `num_channels` constant feature maps: output `(batch, H, W, C + num_channels)`.
    """

    def __init__(self, group_size=4, num_channels=1, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.num_channels = int(num_channels)
        self.epsilon = float(epsilon)

    def call(self, x):
        shape = ops.shape(x)
        n, h, w, c = shape[0], shape[1], shape[2], x.shape[-1]
        g = ops.minimum(self.group_size, n)
        g = ops.where(ops.equal(n % g, 0), g, n)
        f = self.num_channels
        y = ops.reshape(ops.cast(x, "float32"), (-1, g, h, w, f, c // f))  # [M, G, H, W, F, c]
        y = y - ops.mean(y, axis=1, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=1) + self.epsilon)  # [M, H, W, F, c]
        y = ops.mean(y, axis=(1, 2, 4))  # [M, F]
        y = ops.repeat(y, g, axis=0)  # [N, F], sample n -> group n // G
        y = ops.broadcast_to(ops.cast(y, x.dtype)[:, None, None, :], (n, h, w, f))
        return ops.concatenate([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.num_channels,)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_channels": self.num_channels, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kerasgan")
class PullPushFill(keras.layers.Layer):
    """Fills the missing pixels of an image smoothly from the known ones (pull-push).

    `[image, keep]` (keep: 1 where a pixel is known, 0 where missing) -> the image with its
    known pixels and, where missing, a blend of ever coarser averages of the known pixels
    (Gortler et al. 1996, "pull-push"): `levels` halvings (H and W multiples of 2**levels),
    then the mean of all known pixels where even the coarsest cell has none. Measured on
    held-out painting crops (bench/restoration.py's masks) it matches OpenCV's Telea
    inpainting in PSNR to 0.2 dB; the inpainting generator learns a correction on top of it.
    Average pooling, bilinear upsampling and arithmetic only: builtin TFLite ops.
    """

    def __init__(self, levels, **kwargs):
        super().__init__(**kwargs)
        self.levels = int(levels)
        self.upsample = keras.layers.UpSampling2D(2, interpolation="bilinear")

    def build(self, input_shape):
        # Built here: otherwise Keras traces `call` to build the sublayer, fails on the
        # symbolic shapes, and warns about "unbuilt state" on every model built.
        self.upsample.build(input_shape[0])

    def call(self, inputs):
        # Computed in the layer's dtype (float32 in the generator) whatever the inputs':
        # averages of many pixels lose too much in bfloat16.
        image, keep = (ops.cast(x, self.compute_dtype) for x in inputs)
        values, weights = [image * keep], [keep]
        for _ in range(self.levels):  # pull: known-pixel sums and counts, coarser and coarser
            values.append(ops.average_pool(values[-1], 2, 2))
            weights.append(ops.average_pool(weights[-1], 2, 2))
        total = ops.sum(weights[-1], axis=(1, 2), keepdims=True)
        mean = ops.sum(values[-1], axis=(1, 2), keepdims=True) / ops.maximum(total, 1e-6)
        filled = ops.where(weights[-1] > 0, values[-1] / ops.maximum(weights[-1], 1e-6), mean)
        for value, weight in zip(values[-2::-1], weights[-2::-1]):  # push: coarse fills gaps
            coarse = ops.cast(self.upsample(filled), filled.dtype)  # its own policy may differ
            known = ops.cast(weight > 0, weight.dtype)
            filled = known * value / ops.maximum(weight, 1e-6) + (1.0 - known) * coarse
        return filled

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}
