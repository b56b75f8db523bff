"""Export: SavedModel and TFLite artifacts of every zoo generator, checked numerically."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasgan import cli, export, zoo
from kerasgan.layers import NoiseInjection

RUNNER = os.path.join(os.path.dirname(__file__), os.pardir, "export", "run_tflite.py")
# Runs a script with tensorflow, keras and kerasgan made unimportable: the device side.
WITHOUT_TENSORFLOW = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "kerasgan"):
            raise ImportError(name + " imported on the device side")
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
# What the tiny configs reach (docs/export.md has the numbers for trained models).
TINY_TOLERANCE = {"saved_model": 1e-5, "float32": 1e-5, "float16": 5e-3}


def tiny(arch, **overrides):
    return zoo.create(arch, **{**zoo.tiny_config(arch), "seed": 0, **overrides})


def calibration(model, n=8):
    if zoo.kind(model.spec["architecture"]) not in export.IMAGE_KINDS:
        return None
    return np.random.default_rng(0).uniform(-1, 1, (n,) + model.image_shape).astype("float32")


def run_device_side(*args):
    return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, RUNNER, *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def set_noise_strength(gan, value):
    for layer in gan.sampler.get_layer("synthesis").layers:  # untrained strengths are 0
        if isinstance(layer, NoiseInjection):
            layer.strength.assign(np.full(layer.strength.shape, value, "float32"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`exported(arch)`: (model, folder, report) of the tiny model of `arch` exported once in
    every format and quantization (`export.export`'s defaults); the tests below check these
    shared artifacts rather than export the same model again each. StyleGAN's noise
    strengths are set to 0.5 first (untrained they are 0), so that its artifacts are checked
    with the noise inputs in use. Artifacts over their tolerance are kept (untrained tiny
    models quantize badly to int8): these tests check every artifact's file."""
    cache = {}

    def get(arch):
        if arch not in cache:
            model = tiny(arch)
            if arch == "stylegan_lite":
                set_noise_strength(model, 0.5)
            out = tmp_path_factory.mktemp(arch)
            cache[arch] = model, out, export.export(model, out,
                                                    calibration_images=calibration(model),
                                                    keep_over_tolerance=True)
        return cache[arch]
    return get


# The tests of one architecture's shared artifacts form one pytest-xdist group (one worker):
# `exported` builds them once per worker.
@pytest.mark.parametrize("arch", [
    pytest.param(arch, marks=pytest.mark.xdist_group(f"export_{arch}")) for arch in zoo.list()])
def test_every_architecture_exports_in_every_format(arch, exported):
    model, folder, report = exported(arch)

    assert json.load(open(folder / export.REPORT_FILE)) == report
    kind = zoo.kind(arch)
    names = (list(model.DIRECTIONS) if kind == "translation"  # a CycleGAN's two, others' one
             else ["inpaint"] if kind == "inpainting" else ["generator"])
    artifacts = {(a["name"], a["format"], a["quantization"]): a for a in report["artifacts"]}
    assert set(artifacts) == {(n, "saved_model", "float32") for n in names} | {
        (n, "tflite", q) for n in names for q in export.QUANTIZATIONS}
    for (name, fmt, quantization), artifact in artifacts.items():
        path = folder / artifact["path"]
        assert path.exists() and artifact["size_bytes"] > 0
        assert np.isfinite(artifact["max_abs_error"]) and artifact["mean_abs_error"] >= 0
        key = "saved_model" if fmt == "saved_model" else quantization
        if key in TINY_TOLERANCE:
            assert artifact["max_abs_error"] <= TINY_TOLERANCE[key], artifact
        if fmt == "tflite":
            assert artifact["ops"] and not [op for op in artifact["ops"]
                                            if op.startswith("Flex") or op == "CUSTOM"]
            assert export.tflite_ops(path) == artifact["ops"]
            assert artifact["latency_ms_per_image"]["1"] > 0
        assert artifact["inputs"][0]["shape"][0] == 1  # batch 1 for phones
        assert artifact["outputs"] == [{"name": "image", "shape": [1, *model.image_shape],
                                        "dtype": "float32"}]


