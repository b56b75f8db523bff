"""The MLP GAN of the classic GAN tutorial: dense 128-256-out with tanh; D flatten-128-1."""
import math

import keras
from keras import layers

from kerasgan import conditioning
from kerasgan.gan import GAN


def vanilla_generator(image_shape, latent_dim=100, units=(128, 256), num_classes=0):
    """latent (and, with `num_classes`, the label one-hot, joined to it) -> MLP -> image."""
    inputs, x = conditioning.latent_input(latent_dim, num_classes)
    for width in units:
        x = layers.LeakyReLU(0.2)(layers.Dense(width)(x))
    x = layers.Dense(math.prod(image_shape), activation="tanh")(x)
    outputs = layers.Reshape(image_shape, name="image")(x)
    return keras.Model(inputs, outputs, name="generator")


def vanilla_discriminator(image_shape, units=(128,), num_classes=0):
    """image -> MLP -> logit; with `num_classes`, a projection discriminator on the label."""
    image = keras.Input(image_shape, name="image")
    x = layers.Flatten()(image)
    for width in units:
        x = layers.LeakyReLU(0.2)(layers.Dense(width)(x))
    if not num_classes:
        return keras.Model(image, layers.Dense(1, name="logit")(x), name="discriminator")
    label = conditioning.label_input()
    logit = conditioning.projection_logit(layers.Dense(1, name="logit_dense")(x), x, label,
                                          num_classes)
    return keras.Model([image, label], logit, name="discriminator")


def vanilla(image_size=28, channels=1, latent_dim=100, g_units=(128, 256), d_units=(128,),
            class_names=None, **gan_kwargs):
    """The tutorial MLP GAN for any image size and channel count (default 28x28 grey);
    class-conditional with `class_names` (a list of names; labels are their indices)."""
    image_shape = (int(image_size), int(image_size), int(channels))
    class_names = conditioning.check_class_names(class_names)
    num_classes = len(class_names or ())
    return GAN(vanilla_generator(image_shape, latent_dim, tuple(g_units), num_classes),
               vanilla_discriminator(image_shape, tuple(d_units), num_classes),
               class_names=class_names, **gan_kwargs)
