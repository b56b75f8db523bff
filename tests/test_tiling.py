"""CycleGAN.translate on large images: overlapping tiles, blended, in bounded memory."""
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import layers

from kerasgan import tiling, zoo
from kerasgan.models.cyclegan import CycleGAN, CycleGANReflectionPadding2D, patch_discriminator
from kerasgan.tiling import tile_layout, tile_weights

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TILE, OVERLAP = 128, 32  # small tiles, so that small test images are tiled


def tiny(**overrides):
    return zoo.create("cyclegan", **{**zoo.tiny_config("cyclegan"), "seed": 3, **overrides})


def with_generator(body):
    """A CycleGAN whose G is `inputs -> body(inputs)` (its F and discriminators: tiny ones)."""
    inputs = keras.Input((None, None, 3))
    generator = keras.Model(inputs, layers.Activation("tanh")(body(inputs)))
    return CycleGAN(generator, tiny().generator_b2a, patch_discriminator(3, 4, 2),
                    patch_discriminator(3, 4, 2), image_size=16, pool_size=0)


def smooth_image(h, w, seed=0):
    """Smooth colour waves in [-0.8, 0.8]: little natural change from pixel to pixel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 60.0
    phases = rng.uniform(0, 2 * np.pi, 3)
    return 0.8 * np.stack([np.sin(xx + 0.3 * yy + phases[0]),
                           np.cos(0.7 * yy - 0.2 * xx + phases[1]),
                           np.sin(0.5 * (xx + yy) + phases[2])], -1).astype("float32")


def seam_ratio(image, row_bands, col_bands, margin=16, reach=16):
    """The largest ratio, over the lines (steps) in `*_bands`, of the mean absolute step
    between adjacent rows/columns to the median step of nearby lines (those 4, 8, ...
    `reach` lines away: the same phase of the generator's stride-4 grid, which leaves a
    period-4 texture). `*_bands` are lists of `(first, stop)` step indices; step i is between
    pixel i and i + 1. A seam is a line that steps more than its neighbours: a high ratio.
    Lines within `margin` of the image's borders (its reflection padding) are left out."""
    worst = 0.0
    for axis, bands in ((0, row_bands), (1, col_bands)):
        steps = np.abs(np.diff(image, axis=axis)).mean(axis=(1 - axis, 2))
        for first, stop in bands:
            for i in range(max(first, margin), min(stop, len(steps) - margin)):
                near = [steps[j] for j in range(i - reach, i + reach + 1, 4)
                        if j != i and 0 <= j < len(steps)]
                worst = max(worst, steps[i] / np.median(near))
    return worst


def overlap_bands(size):
    """Where neighbouring tiles overlap (the tiled translation's blends are inside)."""
    tiles = tile_layout(size, TILE, OVERLAP)
    return [(start, stop) for (_, stop), (start, _) in zip(tiles, tiles[1:])]


