"""Each loss against values computed by hand from its textbook formula."""
import math

import numpy as np
import pytest
import keras
import tensorflow as tf

from kerasgan import losses

REAL = [2.0, -1.0, 0.5]
FAKE = [0.3, -3.0, 1.5]


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def mean(values):
    return sum(values) / len(values)


def t(values):
    return tf.constant(values, tf.float32)[:, None]  # (batch, 1) like a discriminator's logits


def test_non_saturating_is_the_seed_tutorial_formula():
    expected_d = -(mean([math.log(sigmoid(r)) for r in REAL])
                   + mean([math.log(1 - sigmoid(f)) for f in FAKE]))
    expected_g = -mean([math.log(sigmoid(f)) for f in FAKE])
    loss = losses.get("non_saturating")
    assert float(loss.d_loss(t(REAL), t(FAKE))) == pytest.approx(expected_d, rel=1e-6)
    assert float(loss.g_loss(t(FAKE))) == pytest.approx(expected_g, rel=1e-6)


def test_minimax_generator_minimises_log_one_minus_d():
    expected = mean([math.log(1 - sigmoid(f)) for f in FAKE])
    assert float(losses.get("minimax").g_loss(t(FAKE))) == pytest.approx(expected, rel=1e-6)


def test_hinge():
    expected_d = mean([max(0, 1 - r) for r in REAL]) + mean([max(0, 1 + f) for f in FAKE])
    assert float(losses.get("hinge").d_loss(t(REAL), t(FAKE))) == pytest.approx(expected_d)
    assert float(losses.get("hinge").g_loss(t(FAKE))) == pytest.approx(-mean(FAKE))


def test_wasserstein():
    assert float(losses.get("wasserstein").d_loss(t(REAL), t(FAKE))) == pytest.approx(mean(FAKE) - mean(REAL))
    assert float(losses.get("wasserstein").g_loss(t(FAKE))) == pytest.approx(-mean(FAKE))


def test_least_squares():
    expected_d = 0.5 * (mean([(r - 1) ** 2 for r in REAL]) + mean([f ** 2 for f in FAKE]))
    expected_g = 0.5 * mean([(f - 1) ** 2 for f in FAKE])
    assert float(losses.get("least_squares").d_loss(t(REAL), t(FAKE))) == pytest.approx(expected_d)
    assert float(losses.get("least_squares").g_loss(t(FAKE))) == pytest.approx(expected_g)


def test_bce_losses_stay_finite_and_exact_at_extreme_logits():
    # log(sigmoid(-200)) underflows to -inf in float32; the softplus form gives 200.
    loss = losses.get("non_saturating")
    assert float(loss.g_loss(t([-200.0]))) == pytest.approx(200.0)
    assert float(loss.d_loss(t([-200.0]), t([200.0]))) == pytest.approx(400.0)


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown GAN loss 'wgan'.*'hinge'"):
        losses.get("wgan")


def linear_critic(weights):
    """D(x) = sum(w * x): its input gradient is w everywhere, so the penalties are known."""
    inputs = keras.Input((2, 2, 1))
    outputs = keras.layers.Dense(1, use_bias=False)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.layers[-1].kernel.assign(np.array(weights, "float32").reshape(4, 1))
    return model


def test_gradient_penalty_and_r1_of_a_linear_critic():
    w = [1.0, 2.0, 2.0, 0.0]  # ||w|| = 3
    critic = linear_critic(w)
    real = tf.random.normal((5, 2, 2, 1))
    fake = tf.random.normal((5, 2, 2, 1))
    gp = losses.gradient_penalty(critic, real, fake, seed=tf.constant([1, 2], tf.int64))
    assert float(gp) == pytest.approx((3.0 - 1.0) ** 2, rel=1e-5)
    assert float(losses.r1_penalty(critic, real)) == pytest.approx(9.0, rel=1e-5)


def test_gradient_penalty_interpolates_between_real_and_fake():
    # A critic whose gradient norm depends on x: D(x) = sum(x^2) / 2, so grad = x.
    inputs = keras.Input((1, 1, 1))
    critic = keras.Model(inputs, keras.ops.sum(inputs ** 2, axis=[1, 2, 3]) / 2)
    real, fake = tf.ones((2000, 1, 1, 1)), 3.0 * tf.ones((2000, 1, 1, 1))
    # x_hat = 1 + 2u, u ~ U(0, 1): E[(x_hat - 1)^2] = E[4u^2] = 4/3.
    gp = losses.gradient_penalty(critic, real, fake, seed=tf.constant([3, 4], tf.int64))
    assert float(gp) == pytest.approx(4.0 / 3.0, rel=0.05)
