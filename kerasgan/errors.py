"""The exceptions kerasgan raises for what the `kerasgan` command reports in one line."""


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit code 2."""



class TrainingDiverged(RuntimeError):
    """Training stopped at a batch where a loss became NaN or infinite (`StopOnNaN`); the
    run folder keeps the checkpoints from before it. The command exits with code 1."""
