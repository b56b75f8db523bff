"""The architecture registry as data: name -> where its builder is, its task, its default
image size and its test-sized config.

The built-in architectures are rows of `BUILT_IN`, read without importing their model
files, so `kerasgan list` and argument checks answer without TensorFlow; a builder's module
is imported when a model is built (`builder(name)`). Architectures of other packages are
added at run time with `kerasgan.zoo.register` (their builder function itself is stored).
Adding a built-in architecture: its file in `kerasgan/models/` and one row here
(tests/test_registry.py checks each row against its builder).

This module imports nothing of kerasgan and no TensorFlow.
"""
import dataclasses
import importlib
import inspect
import types

TASKS = ("generation", "translation", "inpainting")  # latents -> images; images -> images;
# a damaged image and its mask -> the image


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One registry row.

    Attributes:
        name: the registry name, e.g. "dcgan".
        builder: "module:function" (built-in, imported when first needed) or the builder
            function itself (registered at run time). `builder(**config) -> model`.
        task: one of `TASKS`.
        image_size: the builder's default image size (what `kerasgan list` shows).
        tiny: a config that builds and trains in seconds; the shared tests run every
            registered architecture with it.
        paired: a translation model that learns from aligned pairs of images (matched by
            file name: `kerasgan.data.paired_dataset`), not from two unpaired folders.
        batch_size: the batch its recipe was measured with: what `kerasgan train` uses
            when `--batch-size` is not given.
    """

    name: str
    builder: object
    task: str = "generation"
    image_size: int | None = None
    tiny: types.MappingProxyType = dataclasses.field(default_factory=dict)  # read-only once made
    paired: bool = False
    batch_size: int = 64

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"kind must be one of {TASKS}, got {self.task!r}.")
        object.__setattr__(self, "tiny", types.MappingProxyType(dict(self.tiny)))
        if self.paired and self.task != "translation":
            raise ValueError(f"paired is for translation models, not {self.task!r} ones.")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) \
                or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}.")


BUILT_IN = (
    Architecture("cut", "kerasgan.models.cut:cut", "translation", 128,
                 {"image_size": 16, "base_channels": 4, "n_blocks": 1, "d_layers": 2,
                  "num_patches": 8, "mlp_units": 8}, batch_size=1),  # CUT's batch
    Architecture("cyclegan", "kerasgan.models.cyclegan:cyclegan", "translation", 128,
                 {"image_size": 16, "base_channels": 4, "n_blocks": 1, "d_layers": 2,
                  "pool_size": 4}, batch_size=1),  # the paper's and the preset's batch
    Architecture("dcgan", "kerasgan.models.dcgan:dcgan", "generation", 64,
                 {"image_size": 32, "base_channels": 4, "latent_dim": 8}),
    Architecture("fastgan", "kerasgan.models.fastgan:fastgan", "generation", 64,
                 {"image_size": 32, "latent_dim": 8, "base_channels": 1, "d_base_channels": 1,
                  "decoder_channels": 2}, batch_size=16),  # measured against 8 and the peer
    Architecture("inpainting", "kerasgan.models.inpainting:inpainting", "inpainting", 64,
                 {"image_size": 16, "base_channels": 4, "depth": 2, "d_base_channels": 4,
                  "d_layers": 2}, batch_size=16),  # its preset's and docs' recipe
    Architecture("pix2pix", "kerasgan.models.pix2pix:pix2pix", "translation", 128,
                 {"image_size": 16, "base_channels": 4, "depth": 2, "d_base_channels": 4,
                  "d_layers": 2}, paired=True, batch_size=16),  # docs/paired.md's recipe
    Architecture("stylegan_lite", "kerasgan.models.stylegan:stylegan_lite", "generation", 64,
                 {"image_size": 32, "latent_dim": 8, "w_dim": 8, "mapping_layers": 2,
                  "channel_base": 256, "max_channels": 8}),
    Architecture("vanilla", "kerasgan.models.vanilla:vanilla", "generation", 28,
                 {"image_size": 8, "channels": 1, "latent_dim": 8}),
)

# What every builder passes on to the model (`**gan_kwargs`) besides its own arguments.
MODEL_ARGUMENTS = ("d_steps", "ema_decay", "seed", "name")

_REGISTRY = {architecture.name: architecture for architecture in BUILT_IN}


def add(architecture):
    """Registers `architecture` (an `Architecture`); a name already taken is refused."""
    if architecture.name in _REGISTRY:
        raise ValueError(f"Architecture {architecture.name!r} is already registered.")
    _REGISTRY[architecture.name] = architecture


def from_builder(name, builder, task="generation", tiny=None, paired=False, batch_size=64):
    """The `Architecture` of a builder function registered at run time: its default image
    size is read from its signature."""
    parameter = inspect.signature(builder).parameters.get("image_size")
    image_size = None if parameter is None or parameter.default is inspect.Parameter.empty \
        else parameter.default
    return Architecture(name, builder, task, image_size, tiny or {}, paired, batch_size)


def names(task=None):
    """The registered names, sorted; only those of `task` if given."""
    return sorted(name for name, architecture in _REGISTRY.items()
                  if task is None or architecture.task == task)


def get(name):
    """The `Architecture` registered as `name`; ValueError naming the valid ones if none."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        raise ValueError(f"Unknown architecture {name!r}; valid names: "
                         f"{', '.join(names())}.") from None


def resolve_config(name, config):
    """The full builder config of `name`: its defaults filled in from the builder's
    signature, unknown arguments refused (ValueError naming the valid ones)."""
    params = inspect.signature(builder(name)).parameters
    known = [p for p in params if params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    unknown = sorted(set(config) - set(known) - set(MODEL_ARGUMENTS))
    if unknown:
        raise ValueError(f"Unknown argument(s) {unknown} for architecture {name!r}; "
                         f"valid: {known + [a for a in MODEL_ARGUMENTS if a != 'name']}.")
    resolved = {p: params[p].default for p in known}
    resolved.update(config)
    return {key: _jsonable(value) for key, value in resolved.items()}


def _jsonable(value):
    """Tuples as lists, as JSON reads them back: a saved config equals the resolved one."""
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def builder(name):
    """The builder function of `name`, importing its module the first time (TensorFlow)."""
    target = get(name).builder
    if not isinstance(target, str):
        return target
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)
