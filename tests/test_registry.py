"""The architecture registry as data, and the lazy package: names, kinds and listings are
read without TensorFlow; a model file is imported when a model is built."""
import inspect
import json
import os
import subprocess
import sys

import pytest

from kerasgan import architectures, zoo

MODELS_DIR = os.path.join(os.path.dirname(architectures.__file__), "models")


@pytest.mark.parametrize("row", architectures.BUILT_IN, ids=lambda row: row.name)
def test_each_built_in_row_matches_its_builder(row):
    parameters = inspect.signature(architectures.builder(row.name)).parameters
    assert parameters["image_size"].default == row.image_size
    assert set(row.tiny) <= set(parameters), "a tiny config key the builder does not take"
    assert zoo.resolve_config(row.name)["image_size"] == row.image_size


def test_every_model_file_has_a_registry_row():
    files = {name[:-3] for name in os.listdir(MODELS_DIR)
             if name.endswith(".py") and name != "__init__.py"}
    modules = {row.builder.split(":")[0].rsplit(".", 1)[1] for row in architectures.BUILT_IN}
    assert files == modules
    import kerasgan.models  # imports every model file: keras.models.load_model finds them
    assert set(kerasgan.models.__all__) == files


def test_an_architecture_of_ones_own_is_registered_listed_and_built(monkeypatch):
    monkeypatch.setattr(architectures, "_REGISTRY", dict(architectures._REGISTRY))  # undone after
    vanilla = architectures.builder("vanilla")

    @zoo.register("my_mlp", tiny={"image_size": 8, "latent_dim": 4}, kind="generation")
    def my_mlp(image_size=12, channels=1, latent_dim=16, **gan_kwargs):
        return vanilla(image_size=image_size, channels=channels, latent_dim=latent_dim,
                       **gan_kwargs)

    assert "my_mlp" in zoo.list() and "my_mlp" in zoo.list(kind="generation")
    assert zoo.kind("my_mlp") == "generation"
    assert architectures.get("my_mlp").image_size == 12
    gan = zoo.create("my_mlp", **zoo.tiny_config("my_mlp"))
    assert gan.image_shape == (8, 8, 1) and gan.spec["architecture"] == "my_mlp"
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("my_mlp")(my_mlp)
    with pytest.raises(ValueError, match="kind must be one of"):
        zoo.register("my_other", kind="music")


def test_an_unknown_architecture_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown architecture 'gan9000'; valid names: cut, cyclegan, "):
        zoo.kind("gan9000")


# Runs in a fresh interpreter: this test process has TensorFlow loaded already.
LAZY_PACKAGE = """
import json, sys
import kerasgan
from kerasgan import zoo
seen = {"version": kerasgan.__version__, "architectures": zoo.list(),
        "presets": zoo.list(pretrained=True), "kind": zoo.kind("cyclegan")}
seen["tensorflow_before"] = "tensorflow" in sys.modules or "keras" in sys.modules
seen["gan"] = kerasgan.GAN.__name__
seen["keras_after"] = "keras" in sys.modules
seen["model_files_after"] = "kerasgan.models.stylegan" in sys.modules
print(json.dumps(seen))
"""


def test_import_kerasgan_loads_tensorflow_only_when_a_keras_name_is_used():
    result = subprocess.run([sys.executable, "-c", LAZY_PACKAGE], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["architectures"] == zoo.list() and seen["kind"] == "translation"
    assert "dcgan_clipart64" in seen["presets"]
    assert not seen["tensorflow_before"]
    # kerasgan.GAN loads Keras and every model file: keras.models.load_model then finds
    # kerasgan's classes in a .keras file, as when `import kerasgan` loaded everything.
    assert seen["gan"] == "GAN" and seen["keras_after"] and seen["model_files_after"]
