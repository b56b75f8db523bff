"""kerasgan: a Keras 3 GAN model zoo for art generation and style transfer."""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
# TensorFlow turns its oneDNN kernels on only for some CPUs (not this AMD EPYC); with them the
# DCGAN-64 step is ~4x faster (bench/train_speed.py). Takes effect only if TensorFlow is
# imported after kerasgan; set TF_ENABLE_ONEDNN_OPTS=0 to opt out.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"

from kerasgan import losses, zoo  # noqa: E402
from kerasgan.gan import GAN  # noqa: E402
from kerasgan import models  # noqa: E402,F401  (registers the architectures)
from kerasgan import callbacks, data  # noqa: E402
from kerasgan.training import train  # noqa: E402

__all__ = ["GAN", "callbacks", "data", "losses", "train", "zoo", "__version__"]
