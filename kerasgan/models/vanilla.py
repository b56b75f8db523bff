"""The MLP GAN of the classic GAN tutorial: dense 128-256-out with tanh; D flatten-128-1."""
import math

import keras
from keras import layers

from kerasgan.gan import GAN


def vanilla_generator(image_shape, latent_dim=100, units=(128, 256)):
    inputs = keras.Input((latent_dim,), name="latent")
    x = inputs
    for width in units:
        x = layers.LeakyReLU(0.2)(layers.Dense(width)(x))
    x = layers.Dense(math.prod(image_shape), activation="tanh")(x)
    outputs = layers.Reshape(image_shape, name="image")(x)
    return keras.Model(inputs, outputs, name="generator")


def vanilla_discriminator(image_shape, units=(128,)):
    inputs = keras.Input(image_shape, name="image")
    x = layers.Flatten()(inputs)
    for width in units:
        x = layers.LeakyReLU(0.2)(layers.Dense(width)(x))
    outputs = layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, outputs, name="discriminator")


def vanilla(image_size=28, channels=1, latent_dim=100, g_units=(128, 256), d_units=(128,),
            **gan_kwargs):
    """The tutorial MLP GAN for any image size and channel count (default 28x28 grey)."""
    image_shape = (int(image_size), int(image_size), int(channels))
    return GAN(vanilla_generator(image_shape, latent_dim, tuple(g_units)),
               vanilla_discriminator(image_shape, tuple(d_units)), **gan_kwargs)
