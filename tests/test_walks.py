"""Latent walks: `kerasgan.walks` and `kerasgan interpolate`."""
import numpy as np
import pytest
from PIL import Image

from kerasgan import callbacks, cli, walks, zoo


@pytest.fixture
def dcgan():
    return zoo.create("dcgan", **zoo.tiny_config("dcgan"), seed=0)  # 32x32 RGB, untrained


@pytest.fixture
def stylegan():
    return zoo.create("stylegan_lite", **zoo.tiny_config("stylegan_lite"), seed=0)


def test_slerp_keeps_the_norm_of_orthogonal_unit_vectors():
    a, b = np.eye(8, dtype="float32")[:2]
    t = np.linspace(0, 1, 11)
    path = walks.slerp(a, b, t)
    assert path.dtype == np.float32 and path.shape == (11, 8)
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(path[0], a, atol=1e-7)
    np.testing.assert_allclose(path[-1], b, atol=1e-7)
    np.testing.assert_allclose(path[5], (a + b) / np.sqrt(2), atol=1e-6)
    # angles grow evenly along the great circle
    np.testing.assert_allclose(np.arctan2(path[:, 1], path[:, 0]), t * np.pi / 2, atol=1e-6)
    # Gaussian latents: the norm stays near the ends', where the straight line dips
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 512))
    assert np.linalg.norm(walks.slerp(x, y, 0.5)) > 0.95 * min(np.linalg.norm(x),
                                                                np.linalg.norm(y))
    assert np.linalg.norm((x + y) / 2) < 0.8 * min(np.linalg.norm(x), np.linalg.norm(y))


def test_slerp_of_nearly_parallel_vectors_is_linear_and_finite():
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([2.0, 1e-5, 0.0])
    np.testing.assert_allclose(walks.slerp(a, b, 0.25), 0.75 * a + 0.25 * b)
    assert np.isfinite(walks.slerp(a, a, 0.5)).all()
    assert np.isfinite(walks.slerp(np.zeros(3), a, 0.5)).all()


def test_the_first_frame_is_the_keyframe_latents_generated(dcgan):
    frames = walks.interpolate(dcgan, n=4, frames=8, seed=3, keyframes=4)
    assert frames.shape == (8, 64, 64, 3) and frames.dtype == np.uint8
    keys = walks.keyframe_latents(dcgan, n=4, keyframes=4, seed=3)
    for frame, key in ((0, 0), (2, 1), (6, 3)):  # two frames per keyframe
        np.testing.assert_array_equal(frames[frame],
                                      callbacks.image_grid(dcgan.generate(latents=keys[key])))
    # in between: the spherical midpoint of the two keyframes
    middle = walks.slerp(keys[0], keys[1], 0.5)
    np.testing.assert_array_equal(frames[1], callbacks.image_grid(dcgan.generate(latents=middle)))
    assert (frames[1] != frames[0]).any()


def _same_grid(actual, expected):
    """Equal up to one level of 8 bits: the walk maps and draws all its frames in one batch,
    the reference a few images at a time, and on some CPUs a float's last bit depends on the
    batch size, which can move a pixel across a rounding boundary (seen on AVX2 machines)."""
    np.testing.assert_allclose(actual.astype(int), expected.astype(int), rtol=0, atol=1)


def test_stylegan_walks_linearly_in_w_with_its_noise_fixed(stylegan):
    frames = walks.interpolate(stylegan, n=2, frames=6, seed=1, keyframes=3, columns=2)
    assert frames.shape == (6, 32, 64, 3)
    keys = walks.keyframe_latents(stylegan, n=2, keyframes=3, seed=1)
    _same_grid(frames[0], callbacks.image_grid(
        stylegan.generate(latents=keys[0], seed=1), columns=2))  # generate() of keyframe 0
    _same_grid(frames[4], callbacks.image_grid(
        stylegan.generate(latents=keys[2], seed=1), columns=2))
    w0, w1 = stylegan.ws(keys[0]), stylegan.ws(keys[1])
    middle = stylegan.synthesize((w0 + w1) / 2, noise=stylegan.noise_inputs(2, seed=1))
    _same_grid(frames[1], callbacks.image_grid(middle, columns=2))
    in_z = walks.interpolate(stylegan, n=2, frames=6, seed=1, keyframes=3, columns=2,
                             space="z")
    _same_grid(in_z[0], frames[0])  # the same keyframes...
    assert np.abs(in_z[1].astype(int) - frames[1].astype(int)).max() > 1  # ...another path


def test_the_gif_has_exactly_the_frames_asked_for(dcgan, tmp_path, capsys):
    run = str(tmp_path / "model")
    zoo.save(dcgan, run)
    out = tmp_path / "walk.gif"
    assert cli.main(["interpolate", run, "--n", "4", "--frames", "12", "--out", str(out),
                     "--seed", "2", "--fps", "30"]) == 0
    frames = walks.interpolate(dcgan, n=4, frames=12, seed=2)
    assert all((frames[i] != frames[i - 1]).any() for i in range(12))  # none merged
    with Image.open(out) as gif:
        assert gif.n_frames == 12 and gif.size == (64, 64) and gif.info["loop"] == 0
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert sum(durations) == 400 and set(durations) == {30, 40}  # 12 frames at 30 fps
    assert "12 frames of 4 images (32x32), 0.40 s at 30 fps" in capsys.readouterr().out


def test_gif_durations_keep_the_total_time():
    assert walks.gif_durations(3, 30) == [30, 40, 30]
    assert walks.gif_durations(60, 30) and sum(walks.gif_durations(60, 30)) == 2000
    assert walks.gif_durations(5, 10) == [100] * 5
    with pytest.raises(ValueError, match="too high for a GIF"):
        walks.save_gif(np.zeros((3, 4, 4), np.uint8), "x.gif", fps=200)


def test_translation_and_inpainting_models_are_refused(tmp_path, capsys):
    for arch, command in (("cyclegan", "kerasgan translate"), ("inpainting", "kerasgan restore")):
        model = zoo.create(arch, **zoo.tiny_config(arch))
        with pytest.raises(ValueError, match=f"generates images from latents.*{command}"):
            walks.interpolate(model)
    zoo.save(model, str(tmp_path / "inpainter"))
    out = tmp_path / "walk.gif"
    assert cli.main(["interpolate", str(tmp_path / "inpainter"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasgan: error: a latent walk needs a model that generates")
    assert err.count("\n") == 1 and not out.exists()


def test_mp4_without_an_encoder_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(walks, "video_encoder", lambda: None)
    out = tmp_path / "walk.mp4"
    assert cli.main(["interpolate", "/no/such/model", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"kerasgan: error: {walks.NO_VIDEO_ENCODER}\n" and not out.exists()
    assert cli.main(["interpolate", "/no/such/model", "--out", str(tmp_path / "w.avi")]) == 2
    assert "expected a file name ending in .gif or .mp4" in capsys.readouterr().err


def test_mp4_where_an_encoder_is_available(dcgan, tmp_path):
    if walks.video_encoder() is None:
        pytest.skip("no video encoder (ffmpeg or OpenCV) on this machine")
    frames = walks.interpolate(dcgan, n=1, frames=5, seed=0)  # 32x32
    path = walks.save_animation(frames, str(tmp_path / "walk.mp4"), fps=10)
    with open(path, "rb") as f:
        assert f.read(12)[4:8] == b"ftyp"  # an MPEG-4 file
    cv2 = pytest.importorskip("cv2")
    video = cv2.VideoCapture(path)
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    video.release()
