"""Peak memory and time of `CycleGAN.translate` on a large photo (the preset, tiled).

    python bench/translate_memory.py                        # 4000x3000, default tiles (512)
    python bench/translate_memory.py --size 12000x7400      # ~89 Mpx: Pillow's default limit
    python bench/translate_memory.py --size 1024x768 --tile-size 1024   # whole, to compare

Each run is a fresh worker process (so its peak resident memory is its own): it loads the
cyclegan_photo2painting preset, warms it up on a 64x64 image, makes the input by upscaling
a photo of kerasgan/datasets/photos/ (bicubic) to `--size`, translates it once (a2b) and
reports the peak resident memory (VmHWM) before and after, the wall time of `translate`,
and the input and output arrays' sizes (which any caller holds: 12 bytes per pixel each).
"""
import argparse
import json
import os
import subprocess
import sys
import time

from memory import rss_mb  # bench/memory.py: imports no framework

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOCOL = "@@ "


def worker(args):
    import numpy as np
    from PIL import Image

    from kerasgan import zoo

    model = zoo.load(args.preset)
    model.translate(np.zeros((64, 64, 3), "float32"))
    width, height = (int(v) for v in args.size.lower().split("x"))
    Image.MAX_IMAGE_PIXELS = None  # the bench makes its own large image
    photo = Image.open(os.path.join(REPO, "kerasgan", "datasets", "photos", args.photo))
    big = photo.convert("RGB").resize((width, height), Image.BICUBIC)
    x = np.asarray(big, "float32")
    del big
    x /= 127.5  # in place: no image-sized temporaries
    x -= 1.0
    before = rss_mb()
    start = time.perf_counter()
    y = model.translate(x, direction="a2b", tile_size=args.tile_size)
    seconds = time.perf_counter() - start
    assert y.shape == x.shape and np.isfinite(y).all()
    print(PROTOCOL + json.dumps({
        "size": f"{width}x{height}", "megapixels": round(width * height / 1e6, 2),
        "tile_size": args.tile_size, "seconds": round(seconds, 1),
        "peak_rss_before_mb": round(before), "peak_rss_mb": round(rss_mb()),
        "input_plus_output_mb": round(2 * x.nbytes / 2**20)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the input")
    parser.add_argument("--photo", default="red_panda.jpg")
    parser.add_argument("--preset", default="cyclegan_photo2painting")
    parser.add_argument("--tile-size", type=int, default=None,
                        help="translate's tile_size (default its own, 512)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--size", args.size,
               "--photo", args.photo, "--preset", args.preset]
    if args.tile_size:
        command += ["--tile-size", str(args.tile_size)]
    result = subprocess.run(command, capture_output=True, text=True)
    lines = [line[len(PROTOCOL):] for line in result.stdout.splitlines()
             if line.startswith(PROTOCOL)]
    if result.returncode or not lines:
        print(result.stderr[-3000:], file=sys.stderr)
        print(f"worker failed (exit status {result.returncode}; -9: killed, e.g. out of memory)")
        return 1
    print(json.dumps(json.loads(lines[-1]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
