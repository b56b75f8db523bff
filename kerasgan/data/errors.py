"""The two things `kerasgan.data` reports to its callers: an unusable source (`DataError`) and
files it skipped (`SkippedImageWarning`). Every module of the package raises or returns them."""
from kerasgan.errors import KerasganWarning


class DataError(ValueError):
    """A data source that cannot be used for training (bad files, too few images, ...)."""


class SkippedImageWarning(KerasganWarning):
    """Some image files in a folder could not be used and were skipped."""
