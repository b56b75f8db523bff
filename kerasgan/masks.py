"""Damage masks for self-supervised inpainting, drawn in the graph from stateless keys.

A mask is float32 `(batch, H, W, 1)`, 1 where pixels are missing. Each image of a batch gets
one family, chosen uniformly from `FAMILIES`:

- "cracks": 1-4 thin polylines, 1-3 px wide (cracks, scratches);
- "strokes": 1-4 thick free-form polylines, 5-15 % of the side wide (DeepFill v2's brush);
- "boxes": 1-3 axis-aligned rectangles, each side 10-40 % of the image's;
- "holes": one large ellipse covering about 15-40 % of the image.

Everything is a function of `key` (see `kerasgan.noise`): the same key gives the same masks,
so a resumed run draws the masks it would have drawn. Sizes scale with the image, so a
model trained at 64 px meets the same families at 256 px.
"""
import math

import tensorflow as tf

from kerasgan import noise

FAMILIES = ("cracks", "strokes", "boxes", "holes")
_VERTICES = 5  # polyline vertices (4 segments) per stroke
_STROKES = 4  # polylines drawn at most per image
_BOXES = 3


def _grid(h, w):
    """Pixel centres in [0, 1]: `(1, h, w)` rows and columns."""
    ys = (tf.range(h, dtype=tf.float32) + 0.5) / tf.cast(h, tf.float32)
    xs = (tf.range(w, dtype=tf.float32) + 0.5) / tf.cast(w, tf.float32)
    return ys[None, :, None], xs[None, None, :]


def _polylines(u, h, w, min_width, max_width):
    """`(n, h, w)` masks of up to `_STROKES` random polylines each, from uniforms `u`
    `(n, _STROKES, 2 + 2 * _VERTICES)`: [present, width, x0, y0, x1, y1, ...]. Steps between
    vertices are at most 30 % of the side, so a stroke wanders rather than jumps."""
    ys, xs = _grid(h, w)
    side = tf.cast(tf.minimum(h, w), tf.float32)
    out = tf.zeros(tf.stack([tf.shape(u)[0], h, w]))
    for s in range(_STROKES):
        present = tf.cast((u[:, s, 0] < 0.75) | (s == 0), tf.float32)  # the first always
        half = 0.5 * (min_width + (max_width - min_width) * u[:, s, 1]) / side
        px, py = u[:, s, 2], u[:, s, 3]
        for v in range(1, _VERTICES):
            qx = tf.clip_by_value(px + 0.6 * (u[:, s, 2 + 2 * v] - 0.5), 0.0, 1.0)
            qy = tf.clip_by_value(py + 0.6 * (u[:, s, 3 + 2 * v] - 0.5), 0.0, 1.0)
            # Distance of each pixel centre from segment p-q.
            dx, dy = (qx - px)[:, None, None], (qy - py)[:, None, None]
            length2 = tf.maximum(dx * dx + dy * dy, 1e-12)
            t = tf.clip_by_value(((xs - px[:, None, None]) * dx
                                  + (ys - py[:, None, None]) * dy) / length2, 0.0, 1.0)
            ex = xs - (px[:, None, None] + t * dx)
            ey = ys - (py[:, None, None] + t * dy)
            hit = tf.cast(ex * ex + ey * ey <= (half * half)[:, None, None], tf.float32)
            out = tf.maximum(out, hit * present[:, None, None])
            px, py = qx, qy
    return out


def _boxes(u, h, w):
    """`(n, h, w)` masks of 1-3 rectangles, sides 10-40 % of the image's."""
    ys, xs = _grid(h, w)
    out = tf.zeros(tf.stack([tf.shape(u)[0], h, w]))
    for b in range(_BOXES):
        present = tf.cast((u[:, b, 0] < 0.5) | (b == 0), tf.float32)
        bh, bw = 0.1 + 0.3 * u[:, b, 1], 0.1 + 0.3 * u[:, b, 2]
        top, left = u[:, b, 3] * (1.0 - bh), u[:, b, 4] * (1.0 - bw)
        inside = ((ys >= top[:, None, None]) & (ys < (top + bh)[:, None, None])
                  & (xs >= left[:, None, None]) & (xs < (left + bw)[:, None, None]))
        out = tf.maximum(out, tf.cast(inside, tf.float32) * present[:, None, None])
    return out


def _holes(u, h, w):
    """`(n, h, w)` masks of one ellipse covering 15-40 % of the image (inside it)."""
    ys, xs = _grid(h, w)
    area = 0.15 + 0.25 * u[:, 0]
    aspect = tf.exp((u[:, 1] - 0.5) * 1.0)  # width / height in [0.61, 1.65]
    ry = tf.sqrt(area / (math.pi * aspect))
    rx = ry * aspect
    cy = ry + u[:, 2] * tf.maximum(1.0 - 2.0 * ry, 0.0)
    cx = rx + u[:, 3] * tf.maximum(1.0 - 2.0 * rx, 0.0)
    d = (((ys - cy[:, None, None]) / ry[:, None, None]) ** 2
         + ((xs - cx[:, None, None]) / rx[:, None, None]) ** 2)
    return tf.cast(d <= 1.0, tf.float32)


def draw(key, batch_size, height, width, families=FAMILIES):
    """`(batch_size, height, width, 1)` float32 masks (1 = missing) for stateless `key`.

    Args:
        key: a stateless key, int64 `[2]` (e.g. `AdversarialModel.key(Stream.MASKS, draw)`).
        families: names from `FAMILIES` to choose from (uniformly, one per image).
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got "
                         f"{list(families)!r}.")
    n = tf.convert_to_tensor(batch_size, tf.int32)
    per_stroke = 2 + 2 * _VERTICES
    u = noise.uniform(tf.stack([n, 1 + 2 * _STROKES * per_stroke + _BOXES * 5 + 4]), key)
    side = tf.cast(tf.minimum(height, width), tf.float32)
    strokes_u = tf.reshape(u[:, 1:1 + 2 * _STROKES * per_stroke], [-1, 2, _STROKES, per_stroke])
    start = 1 + 2 * _STROKES * per_stroke
    made = {
        "cracks": lambda: _polylines(strokes_u[:, 0], height, width, 1.0, 3.0),
        "strokes": lambda: _polylines(strokes_u[:, 1], height, width, 0.05 * side, 0.15 * side),
        "boxes": lambda: _boxes(tf.reshape(u[:, start:start + _BOXES * 5], [-1, _BOXES, 5]),
                                height, width),
        "holes": lambda: _holes(u[:, start + _BOXES * 5:], height, width),
    }
    choice = tf.minimum(tf.cast(u[:, 0] * len(families), tf.int32), len(families) - 1)
    out = tf.zeros(tf.stack([n, height, width]))
    for i, family in enumerate(families):
        out = tf.where((choice == i)[:, None, None], made[family](), out)
    return out[..., None]


def family_of(key, batch_size, families=FAMILIES):
    """The family name `draw` chose for each image (for benchmarks and tests)."""
    n = tf.convert_to_tensor(batch_size, tf.int32)
    per_stroke = 2 + 2 * _VERTICES
    u = noise.uniform(tf.stack([n, 1 + 2 * _STROKES * per_stroke + _BOXES * 5 + 4]), key)
    choice = tf.minimum(tf.cast(u[:, 0] * len(families), tf.int32), len(families) - 1)
    return [families[i] for i in choice.numpy()]
