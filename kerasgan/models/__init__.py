"""Architectures: importing this package registers every model file with `kerasgan.zoo`."""
from kerasgan.models import cyclegan, dcgan, fastgan, stylegan, vanilla  # noqa: F401
