"""compile(precision=...): mixed bfloat16/float16 training for every architecture."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasgan import cli, export, precision, zoo
from conftest import image_batches

# bfloat16 for every architecture; float16 (loss scaling) for each of the two train steps.
CASES = [(name, "mixed_bfloat16") for name in zoo.list()] + [
    ("dcgan", "mixed_float16"), ("cyclegan", "mixed_float16")]


def tiny(name, precision_name, **overrides):
    model = zoo.create(name, **{**zoo.tiny_config(name), **overrides})
    model.compile(precision=precision_name)
    return model


def data_for(model):
    batches = image_batches(model.image_shape)
    if model.task == "translation":
        return tf.data.Dataset.zip((batches, batches.map(lambda x: -x)))
    return batches


def networks(model):
    return model.networks()


def compute_dtypes(network):
    return {layer.compute_dtype for layer in network._flatten_layers(include_self=False)
            if layer.weights}


@pytest.mark.parametrize("name,precision_name", CASES)
def test_mixed_precision_trains_with_float32_weights_and_outputs(name, precision_name):
    model = tiny(name, precision_name)
    # Eager steps, as tracing a step was most of these tests' time (the dtype policies act
    # at call time alike), except dcgan's (cheap to trace): a traced step under both
    # policies. Every graph-mode step trains in test_models.py and test_cyclegan.py, and
    # again in bfloat16 (or float32) in .ci/run's auto_precision pass.
    model.run_eagerly = name != "dcgan"
    half = precision_name.split("_")[1]
    for network in networks(model):
        assert half in compute_dtypes(network), f"{network.name} has no {half} layer"
        assert {w.dtype for w in network.weights} == {"float32"}
    before = [[np.array(w) for w in net.trainable_weights] for net in networks(model)]
    history = model.fit(data_for(model), epochs=1, verbose=0)
    for key, values in history.history.items():
        assert np.all(np.isfinite(values)), key
    for net, weights in zip(networks(model), before):
        moved = [not np.array_equal(b, np.array(w)) for b, w in zip(weights, net.trainable_weights)]
        assert all(moved), f"a weight of {net.name} did not move"
    # The generator's images and the discriminator's logits are float32 tensors.
    images = tf.random.uniform((2,) + model.image_shape, -1, 1)
    for net in networks(model):
        out = net(_inputs_like(net, images), training=False)
        for tensor in out if isinstance(out, (list, tuple)) else [out]:
            assert tensor.dtype == tf.float32, net.name
    if precision_name == "mixed_float16":
        assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)


def _inputs_like(network, images):
    """Inputs for `network`: images for image inputs, normal noise for the others."""
    def shape(t):  # the input's own sizes; the images' where it takes any size
        return tuple(images.shape[i + 1] if d is None else d for i, d in enumerate(t.shape[1:]))

    out = [images if len(t.shape) == 4 and t.shape[-1] == images.shape[-1]
           else tf.random.normal((images.shape[0],) + shape(t))
           for t in network.inputs]
    return out if len(out) > 1 else out[0]


def test_hidden_layers_really_compute_in_bfloat16():
    model = tiny("dcgan", "mixed_bfloat16")
    conv = [layer for layer in model.discriminator.layers
            if isinstance(layer, keras.layers.Conv2D)][1]
    x = tf.random.uniform((1,) + tuple(conv.input.shape[1:]))
    assert conv(x).dtype == tf.bfloat16
    model.compile(precision="float32")  # and back
    assert conv(x).dtype == tf.float32
    assert compute_dtypes(model.discriminator) == {"float32"}


@pytest.mark.parametrize("precision_name", ["mixed_bfloat16", "mixed_float16"])
def test_round_trip_saves_float32_networks_and_keeps_the_precision(precision_name, tmp_path):
    model = tiny("dcgan", precision_name)
    data = data_for(model)
    model.fit(data, epochs=1, verbose=0)
    path = str(tmp_path / "gan.keras")
    model.save(path)
    with __import__("zipfile").ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    assert "mixed_" not in config.replace(f'"precision": "{precision_name}"', "")
    assert json.loads(config)["compile_config"]["precision"] == precision_name
    loaded = keras.models.load_model(path)
    assert loaded.compute_precision == precision_name
    half = precision_name.split("_")[1]
    assert half in compute_dtypes(loaded.generator)
    assert type(loaded.d_optimizer) is type(model.d_optimizer)
    for a, b in zip(model.d_optimizer.variables, loaded.d_optimizer.variables):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    loaded.fit(data, epochs=1, verbose=0)
    assert int(loaded.step.numpy()) == 6


def test_export_of_a_mixed_precision_model_computes_in_float32(tmp_path):
    model = tiny("vanilla", "mixed_bfloat16")  # glorot init: outputs of order 0.1-1
    latents = model.latents(4, seed=0)
    bf16_images = np.array(model.generator(latents, training=False))
    path = export.saved_model(model, str(tmp_path / "sm"), batch_size=4)
    exported = np.array(tf.saved_model.load(path).signatures["serving_default"](
        latent=tf.constant(latents))["image"])
    with precision.float32_layers(model.generator):
        float32_images = np.array(model.generator(latents, training=False))
    assert np.abs(float32_images).max() > 0.1
    assert np.abs(exported - float32_images).max() < 1e-5
    assert np.abs(exported - bf16_images).max() > 1e-3  # bfloat16 differs this much
    assert "bfloat16" in compute_dtypes(model.generator)  # the live model is left as it was


def test_auto_picks_bfloat16_only_with_native_hardware(monkeypatch):
    monkeypatch.delenv(precision.AUTO_ENV, raising=False)  # the hardware's answer, unforced
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "fma", "avx512_bf16"})
    assert precision.resolve("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert precision.resolve("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "fma", "avx512f"})
    assert precision.resolve("auto") == "float32"
    native, why = precision.native_bfloat16()
    assert not native and "AVX512-BF16" in why
    for name in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert precision.resolve(name) == name


def test_auto_follows_the_gpu_compute_capability(monkeypatch):
    monkeypatch.delenv(precision.AUTO_ENV, raising=False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu0"])
    for capability, expected in (((8, 0), "mixed_bfloat16"), ((7, 5), "float32")):
        monkeypatch.setattr(tf.config.experimental, "get_device_details",
                            lambda gpu, c=capability: {"compute_capability": c})
        assert precision.resolve("auto") == expected


def test_unknown_precision_is_refused_with_the_choices():
    model = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    with pytest.raises(ValueError, match="precision must be one of auto, float32, "
                                         "mixed_bfloat16, mixed_float16, got 'bfloat16'"):
        model.compile(precision="bfloat16")


def test_cli_train_precision_is_used_and_recorded(tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 255, (16, 8, 8), np.uint8)
    np.save(tmp_path / "x.npy", images)
    out = tmp_path / "run"
    code = cli.main(["train", "vanilla", "--data", str(tmp_path / "x.npy"), "--out", str(out),
                     "--image-size", "8", "--batch-size", "8", "--epochs", "1",
                     "--precision", "mixed_bfloat16", "--set", "latent_dim=8", "--verbose", "2"])
    assert code == 0
    assert "Precision: mixed_bfloat16" in capsys.readouterr().out
    assert json.loads((out / "metadata.json").read_text())["precision"] == "mixed_bfloat16"
    assert zoo.read_config(str(out))["compile"]["precision"] == "mixed_bfloat16"
    with pytest.raises(SystemExit) as error:
        cli.main(["train", "vanilla", "--data", "x", "--out", str(tmp_path / "r2"),
                  "--precision", "float64"])
    assert error.value.code == 2
    assert "invalid choice: 'float64'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["vanilla", "stylegan_lite"])
def test_generate_computes_in_float32_and_survives_save_and_load(name, tmp_path):
    """Sampling is float32 whatever the training precision: a seed gives the same images
    from the live mixed-precision model, after a folder save/load, and as the exports."""
    model = tiny(name, "mixed_bfloat16", ema_decay=None)
    latents = model.latents(4, seed=0)
    live = model.generate(latents=latents)
    zoo.save(model, str(tmp_path / "run"))
    loaded = zoo.load(str(tmp_path / "run"))
    np.testing.assert_array_equal(live, loaded.generate(latents=latents))
    assert "bfloat16" in compute_dtypes(model.generator)  # training precision left as it was
    if name == "vanilla":  # the bfloat16 forward pass really differs: the check has teeth
        bf16 = np.array(model.generator(latents, training=False))
        assert np.abs(bf16 - live).max() > 1e-3


def test_auto_is_forced_by_the_environment(monkeypatch):
    for forced in ("float32", "mixed_bfloat16", "mixed_float16"):
        monkeypatch.setenv(precision.AUTO_ENV, forced)
        assert precision.resolve("auto") == forced
        assert precision.auto() == (forced, f"forced by {precision.AUTO_ENV}")
        assert precision.resolve("float32") == "float32"  # explicit choices are kept
    monkeypatch.setenv(precision.AUTO_ENV, "bfloat16")
    with pytest.raises(ValueError, match="KERASGAN_AUTO_PRECISION must be one of float32, "
                                         "mixed_bfloat16, mixed_float16, got 'bfloat16'"):
        precision.resolve("auto")
