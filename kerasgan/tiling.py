"""Overlapping tiles for running image-to-image networks on images of any size in bounded
memory, shared by CycleGAN's `translate`, the inpainting model's `restore` and pix2pix's
`translate`.

`tile_layout` places the tiles along one axis (on the grid of a generator's two stride-2
layers, as a whole-image pass sees it), `tile_weights` blends them (a partition of unity:
raised-cosine ramps in the overlaps), and `tiles` walks an image's tiles with their 2-D
weights: a caller runs its network on each and adds `output * weight` into its result.
`run_at_stride` and `run_tiled` do that for the U-Net generators (inpainting, pix2pix).
"""
import numpy as np

TILE_SIZE = 512  # default tile side: ~0.6 GB of working memory for cyclegan_photo2painting
TILE_OVERLAP = 64  # default least overlap of neighbouring tiles (blended over its middle half)


def padded_side(size):
    """The side the ResNet generator is run at: a multiple of 4 (two stride-2 downsamplings
    and two 2x upsamplings give back the input size only then), at least 8."""
    return max(8, -(-size // 4) * 4)


def check_tile_settings(tile_size, overlap):
    """`(tile_size, overlap)` with their defaults filled in; ValueError for a bad one."""
    if tile_size is None:
        tile_size = TILE_SIZE
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) \
            or tile_size < 16 or tile_size % 4:
        raise ValueError(f"tile_size must be a multiple of 4 and at least 16 (the generator "
                         f"downsamples twice by 2), got {tile_size!r}.")
    if overlap is None:
        overlap = min(TILE_OVERLAP, tile_size // 16 * 4)
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) \
            or overlap < 4 or overlap % 4 or 2 * overlap >= tile_size:
        raise ValueError(f"overlap must be a multiple of 4, at least 4 and less than "
                         f"tile_size / 2 = {tile_size // 2}, got {overlap!r}.")
    return int(tile_size), int(overlap)


def tile_layout(size, tile_size=TILE_SIZE, overlap=TILE_OVERLAP):
    """The tiles along one image axis of `size` pixels: a list of `(start, stop)`.

    The axis is seen as `translate` pads it for a whole-image pass: reflection-padded to a
    multiple of 4 (`(padded - size) // 2` pixels before), so a tile may begin up to 3 pixels
    before 0 or end up to 4 after `size`; those pixels are reflection padding. One tile of
    the whole padded axis when it is at most `tile_size`; else the fewest tiles of exactly
    `tile_size` pixels, spread evenly, overlapping their neighbours by at least `overlap`,
    all beginning at multiples of 4 of the padded axis: on the grid of the generator's two
    stride-2 layers, as in a whole-image pass.
    """
    padded = padded_side(size)
    before = (padded - size) // 2
    if padded <= tile_size:
        return [(-before, padded - before)]
    n = -(-(padded - overlap) // (tile_size - overlap))
    starts = [4 * round(k * (padded - tile_size) / (4 * (n - 1))) for k in range(n)]
    return [(s - before, s - before + tile_size) for s in starts]


def tile_weights(size, tiles, overlap=TILE_OVERLAP):
    """The blending weights along one axis: one float64 array per tile of `tile_layout`,
    over the tile's part inside the image (`max(start, 0)` to `min(stop, size)`).

    Where two neighbouring tiles overlap, the later one's weight rises as a raised cosine
    (sin^2) over `overlap // 2` pixels centred in their overlap while the earlier one's
    falls as its complement (cos^2); elsewhere a tile's weight is 1 in its own part and 0
    beyond its neighbour's ramp, so every tile contributes only at least `overlap / 4`
    pixels inside its cut edges (away from the context it lacks there). The weights are
    divided by their sum over the tiles (1 already, up to rounding), so they sum to 1 at
    every pixel: a partition of unity, never 0 for all tiles. A tile's 2-D weight is the
    outer product of its two axes' weights and sums to 1 as well, so no image-sized weight
    array is needed.
    """
    ramp = overlap // 2
    centre = np.arange(size) + 0.5  # pixel centres
    rises = [np.ones(size)]  # rises[k]: tile k's rising edge, 0 before its ramp, 1 after
    for (_, prev_stop), (start, _) in zip(tiles, tiles[1:]):
        middle = (start + prev_stop) / 2
        t = np.clip((centre - (middle - ramp / 2)) / ramp, 0.0, 1.0)
        rises.append(np.sin(0.5 * np.pi * t) ** 2)
    rises.append(np.zeros(size))
    weights = [rises[k] * (1.0 - rises[k + 1]) for k in range(len(tiles))]
    total = np.sum(weights, axis=0)
    if not np.all(total > 0.5):  # never with tile_layout's tiles: every pixel is covered
        raise AssertionError("the tile weights leave pixels uncovered")
    return [(w / total)[max(start, 0):min(stop, size)] for w, (start, stop) in zip(weights, tiles)]


def tiles(height, width, tile_size=TILE_SIZE, overlap=TILE_OVERLAP):
    """The tiles of a `height` x `width` image: per tile `(top, bottom, left, right)` (which
    may reach up to 4 px beyond the image: padding, see `tile_layout`) and its blending
    weight over its part inside the image, float32 `(min(bottom, H) - max(top, 0), ..., 1)`.
    The weights of all tiles sum to 1 at every pixel."""
    rows, cols = tile_layout(height, tile_size, overlap), tile_layout(width, tile_size, overlap)
    row_weights = tile_weights(height, rows, overlap)
    col_weights = tile_weights(width, cols, overlap)
    for (top, bottom), wy in zip(rows, row_weights):
        for (left, right), wx in zip(cols, col_weights):
            yield (top, bottom, left, right), np.outer(wy, wx).astype("float32")[:, :, None]


def image_batch(images, channels):
    """`(batch, single)`: `images` (`(n, H, W, channels)` or one `(H, W, channels)`, floats
    in [-1, 1]) as a float32 batch, and whether one image was given; ValueError in one line
    for another shape, dtype or an empty image."""
    x = np.asarray(images)
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (n, H, W, {channels}) or (H, W, {channels}), "
                         f"got {np.shape(images)}.")
    if x.shape[-1] != channels:
        raise ValueError(f"images must have {channels} channels (shape (n, H, W, {channels})), "
                         f"got {x.shape[-1]} (shape {x.shape}).")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"images must be floats in [-1, 1], got dtype {x.dtype}; scale uint8 "
                         "pixels with x / 127.5 - 1.")
    if 0 in x.shape:
        raise ValueError(f"images must be non-empty, got shape {x.shape}.")
    return x.astype("float32", copy=False), single


