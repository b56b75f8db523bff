"""Latent walks: animations of a generator's images changing smoothly into one another.

`interpolate(model, n=4, frames=60)` returns the frames of a loop: each of `n` images walks
through `keyframes` random latents and back to its first, so the animation repeats without a
jump. Gaussian latents (z) are interpolated spherically (`slerp`): a straight line between
two Gaussian samples passes near the origin, where latents are rare and images dull, while
the great circle keeps a typical norm. StyleGAN-lite walks linearly in its w space (the
mapping network's output), as StyleGAN does: w is not Gaussian, and linear paths there
are the smooth ones. `save_gif` / `save_video` write the frames; `kerasgan interpolate
MODEL --out walk.gif` does both.
"""
import os
import shutil
import subprocess

import numpy as np

SPACES = ("auto", "z", "w")
VIDEO_FORMATS = (".gif", ".mp4")
_PARALLEL = 0.9995  # cosine above which slerp falls back to a linear interpolation


def slerp(a, b, t):
    """Spherical interpolation from `a` (t=0) to `b` (t=1) along the last axis.

    The path follows the great circle between the directions of `a` and `b`, with the norm
    interpolated along it (for unit vectors it stays 1). Nearly parallel vectors (cosine
    above 0.9995) are interpolated linearly, where the spherical formula divides by ~0.
    `a` and `b` broadcast against each other, `t` (a number or an array) against their
    leading axes; the result has `a`'s float dtype.
    """
    a, b = np.asarray(a), np.asarray(b)
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float32
    a64, b64 = a.astype("float64"), b.astype("float64")
    t = np.asarray(t, "float64")[..., None]
    norms = np.linalg.norm(a64, axis=-1, keepdims=True) * np.linalg.norm(b64, axis=-1,
                                                                          keepdims=True)
    cosine = np.clip(np.sum(a64 * b64, axis=-1, keepdims=True) / np.maximum(norms, 1e-30),
                     -1.0, 1.0)
    omega = np.arccos(cosine)
    sine = np.sin(omega)
    linear = (np.abs(cosine) > _PARALLEL) | (norms == 0)
    safe = np.where(linear, 1.0, sine)
    spherical = (np.sin((1.0 - t) * omega) * a64 + np.sin(t * omega) * b64) / safe
    result = np.where(linear, (1.0 - t) * a64 + t * b64, spherical)
    return result.astype(dtype)


def lerp(a, b, t):
    """Linear interpolation from `a` (t=0) to `b` (t=1); `t` broadcasts as in `slerp`."""
    a, b = np.asarray(a), np.asarray(b)
    t = np.asarray(t, "float64").reshape(np.shape(t) + (1,) * (max(a.ndim, b.ndim) -
                                                               np.ndim(t)))
    return ((1.0 - t) * a + t * b).astype(a.dtype)


def _positive_int(value, name, least=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}.")
    return int(value)


def walk_space(model, space="auto"):
    """The space `interpolate` walks in for `space`: "w" or "z". Refuses (ValueError) a
    model that does not generate from latents, and "w" for a model without a w space."""
    from kerasgan.nearest import check_generation_model

    check_generation_model(model, "a latent walk")
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}.")
    has_w = callable(getattr(model, "ws", None)) and callable(getattr(model, "synthesize", None))
    if space == "w" and not has_w:
        raise ValueError(f"space='w' needs a StyleGAN model (mapping and synthesis networks); "
                         f"{model.architecture or type(model).__name__} walks in z.")
    if space == "auto":
        return "w" if has_w else "z"
    return space


def keyframe_latents(model, n=4, keyframes=4, seed=0):
    """The walk's keyframes: `(keyframes, n, latent_dim)` latents, `model.latents(n *
    keyframes, seed)` in that order (keyframe 0 holds the first `n`)."""
    return model.latents(n * keyframes, seed).reshape(keyframes, n, model.latent_dim)


def positions(frames, keyframes):
    """For each frame, (segment, t): the walk from keyframe `segment` to the next (the
    last one to keyframe 0) at fraction `t`. Frame 0 is keyframe 0 and the frames are evenly
    spaced over the loop, so that the frame after the last would be frame 0 again."""
    p = np.arange(frames) * (keyframes / frames)
    segment = np.floor(p).astype("int64")
    return segment, p - segment


