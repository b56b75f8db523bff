import numpy as np
import pytest

from kerasgan import projection, zoo


def tiny(arch):
    model = zoo.create(arch, **zoo.tiny_config(arch))
    model.compile()
    return model


def test_projecting_a_generated_image_recovers_it():
    model = tiny("stylegan_lite")
    target = model.generate(1, seed=7)[0]
    start = model.synthesize(model.ws(model.latents(1, 0), truncation_psi=0.0),
                             noise=model.noise_inputs(1, 0))[0]
    result = projection.project(model, target, steps=100, seed=0, verbose=0)
    assert result.space == "w+" and result.latent.shape == (model.num_ws, model.w_dim)
    assert all(np.isfinite(result.losses))
    assert result.losses[-1] < 0.1 * result.losses[0]
    # The stated error: mean absolute pixel error under 0.05 on [-1, 1], from the average
    # image's (the start) several times that.
    error = np.abs(result.image - target).mean()
    assert error < 0.05 and error < 0.5 * np.abs(start - target).mean()
    # The latent reproduces the image through the public API.
    again = model.synthesize(result.latent[None], noise=result.noise)[0]
    np.testing.assert_allclose(again, result.image, atol=1e-5)


def test_projection_in_z_lowers_its_loss(tmp_path):
    model = tiny("vanilla")
    target = model.generate(1, seed=3)[0]
    result = projection.project(model, target, steps=20, verbose=0, feature_weight=0)
    assert result.space == "z" and result.latent.shape == (model.latent_dim,)
    assert result.losses[-1] < result.losses[0]
    projection.save(result, tmp_path / "latent.npz")
    saved = np.load(tmp_path / "latent.npz")
    np.testing.assert_array_equal(saved["latent"], result.latent)
    assert str(saved["space"]) == "z"


@pytest.mark.parametrize("arch, target, kwargs, message", [
    ("cyclegan", None, {}, "needs a generation model"),
    ("stylegan_lite", np.zeros((8, 8, 3)), {}, r"expected an image of shape \(32, 32, 3\)"),
    ("stylegan_lite", None, {"space": "z"}, "project StyleGAN-lite in 'w' or 'w\\+'"),
    ("vanilla", None, {"space": "w"}, "needs a StyleGAN-lite model"),
    ("vanilla", None, {"steps": 0}, "steps must be a positive integer"),
])
def test_bad_requests_say_what_was_expected(arch, target, kwargs, message):
    model = zoo.create(arch, **zoo.tiny_config(arch))
    if target is None:
        target = np.zeros(model.image_shape)
    with pytest.raises(ValueError, match=message):
        projection.project(model, target, verbose=0, **kwargs)


def test_an_image_outside_the_range_is_refused():
    model = zoo.create("vanilla", **zoo.tiny_config("vanilla"))
    with pytest.raises(ValueError, match=r"expected an image in \[-1, 1\]"):
        projection.project(model, np.full(model.image_shape, 255.0), verbose=0)


def test_cli_project_writes_the_latent_and_the_reconstruction(tmp_path, capsys):
    from PIL import Image

    from kerasgan import cli

    model = tiny("stylegan_lite")
    zoo.save(model, tmp_path / "model")
    photo = tmp_path / "photo.png"  # not square, not the model's size: centre-cropped, resized
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)) \
        .save(photo)
    out = tmp_path / "latent.npz"
    assert cli.main(["project", str(tmp_path / "model"), str(photo), "--out", str(out),
                     "--steps", "3"]) == 0
    saved = np.load(out)
    assert saved["latent"].shape == (model.num_ws, model.w_dim) and len(saved["losses"]) == 3
    assert Image.open(tmp_path / "latent.png").size == (2 * 32, 32)  # image, reconstruction
    assert "mean absolute pixel error" in capsys.readouterr().out

    for arguments, message in [
            (["--out", str(tmp_path / "x.png")], "expected a file name ending in .npz"),
            (["--space", "z", "--out", str(tmp_path / "x.npz")], "project StyleGAN-lite in")]:
        assert cli.main(["project", str(tmp_path / "model"), str(photo), *arguments]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and message in error, error
    assert not (tmp_path / "x.npz").exists()
