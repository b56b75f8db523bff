"""CUT: one-way unpaired translation with PatchNCE (kerasgan/models/cut.py)."""
import numpy as np
import pytest
import keras
import tensorflow as tf
from PIL import Image

import kerasgan
from kerasgan import cli, zoo
from kerasgan.callbacks import TranslationGrid
from kerasgan.models.cut import CUT, patch_nce
from kerasgan.models.cyclegan import LinearDecay
from test_cyclegan import all_moved, random_pair, snapshot, write_domains

TINY = zoo.tiny_config("cut")  # 16 px, base 4, 1 residual block, 8 patches, MLP of 8


def tiny(**overrides):
    return zoo.create("cut", **{**TINY, "seed": 3, **overrides})


def test_registered_as_a_one_way_translation_model_and_refuses_bad_configs():
    assert "cut" in zoo.list(kind="translation") and not zoo.trains_on_pairs("cut")
    assert zoo.default_batch_size("cut") == 1
    assert tiny().DIRECTIONS == ("a2b",)
    with pytest.raises(ValueError, match="multiple of 4 and >= 8, got 18"):
        zoo.create("cut", image_size=18)
    with pytest.raises(ValueError, match="num_patches must be at least 2.*got 1"):
        tiny(num_patches=1)
    with pytest.raises(ValueError, match="cut does not support 'ema_decay'"):
        tiny(ema_decay=0.999)


def test_fit_moves_generator_mlp_and_discriminator_and_writes_its_grid(tmp_path):
    model = tiny()
    model.compile(total_steps=4)  # the graph path (tf.function), as `kerasgan train` runs it
    nets = (model.generator, model.mlp, model.discriminator)
    before = [snapshot(net.trainable_variables) for net in nets]
    a, b = random_pair(4)
    grid = TranslationGrid(str(tmp_path), a[:2], b[:1])
    history = model.fit(tf.data.Dataset.from_tensor_slices((a, b)).batch(2, drop_remainder=True),
                        epochs=1, verbose=0, callbacks=[grid])
    for key in ("g_loss", "d_loss", "nce_loss"):
        assert np.all(np.isfinite(history.history[key])), key
    for net, b0 in zip(nets, before):
        assert all_moved(b0, net.trainable_variables), f"a weight of {net.name} did not move"
    assert int(model.step.numpy()) == 2
    # One way: rows (a, G(a)) for each A image, (b, G(b)) for the B image; no cycle column.
    assert Image.open(grid.last_path).size == (2 * 16, 3 * 16)


def test_patch_nce_is_low_for_matching_patches_and_leaves_the_keys_alone():
    rng = np.random.default_rng(0)
    keys = tf.constant(rng.normal(size=(2, 16, 8)), tf.float32)
    matching = float(patch_nce(keys, keys, 0.07))
    shuffled = float(patch_nce(tf.gather(keys, rng.permutation(16), axis=1), keys, 0.07))
    assert matching < 0.5 < np.log(16) < shuffled, (matching, shuffled)
    queries = tf.Variable(keys + 0.1)
    with tf.GradientTape() as tape:
        loss = patch_nce(queries, keys * 1.0, 0.07)
    assert tape.gradient(loss, queries) is not None
    watched = tf.Variable(keys)
    with tf.GradientTape() as tape:
        loss = patch_nce(queries, watched * 1.0, 0.07)
    assert tape.gradient(loss, watched) is None  # keys are constants, as CUT detaches them


def test_patches_are_drawn_alike_within_a_draw_and_anew_across_draws():
    model = tiny(num_patches=4)
    features = [tf.reshape(tf.range(2 * 6 * 6 * 3, dtype=tf.float32), (2, 6, 6, 3))]
    first, again, other = (model._patches(features, draw)[0] for draw in (0, 0, 1))
    assert first.shape == (2, 4, 3)
    np.testing.assert_array_equal(first, again)  # the queries' positions are the keys'
    assert not np.array_equal(first, other)
    # The images of a batch share the positions (as CUT's sample_ids).
    np.testing.assert_array_equal(first[1] - first[0], np.full((4, 3), 6 * 6 * 3))
    model.step.assign(1)
    assert not np.array_equal(model._patches(features, 0)[0], first)  # new positions each step


