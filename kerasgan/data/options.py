"""How images are to be shaped: `ImageOptions`, checked once when made.

Every source (a file, a folder, an array, a tensorflow-datasets split) turns its images into
the same thing: `image_size` x `image_size`, 1 or 3 channels, cropped or padded to a square,
transparency composited onto a background colour. The public functions make one
`ImageOptions` from their arguments and hand it down, so the checks run once, at the user's
call, and nothing below re-validates or carries the five values one by one.
"""
import dataclasses

import numpy as np

# Same default as Pillow's Image.MAX_IMAGE_PIXELS: larger headers are treated as
# decompression bombs and refused before any pixel is decoded.
MAX_PIXELS = 89_478_485
RESIZE_MODES = ("crop", "pad")


def is_positive_int(value):
    # bool is an int to Python, never a size to a user; numpy ints come from arrays' shapes.
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value > 0


def check_positive_int(value, name):
    if not is_positive_int(value):
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def luma(rgb):
    # ITU-R 601-2, the weights Pillow uses for RGB -> L.
    r, g, b = rgb
    return int(round((r * 299 + g * 587 + b * 114) / 1000))


def _background_rgb(background):
    if isinstance(background, (int, np.integer)) and not isinstance(background, bool):
        background = (background,) * 3
    try:
        rgb = tuple(int(v) for v in background)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"background must be an (R, G, B) tuple of ints in 0-255, got {background!r}")
    return rgb


@dataclasses.dataclass(frozen=True)
class ImageOptions:
    """The shape images are brought to; raises ValueError on a bad value when made.

    Attributes:
        image_size: output side length; None keeps each image's own size (single files only).
        channels: 3 for RGB, 1 for grey.
        resize: "crop" (centre-crop to a square, then resize) or "pad" (pad to a square with
            `background`, then resize).
        background: (R, G, B) 0-255 colour that transparency is composited onto and that
            "pad" fills with; a single int means grey. Stored as a tuple of 3 ints.
        max_pixels: refuse files whose header claims more than this many pixels.
    """

    image_size: int | None = None
    channels: int = 3
    resize: str = "crop"
    background: tuple = (255, 255, 255)
    max_pixels: int = MAX_PIXELS

    def __post_init__(self):
        # In this order: with several bad values, the error names the same one as always.
        if self.image_size is not None and not is_positive_int(self.image_size):
            raise ValueError(f"image_size must be a positive int, got {self.image_size!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {self.channels!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if not is_positive_int(self.max_pixels):
            raise ValueError(f"max_pixels must be a positive int, got {self.max_pixels!r}")
        object.__setattr__(self, "background", _background_rgb(self.background))  # frozen: set once, here

    @property
    def mode(self):
        """The Pillow mode of the output: "RGB" or "L"."""
        return "RGB" if self.channels == 3 else "L"

    @property
    def fill(self):
        """The background in the output's mode: an RGB tuple, or its grey level."""
        return self.background if self.channels == 3 else luma(self.background)

    def shape(self, n):
        """The shape of `n` decoded images: (n, image_size, image_size, channels)."""
        return (n, self.image_size, self.image_size, self.channels)
