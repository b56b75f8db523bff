"""Pretrained presets: found by name (checkout, wheel, cache, URL), verified, fine-tunable."""
import inspect
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import image_batches
from kerasgan import cli, zoo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "export", "golden")
PRESETS = zoo.list(pretrained=True)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache of presets."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(zoo.CACHE_ENV, str(directory))
    return directory


def tiny_preset(folder, arch="dcgan", **metadata):
    gan = zoo.create(arch, **zoo.tiny_config(arch), seed=0)
    gan.compile()
    zoo.save_preset(gan, str(folder), {"name": os.path.basename(folder), **metadata},
                    card="# tiny\n")
    return gan


@pytest.fixture(scope="module")
def presets():
    """`presets(name)`: `zoo.load(name)`, loaded once per module and shared (read-only) by
    the golden-output and the installed-wheel tests."""
    loaded = {}

    def get(name):
        if name not in loaded:
            loaded[name] = zoo.load(name)
        return loaded[name]
    return get


def flip_a_byte(path):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))


@pytest.mark.auto_precision
def test_a_cached_preset_loads_by_name_and_lists(cache):
    gan = tiny_preset(cache / "my_tiny")
    assert "my_tiny" in zoo.list(pretrained=True)
    assert "my_tiny" in zoo.list(pretrained=True, kind="generation")
    assert "my_tiny" not in zoo.list(pretrained=True, kind="translation")
    loaded = zoo.load("my_tiny")
    np.testing.assert_array_equal(loaded.generate(3, seed=0), gan.generate(3, seed=0))
    metadata = json.load(open(cache / "my_tiny" / zoo.METADATA_FILE))
    assert set(metadata["files"]) == {"README.md", "config.json", "discriminator.weights.h5",
                                      "generator.weights.h5"}
    assert metadata["files"]["config.json"] == zoo.sha256(cache / "my_tiny" / "config.json")


def test_a_flipped_byte_is_refused_and_the_cached_copy_deleted(cache):
    tiny_preset(cache / "my_tiny")
    weights = cache / "my_tiny" / "generator.weights.h5"
    flip_a_byte(weights)
    with pytest.raises(zoo.PresetError, match="generator.weights.h5 failed its SHA-256 check"):
        zoo.load("my_tiny")
    assert not weights.exists()


def test_a_flipped_byte_in_an_explicit_preset_folder_is_refused_and_kept(tmp_path):
    tiny_preset(tmp_path / "p")
    flip_a_byte(tmp_path / "p" / "discriminator.weights.h5")
    with pytest.raises(zoo.PresetError, match="discriminator.weights.h5 failed"):
        zoo.load(str(tmp_path / "p"))
    assert (tmp_path / "p" / "discriminator.weights.h5").exists()  # not ours to delete


def test_an_unknown_name_lists_the_valid_names(cache):
    tiny_preset(cache / "my_tiny")
    with pytest.raises(zoo.PresetError) as error:
        zoo.load("no_such_preset")
    assert "my_tiny" in str(error.value) and "dcgan" in str(error.value)
    for name in PRESETS:
        assert name in str(error.value)


@pytest.mark.auto_precision
def test_missing_files_are_fetched_from_the_metadata_url_and_verified(cache, tmp_path):
    server = tmp_path / "server"
    url = (server / "hosted").as_uri()
    gan = tiny_preset(server / "hosted", url=url)
    os.makedirs(cache / "hosted")
    for name in ("metadata.json", "config.json"):
        shutil.copy(server / "hosted" / name, cache / "hosted")
    # A metadata "url" must be https:// (tests/test_security.py); a file:// one is used only
    # when the user passes it.
    with pytest.raises(zoo.PresetError, match="is not an https:// URL"):
        zoo.load("hosted")
    loaded = zoo.load("hosted", url=url)  # fetches the weights and the card
    np.testing.assert_array_equal(loaded.generate(2, seed=1), gan.generate(2, seed=1))
    assert (cache / "hosted" / "generator.weights.h5").exists()

    os.remove(cache / "hosted" / "generator.weights.h5")
    flip_a_byte(server / "hosted" / "generator.weights.h5")  # a tampered download
    with pytest.raises(zoo.PresetError, match="generator.weights.h5 failed its SHA-256"):
        zoo.load("hosted", url=url)
    assert not (cache / "hosted" / "generator.weights.h5").exists()