# ---------------------------------------------------------------------------- the layout
@pytest.mark.parametrize("tile_size,overlap", [(512, 64), (128, 32), (16, 4), (64, 28)])
def test_tiles_cover_the_axis_on_the_stride_grid_with_weights_summing_to_one(tile_size, overlap):
    for size in list(range(1, 1400, 7)) + [4000, 9999, 13001]:
        tiles = tile_layout(size, tile_size, overlap)
        weights = tile_weights(size, tiles, overlap)
        padded = max(8, -(-size // 4) * 4)
        before = (padded - size) // 2  # as a whole-image pass pads
        assert tiles[0][0] == -before and tiles[-1][1] == padded - before
        assert all((start + before) % 4 == 0 for start, _ in tiles)  # the stride-4 grid
        if len(tiles) > 1:
            assert all(stop - start == tile_size for start, stop in tiles)
            assert min(a_stop - b_start for (_, a_stop), (b_start, _)
                       in zip(tiles, tiles[1:])) >= overlap
        total = np.zeros(size)
        for (start, stop), w in zip(tiles, weights):
            lo, hi = max(start, 0), min(stop, size)
            assert w.shape == (hi - lo,) and np.all(w >= 0)
            total[lo:hi] += w
            used = np.nonzero(w)[0] + lo  # contributes only overlap / 4 inside its cut edges
            if start > 0:
                assert used[0] - start >= overlap // 4
            if stop < size:
                assert stop - 1 - used[-1] >= overlap // 4
            assert np.abs(np.diff(w)).max(initial=0) < 4.0 / overlap  # a smooth ramp
        np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_bad_tile_settings_are_refused():
    model, x = tiny(), np.zeros((8, 8, 3), "float32")
    for bad in (0, 15, 18, 2.0 * TILE, True):
        with pytest.raises(ValueError, match="tile_size must be a multiple of 4"):
            model.translate(x, tile_size=bad)
    for bad in (0, 2, 6, 64, 100):
        with pytest.raises(ValueError, match="overlap must be a multiple of 4"):
            model.translate(x, tile_size=TILE, overlap=bad)


# ---------------------------------------------------------------------------- translate
def test_tiled_translation_keeps_odd_shapes_and_batches():
    model = tiny()
    x = np.random.default_rng(0).uniform(-1, 1, (2, 301, 517, 3)).astype("float32")
    for direction in ("a2b", "b2a"):
        y = model.translate(x, direction, tile_size=TILE, overlap=OVERLAP)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1)
    np.testing.assert_allclose(model.translate(x[1], tile_size=TILE, overlap=OVERLAP),
                               model.translate(x, tile_size=TILE, overlap=OVERLAP)[1], atol=1e-6)
    big = np.random.default_rng(1).uniform(-1, 1, (700, 700, 3)).astype("float32")
    for shape in ((1, 700, 3), (700, 1, 3), (5, 300, 3), (130, 129, 3)):  # strips, barely tiled
        y = model.translate(big[:shape[0], :shape[1]], tile_size=TILE, overlap=OVERLAP)
        assert y.shape == shape and np.all(np.isfinite(y)), shape
    # float64 input: cast tile by tile
    assert model.translate(x[0].astype("float64"), tile_size=TILE).dtype == np.float32


def test_default_tile_size_leaves_small_images_whole():
    model = tiny()
    x = np.random.default_rng(1).uniform(-1, 1, (1, 512, 300, 3)).astype("float32")
    whole = model.translate(x, tile_size=1024)  # the whole-image path, as before tiling
    np.testing.assert_array_equal(model.translate(x), whole)  # 512 px: not tiled by default
    assert not np.allclose(model.translate(x, tile_size=256), whole, atol=1e-4)  # tiled


def test_tiled_equals_whole_for_a_local_generator_with_strides():
    """A generator whose output at a pixel depends only on pixels ~8 px away or closer (3x3
    convolutions, two stride-2 down and two up, as the ResNet generator): tiles blended only
    >= overlap / 4 = 12 px inside their cut edges, on the stride-4 grid, give exactly the
    whole-image result."""

    def body(x):
        x = layers.Conv2D(8, 3)(CycleGANReflectionPadding2D(1)(x))
        for _ in range(2):
            x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        for _ in range(2):
            x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
        return layers.Conv2D(3, 1)(x)

    model = with_generator(body)
    x = np.random.default_rng(2).uniform(-1, 1, (301, 517, 3)).astype("float32")
    whole = model.translate(x, tile_size=1024)
    tiled = model.translate(x, tile_size=TILE, overlap=48)
    assert np.abs(tiled - whole).max() < 1e-5
    # Teeth: a tile on the grid matches the whole image away from its cut edges, one 2 px
    # off it does not (the rows are whole: padded as the whole image is).
    (start, _), = [t for t in tile_layout(517, TILE, 48) if t[0] > 0][:1]
    for shift, matches in ((0, True), (2, False)):
        left = start + shift
        part = model.translate(x[:, left:left + TILE], tile_size=1024)[:, 16:-16]
        error = np.abs(part - whole[:, left + 16:left + TILE - 16]).max()
        assert (error < 1e-5) == matches, (shift, error)


def test_tiles_share_the_images_instance_norm_statistics():
    """Per-pixel layers and an instance norm: with statistics shared by the tiles, tiled equals
    whole (the box-filtered copy the statistics come from has the same statistics as this
    image of 4x4 blocks); tiles normalised by their own statistics would not."""

    def body(x):
        x = layers.Conv2D(8, 1)(x)
        x = layers.ReLU()(layers.GroupNormalization(groups=-1, epsilon=1e-5)(x))
        return layers.Conv2D(3, 1)(x)

    model = with_generator(body)
    blocks = np.random.default_rng(3).uniform(-0.5, 0.5, (76, 132, 3))
    blocks += np.linspace(-0.5, 0.5, 132)[None, :, None]  # darker on the left
    x = np.repeat(np.repeat(blocks.astype("float32"), 4, axis=0), 4, axis=1)  # 304 x 528
    whole = model.translate(x, tile_size=1024)
    tiled = model.translate(x, tile_size=TILE, overlap=OVERLAP)
    assert np.abs(tiled - whole).max() < 1e-5
    own = np.concatenate([model.translate(x[:, i:i + 176], tile_size=1024)
                          for i in range(0, 528, 176)], axis=1)  # each part its own statistics
    assert np.abs(own - whole).mean() > 0.05
    norm = model.generator_a2b.layers[2]
    assert isinstance(norm, layers.GroupNormalization) and "call" not in norm.__dict__  # restored


def test_tiled_translation_shows_no_seams():
    model = tiny(upsampling="resize")  # random transposed convolutions: a checkerboard only
    x = smooth_image(301, 517)
    tiled = model.translate(x, tile_size=TILE, overlap=OVERLAP)
    rows, cols = overlap_bands(301), overlap_bands(517)
    ratio = seam_ratio(tiled, rows, cols)
    whole = model.translate(x, tile_size=1024)
    # Measured 1.5 (the whole-image translation's own ratio at the same lines: 1.8); over 4
    # weight seeds x 2 images: 1.3-1.7, the broken versions below 4.5-35.
    assert seam_ratio(whole, rows, cols) < 3 and ratio < 3
    # Measured 0.038 (0.026-0.044 over seeds; 0.11 with each tile's own statistics).
    assert np.abs(tiled - whole).mean() < 0.07

    # Teeth. Naive tiling: non-overlapping tiles, each translated on its own (measured 6.8).
    naive = np.zeros_like(x)
    for top in range(0, 301, TILE):
        for left in range(0, 517, TILE):
            naive[top:top + TILE, left:left + TILE] = model.translate(
                x[top:top + TILE, left:left + TILE], tile_size=TILE)
    edges = lambda size: [(e - 1, e) for e in range(TILE, size, TILE)]  # noqa: E731
    assert seam_ratio(naive, edges(301), edges(517)) > 3
    # Overlapping tiles added up without the weights (measured 35).
    unweighted = lambda size, tiles, overlap: [  # noqa: E731
        np.ones(min(stop, size) - max(start, 0)) for start, stop in tiles]
    original = tiling.tile_weights
    try:
        tiling.tile_weights = unweighted
        broken = model.translate(x, tile_size=TILE, overlap=OVERLAP)
    finally:
        tiling.tile_weights = original
    assert seam_ratio(broken, rows, cols) > 3


def test_tiles_are_computed_in_float32_under_mixed_precision():
    model = tiny()
    x = smooth_image(150, 300)
    expected = model.translate(x, tile_size=TILE, overlap=OVERLAP)
    model.compile(precision="mixed_bfloat16", run_eagerly=True)
    assert model.generator_a2b.layers[2].dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_allclose(model.translate(x, tile_size=TILE, overlap=OVERLAP), expected,
                               atol=1e-5)
    small = model.translate(x[:64, :64])  # the whole-image path
    np.testing.assert_allclose(small, model.translate(x[:64, :64], tile_size=TILE), atol=1e-5)
    direct = keras.ops.convert_to_numpy(model.generator_a2b(x[None, :64, :64]))[0]
    assert np.abs(direct - small).max() > 1e-3  # the generator called directly: bfloat16
    assert model.generator_a2b.layers[2].dtype_policy.name == "mixed_bfloat16"  # restored


# ---------------------------------------------------------------------------- memory
MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from kerasgan import zoo

    def vm_bytes(field):
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field))

    model = zoo.create("cyclegan", **zoo.tiny_config("cyclegan"))
    model.translate(np.zeros((16, 16, 3), "float32"))  # TensorFlow and its threads set up
    x = np.random.default_rng(0).uniform(-1, 1, (1500, 2000, 3)).astype("float32")
    limit = vm_bytes("VmSize") + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    y = model.translate(x)  # tiles of 512
    assert y.shape == x.shape and np.isfinite(y).all()
    print("tiled: ok", flush=True)
    try:
        model.translate(x, tile_size=2000)  # the whole image at once
        print("whole: ok")
    except Exception as e:  # TensorFlow's ResourceExhaustedError (OOM), or a MemoryError
        print("whole: failed,", type(e).__name__)