def stride_tile_settings(tile_size, overlap, stride):
    """`(tile_size, overlap)` of a U-Net of `stride` with defaults filled in (the default tile,
    512, is a multiple of every such stride); ValueError for a tile off the stride."""
    tile_size = TILE_SIZE if tile_size is None else tile_size
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) \
            or tile_size < stride or tile_size % stride:
        raise ValueError(f"tile_size must be a multiple of {stride}, got {tile_size!r}.")
    overlap = min(TILE_OVERLAP, tile_size // 16 * 4) if overlap is None else overlap
    return int(tile_size), overlap


def run_at_stride(net, arrays, stride):
    """`net` on a batch of any H, W (`arrays`: its inputs, each `(n, H, W, c)`): each
    reflection-padded (edge-padded when too small to reflect) to a multiple of `stride`, run
    in float32, cropped back; float32 numpy `(n, H, W, C)`. For the U-Net generators of the
    inpainting and pix2pix models, which give back the input size only at their stride."""
    h, w = arrays[0].shape[1], arrays[0].shape[2]
    ph, pw = -h % stride, -w % stride
    pad = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
        arrays = [np.pad(x, pad, mode=mode) for x in arrays]
    y = np.asarray(net(arrays[0] if len(arrays) == 1 else list(arrays), training=False))
    return y[:, pad[1][0]:pad[1][0] + h, pad[2][0]:pad[2][0] + w].astype("float32", copy=False)


def run_tiled(net, arrays, out, stride, tile_size, overlap):
    """One image's `net` output written tile by tile into `out` (zeros, `(H, W, C)`):
    `arrays` are its inputs `(H, W, c)`; each tile is run by `run_at_stride` and added with
    its blending weight (`tiles`), so memory is bounded by the tile."""
    height, width = arrays[0].shape[:2]
    for (top, bottom, left, right), weight in tiles(height, width, tile_size, overlap):
        y0, y1, x0, x1 = max(top, 0), min(bottom, height), max(left, 0), min(right, width)
        y = run_at_stride(net, [x[None, y0:y1, x0:x1] for x in arrays], stride)[0]
        out[y0:y1, x0:x1] += y * weight


def box_downscale(image, max_pixels):
    """`image` (H, W, C) averaged over f x f blocks, the least integer f that leaves at most
    `max_pixels` pixels (the last H % f rows and W % f columns are left out; blocks of the
    whole height or width for a long thin strip); float32. Strip by strip, so that no
    image-sized temporary is made."""
    h, w, c = image.shape
    f_h = f_w = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
    if f_h > h:  # a long thin strip: one row of blocks h high
        f_h, f_w = h, -(-w // max_pixels)
    elif f_w > w:
        f_h, f_w = -(-h // max_pixels), w
    oh, ow = h // f_h, w // f_w
    small = np.empty((oh, ow, c), "float32")
    rows = max(1, (1 << 24) // (f_h * ow * f_w * c))  # ~64 MB of float32 per strip
    for r in range(0, oh, rows):
        strip = np.asarray(image[r * f_h:min(oh, r + rows) * f_h, :ow * f_w], "float32")
        small[r:r + rows] = strip.reshape(-1, f_h, ow, f_w, c).mean(axis=(1, 3))
    return small
