"""Add the memorisation check and the truncation row to bundled generator presets' model
cards (a maintainer's tool; tools/make_preset.py writes both into new presets).

    python tools/card_samples.py dcgan_clipart64 --real ../shared/data/clipart64 \
        --real-label shared/data/clipart64

Writes zoo/NAME/nearest.png (8 generated images, seed 0, each beside its 3 nearest training
images) and zoo/NAME/truncation.png (the same 8 latents at psi 1, 0.7 and 0.5), replaces
the card's "## Memorisation check" and "## Truncation" sections (or adds them before
"## Export"), and records the SHA-256 of the card and both images in metadata.json.
"""
import argparse
import os
import types

from kerasgan import zoo  # first: sets TensorFlow's environment

from card_export import with_section, write_card  # tools/ is this script's folder
from make_preset import REPO, memorisation_section, truncation_section


def refresh(name, real, real_label):
    folder = os.path.join(REPO, "zoo", name)
    model = zoo.load(name)
    if model.task != "generation":
        raise SystemExit(f"{name} is a {model.task} model: the memorisation check and the "
                         "truncation row are for generators.")
    args = types.SimpleNamespace(name=name, real=real, real_label=real_label)
    with open(os.path.join(folder, "README.md")) as f:
        card = f.read()
    written = []
    for path, section in (memorisation_section(model, folder, args),
                          truncation_section(model, folder)):
        card = with_section(card, section, before=("## Export", "## Licence"))
        written.append(os.path.basename(path))
        print(f"{name}:\n{section}\n")
    write_card(name, card, written)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", help="bundled generator preset names (zoo/NAME)")
    parser.add_argument("--real", required=True,
                        help="their training images: a folder, .npz/.npy file or tfds:NAME")
    parser.add_argument("--real-label", help="how the card names --real (default: as given)")
    args = parser.parse_args()
    for name in args.names:
        refresh(name, args.real, args.real_label or args.real)


if __name__ == "__main__":
    main()