def test_identity_nce_adds_the_b_term():
    with_identity, without = tiny(), tiny()
    for key in CUT.NETWORKS:
        getattr(without, key).set_weights(getattr(with_identity, key).get_weights())
    with_identity.compile(run_eagerly=True)
    without.compile(run_eagerly=True, identity_nce=False, nce_weight=10.0)
    batch = tuple(tf.constant(v) for v in random_pair(2))
    logs = [model.train_step(batch) for model in (with_identity, without)]
    nce = [float(log["nce_loss"]) for log in logs]
    assert nce[0] != nce[1]
    # The logged g_loss is the whole loss: the adversarial term plus the weighted NCE term.
    assert float(logs[1]["g_loss"]) > 10.0 * nce[1] > 0


def test_nce_loss_tells_a_translation_of_its_source_from_another_image():
    model = tiny()
    model.compile()
    a, b = (tf.constant(x) for x in random_pair(2))
    same = float(model.nce_loss(a, a))
    other = float(model.nce_loss(a, b))
    assert same < other, (same, other)


def test_from_cyclegan_starts_from_its_translator_and_leaves_it_unchanged():
    cyclegan = zoo.create("cyclegan", **zoo.tiny_config("cyclegan"), upsampling="resize", seed=1)
    model = CUT.from_cyclegan(cyclegan, num_patches=8, mlp_units=8, seed=2)
    assert model.spec["architecture"] == "cut"
    assert model.spec["config"]["upsampling"] == "resize"
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(model.translate(x), cyclegan.translate(x, "a2b"))
    for u, v in zip(model.discriminator.get_weights(), cyclegan.discriminator_b.get_weights()):
        np.testing.assert_array_equal(u, v)  # D_B, not D_A
    before = cyclegan.translate(x, "a2b")
    model.compile(run_eagerly=True)
    model.train_step(tuple(tf.constant(v) for v in random_pair(2)))
    assert not np.allclose(model.translate(x), before)  # it trained ...
    np.testing.assert_array_equal(cyclegan.translate(x, "a2b"), before)  # ... a copy
    with pytest.raises(ValueError, match="from_cyclegan takes a cyclegan"):
        CUT.from_cyclegan(model)


def test_translates_any_size_one_way_and_refuses_the_other():
    model = tiny()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 13, 21, 3)).astype("float32")
    y = model.translate(x, batch_size=2)
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.abs(y) <= 1)
    np.testing.assert_allclose(model.translate(x[0]), y[0], atol=1e-5)
    with pytest.raises(ValueError, match="translates one way, 'a2b'; got direction 'b2a'"):
        model.translate(x, direction="b2a")
    with pytest.raises(ValueError, match="translates one way, 'a2b'; got directions"):
        model.export_signatures(directions=["a2b", "b2a"])
    assert [s.name for s in model.export_signatures()] == ["a2b"]


def test_train_step_refuses_bad_batches():
    model = tiny()
    model.compile()
    a, b = random_pair(2)
    with pytest.raises(ValueError, match=r"domain B must have shape \(batch, 16, 16, 3\)"):
        model.train_step((tf.constant(a), tf.constant(b[:, :8])))
    with pytest.raises(ValueError, match="images_a, images_b"):
        model.train_step(tf.constant(a))


