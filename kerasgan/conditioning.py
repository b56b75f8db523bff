"""Class conditioning shared by the conditional generators and discriminators.

A conditional generator takes a second input, `label` (batch,) int32, embedded and joined to
the latent (or, in StyleGAN, to the mapping network's input, as StyleGAN2-ADA does). A
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


def embed_label(label, num_classes, dim, name="label_embedding"):
    """The label as a learned `dim`-vector (batch, dim), initialised N(0, 1) like the latent
    it joins (Keras' default, U(-0.05, 0.05), would start every class almost the same)."""
    return layers.Embedding(num_classes, dim, name=name,
                            embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0))(label)


def projection_logit(unconditional_logit, features, label, num_classes, name="logit"):
    """`unconditional_logit + <embed(label), features> / sqrt(dim)`, float32 (batch, 1)."""
    dim = int(features.shape[-1])
    embedded = layers.Embedding(num_classes, dim, name="class_projection")(label)
    projection = layers.Dot(axes=1, name="projection")([embedded, features])
    projection = layers.Rescaling(1.0 / math.sqrt(dim), name="projection_scale")(projection)
    return layers.Add(dtype="float32", name=name)([unconditional_logit, projection])
