"""Resident memory of this process, for the benchmarks (no framework imported here)."""
import resource


def rss_mb(field="VmHWM"):
    """Peak (VmHWM) or current (VmRSS) resident memory in MiB. Read from /proc: ru_maxrss
    (the fallback off Linux) would include a parent's memory, as it is inherited over exec."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
