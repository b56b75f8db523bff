"""Architectures, one file each. The registry (`kerasgan.architectures`) names their builders
without importing them; importing this package imports every model file, which registers
their classes with Keras, so that `keras.models.load_model` finds them in a `.keras` file."""
from kerasgan.models import cut, cyclegan, dcgan, fastgan, inpainting, pix2pix, stylegan, vanilla

__all__ = ["cut", "cyclegan", "dcgan", "fastgan", "inpainting", "pix2pix", "stylegan", "vanilla"]
