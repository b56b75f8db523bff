"""CycleGAN: training, the history pool, translate(), saving, the LR schedule, unpaired data."""
import numpy as np
import pytest
import keras
import tensorflow as tf
from PIL import Image

import kerasgan
from kerasgan import data, zoo
from kerasgan.callbacks import TranslationGrid
from kerasgan.models.cyclegan import CycleGAN, LinearDecay

TINY = zoo.tiny_config("cyclegan")  # 16 px, base 4, 1 residual block


def tiny(**overrides):
    return zoo.create("cyclegan", **{**TINY, "seed": 3, **overrides})


def snapshot(variables):
    return [np.array(v) for v in variables]


def all_moved(before, variables):
    return all(not np.allclose(b, np.array(v)) for b, v in zip(before, variables))


def random_pair(n=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(-1, 1, (n, size, size, 3)).astype("float32") for _ in range(2))


def write_domains(root, n_a=8, n_b=8, size=20):
    """Simple structure that instance norm keeps: A a light square on dark, B a dark one on light."""
    rng = np.random.default_rng(0)
    dirs = []
    for name, n, (fg, bg) in (("a", n_a, (230, 30)), ("b", n_b, (30, 230))):
        folder = root / name
        folder.mkdir()
        for i in range(n):
            img = np.full((size, size, 3), bg, np.uint8)
            top, left = rng.integers(0, size - 8, 2)
            img[top:top + 8, left:left + 8] = fg
            Image.fromarray(img).save(folder / f"{i}.png")
        dirs.append(str(folder))
    return dirs


def test_registered_as_a_translation_model():
    assert "cyclegan" in zoo.list(kind="translation")
    assert "cyclegan" not in zoo.list(kind="generation")
    with pytest.raises(ValueError, match="multiple of 4"):
        zoo.create("cyclegan", image_size=18)


def test_fit_moves_all_four_networks_and_logs_finite_losses(tmp_path):
    model = tiny()
    model.compile(run_eagerly=True)  # the graph path is trained in the next test (compiling: ~15 s)
    nets = (model.generator_a2b, model.generator_b2a, model.discriminator_a, model.discriminator_b)
    before = [snapshot(net.trainable_variables) for net in nets]
    a, b = random_pair(2)
    grid = TranslationGrid(str(tmp_path), a[:1], b[:1])
    history = model.fit(tf.data.Dataset.from_tensor_slices((a, b)).batch(2, drop_remainder=True),
                        epochs=1, verbose=0, callbacks=[grid])
    assert Image.open(grid.last_path).size == (3 * 16, 2 * 16)  # rows: a, b; input/out/cycle
    for key in ("g_loss", "d_a_loss", "d_b_loss", "cycle_loss", "identity_loss"):
        assert np.all(np.isfinite(history.history[key])), key
    for net, b0 in zip(nets, before):
        assert all_moved(b0, net.trainable_variables), f"a weight of {net.name} did not move"
    assert int(model.step.numpy()) == 1


def test_cycle_loss_falls_on_unpaired_folders(tmp_path):
    dir_a, dir_b = write_domains(tmp_path)
    dataset = data.unpaired_dataset(dir_a, dir_b, image_size=16, batch_size=2, seed=0)
    assert dataset.batches_per_epoch == 4
    model = tiny()
    model.compile(g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))
    history = model.fit(dataset, epochs=8, verbose=0)  # 32 steps
    cycle = history.history["cycle_loss"]
    assert np.all(np.isfinite(cycle))
    assert cycle[-1] < 0.6 * cycle[0], cycle  # measured ~0.43


def test_history_pool_semantics():
    model = tiny(pool_size=3)
    value = iter(range(1, 1000))

    def batch(n):  # images of distinct constant values, to recognise them
        return tf.constant(np.stack([np.full((16, 16, 3), next(value), "float32")
                                     for _ in range(n)]))

    def values(images):
        return [float(np.asarray(img)[0, 0, 0]) for img in images]

    first = batch(2)
    np.testing.assert_array_equal(model.query_pool("a", first), first)  # filling: the new ones
    assert int(model.pool_a_count.numpy()) == 2
    model.step.assign_add(1)
    second = batch(2)  # the first fills the pool, the second may already be swapped
    out = values(model.query_pool("a", second))
    assert out[0] == values(second)[0]
    assert int(model.pool_a_count.numpy()) == 3
    seen = set(values(first) + values(second))
    assert set(values(model.pool_a.numpy())) <= seen
    swapped = kept = 0
    for _ in range(12):
        model.step.assign_add(1)
        new = batch(2)
        out = values(model.query_pool("a", new))
        for i, (got, fresh) in enumerate(zip(out, values(new))):
            if got == fresh:
                kept += 1
            else:  # images go one by one: one stored earlier in this batch may come back
                assert got in seen | set(values(new)[:i]), \
                    "the pool returned an image it was never given"
                swapped += 1
        seen |= set(values(new))
        pool = values(model.pool_a.numpy())
        assert len(pool) == 3 and set(pool) <= seen
        assert int(model.pool_a_count.numpy()) == 3
    assert swapped > 0 and kept > 0  # probability 0.5 each, 24 draws
    assert int(model.pool_b_count.numpy()) == 0  # domains have separate pools
    no_pool = tiny(pool_size=0)
    np.testing.assert_array_equal(no_pool.query_pool("a", first), first)


