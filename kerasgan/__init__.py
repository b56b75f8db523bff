"""kerasgan: a Keras 3 GAN model zoo for art generation and style transfer."""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

__version__ = "0.1.0"

from kerasgan import losses, zoo  # noqa: E402
from kerasgan.gan import GAN  # noqa: E402
from kerasgan import models  # noqa: E402,F401  (registers the architectures)
from kerasgan import callbacks, data  # noqa: E402

__all__ = ["GAN", "callbacks", "data", "losses", "zoo", "__version__"]