def interpolate(model, n=4, frames=60, seed=0, space="auto", keyframes=4, truncation_psi=1.0,
                columns=None, batch_size=64, labels=None):
    """The frames of a looping latent walk, each a uint8 grid of `n` images.

    Args:
        model: a generating kerasgan model (`model.task == "generation"`; image-to-image
            models are refused with a ValueError).
        n: images per frame (walks side by side).
        frames: frames of the whole loop.
        seed: seed of the keyframe latents (`keyframe_latents`) and, for StyleGAN, of its
            noise inputs, fixed for the whole walk (`model.noise_inputs(n, seed)`).
        space: "auto" (w for StyleGAN-lite, z otherwise), "z" (spherical interpolation of
            the latents) or "w" (linear interpolation of StyleGAN's w).
        keyframes: latents each image passes through before returning to the first (>= 2).
        truncation_psi: StyleGAN's truncation, applied to the keyframes' w (1: off).
        columns: images per grid row (default: as `kerasgan.callbacks.image_grid`).
        batch_size: images per generator call.
        labels: a class-conditional model's class of each walk (one class index or name,
            or `n`; default the classes in turn), kept for the whole walk.

    Returns:
        uint8 array `(frames, rows * H, columns * W, C)` (`(frames, rows * H, columns * W)`
        for grey images). Frame 0 is the grid of `model.generate(latents=keyframe 0)` (for
        StyleGAN with `seed=seed` and `truncation_psi`).
    """
    from kerasgan import callbacks

    space = walk_space(model, space)
    n = _positive_int(n, "n")
    frames = _positive_int(frames, "frames")
    keyframes = _positive_int(keyframes, "keyframes", least=2)
    if truncation_psi != 1.0 and not getattr(model, "truncates", False):
        raise ValueError("truncation_psi applies to StyleGAN models only.")
    walk_labels = model.sample_labels(n, labels)  # None, or one class per walk
    per_frame = None if walk_labels is None else np.tile(walk_labels, frames)
    keys = keyframe_latents(model, n, keyframes, seed)  # (keyframes, n, d)
    segment, t = positions(frames, keyframes)
    start, end = keys[segment], keys[(segment + 1) % keyframes]  # (frames, n, d)
    t = np.repeat(t[:, None], n, axis=1)  # (frames, n)
    if space == "z":
        latents = slerp(start, end, t).reshape(frames * n, -1)
        if getattr(model, "truncates", False):  # StyleGAN walked in z: fixed noise
            images = model.generate(latents=latents, truncation_psi=truncation_psi,
                                    noise=_tiled_noise(model, n, frames, seed),
                                    batch_size=batch_size, labels=per_frame)
        else:
            images = model.generate(latents=latents, batch_size=batch_size, labels=per_frame)
    else:
        w = model.ws(keys.reshape(keyframes * n, -1), truncation_psi, batch_size,
                     None if walk_labels is None else np.tile(walk_labels, keyframes))
        w = w.reshape((keyframes, n) + w.shape[1:])  # (keyframes, n, num_ws, w_dim)
        path = lerp(w[segment], w[(segment + 1) % keyframes], t)
        images = model.synthesize(path.reshape((frames * n,) + w.shape[2:]),
                                  noise=_tiled_noise(model, n, frames, seed),
                                  batch_size=batch_size)
    images = images.reshape((frames, n) + images.shape[1:])
    return np.stack([callbacks.image_grid(frame, columns) for frame in images])


def _tiled_noise(model, n, frames, seed):
    """StyleGAN's noise inputs for `n` images, the same in every frame."""
    return [np.tile(a, (frames,) + (1,) * (a.ndim - 1)) for a in model.noise_inputs(n, seed)]


def _check_frames(frames):
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or len(frames) == 0 or (
            frames.ndim == 4 and frames.shape[-1] not in (1, 3)):
        raise ValueError("frames must be a non-empty uint8 array (frames, H, W) or "
                         f"(frames, H, W, 1 or 3), got {frames.dtype} {frames.shape}.")
    return frames[..., 0] if frames.ndim == 4 and frames.shape[-1] == 1 else frames


def _check_fps(fps):
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}.")
    return float(fps)


def gif_durations(count, fps):
    """Milliseconds each of `count` frames is shown at `fps`. A GIF stores delays in units of
    10 ms, so they alternate (30 and 40 ms at 30 fps) to keep the loop's total time."""
    ends = np.round(np.arange(1, count + 1) * 100.0 / fps) * 10  # cumulative, whole 10 ms
    return np.diff(np.concatenate([[0.0], ends])).astype(int).tolist()


def save_gif(frames, path, fps=30):
    """Writes uint8 `frames` (as `interpolate` returns them) as a looping animated GIF with
    Pillow; returns the path. The file is written under a temporary name and renamed.

    GIF limits: at most 256 colours a frame (Pillow picks a palette per frame), delays in
    steps of 10 ms (see `gif_durations`; many viewers show delays under 20 ms as 100 ms, so
    keep `fps` at 50 or less). Pillow stores a frame identical to the one before it as a
    longer delay of that one, so such a GIF holds fewer frames and the same duration.
    """
    from PIL import Image

    from kerasgan.files import atomic_file

    frames = _check_frames(frames)
    fps = _check_fps(fps)
    check_animation("frames.gif", fps, len(frames))
    durations = gif_durations(len(frames), fps)
    images = [Image.fromarray(frame) for frame in frames]
    with atomic_file(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=durations if len(images) > 1 else durations[0], loop=0)
    return path