""")


def test_tiled_translation_runs_in_bounded_address_space():
    """2000 x 1500 (3 Mpx) with the tiny CycleGAN, after set-up, under RLIMIT_AS = the
    process's address space + 0.5 GiB. Measured (TensorFlow 2.21, CPU, MALLOC_ARENA_MAX=2,
    peak VmPeak over VmSize after set-up): in tiles of 512, +0.17 GB at 1.5 Mpx, +0.19 GB at
    3 Mpx, +0.23 GB at 6 Mpx (+0.31 GB at 12 Mpx): flat; the whole image at once +0.61, +1.19,
    +2.36 GB: as the image. The limit passes the first with room and stops the second.
    Relative to the process's own size after set-up, so that what TensorFlow maps at start
    (1.7-2 GB here, more with more cores) does not matter."""
    env = dict(os.environ, MALLOC_ARENA_MAX="2",  # glibc: 64 MB of address space per arena
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(2**29)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert "tiled: ok" in result.stdout, result.stderr[-3000:]
    # The limit has teeth: the whole image at once fails, with an exception (measured here:
    # AbortedError), or a crash where an allocation failure goes unchecked (measured at
    # 6 Mpx under +1 GiB; under +1.5 GiB it raised).
    assert "whole: ok" not in result.stdout
    assert "whole: failed" in result.stdout or result.returncode != 0, result.stdout