def test_keras_file_and_folder_round_trips(tmp_path):
    model = tiny()
    model.compile(total_steps=10, nce_weight=10.0, identity_nce=False)
    model.train_step(tuple(tf.constant(v) for v in random_pair(2)))  # eager: fast
    path = str(tmp_path / "cut.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    assert isinstance(loaded, CUT) and int(loaded.step.numpy()) == 1
    x = np.random.default_rng(1).uniform(-1, 1, (2, 13, 21, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.translate(x), model.translate(x))
    for u, v in zip(snapshot(model.variables), snapshot(loaded.variables)):
        np.testing.assert_array_equal(u, v)
    assert len(loaded.g_optimizer.variables) == len(model.g_optimizer.variables) > 2
    assert isinstance(loaded.g_optimizer._learning_rate, LinearDecay)
    assert loaded.get_compile_config() == model.get_compile_config()
    assert loaded.identity_nce is False and loaded.nce_weight == 10.0

    folder = tmp_path / "folder"
    model.save_folder_weights(str(folder))
    keras.utils.set_random_seed(99)
    other = tiny()
    assert not np.allclose(other.translate(x), model.translate(x))
    other.load_folder_weights(str(folder))
    np.testing.assert_array_equal(other.translate(x), model.translate(x))
    assert len(model.mlp.variables) == len(other.mlp.variables) == 4 * len(model.encoder.outputs)
    for u, v in zip(snapshot(model.mlp.variables), snapshot(other.mlp.variables)):
        np.testing.assert_array_equal(u, v)
    (folder / "patch_mlp.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="patch_mlp.weights.h5"):
        other.load_folder_weights(str(folder))


def test_cli_trains_from_two_folders_and_translates_one_way(tmp_path, capsys, eager):
    dir_a, dir_b = write_domains(tmp_path, n_a=4, n_b=4)
    run = str(tmp_path / "run")
    tiny_flags = [f"--set={k}={v}" for k, v in TINY.items() if k != "image_size"]
    assert cli.main(["train", "cut", "--data", dir_a, "--data-b", dir_b, "--out", run,
                     "--image-size", "16", *tiny_flags, "--minutes", "1"]) == 2
    assert "cut's learning rate decays over the run: give --epochs" in capsys.readouterr().err
    assert cli.main(["train", "cut", "--data", dir_a, "--data-b", dir_b, "--out", run,
                     "--image-size", "16", *tiny_flags, "--epochs", "1", "--steps-per-epoch",
                     "2", "--verbose", "0"]) == 0
    assert zoo.load(run).spec["architecture"] == "cut"
    out = str(tmp_path / "b.png")
    assert cli.main(["translate", run, f"{dir_a}/0.png", "--out", out]) == 0
    assert Image.open(out).size == (20, 20)
    assert cli.main(["translate", run, f"{dir_a}/0.png", "--direction", "b2a", "--out",
                     str(tmp_path / "a.png")]) == 2
    assert "translates one way, 'a2b'" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()


def test_train_cut_from_a_cyclegan_starts_from_its_translator(tmp_path, capsys, eager):
    dir_a, dir_b = write_domains(tmp_path, n_a=4, n_b=4)
    source = str(tmp_path / "cyclegan")
    cyclegan = zoo.create("cyclegan", **zoo.tiny_config("cyclegan"), seed=1)
    zoo.save(cyclegan, source)
    tuned = kerasgan.train("cut", start_from=source, out=str(tmp_path / "tuned"), data=dir_a,
                           data_b=dir_b, epochs=1, steps_per_epoch=1, seed=0, verbose=0)
    assert isinstance(tuned, CUT) and int(tuned.step.numpy()) == 1
    # One Adam step at the fine-tuning rate (1e-4) from the CycleGAN's weights.
    for net, start in ((tuned.generator, cyclegan.generator_a2b),
                       (tuned.discriminator, cyclegan.discriminator_b)):
        for u, v in zip(net.get_weights(), start.get_weights()):
            assert np.abs(u - v).max() < 1e-3
    # CUT's own --set values are taken (the networks' come from the CycleGAN).
    small = kerasgan.train("cut", start_from=source, out=str(tmp_path / "small"), data=dir_a,
                           data_b=dir_b, epochs=1, steps_per_epoch=1, seed=0, verbose=0,
                           config={"num_patches": 4, "mlp_units": 8})
    assert small.num_patches == 4 and small.mlp.output_shape[0][-1] == 8
    assert cli.main(["train", "dcgan", "--from", source, "--data", dir_a,
                     "--out", str(tmp_path / "no")]) == 2
    assert "is a 'cyclegan' model, not 'dcgan'" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()

