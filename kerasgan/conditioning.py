"""Class conditioning shared by the conditional generators and discriminators.

A conditional generator takes a second input, `label` (batch,) int32: the MLP of the
tutorial and DCGAN take it one-hot, joined to the latent (the classic conditional GAN,
Mirza & Osindero 2014), StyleGAN's mapping network takes the label's embedding beside z
(StyleGAN2-ADA). A
conditional discriminator is a projection discriminator (Miyato & Koyama 2018):
`logit = psi(phi(x)) + <embed(y), phi(x)> / sqrt(dim)`, with `phi(x)` its last features. Built
from Keras' own Embedding, Dot and Add layers: an integer label exports as a named TFLite input
(a GATHER op).
"""
import math

import keras
from keras import layers

LABEL = "label"  # the name of the label input of every conditional network


def check_class_names(class_names):
    """`class_names` as a list of distinct strings (at least two), or None."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not hasattr(class_names, "__iter__"):
        raise ValueError(f"class_names must be a list of names, got {class_names!r}.")
    names = [str(name) for name in class_names]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"class_names must hold at least two distinct names, got {names!r}.")
    return names


def label_input():
    return keras.Input((), dtype="int32", name=LABEL)


def has_label_input(network):
    return any(t.name.split(":")[0] == LABEL for t in network.inputs)


def latent_input(latent_dim, num_classes):
    """`(inputs, x)` of a generator that starts from its latent: the latent alone, or with
    `num_classes` the latent and a `label` input, `x` the latent joined to the one-hot label."""
    latent = keras.Input((latent_dim,), name="latent")
    if not num_classes:
        return latent, latent
    label = label_input()
    return [latent, label], layers.Concatenate()([latent, one_hot_label(label, num_classes)])


def embed_label(label, num_classes, dim, name="label_embedding"):
    """The label as a learned `dim`-vector (batch, dim), initialised N(0, 1) like the latent
    it joins (Keras' default, U(-0.05, 0.05), would start every class almost the same)."""
    return layers.Embedding(num_classes, dim, name=name,
                            embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0))(label)


def one_hot_label(label, num_classes, name="label_one_hot"):
    """The label as a fixed one-hot vector (batch, num_classes): a non-trainable identity
    Embedding (a GATHER in TFLite). The classic conditional GAN's input (Mirza & Osindero
    2014). A learned N(0, 1) embedding as wide as the latent, joined instead, made DCGAN
    ignore the latent (docs/conditional.md: image std over latents per class 0.02 after 2000
    steps, against 0.45-0.50 unconditional)."""
    return layers.Embedding(num_classes, num_classes, embeddings_initializer="identity",
                            trainable=False, name=name)(label)


def projection_logit(unconditional_logit, features, label, num_classes, name="logit"):
    """`unconditional_logit + <embed(label), features> / sqrt(dim)`, float32 (batch, 1).

    The class embedding starts N(0, 1), so that the class term counts from the first step:
    with Keras' default U(-0.05, 0.05) a conditional DCGAN's samples were still recognised
    as the class asked for only at chance after 2000 steps, with N(0, 1) 75 %
    (docs/conditional.md)."""
    dim = int(features.shape[-1])
    embedded = layers.Embedding(num_classes, dim, name="class_projection",
                                embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0))(label)
    projection = layers.Dot(axes=1, name="projection")([embedded, features])
    projection = layers.Rescaling(1.0 / math.sqrt(dim), name="projection_scale")(projection)
    return layers.Add(dtype="float32", name=name)([unconditional_logit, projection])
