"""Adversarial losses and discriminator penalties.

Every loss works on the discriminator's raw outputs (logits), never on probabilities:
`softplus` forms of `log(sigmoid(x))` stay finite where `log(sigmoid(x))` underflows.
Each loss is a pair: `d_loss(real_logits, fake_logits)` and `g_loss(fake_logits)`, both the
mean over the batch, float32.

Identities used below (s = sigmoid):
    -log s(x)     = softplus(-x)
    -log(1 - s(x)) = softplus(x)
"""
import collections

import tensorflow as tf

from kerasgan import noise

AdversarialLoss = collections.namedtuple("AdversarialLoss", ["d_loss", "g_loss"])


def _f32(x):
    return tf.cast(x, tf.float32)


def bce_d_loss(real_logits, fake_logits):
    """L_D = -(log D(x) + log(1 - D(G(z)))) of Goodfellow et al., shared by both BCE losses."""
    return tf.reduce_mean(tf.nn.softplus(-_f32(real_logits))) + tf.reduce_mean(
        tf.nn.softplus(_f32(fake_logits)))


def non_saturating_g_loss(fake_logits):
    """L_G = -log D(G(z)): strong gradients early in training, when D rejects every fake."""
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


def minimax_g_loss(fake_logits):
    """L_G = log(1 - D(G(z))): the original minimax game (saturates when D wins)."""
    return -tf.reduce_mean(tf.nn.softplus(_f32(fake_logits)))


def hinge_d_loss(real_logits, fake_logits):
    return tf.reduce_mean(tf.nn.relu(1.0 - _f32(real_logits))) + tf.reduce_mean(
        tf.nn.relu(1.0 + _f32(fake_logits)))


def wasserstein_d_loss(real_logits, fake_logits):
    return tf.reduce_mean(_f32(fake_logits)) - tf.reduce_mean(_f32(real_logits))


def critic_g_loss(fake_logits):
    """L_G = -E[D(G(z))], used by the hinge and Wasserstein losses."""
    return -tf.reduce_mean(_f32(fake_logits))


def least_squares_d_loss(real_logits, fake_logits):
    return 0.5 * (tf.reduce_mean(tf.square(_f32(real_logits) - 1.0)) + tf.reduce_mean(
        tf.square(_f32(fake_logits))))


def least_squares_g_loss(fake_logits):
    return 0.5 * tf.reduce_mean(tf.square(_f32(fake_logits) - 1.0))


LOSSES = {
    "non_saturating": AdversarialLoss(bce_d_loss, non_saturating_g_loss),
    "minimax": AdversarialLoss(bce_d_loss, minimax_g_loss),
    "hinge": AdversarialLoss(hinge_d_loss, critic_g_loss),
    "wasserstein": AdversarialLoss(wasserstein_d_loss, critic_g_loss),
    "least_squares": AdversarialLoss(least_squares_d_loss, least_squares_g_loss),
}

# Default penalty weights per loss: WGAN needs its gradient penalty to be a WGAN-GP.
DEFAULT_GRADIENT_PENALTY = {"wasserstein": 10.0}


def get(name):
    """Returns the `AdversarialLoss` registered under `name`."""
    if name not in LOSSES:
        raise ValueError(f"Unknown GAN loss {name!r}; expected one of {sorted(LOSSES)}.")
    return LOSSES[name]


def _squared_grad_norm(discriminator, images):
    """||dD(x)/dx||^2 per sample, float32."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = discriminator(images, training=True)
    grads = _f32(tape.gradient(logits, images))
    return tf.reduce_sum(tf.square(grads), axis=list(range(1, len(grads.shape))))


def gradient_penalty(discriminator, real, fake, seed=None, alpha=None):
    """WGAN-GP (Gulrajani et al.): E[(||grad D(x_hat)|| - 1)^2], x_hat uniform between real and fake.

    Args:
        discriminator: the critic, a callable on image batches.
        real, fake: image batches of one shape.
        seed: a stateless seed, shape (2,) int, for the interpolation weights.
        alpha: the interpolation weights `(batch, 1, 1, 1)` in [0, 1], instead of `seed`.
    """
    if alpha is None:
        alpha = noise.uniform(tf.stack([tf.shape(real)[0], 1, 1, 1]), seed)
    alpha = tf.cast(alpha, real.dtype)
    interpolated = real + alpha * (fake - real)
    norm = tf.sqrt(_squared_grad_norm(discriminator, interpolated) + 1e-12)
    return tf.reduce_mean(tf.square(norm - 1.0))


def r1_penalty(discriminator, real):
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real images; multiply by gamma / 2."""
    return tf.reduce_mean(_squared_grad_norm(discriminator, real))