@pytest.mark.xdist_group("export_dcgan")
def test_tflite_matches_keras_on_new_inputs_and_names_its_tensors(exported):
    gan, folder, _ = exported("dcgan")
    path = folder / "generator_float32.tflite"
    latents = gan.latents(3, seed=7)
    out = export.run_tflite(path, {"latent": latents})
    np.testing.assert_allclose(out, gan.generate(latents=latents), atol=1e-5)
    runner = export._interpreter(model_path=str(path)).get_signature_runner()
    assert list(runner.get_input_details()) == ["latent"]
    assert list(runner.get_output_details()) == ["image"]


def test_saved_model_matches_keras_and_serves_a_fixed_batch(tmp_path):
    gan = tiny("vanilla")
    path = export.saved_model(gan, tmp_path / "sm", batch_size=4)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    latents = gan.latents(4, seed=3)
    out = serve(latent=tf.constant(latents))["image"].numpy()
    np.testing.assert_allclose(out, gan.generate(latents=latents), atol=1e-5)
    with pytest.raises(Exception):
        serve(latent=tf.constant(gan.latents(2, seed=3)))


@pytest.mark.xdist_group("export_stylegan_lite")
def test_stylegan_artifact_takes_its_noise_as_inputs(exported):
    gan, folder, _ = exported("stylegan_lite")  # noise strengths 0.5
    path = folder / "generator_float32.tflite"  # batch 1: run_tflite feeds it row by row
    latents = gan.latents(2, seed=1)
    noise_a, noise_b = gan.noise_inputs(2, seed=2), gan.noise_inputs(2, seed=3)
    named = {f"noise_{i}": a for i, a in enumerate(noise_a)}
    out_a = export.run_tflite(path, {"latent": latents, **named})
    np.testing.assert_allclose(out_a, gan.generate(latents=latents, noise=noise_a), atol=1e-5)
    out_b = export.run_tflite(path, {"latent": latents, **{f"noise_{i}": a
                                                          for i, a in enumerate(noise_b)}})
    assert np.abs(out_a - out_b).max() > 1e-4  # the noise inputs are used, not constants


def test_stylegan_truncation_is_baked_in(tmp_path):
    gan = tiny("stylegan_lite")
    gan.sampler.get_layer("truncation").w_avg.assign(np.linspace(-1, 1, gan.w_dim))
    path = export.tflite(gan, tmp_path / "g.tflite", truncation_psi=0.0, batch_size=2)
    noise = {f"noise_{i}": a for i, a in enumerate(gan.noise_inputs(2, seed=0))}
    out = export.run_tflite(path, {"latent": gan.latents(2, seed=5), **noise})
    expected = gan.generate(latents=gan.latents(2, seed=6), truncation_psi=0.0,
                            noise=gan.noise_inputs(2, seed=0))
    np.testing.assert_allclose(out, expected, atol=1e-5)  # psi=0: the latent does not matter


def test_uint8_images_in_and_out(tmp_path):
    cyclegan = tiny("cyclegan")
    report = export.export(cyclegan, tmp_path, quantizations=["float32"], uint8_images=True,
                           directions=["a2b"])
    tflite_artifact = report["artifacts"][1]
    assert tflite_artifact["inputs"][0]["dtype"] == "uint8"
    assert tflite_artifact["outputs"][0]["dtype"] == "uint8"
    assert tflite_artifact["image_range"] == "[0, 255] RGB"
    pixels = np.random.default_rng(0).integers(0, 256, (1,) + cyclegan.image_shape, "uint8")
    out = export.run_tflite(tmp_path / tflite_artifact["path"], {"image": pixels})
    assert out.dtype == np.uint8
    expected = cyclegan.translate(pixels.astype("float32") / 127.5 - 1.0)
    assert np.abs(out / 127.5 - 1.0 - expected).max() <= 1 / 127.5 + 1e-5
    assert all(a["within_tolerance"] for a in report["artifacts"])


def test_cyclegan_exports_at_another_image_size(tmp_path):
    cyclegan = tiny("cyclegan")
    path = export.tflite(cyclegan, tmp_path / "b2a.tflite", direction="b2a", image_size=24)
    image = np.random.default_rng(1).uniform(-1, 1, (1, 24, 24, 3)).astype("float32")
    np.testing.assert_allclose(export.run_tflite(path, {"image": image}),
                               cyclegan.translate(image, direction="b2a"), atol=1e-5)