def test_translate_keeps_any_size_and_refuses_bad_input():
    model = tiny()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 13, 21, 3)).astype("float32")
    for direction in ("a2b", "b2a"):
        y = model.translate(x, direction=direction, batch_size=2)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.all(np.abs(y) <= 1)
    assert not np.allclose(model.translate(x, "a2b"), model.translate(x, "b2a"))
    single = model.translate(x[0])
    assert single.shape == (13, 21, 3)
    np.testing.assert_allclose(single, model.translate(x)[0], atol=1e-5)
    assert model.translate(x[:1, :5, :3]).shape == (1, 5, 3, 3)  # smaller than the 8 px minimum
    with pytest.raises(ValueError, match="3 channels.*got 1"):
        model.translate(x[..., :1])
    with pytest.raises(ValueError, match=r"shape \(n, H, W, 3\).*got \(13, 21\)"):
        model.translate(x[0, ..., 0])
    with pytest.raises(ValueError, match="floats in \\[-1, 1\\], got dtype uint8"):
        model.translate(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="direction must be one of"):
        model.translate(x, direction="a2c")


def test_train_step_refuses_bad_batches():
    model = tiny()
    model.compile()
    a, b = random_pair(2)
    with pytest.raises(ValueError, match=r"domain B must have shape \(batch, 16, 16, 3\)"):
        model.train_step((tf.constant(a), tf.constant(b[:, :8])))
    with pytest.raises(ValueError, match="images_a, images_b"):
        model.train_step(tf.constant(a))


