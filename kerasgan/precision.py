"""Training precision: float32, or mixed bfloat16/float16 compute with float32 weights.

A model's networks are switched in place, layer by layer (Keras reads a layer's dtype
policy at call time), so the user's references to `gan.generator` stay valid. The layers
that make each network's outputs keep float32 (the generator's images, the discriminator's
logits; behind a final Reshape/Flatten the layer before it too), and the losses and
penalties are computed from those float32 outputs. Saved configs are always written with
float32 layers: the precision is a training setting, kept in the compile config, so an
exported or sampled model computes in float32.
"""
import contextlib
import os

import keras
import tensorflow as tf

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# Forces what "auto" resolves to, on any machine (e.g. to run the test suite both ways:
# bfloat16 without the hardware is emulated, and slow).
AUTO_ENV = "KERASGAN_AUTO_PRECISION"
# Layers that only reshape: the layer before one of these at an output also keeps float32.
_SHAPE_ONLY = (keras.layers.Reshape, keras.layers.Flatten)


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bfloat16():
    """(True/False, why): whether this machine computes bfloat16 natively.

    GPUs of compute capability 8.0 or newer (Ampere on); CPUs with AVX512-BF16 or AMX
    (read from /proc/cpuinfo, so Linux only). Without these bfloat16 is emulated, and
    slower than float32 (measured in docs/benchmarks.md).
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return True, f"GPU of compute capability {capability[0]}.{capability[1]}"
        return False, f"GPU of compute capability {capability} (bfloat16 needs 8.0 or newer)"
    flags = _cpu_flags() & {"avx512_bf16", "amx_bf16"}
    if flags:
        return True, "CPU with " + ", ".join(sorted(flags))
    return False, "CPU without AVX512-BF16 or AMX" if os.path.exists("/proc/cpuinfo") \
        else "CPU (flags unknown off Linux)"


def auto():
    """(policy, why): what `precision="auto"` picks here, and the reason.

    `$KERASGAN_AUTO_PRECISION` (float32, mixed_bfloat16 or mixed_float16) overrides the
    hardware's answer; otherwise bfloat16 where it is native, else float32.
    """
    forced = os.environ.get(AUTO_ENV)
    if forced:
        if forced not in PRECISIONS[1:]:
            raise ValueError(f"{AUTO_ENV} must be one of {', '.join(PRECISIONS[1:])}, "
                             f"got {forced!r}.")
        return forced, f"forced by {AUTO_ENV}"
    native, why = native_bfloat16()
    return ("mixed_bfloat16" if native else "float32"), why


def resolve(precision):
    """The policy name `precision` means on this machine ("auto" -> bfloat16 or float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    return auto()[0] if precision == "auto" else precision


def _layers(network):
    return [layer for layer in network._flatten_layers(include_self=False, recursive=True)
            if not isinstance(layer, keras.layers.InputLayer)]


def _output_layers(network):
    """The layers that make `network`'s outputs (through a final Reshape/Flatten)."""
    keep = []
    for output in getattr(network, "outputs", None) or []:
        layer, node_index, _ = output._keras_history
        while True:
            keep.append(layer)
            inbound = layer._inbound_nodes[node_index].input_tensors
            if not isinstance(layer, _SHAPE_ONLY) or len(inbound) != 1:
                break
            layer, node_index, _ = inbound[0]._keras_history
    return keep


def apply(network, policy):
    """Sets every layer of `network` to `policy`, but its output layers to float32.

    Nested networks (StyleGAN's mapping and synthesis) are treated as networks of their
    own: their outputs stay float32 too.
    """
    keep = {id(layer) for layer in _output_layers(network)}
    for layer in network.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if getattr(layer, "layers", None) is not None:  # a nested network
            apply(layer, policy)
        else:
            layer.dtype_policy = "float32" if id(layer) in keep else policy


def prepare(precision, networks):
    """Resolves `precision` and applies it to every one of `networks`; returns the policy."""
    policy = resolve(precision)
    for network in networks:
        apply(network, policy)
    return policy


@contextlib.contextmanager
def float32_layers(*networks):
    """Within the block every layer of `networks` computes in float32 (then restored)."""
    saved = [(layer, layer.dtype_policy) for network in networks for layer in _layers(network)]
    try:
        for layer, _ in saved:
            layer.dtype_policy = "float32"
        yield
    finally:
        for layer, policy in saved:
            layer.dtype_policy = policy


def loss_scaled(optimizer, policy):
    """`optimizer` wrapped in dynamic loss scaling for float16, as it is otherwise."""
    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def unwrapped(optimizer):
    """The optimizer inside a loss-scaling wrapper (what a compile config stores)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer
