"""The exceptions and the warning category kerasgan raises, and how an error is said in one
line (what the `kerasgan` command prints). This module imports nothing, so every layer of the
package can use it."""


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit code 2."""


class TrainingDiverged(RuntimeError):
    """Training stopped at a batch where a loss became NaN or infinite (`StopOnNaN`); the
    run folder keeps the checkpoints from before it. The command exits with code 1."""


class PresetError(ValueError):
    """A preset that is unknown, incomplete or fails its SHA-256 check (also a model
    folder's JSON file that is too large or not JSON)."""


class KerasganWarning(UserWarning):
    """What kerasgan warns about (skipped image files, a damaged cache rebuilt, a checkpoint
    that could not be written or loaded). The `kerasgan` command prints each as one
    `kerasgan: warning: ...` line, whatever the Python warning filters say."""


def one_line(text, limit=None):
    """`text` on one line (whitespace runs as one space), cut to `limit` characters."""
    text = " ".join(str(text).split())
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def describe(error):
    """An exception as one line: its type where the message alone would not say."""
    text = one_line(os_error_text(error) if isinstance(error, OSError) else error, 400)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def os_error_text(error):
    """An OSError as `file: reason` where it names a file."""
    if error.errno and error.strerror and error.filename is not None:
        other = f" -> {error.filename2}" if error.filename2 is not None else ""
        return f"{error.filename}{other}: {error.strerror}"
    return str(error)


def out_of_memory(error):
    """Whether `error` is Python's or TensorFlow's out-of-memory error."""
    return isinstance(error, MemoryError) or any(
        cls.__name__ == "ResourceExhaustedError" for cls in type(error).__mro__)