def inpainting_inputs(model, n, seed):
    """`n` images and masks (1 = missing) unlike export's parity inputs."""
    from kerasgan import masks
    images = np.random.default_rng(seed).uniform(-1, 1, (n,) + model.image_shape)
    mask = masks.draw(tf.constant([seed, 7], tf.int64), n, *model.image_shape[:2]).numpy()
    assert 0 < mask.mean() < 1
    return images.astype("float32"), mask


@pytest.mark.xdist_group("export_inpainting")
def test_inpainting_artifact_keeps_known_pixels_and_matches_keras(exported):
    model, folder, report = exported("inpainting")
    images, mask = inpainting_inputs(model, 3, seed=11)
    expected = model.restore(images, mask)
    known = np.broadcast_to(mask == 0, images.shape)
    for quantization in ("float32", "float16", "dynamic"):  # float activations: exact
        out = export.run_tflite(folder / f"inpaint_{quantization}.tflite",
                                {"image": images, "mask": mask})
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out[known], images[known])
        assert np.abs(out - expected).max() <= TINY_TOLERANCE.get(quantization, 0.25)
    np.testing.assert_allclose(export.run_tflite(folder / "inpaint_float32.tflite",
                                                 {"image": images, "mask": mask}),
                               expected, atol=1e-5)
    runner = export._interpreter(model_path=str(folder / "inpaint_float32.tflite")) \
        .get_signature_runner()
    assert sorted(runner.get_input_details()) == ["image", "mask"]
    assert list(runner.get_output_details()) == ["image"]
    artifact = report["artifacts"][0]
    assert artifact["inputs"] == [{"name": "image", "shape": [1, *model.image_shape],
                                   "dtype": "float32"},
                                  {"name": "mask", "shape": [1, *model.image_shape[:2], 1],
                                   "dtype": "float32"}]
    golden = np.load(folder / "golden_inpaint.npz")
    assert set(golden.files) == {"image", "mask", "expected_image"}
    assert set(np.unique(golden["mask"])) == {0.0, 1.0}


def test_inpainting_uint8_images_and_masks(tmp_path):
    model = tiny("inpainting")
    report = export.export(model, tmp_path, formats=["tflite"], quantizations=["float32"],
                           uint8_images=True)
    [artifact] = report["artifacts"]
    assert [(i["name"], i["dtype"]) for i in artifact["inputs"]] == [("image", "uint8"),
                                                                     ("mask", "uint8")]
    assert artifact["outputs"][0]["dtype"] == "uint8"
    assert artifact["mask_values"] == "0 or 255, > 127 missing"
    assert artifact["within_tolerance"]
    images, mask = inpainting_inputs(model, 2, seed=3)
    pixels = np.clip(np.round((images + 1) * 127.5), 0, 255).astype("uint8")
    mask_u8 = (mask * 255).astype("uint8")
    out = export.run_tflite(tmp_path / artifact["path"], {"image": pixels, "mask": mask_u8})
    assert out.dtype == np.uint8
    known = np.broadcast_to(mask == 0, images.shape)
    np.testing.assert_array_equal(out[known], pixels[known])  # the known pixels exactly
    expected = model.restore(pixels / 127.5 - 1.0, mask)
    assert np.abs(out / 127.5 - 1.0 - expected).max() <= 1 / 127.5 + 1e-5
    # > 127 is missing: 128 and 255 give the same output, 127 and 0 too.
    soft = np.where(mask_u8 > 0, 128, 127).astype("uint8")
    np.testing.assert_array_equal(
        export.run_tflite(tmp_path / artifact["path"], {"image": pixels, "mask": soft}), out)


def test_int8_inpainting_without_calibration_images_is_refused(tmp_path):
    with pytest.raises(ValueError, match="inpainting generator needs calibration images"):
        export.tflite(tiny("inpainting"), tmp_path / "inpaint.tflite", quantization="int8")
    with pytest.raises(ValueError, match="needs calibration images"):
        export.export(tiny("inpainting"), tmp_path / "x")
    assert not (tmp_path / "inpaint.tflite").exists() and not (tmp_path / "x").exists()


