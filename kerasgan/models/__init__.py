"""Architectures: importing this package registers every model file with `kerasgan.zoo`."""
from kerasgan.models import dcgan, stylegan, vanilla  # noqa: F401
