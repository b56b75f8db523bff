"""Architectures: importing this package registers every model file with `kerasgan.zoo`."""
from kerasgan.models import cyclegan, dcgan, stylegan, vanilla  # noqa: F401