@pytest.mark.auto_precision
def test_keras_file_round_trip_restores_step_pools_optimizers_and_schedule(tmp_path):
    model = tiny()
    model.compile(total_steps=10)
    a, b = (tf.constant(v) for v in random_pair(2))
    model.train_step((a, b))  # eager: no tf.function compile, fast
    path = str(tmp_path / "cyclegan.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    assert isinstance(loaded, CycleGAN)
    assert int(loaded.step.numpy()) == 1
    x = np.random.default_rng(1).uniform(-1, 1, (2, 13, 21, 3)).astype("float32")
    for direction in ("a2b", "b2a"):
        np.testing.assert_array_equal(loaded.translate(x, direction), model.translate(x, direction))
    for u, v in zip(snapshot(model.variables), snapshot(loaded.variables)):
        np.testing.assert_array_equal(u, v)  # includes the pools and their counts
    for opt, loaded_opt in ((model.g_optimizer, loaded.g_optimizer),
                            (model.d_optimizer, loaded.d_optimizer)):
        assert len(opt.variables) == len(loaded_opt.variables) > 2
        for u, v in zip(snapshot(opt.variables), snapshot(loaded_opt.variables)):
            np.testing.assert_array_equal(u, v)
    assert isinstance(loaded.g_optimizer._learning_rate, LinearDecay)
    assert loaded.get_compile_config() == model.get_compile_config()
    for key in ("image_size", "pool_size", "seed", "name"):
        assert loaded.get_config()[key] == model.get_config()[key]


def test_folder_weights_round_trip(tmp_path):
    model = tiny()
    model.save_folder_weights(str(tmp_path))
    keras.utils.set_random_seed(99)
    other = tiny()
    x = np.random.default_rng(2).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    assert not np.allclose(other.translate(x), model.translate(x))
    other.load_folder_weights(str(tmp_path))
    for direction in ("a2b", "b2a"):
        np.testing.assert_array_equal(other.translate(x, direction), model.translate(x, direction))
    (tmp_path / "discriminator_b.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="discriminator_b.weights.h5"):
        other.load_folder_weights(str(tmp_path))


def test_linear_decay_schedule():
    schedule = LinearDecay(2e-4, total_steps=100)
    lr = [float(schedule(step)) for step in (0, 25, 50, 75, 100, 130)]
    np.testing.assert_allclose(lr, [2e-4, 2e-4, 2e-4, 1e-4, 0.0, 0.0], rtol=1e-6, atol=1e-12)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, LinearDecay) and restored.get_config() == schedule.get_config()
    with pytest.raises(ValueError):
        LinearDecay(1e-3, total_steps=0)


def test_unpaired_dataset_uses_the_longer_folder_and_skips_bad_files(tmp_path):
    dir_a, dir_b = write_domains(tmp_path, n_a=6, n_b=3)
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(data.SkippedImageWarning, match="broken.png"):
        dataset = data.unpaired_dataset(dir_a, dir_b, image_size=16, batch_size=2, seed=1)
    batches = list(dataset)
    assert len(batches) == dataset.batches_per_epoch == 3  # max(6, 3) // 2
    for a, b in batches:
        assert a.shape == b.shape == (2, 16, 16, 3) and a.dtype == tf.float32
        assert -1 <= float(tf.reduce_min(a)) and float(tf.reduce_max(b)) <= 1
    (tmp_path / "b" / "broken.png").unlink()
    stream = data.unpaired_dataset(dir_a, dir_b, image_size=16, batch_size=2, seed=1, repeat=True)
    resumed = data.unpaired_dataset(dir_a, dir_b, image_size=16, batch_size=2, seed=1, repeat=True,
                                    skip_batches=5)
    expected = list(stream.take(7))[5:]
    for (a, b), (ra, rb) in zip(expected, resumed.take(2)):
        np.testing.assert_array_equal(a, ra)
        np.testing.assert_array_equal(b, rb)
    with pytest.raises(ValueError, match="load_size"):
        data.unpaired_dataset(dir_a, dir_b, image_size=16, load_size=12)


def test_the_unpaired_stream_does_not_depend_on_earlier_iterators(tmp_path):
    # `kerasgan train` takes a first batch for its sample grid before fitting; with a
    # reshuffling `shuffle` that earlier iterator moved the training batches, by as many
    # passes as its prefetching got through (so `--deterministic` runs differed).
    import keras

    dir_a, dir_b = write_domains(tmp_path, n_a=3, n_b=5)

    def stream():
        return data.unpaired_dataset(dir_a, dir_b, image_size=16, batch_size=2, seed=3, repeat=True)

    expected = [x.numpy() for batch in stream().take(6) for x in batch]
    used = stream()
    list(used.take(4))  # an earlier iterator, past several passes of both folders
    keras.utils.set_random_seed(9)
    for dataset in (used, stream()):
        np.testing.assert_array_equal([x.numpy() for batch in dataset.take(6) for x in batch],
                                      expected)
    # A finite dataset reshuffles each pass (each iterator), however far the one before ran:
    # the 2 images of A go round 12 times in a pass, 12 reshuffles of the old stream.
    (tmp_path / "finite").mkdir()
    dir_a, dir_b = write_domains(tmp_path / "finite", n_a=2, n_b=24)
    finite = [data.unpaired_dataset(dir_a, dir_b, image_size=16, batch_size=1, seed=3)
              for _ in range(2)]
    list(finite[0].take(1))  # one batch of the first pass
    list(finite[1])  # the whole first pass
    after_one_batch, after_a_pass = ([x.numpy() for batch in d for x in batch] for d in finite)
    np.testing.assert_array_equal(after_one_batch, after_a_pass)  # both second passes


def test_augment_changes_only_what_the_discriminators_see(tmp_path):
    a, b = (tf.constant(v) for v in random_pair(2))
    plain, augmented = tiny(), tiny()
    augmented.set_weights(plain.get_weights())
    plain.compile()
    augmented.compile(augment="diffaugment")
    plain_logs, augmented_logs = plain.train_step((a, b)), augmented.train_step((a, b))
    # The generators' cycle and identity terms see the images as they are ...
    for key in ("cycle_loss", "identity_loss"):
        np.testing.assert_allclose(float(augmented_logs[key]), float(plain_logs[key]), rtol=1e-6)
    # ... the discriminators see them augmented.
    for key in ("d_a_loss", "d_b_loss", "g_loss"):
        assert np.isfinite(float(augmented_logs[key]))
        assert abs(float(augmented_logs[key]) - float(plain_logs[key])) > 1e-4, key
    path = str(tmp_path / "augmented.keras")
    augmented.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.augment_name == "diffaugment"
    assert loaded.get_compile_config() == augmented.get_compile_config()
    with pytest.raises(ValueError, match="augment='diffaugment' or None, got 'ada'"):
        tiny().compile(augment="ada")


def test_fine_tuning_keeps_the_linear_decay_at_half_the_learning_rate(tmp_path, eager):
    dir_a, dir_b = write_domains(tmp_path, n_a=4, n_b=4)
    source = str(tmp_path / "source")
    zoo.save(tiny(), source)
    tuned = kerasgan.train(None, start_from=source, out=str(tmp_path / "tuned"), data=dir_a,
                           data_b=dir_b, epochs=1, steps_per_epoch=2, batch_size=2, seed=0,
                           verbose=0)
    for optimizer in (tuned.g_optimizer, tuned.d_optimizer):
        assert isinstance(optimizer._learning_rate, LinearDecay)
        # 1 epoch of 2 steps: 1e-4 for the first step, then down to 0 at step 2.
        assert optimizer._learning_rate.get_config() == {
            "initial_learning_rate": pytest.approx(1e-4), "total_steps": 2, "decay_start": 1}
        assert float(optimizer.learning_rate) == 0.0  # the schedule ran to its end