@pytest.mark.xdist_group("export_inpainting")
def test_device_runner_restores_an_image_without_tensorflow(exported, tmp_path):
    model, artifacts, _ = exported("inpainting")
    from PIL import Image
    size = model.image_shape[0]
    pixels = np.random.default_rng(5).integers(0, 256, (size, size, 3), "uint8")
    missing = np.zeros((size, size), bool)
    missing[3:9, 4:12] = True
    Image.fromarray(pixels).save(tmp_path / "damaged.png")
    Image.fromarray(np.where(missing, 255, 0).astype("uint8")).save(tmp_path / "mask.png")
    result = run_device_side(artifacts / "inpaint_float32.tflite", "--image",
                             tmp_path / "damaged.png", "--mask", tmp_path / "mask.png",
                             "--out", tmp_path / "restored.png")
    assert result.returncode == 0, result.stderr
    restored = np.asarray(Image.open(tmp_path / "restored.png"))
    assert restored.shape == pixels.shape
    np.testing.assert_array_equal(restored[~missing], pixels[~missing])
    expected = model.restore(pixels / 127.5 - 1.0, missing[..., None].astype("float32"))
    expected = np.clip((expected + 1) * 127.5 + 0.5, 0, 255).astype("int16")
    assert np.abs(restored.astype("int16") - expected).max() <= 1
    assert (restored[missing] != pixels[missing]).any()  # the hole was filled

    result = run_device_side(artifacts / "inpaint_float32.tflite", "--check",
                             artifacts / "golden_inpaint.npz", "--tolerance", "1e-4")
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr
    result = run_device_side(artifacts / "inpaint_float32.tflite", "--image",
                             tmp_path / "damaged.png", "--out", tmp_path / "x.png")
    assert result.returncode == 2 and "--mask" in result.stderr


@pytest.mark.xdist_group("export_stylegan_lite")
def test_device_runner_reproduces_golden_output_without_tensorflow(exported, tmp_path):
    gan, artifacts, _ = exported("stylegan_lite")  # noise strengths 0.5: the noise matters
    result = run_device_side(artifacts / "generator_float32.tflite",
                             "--check", artifacts / "golden_generator.npz", "--tolerance", "1e-4")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout

    # The runner draws latents and noise as kerasgan does: its grid is `generate(seed=3)`'s.
    result = run_device_side(artifacts / "generator_float32.tflite", "--n", 4, "--seed", 3,
                             "--out", tmp_path / "grid.png")
    assert result.returncode == 0, result.stderr
    from PIL import Image

    from kerasgan.callbacks import image_grid
    grid = np.asarray(Image.open(tmp_path / "grid.png"), "int16")
    assert np.abs(grid - image_grid(gan.generate(4, seed=3))).max() <= 1