def test_a_preset_without_hashes_is_refused(cache):
    tiny_preset(cache / "my_tiny")
    path = cache / "my_tiny" / zoo.METADATA_FILE
    metadata = json.load(open(path))
    del metadata["files"]
    json.dump(metadata, open(path, "w"))
    with pytest.raises(zoo.PresetError, match="must list the SHA-256"):
        zoo.load("my_tiny")


# With the installed-wheel test: one pytest-xdist group (one worker), which loads each preset
# once (the `presets` fixture).
@pytest.mark.xdist_group("presets")
@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_by_name_and_matches_its_golden_output(name, presets):
    model = presets(name)  # zoo.load(name)
    metadata = json.load(open(os.path.join(zoo.preset_path(name), zoo.METADATA_FILE)))
    for key in ("name", "architecture", "licence", "data", "command", "steps", "wall_time_s",
                "hardware", "quality", "kerasgan_version"):
        assert key in metadata, key
    golden_dir = os.path.join(GOLDEN, name)
    for golden_file in sorted(os.listdir(golden_dir)):
        if not golden_file.startswith("golden_"):
            continue
        golden = np.load(os.path.join(golden_dir, golden_file))
        if model.task == "translation":
            direction = golden_file[len("golden_"):-len(".npz")]
            out = model.translate(golden["image"], direction=direction)
        elif model.task == "inpainting":
            out = model.restore(golden["image"], golden["mask"][..., 0] > 0.5)
        elif model.truncates:  # StyleGAN-lite: its noise inputs are in the golden file
            noise = [golden[f"noise_{i}"] for i in range(len(model.noise_shapes))]
            out = model.generate(latents=golden["latent"], noise=noise)
        else:  # a conditional generator's golden file holds its labels too
            labels = golden["label"] if model.num_classes else None
            out = model.generate(latents=golden["latent"], labels=labels)
        np.testing.assert_allclose(out, golden["expected_image"], atol=1e-4)
    if model.task == "generation":
        np.testing.assert_array_equal(model.generate(2, seed=0), model.generate(2, seed=0))


