"""Stateless random numbers that are the same with and without XLA.

TensorFlow's `stateless_normal` / `stateless_uniform` give different values under XLA
(even with `alg="philox"`); their integer bits do not. So floats are made from the bits:
a resumed run, or the same run on a GPU with XLA, draws the same latents.
"""
import tensorflow as tf

_MANTISSA = 2 ** 23


def uniform(shape, seed):
    """Uniform floats in the open interval (0, 1), float32; `seed` is an int tensor of shape (2,)."""
    bits = tf.random.stateless_uniform(shape, seed, dtype=tf.int32, minval=None, maxval=None,
                                       alg="philox")
    return (tf.cast(tf.bitwise.bitwise_and(bits, _MANTISSA - 1), tf.float32) + 0.5) / _MANTISSA


def normal(shape, seed):
    """Standard-normal floats (inverse-CDF of `uniform`), float32."""
    return tf.math.ndtri(uniform(shape, seed))
