import kerasgan  # noqa: F401  (first: it sets TensorFlow's environment before TF loads)

import numpy as np
import pytest
import tensorflow as tf


def image_batches(shape, n=24, batch_size=8, seed=0):
    """A tf.data pipeline of random images in [-1, 1]: tiny stand-in data."""
    x = np.random.default_rng(seed).uniform(-1, 1, (n,) + tuple(shape)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(x).batch(batch_size, drop_remainder=True)


@pytest.fixture(autouse=True)
def _clear_keras_session():
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session()
