"""Does a photo -> painting model move photos toward the paintings? KID on matched crops.

    python bench/translation_kid.py MODEL PHOTOS_DIR PAINTINGS_DIR OUT [--n 500] [--crop 128] [--controls]
    python bench/translation_kid.py MODEL PHOTOS_DIR PAINTINGS_DIR OUT --whole [--load 256]

Both folders are loaded as the model was trained (each image centre-cropped to a square and
resized to `--load` px, default 2 x `--crop`), then `--n` random `--crop` px crops are cut
from each (seeded; the same photo crops before and after translation). The photo crops are
translated a2b one by one with `model.translate`. `../shared/tools/kid.py` then scores, against
the painting crops (EfficientNet-Lite0 features; KID x1000, lower is closer):
the photo crops untranslated, the photo crops translated, and, as the floor, a second draw of
painting crops (what the paintings score against themselves). OUT gets `result.json` and
`crops.png` (photo crops in the left column of each pair, their translations on the right).

`--controls` adds what frames those numbers: the photo crops with each colour channel's mean
and spread matched to the painting crops' (a translation that only recolours), the
translations Gaussian-blurred (sigma 0.7 px: what their finest texture costs), and, as a
reachable level, the crops of half the paintings (chosen at random) against crops of the
other half (`kid_x1000_paintings_other_half_vs_paintings_half`). It also translates the
translations back (b2a) and reports the cycle's mean L1 to the photo crops ([-1, 1] scale)
from the translations as they are and from the blurred ones (a model that translates one way,
CUT, has no way back: not reported): if the fine texture carried
the photo's details for the way back (the "steganography" CycleGANs are known for), the
blurred ones would come back worse.

`--whole` scores whole images instead of crops: every photo and every painting once,
centre-cropped and resized to `--load` px (at the default 256, the scale the crops are cut at,
so the scale of training), the photos translated whole.
"""
import argparse
import json
import os

import numpy as np
from PIL import Image

from small_data import kid  # bench/ is this script's folder

EXTENSIONS = (".png", ".jpg", ".jpeg")


def load_square(folder, side):
    images = []
    for name in sorted(os.listdir(folder)):
        if name.lower().endswith(EXTENSIONS):
            image = Image.open(os.path.join(folder, name)).convert("RGB")
            s = min(image.size)
            left, top = (image.width - s) // 2, (image.height - s) // 2
            images.append(np.asarray(image.crop((left, top, left + s, top + s)).resize(
                (side, side), Image.LANCZOS)))
    return images


def random_crops(images, n, crop, rng):
    out = []
    for i in range(n):
        image = images[rng.integers(len(images))]
        y, x = rng.integers(image.shape[0] - crop + 1), rng.integers(image.shape[1] - crop + 1)
        out.append(image[y:y + crop, x:x + crop])
    return np.stack(out)


def colour_matched(images, reference):
    """`images` with each channel's mean and standard deviation set to `reference`'s."""
    x, ref = images.astype("float64"), reference.astype("float64")
    axes = (0, 1, 2)
    matched = (x - x.mean(axes)) / x.std(axes) * ref.std(axes) + ref.mean(axes)
    return np.clip(np.round(matched), 0, 255).astype("uint8")


def blurred(images, sigma):
    """A separable Gaussian blur of uint8 images (edges reflected)."""
    radius = int(3 * sigma + 1)
    kernel = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    x = images.astype("float64")
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(x, pad, mode="reflect")
        x = sum(w * np.take(padded, range(i, i + x.shape[axis]), axis=axis)
                for i, w in enumerate(kernel))
    return np.clip(np.round(x), 0, 255).astype("uint8")


def control_sets(files, paintings, n, crop, rng):
    """The --controls image sets (see the module docstring): {key: (reference, images)}."""
    order = rng.permutation(len(paintings))
    half = len(paintings) // 2
    one = random_crops([paintings[i] for i in order[:half]], n, crop, rng)
    other = random_crops([paintings[i] for i in order[half:]], n, crop, rng)
    return {"photos_colour_matched": ("paintings", colour_matched(files["photos"],
                                                                  files["paintings"])),
            "translated_blurred": ("paintings", blurred(files["translated"], 0.7)),
            "paintings_half": (None, one), "paintings_other_half": ("paintings_half", other)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("photos")
    parser.add_argument("paintings")
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--load", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--controls", action="store_true",
                        help="also score a recolouring, the blurred translations and half the "
                             "paintings against the other half")
    parser.add_argument("--whole", action="store_true",
                        help="score every image once, whole, at --load px, instead of crops")
    args = parser.parse_args()
    if args.whole and args.controls:
        parser.error("--controls scores crops; leave it out with --whole")
    from kerasgan import callbacks, zoo

    load = args.load or 2 * args.crop
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    paintings = load_square(args.paintings, load)
    if args.whole:
        files = {"paintings": np.stack(paintings),
                 "photos": np.stack(load_square(args.photos, load))}
        args.n = max(len(files["paintings"]), len(files["photos"]))
    else:
        files = {"paintings": random_crops(paintings, args.n, args.crop, rng),
                 "paintings_again": random_crops(paintings, args.n, args.crop, rng),
                 "photos": random_crops(load_square(args.photos, load), args.n, args.crop, rng)}
    model = zoo.load(args.model)
    translated = model.translate(files["photos"].astype("float32") / 127.5 - 1.0, batch_size=1)
    files["translated"] = np.clip(np.round((translated + 1.0) * 127.5), 0, 255).astype("uint8")
    paths = {}
    for key, images in files.items():
        paths[key] = os.path.join(args.out, f"{key}.npz")
        np.savez(paths[key], images=images)
    result = {"model": args.model, "photos": args.photos, "paintings": args.paintings,
              "n": args.n, "crop": None if args.whole else args.crop, "load": load,
              "seed": args.seed, "whole": args.whole}
    scored = [(key, "paintings") for key in ("paintings_again", "photos", "translated")
              if key in files]
    if args.controls:
        controls = control_sets(files, paintings, args.n, args.crop, rng)
        for key, (reference, images) in controls.items():
            paths[key] = os.path.join(args.out, f"{key}.npz")
            np.savez(paths[key], images=images)
            if reference is not None:
                scored.append((key, reference))
        cycle = [] if "b2a" not in model.DIRECTIONS else [  # a one-way model (CUT): none
            ("translated", files["translated"]),
            ("translated_blurred", controls["translated_blurred"][1])]
        for key, images in cycle:
            back = model.translate(images.astype("float32") / 127.5 - 1.0, direction="b2a",
                                   batch_size=1)
            error = np.abs(back - (files["photos"].astype("float32") / 127.5 - 1.0)).mean()
            result[f"cycle_l1_from_{key}"] = round(float(error), 4)
    for key, reference in scored:
        numbers, line = kid(paths[reference], paths[key], args.n)
        result[f"kid_x1000_{key}_vs_{reference}"] = numbers["kid_x1000"]
        result[f"output_{key}"] = line
    pairs = np.stack([files["photos"][:24], files["translated"][:24]], 1)
    callbacks.save_grid(pairs.reshape((-1,) + pairs.shape[2:]).astype("float32") / 127.5 - 1.0,
                        os.path.join(args.out, "crops.png"), columns=8)
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k.startswith(("kid", "cycle"))},
                     indent=1))


if __name__ == "__main__":
    main()