@pytest.mark.parametrize("name", PRESETS)
def test_preset_fine_tunes(name):
    model = zoo.load(name, for_training=True)
    # One step, run eagerly: what is checked here is that the preset's weights and saved
    # compile config (optimizers, schedule, pools) restore into a model that trains. Tracing
    # and optimising the train step's graph was most of this test's time (the 128 px
    # CycleGAN's ~30 s, the StyleGAN's ~17 s on 2 CPU cores). fit under tf.function is
    # checked on the tiny configs: after zoo.load(for_training=True) in tests/test_models.py,
    # CycleGAN's (with its LinearDecay schedule) in tests/test_cyclegan.py and test_cli.py.
    model.run_eagerly = True
    shape = model.image_shape
    if model.task == "translation":  # batch 1, the CycleGAN and CUT papers'
        import tensorflow as tf
        a = image_batches(shape, n=1, batch_size=1, seed=1)
        data = tf.data.Dataset.zip((a, image_batches(shape, n=1, batch_size=1, seed=2)))
        weights = model.export_signatures(directions=["a2b"])[0].model.trainable_weights  # G
    else:
        data = image_batches(shape, n=2, batch_size=2)
        if model.task == "generation" and model.num_classes:  # (images, labels) batches
            import tensorflow as tf
            data = tf.data.Dataset.zip((data, tf.data.Dataset.from_tensors(
                tf.constant([0, model.num_classes - 1], tf.int32))))
        weights = model.generator.trainable_weights
    before = [w.numpy().copy() for w in weights]
    history = model.fit(data, epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert max(np.abs(w.numpy() - b).max() for w, b in zip(weights, before)) > 0


def test_cli_samples_a_preset_by_name(cache, tmp_path, capsys):
    tiny_preset(cache / "my_tiny")
    assert cli.main(["sample", "my_tiny", "--n", "4", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").exists()
    assert cli.main(["sample", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "my_tiny" in capsys.readouterr().err


def wheel_check(m, np):
    """What each preset must give alike from this checkout and from an installed wheel (its
    source also runs in the wheel's subprocess)."""
    x = np.linspace(-1, 1, 2 * 16 * 16 * 3).reshape(2, 16, 16, 3).astype("float32")
    if m.task == "translation":
        return m.translate(x)
    if m.task == "inpainting":
        mask = np.zeros((2, 16, 16), bool)
        mask[:, 4:12, 3:10] = True
        return m.restore(x, mask)
    return m.generate(2, seed=0)


def preset_files(root):
    """{relative path: sha256} of the files of every preset folder under `root` (its source
    also runs in the wheel's subprocess, where `os` and `zoo` are imported)."""
    return {os.path.relpath(os.path.join(folder, name), root):
            zoo.sha256(os.path.join(folder, name))
            for folder, _, names in os.walk(root)
            if os.path.dirname(folder) == root and os.path.basename(folder) != "__pycache__"
            for name in names}


@pytest.mark.xdist_group("presets")
def test_presets_load_from_an_installed_wheel(tmp_path, presets):
    """A non-editable install: the presets travel inside the wheel (kerasgan/presets/), every
    file of every preset byte for byte, and one preset of each task loads from there and
    gives what it gives from this checkout."""
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # A copy, so that no build/ folder of earlier builds (stale files) gets into the wheel.
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "runs", "*.egg-info", "__pycache__", ".pytest_cache"))
    build = subprocess.Popen([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                              "--no-build-isolation", "-w", str(wheels), str(source)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # While pip builds: what this checkout's presets give (loaded once per module).
    one_per_task = {}
    for name in PRESETS:
        one_per_task.setdefault(presets(name).task, name)
    expected = {name: wheel_check(presets(name), np) for name in one_per_task.values()}
    log, _ = build.communicate(timeout=300)
    assert build.returncode == 0, log[-2000:]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), *map(str, wheels.glob("*.whl"))], check=True,
                   capture_output=True, timeout=300)
    script = (
        "import json, os, sys, numpy as np\n"
        "import kerasgan\n"
        "from kerasgan import presets, zoo\n"
        "assert kerasgan.__file__.startswith(sys.argv[1]), kerasgan.__file__\n"
        + inspect.getsource(wheel_check) + inspect.getsource(preset_files) +
        "out = {'names': zoo.list(pretrained=True),\n"
        "       'files': preset_files(os.path.dirname(presets.__file__)),\n"
        "       'images': {name: wheel_check(zoo.load(name), np).tolist()\n"
        "                  for name in sys.argv[3:]}}\n"
        "json.dump(out, open(sys.argv[2], 'w'))\n")
    env = {k: v for k, v in os.environ.items() if k != zoo.CACHE_ENV}
    env.update(PYTHONPATH=str(site), PYTHONNOUSERSITE="1")
    result = subprocess.run([sys.executable, "-c", script, str(site), str(tmp_path / "o.json"),
                             *expected], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    from_wheel = json.load(open(tmp_path / "o.json"))
    assert from_wheel["names"] == PRESETS
    in_checkout = preset_files(os.path.join(REPO, "zoo"))
    assert from_wheel["files"] == in_checkout
    assert sorted({path.split(os.sep)[0] for path in in_checkout}) == PRESETS
    assert sorted(from_wheel["images"]) == sorted(expected) and len(expected) == 3
    for name, images in from_wheel["images"].items():
        np.testing.assert_allclose(np.array(images), expected[name], atol=1e-6)