@pytest.mark.xdist_group("export_cyclegan")
def test_device_runner_translates_a_photo_and_fails_a_wrong_golden(exported, tmp_path):
    cyclegan, artifacts, _ = exported("cyclegan")
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 50, 3), "uint8")).save(
        tmp_path / "photo.jpg")
    result = run_device_side(artifacts / "a2b_float16.tflite", "--image", tmp_path / "photo.jpg",
                             "--out", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out.png").size == cyclegan.image_shape[:2]

    golden = dict(np.load(artifacts / "golden_a2b.npz"))
    golden["expected_image"] = golden["expected_image"] + 0.5
    np.savez(tmp_path / "wrong.npz", **golden)
    result = run_device_side(artifacts / "a2b_float16.tflite", "--check", tmp_path / "wrong.npz")
    assert result.returncode == 1 and "FAILED" in result.stdout


def test_an_artifact_over_its_tolerance_is_not_written_unless_kept(tmp_path):
    gan = tiny("vanilla")
    report = export.export(gan, tmp_path / "a", formats=["tflite"],
                           quantizations=["float32", "dynamic"], tolerances={"dynamic": 0.0})
    [dynamic] = export.flagged(report)
    assert dynamic["quantization"] == "dynamic" and not dynamic["written"]
    assert "exceeds the tolerance 0 of dynamic" in dynamic["refused"]
    assert not (tmp_path / "a" / dynamic["path"]).exists()
    assert (tmp_path / "a" / "generator_float32.tflite").exists()
    on_disk = json.load(open(tmp_path / "a" / export.REPORT_FILE))
    assert [a["written"] for a in on_disk["artifacts"]] == [True, False]

    report = export.export(gan, tmp_path / "b", formats=["tflite"], quantizations=["dynamic"],
                           tolerances={"dynamic": 0.0}, keep_over_tolerance=True)
    assert export.flagged(report) and (tmp_path / "b" / "generator_dynamic.tflite").exists()


def test_non_builtin_ops_are_an_error_that_names_them(tmp_path):
    class Svd(keras.layers.Layer):
        def call(self, x):
            s = tf.linalg.svd(tf.reshape(x, (-1, 2, 2)), compute_uv=False)
            return tf.reshape(tf.tile(s, (1, 2)), (-1, 2, 2, 1))

    latent = keras.Input((4,), name="latent")
    generator = keras.Model(latent, Svd()(latent))
    discriminator = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
                                      keras.layers.Dense(1)])
    from kerasgan import GAN
    with pytest.raises(export.ExportError, match="Svd"):
        export.tflite(GAN(generator, discriminator, seed=0), tmp_path / "g.tflite")
    assert not (tmp_path / "g.tflite").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"quantization": "int4"}, "quantization must be one of"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"truncation_psi": 0.5}, "truncation_psi applies to StyleGAN"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export.tflite(tiny("vanilla"), tmp_path / "g.tflite", **kwargs)


def test_int8_translation_without_calibration_images_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs calibration images"):
        export.tflite(tiny("cyclegan"), tmp_path / "a2b.tflite", direction="a2b",
                      quantization="int8")


def test_cli_export_writes_artifacts_and_report(tmp_path, capsys):
    run = tmp_path / "run"
    zoo.save(tiny("dcgan"), run)
    out = tmp_path / "exported"
    code = cli.main(["export", str(run), "--formats", "tflite", "--quantize", "float32,int8",
                     "--threads", "1,2", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "generator_int8.tflite" in printed and "export_report.json" in printed
    report = json.load(open(out / export.REPORT_FILE))
    assert [a["quantization"] for a in report["artifacts"]] == ["float32", "int8"]
    assert set(report["artifacts"][0]["latency_ms_per_image"]) == {"1", "2"}
    assert report["source"] == str(run)


def test_cli_export_refuses_int8_cyclegan_without_calibration_data(tmp_path, capsys):
    run = tmp_path / "run"
    zoo.save(tiny("cyclegan"), run)
    code = cli.main(["export", str(run), "--quantize", "int8", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "--calibration-data" in capsys.readouterr().err


def test_cli_export_calibrates_int8_cyclegan_on_a_small_photo_folder(tmp_path, capsys):
    from PIL import Image

    run, photos = tmp_path / "run", tmp_path / "photos"
    zoo.save(tiny("cyclegan"), run)
    photos.mkdir()
    for i in range(3):  # fewer photos than any batch: all of them are used
        pixels = np.random.default_rng(i).integers(0, 256, (20, 30, 3), "uint8")
        Image.fromarray(pixels).save(photos / f"p{i}.png")
    code = cli.main(["export", str(run), "--formats", "tflite", "--quantize", "int8",
                     "--direction", "b2a", "--calibration-data", str(photos),
                     "--out", str(tmp_path / "x")])
    assert code == 0, capsys.readouterr().err
    report = json.load(open(tmp_path / "x" / export.REPORT_FILE))
    assert [(a["name"], a["quantization"]) for a in report["artifacts"]] == [("b2a", "int8")]


def test_a_model_built_without_the_zoo_exports(tmp_path):
    # Its report has no architecture name (None); it used to fail looking for one.
    from kerasgan import GAN
    from kerasgan.models import dcgan

    gan = GAN(dcgan.dcgan_generator(32, 3, 8, 4), dcgan.dcgan_discriminator(32, 3, 4))
    report = export.export(gan, str(tmp_path), formats=["tflite"], quantizations=["float32"])
    assert report["architecture"] is None
    assert report["artifacts"][0]["within_tolerance"]
