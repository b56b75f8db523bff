"""DCGAN (Radford et al. 2016): transposed convs + batch norm + ReLU; strided convs + LeakyReLU."""
import keras
from keras import layers

from kerasgan.gan import GAN
from kerasgan import conditioning

IMAGE_SIZES = (32, 64, 128)


def _conv_init():
    return keras.initializers.RandomNormal(0.0, 0.02)  # the paper's N(0, 0.02)


def _batch_norm():
    # PyTorch's defaults (momentum 0.1 there = 0.9 here), as the reference DCGAN uses.
    # synchronized: under tf.distribute the statistics are those of the global batch, so
    # results do not depend on the number of replicas (no effect on one device).
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True,
                                     gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def _num_upsamplings(image_size):
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"dcgan makes images of size {IMAGE_SIZES}, got image_size={image_size}.")
    return {32: 3, 64: 4, 128: 5}[image_size]


def dcgan_generator(image_size=64, channels=3, latent_dim=100, base_channels=64, num_classes=0):
    """4x4 seed from a dense layer, then stride-2 4x4 transposed convs doubling to `image_size`.

    At 64 px with base 64 the widths are 512-256-128-64-3, as in the PyTorch reference. With
    `num_classes`, a second input `label`, one-hot, joined to the latent.
    """
    steps = _num_upsamplings(image_size)
    inputs, x = conditioning.latent_input(latent_dim, num_classes)
    width = base_channels * 2 ** (steps - 1)
    x = layers.Dense(4 * 4 * width, use_bias=False, kernel_initializer=_conv_init())(x)
    x = layers.Reshape((4, 4, width))(x)
    x = layers.ReLU()(_batch_norm()(x))
    for _ in range(steps - 1):
        width //= 2
        x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_conv_init())(x)
        x = layers.ReLU()(_batch_norm()(x))
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                               kernel_initializer=_conv_init())(x)
    outputs = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(inputs, outputs, name="generator")


def dcgan_discriminator(image_size=64, channels=3, base_channels=64, num_classes=0):
    """Stride-2 4x4 convs halving to 4x4 (no batch norm on the first), then a 4x4 conv to a
    logit; with `num_classes`, plus the projection of the label on the pooled 4x4 features."""
    steps = _num_upsamplings(image_size)
    image = keras.Input((image_size, image_size, channels), name="image")
    x = image
    for i in range(steps):
        x = layers.Conv2D(base_channels * 2 ** i, 4, strides=2, padding="same", use_bias=False,
                          kernel_initializer=_conv_init())(x)
        if i > 0:
            x = _batch_norm()(x)
        x = layers.LeakyReLU(0.2)(x)
    features = x
    x = layers.Conv2D(1, 4, padding="valid", kernel_initializer=_conv_init())(x)
    if not num_classes:
        outputs = layers.Flatten(dtype="float32", name="logit")(x)
        return keras.Model(image, outputs, name="discriminator")
    label = conditioning.label_input()
    logit = conditioning.projection_logit(layers.Flatten()(x),
                                          layers.GlobalAveragePooling2D()(features), label,
                                          num_classes)
    return keras.Model([image, label], logit, name="discriminator")


def dcgan(image_size=64, channels=3, latent_dim=100, base_channels=64, d_base_channels=None,
          class_names=None, **gan_kwargs):
    """DCGAN at 32, 64 or 128 px; `base_channels` sets the widths (G's last hidden layer,
    D's first), `d_base_channels` the discriminator's separately; class-conditional with
    `class_names` (a list of names; labels are their indices)."""
    class_names = conditioning.check_class_names(class_names)
    num_classes = len(class_names or ())
    return GAN(dcgan_generator(int(image_size), int(channels), int(latent_dim), int(base_channels),
                               num_classes),
               dcgan_discriminator(int(image_size), int(channels),
                                   int(d_base_channels or base_channels), num_classes),
               class_names=class_names, **gan_kwargs)
