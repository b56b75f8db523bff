"""Overlapping tiles for running image-to-image networks on images of any size in bounded
memory, shared by CycleGAN's `translate` and the inpainting model's `restore`.

`tile_layout` places the tiles along one axis (on the grid of a generator's two stride-2
layers, as a whole-image pass sees it), `tile_weights` blends them (a partition of unity:
raised-cosine ramps in the overlaps), and `tiles` walks an image's tiles with their 2-D
weights: a caller runs its network on each and adds `output * weight` into its result.
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