def video_encoder():
    """How this machine can write .mp4: "ffmpeg" (the program on PATH), "opencv" (the cv2
    module with an MPEG-4 writer), or None."""
    if shutil.which("ffmpeg"):
        return "ffmpeg"
    try:
        import cv2
    except ImportError:
        return None
    return "opencv" if hasattr(cv2, "VideoWriter") else None


NO_VIDEO_ENCODER = ("writing .mp4 needs a video encoder, and this machine has none: install "
                    "the ffmpeg program (on PATH) or the Python package "
                    "opencv-python-headless, or write a .gif instead.")


def save_video(frames, path, fps=30):
    """Writes uint8 `frames` as an .mp4 with the encoder `video_encoder()` finds (ffmpeg:
    H.264; OpenCV: MPEG-4 part 2); returns the path. A RuntimeError when there is none."""
    from kerasgan.files import atomic_file

    frames = _check_frames(frames)
    fps = _check_fps(fps)
    encoder = video_encoder()
    if encoder is None:
        raise RuntimeError(NO_VIDEO_ENCODER)
    if frames.ndim == 3:  # grey to RGB: the encoders take colour frames
        frames = np.repeat(frames[..., None], 3, axis=-1)
    height, width = frames.shape[1:3]
    # Even sides (yuv420p and most players need them): pad with white.
    frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)),
                    constant_values=255)
    height, width = frames.shape[1:3]
    with atomic_file(path, suffix=".mp4") as tmp:
        if encoder == "ffmpeg":
            command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo",
                       "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
                       "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18",
                       "-movflags", "+faststart", tmp]
            result = subprocess.run(command, input=np.ascontiguousarray(frames).tobytes(),
                                    capture_output=True)
            if result.returncode != 0:
                message = " ".join(result.stderr.decode(errors="replace").split())[-300:]
                raise RuntimeError(f"ffmpeg could not write {path}: {message}")
        else:
            import cv2

            writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV could not open an MPEG-4 writer for {path}: "
                                   "install the ffmpeg program (on PATH), or write a .gif.")
            try:
                for frame in frames:
                    writer.write(np.ascontiguousarray(frame[..., ::-1]))  # BGR
            finally:
                writer.release()
    return path


def check_animation(path, fps, frames=2):
    """Refuses, before any work, what `save_animation` would refuse: an extension other
    than .gif or .mp4, an .mp4 without a video encoder on this machine, an `fps` a GIF
    cannot show (ValueErrors)."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in VIDEO_FORMATS:
        raise ValueError(f"{path}: expected a file name ending in .gif or .mp4.")
    fps = _check_fps(fps)
    if extension == ".mp4" and video_encoder() is None:
        raise ValueError(NO_VIDEO_ENCODER)
    if extension == ".gif" and min(gif_durations(max(int(frames), 2), fps)) < 10:
        raise ValueError(f"fps={fps:g} is too high for a GIF: its delays are whole 10 ms "
                         "steps (at most 100 fps; 50 or less shows alike in every viewer).")


def save_animation(frames, path, fps=30):
    """`save_gif` or `save_video`, by the extension of `path` (.gif or .mp4)."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension == ".gif":
        return save_gif(frames, path, fps)
    if extension == ".mp4":
        return save_video(frames, path, fps)
    raise ValueError(f"{path}: expected a file name ending in .gif or .mp4.")


def describe(path, model, args):
    """The command's line about the animation written to `path` (read back: a GIF whose
    consecutive frames were identical holds fewer frames than were made)."""
    space = walk_space(model, args.space)
    made = f"{args.frames} frames"
    if os.path.splitext(path)[1].lower() == ".gif":
        from PIL import Image

        with Image.open(path) as written:
            stored = written.n_frames
        if stored != args.frames:
            made += f" ({args.frames - stored} identical to the one before, merged into " \
                    f"its delay: {stored} stored)"
    height, width = model.image_shape[:2]
    return (f"Wrote {os.path.abspath(path)}: {made} of {args.n} images ({height}x{width}), "
            f"{args.frames / args.fps:.2f} s at {args.fps:g} fps, a loop through "
            f"{args.keyframes} keyframes ({'linear in w' if space == 'w' else 'spherical in z'}"
            f", seed {args.seed})")
