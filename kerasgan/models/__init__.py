"""Architectures: importing this package registers every model file with `kerasgan.zoo`."""
from kerasgan.models import cyclegan, dcgan, fastgan, inpainting, stylegan, vanilla  # noqa: F401
