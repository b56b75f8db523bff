"""Measure every TFLite quantization of bundled presets and write the table into their
model cards (a maintainer's tool).

    python tools/card_export.py dcgan_clipart64 stylegan_lite_clipart64 vanilla_fashion28
    python tools/card_export.py cyclegan_photo2painting --calibration kerasgan/datasets/photos
    python tools/card_export.py inpainting_paintings64 --calibration ../shared/data/paintings

Each preset is exported to a temporary folder at float32, float16, dynamic and int8, every
artifact compared with Keras; `kerasgan export` refuses by default those over their
tolerance, and the card says which, with the command that measures it. The card's
"## Export" section is replaced (or added before "## Licence"), and metadata.json's SHA-256
of README.md is updated, both written through a temporary file and a rename. Image-to-image
presets need `--calibration`, a folder of real images, loaded as `kerasgan export
--calibration-data` loads them.
"""
import argparse
import json
import os
import re
import tempfile

from kerasgan import files, zoo  # first: sets TensorFlow's environment
from kerasgan.model_folder import write_json  # sorted keys, as presets are written

from make_preset import REPO, export_section  # tools/ is this script's folder

def with_section(card, section, before=("## Licence",)):
    """`card` with the section of `section`'s title (its first line, "## ...") replaced by
    `section`, or `section` added before the first heading of `before` the card has (at the
    end when it has none)."""
    title = section.split("\n", 1)[0]
    section = section.rstrip("\n") + "\n\n"
    existing = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if existing.search(card):
        return existing.sub(lambda _: section, card, count=1)
    for heading in before:
        at = card.find("\n" + heading)
        if at >= 0:
            return card[:at + 1] + section + card[at + 1:]
    return card.rstrip("\n") + "\n\n" + section


def write_card(name, card, new_files=()):
    """zoo/NAME/README.md := `card`, and the SHA-256 of it and of `new_files` (names in
    zoo/NAME) into metadata.json, each through a temporary file and a rename; then the
    preset is verified."""
    folder = os.path.join(REPO, "zoo", name)
    card_path = os.path.join(folder, "README.md")
    with files.atomic_file(card_path) as tmp:
        with open(tmp, "w") as f:
            f.write(card)
    metadata_path = os.path.join(folder, zoo.METADATA_FILE)
    with open(metadata_path) as f:
        metadata = json.load(f)
    for file_name in ("README.md", *new_files):
        metadata["files"][file_name] = zoo.sha256(os.path.join(folder, file_name))
    write_json(metadata_path, metadata)
    zoo.verify_preset(folder)


def refresh(name, calibration, work):
    # Without calibration images, export refuses an image-to-image model's int8 up front.
    section = export_section(name, work, calibration)
    with open(os.path.join(REPO, "zoo", name, "README.md")) as f:
        write_card(name, with_section(f.read(), section))
    print(f"{name}:\n{section}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", help="bundled preset names (zoo/NAME)")
    parser.add_argument("--calibration", help="image-to-image presets: a folder of real images")
    args = parser.parse_args()
    for name in args.names:
        with tempfile.TemporaryDirectory() as work:
            refresh(name, args.calibration, work)


if __name__ == "__main__":
    main()
