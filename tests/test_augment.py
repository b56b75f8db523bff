import numpy as np
import pytest
import keras
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
    with pytest.raises(ValueError, match="Unknown augmentation 'adaptive'"):
        augment.get("adaptive")


def geometric_params(batch, **on):
    """Uniform params of `_geometric` with the named transforms on (at strength 0.5):
    columns 0 flip, 1 quarter turn (2: how many), 3 iso scale (4), 5 rotation (6),
    7 aniso scale (8); value columns at their medians (scale x1, angle 0)."""
    columns = {"flip": 0, "quarter": 1, "iso": 3, "rotation": 5, "aniso": 7}
    u = np.array([0.9, 0.9, 0.0, 0.9, 0.5, 0.9, 0.5, 0.9, 0.5], "float32")
    for name, value in on.items():
        u[columns[name]] = 0.0
        if name == "quarter":
            u[2] = value
    return tf.constant(np.tile(u, (batch, 1)))


def test_ada_geometric_flips_and_turns_images_exactly():
    x = tf.random.uniform((2, 8, 8, 3), -1, 1)
    strength = tf.constant(0.5)
    np.testing.assert_allclose(augment._geometric(x, geometric_params(2), strength), x,
                               atol=1e-5)
    np.testing.assert_allclose(augment._geometric(x, geometric_params(2, flip=1), strength),
                               x[:, :, ::-1], atol=1e-5)
    turned = augment._geometric(x, geometric_params(2, quarter=0.3), strength)  # k = 1
    np.testing.assert_allclose(turned, np.rot90(x.numpy(), k=1, axes=(1, 2)), atol=1e-5)
    # A transform drawn "on" is off at strength 0: the image comes back as it was.
    np.testing.assert_allclose(
        augment._geometric(x, geometric_params(2, flip=1, quarter=0.3), tf.constant(0.0)), x,
        atol=1e-5)


def test_ada_at_strength_zero_is_diffaugment_and_at_one_transforms_every_image():
    ada, diffaugment = augment.get("ada"), augment.get("diffaugment")
    x = tf.random.uniform((16, 16, 16, 3), -1, 1)
    p = tf.random.uniform((16, ada.num_params), seed=1)
    # At strength 0 the resampling is skipped: DiffAugment's images and gradients exactly,
    # also with the strength a variable inside a tf.function, as the model calls it.
    strength = tf.Variable(0.0)

    @tf.function
    def images_and_gradients(function):
        with tf.GradientTape() as tape:
            tape.watch(x)
            images = function(x)
        return images, tape.gradient(tf.reduce_sum(images * images), x)

    for a, d in zip(images_and_gradients(lambda x: ada(x, p, strength)),
                    images_and_gradients(lambda x: diffaugment(x, p[:, :7]))):
        np.testing.assert_array_equal(a, d)
    changed = tf.reduce_max(tf.abs(ada(x, p, 1.0) - diffaugment(x, p[:, :7])), axis=[1, 2, 3])
    assert (changed.numpy() > 1e-2).all()


def test_gated_ada_leaves_images_alone_at_strength_zero_and_gates_each_transform():
    gated, ada = augment.get("ada_gated"), augment.get("ada")
    x = tf.random.uniform((16, 16, 16, 3), -1, 1)
    p = tf.random.uniform((16, gated.num_params), seed=3)
    np.testing.assert_array_equal(gated(x, p, tf.Variable(0.0)), x)
    # At strength 1 every gate is open: ADA's pipeline, DiffAugment included, exactly.
    np.testing.assert_allclose(gated(x, p, 1.0), ada(x, p[:, :ada.num_params], 1.0), atol=1e-6)
    # Gates shut (params >= strength) for every transform but cutout: only cutout's square.
    shut = tf.concat([tf.ones((16, ada.num_params - 7)), tf.ones((16, 2)), tf.zeros((16, 1))], 1)
    shut = tf.concat([p[:, :7], shut], 1)
    holes = gated(x, shut, 0.5) == 0.0
    np.testing.assert_array_equal(tf.where(holes, 0.0, x), gated(x, shut, 0.5))
    assert tf.reduce_all(tf.reduce_any(holes, axis=[1, 2, 3]))


def test_ada_strength_follows_the_discriminators_confidence_on_real_images():
    ada = augment.get("ada")
    step = 16 / (1000 * ada.speed_kimg)
    sure = tf.ones((16, 1))  # every real logit positive: mean sign 1 > target 0.6
    unsure = tf.constant([[1.0]] * 8 + [[-1.0]] * 8)  # mean sign 0 < 0.6
    assert float(ada.adjust(0.5, sure, 16)) == pytest.approx(0.5 + step)
    assert float(ada.adjust(0.5, unsure, 16)) == pytest.approx(0.5 - step)
    assert float(ada.adjust(0.0, unsure, 16)) == 0.0
    assert float(ada.adjust(1.0, sure, 16)) == 1.0


@pytest.mark.parametrize("name", ["ada", "ada_gated"])
def test_ada_trains_adapts_and_resumes_at_the_strength_it_reached(name, tmp_path, monkeypatch):
    # A target below any mean sign: the discriminator always counts as overfitting, so the
    # strength climbs by batch / (1000 x speed_kimg) every step.
    monkeypatch.setattr(augment.AdaptiveAugment, "target", -2.0)
    monkeypatch.setattr(augment.AdaptiveAugment, "speed_kimg", 0.1)
    gan = zoo.create("dcgan", **zoo.tiny_config("dcgan"))
    gan.compile(augment=name)
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    history = gan.fit(image_batches(gan.image_shape, n=32, batch_size=8), epochs=2, verbose=0)
    assert np.isfinite(history.history["d_loss"]).all()
    assert any(np.abs(w.numpy() - b).max() > 0 for w, b in zip(gan.generator.trainable_weights, before))
    assert float(gan.augment_strength.numpy()) == pytest.approx(8 * 8 / 100)
    assert history.history["augment_p"][-1] > history.history["augment_p"][0] > 0
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert float(loaded.augment_strength.numpy()) == pytest.approx(0.64)
    assert loaded.get_compile_config()["augment"] == name


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
