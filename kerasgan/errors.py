"""The exceptions and the warning category kerasgan raises: what the `kerasgan` command
reports in one line. This module imports nothing, so every layer of the package can use it."""


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
