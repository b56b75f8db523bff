import numpy as np
import pytest
import tensorflow as tf

from kerasgan import augment, zoo
from conftest import image_batches


def params(batch, **values):
    """Uniform params with chosen columns: 0-2 colour, 3-4 translation, 5-6 cutout."""
    columns = {"brightness": 0, "saturation": 1, "contrast": 2, "shift_y": 3, "shift_x": 4,
               "cut_y": 5, "cut_x": 6}
    p = np.full((batch, 7), 0.5, "float32")
    for name, value in values.items():
        p[:, columns[name]] = value
    return tf.constant(p)


def test_neutral_params_leave_colour_and_position_alone():
    x = tf.random.uniform((2, 8, 8, 3), -1, 1)
    p = params(2)  # brightness +0, saturation x1, contrast x1, shift 0
    np.testing.assert_allclose(augment._translation(augment._color(x, p), p), x, atol=1e-6)


def test_translation_shifts_content_and_fills_zeros():
    x = tf.reshape(tf.range(1, 65, dtype=tf.float32), (1, 8, 8, 1))
    shifted = augment._translation(x, params(1, shift_y=1.0, shift_x=0.5))[0, ..., 0].numpy()
    # ratio 0.125 of 8 px: the largest shift is 1 px down.
    np.testing.assert_array_equal(shifted[1:], x[0, :-1, :, 0])
    np.testing.assert_array_equal(shifted[0], np.zeros(8))


def test_cutout_zeroes_one_square_of_half_the_size():
    x = tf.ones((3, 8, 8, 2))
    out = augment._cutout(x, params(3, cut_y=0.5, cut_x=0.5)).numpy()
    assert out.shape == x.shape
    assert (out == 0).sum(axis=(1, 2)).tolist() == [[16, 16]] * 3  # a 4x4 hole per image


def test_diffaugment_keeps_shapes_and_is_reproducible():
    x = tf.random.uniform((4, 16, 16, 3), -1, 1)
    p = tf.random.uniform((4, 7))
    fn = augment.get("diffaugment")
    a, b = fn(x, p), fn(x, p)
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Unknown augmentation 'ada'"):
        augment.get("ada")


def test_gradients_flow_through_diffaugment_to_the_generator():
    gan = zoo.create("dcgan", **zoo.tiny_config("dcgan"))
    gan.compile(augment="diffaugment")
    z = tf.random.normal((4, gan.latent_dim))
    with tf.GradientTape() as tape:
        seen = gan.augment(gan.generator(z, training=True), draw=0, stream=2)
        loss = tf.reduce_mean(gan.discriminator(seen, training=True))
    grads = tape.gradient(loss, gan.generator.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    history = gan.fit(image_batches(gan.image_shape), epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"]).all()
    assert gan.get_compile_config()["augment"] == "diffaugment"
