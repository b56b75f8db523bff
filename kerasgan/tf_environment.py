"""TensorFlow's environment variables, set when kerasgan is imported: they take effect only
if TensorFlow loads afterwards, so this module imports nothing and runs first.

`USER_LOG_LEVEL` keeps what the user had set for TF_CPP_MIN_LOG_LEVEL (None: nothing), so
that the `kerasgan` command knows whether it may quieten TensorFlow further.
"""
import os

LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"

USER_LOG_LEVEL = os.environ.get(LOG_LEVEL)

os.environ.setdefault(LOG_LEVEL, "2")  # TensorFlow's C++ INFO and WARNING lines
# TensorFlow turns its oneDNN kernels on only for some CPUs (not this AMD EPYC); with them the
# DCGAN-64 step is ~4x faster (bench/train_speed.py). Set TF_ENABLE_ONEDNN_OPTS=0 to opt out.
os.environ.setdefault(ONEDNN, "1")
