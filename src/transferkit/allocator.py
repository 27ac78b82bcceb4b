"""Keep freed memory in the process, so that large arrays made batch after batch reuse it.

glibc's ``malloc`` hands a freed block above its *mmap threshold* (32 MiB at most, by its own
rule) straight back to the operating system, and trims the top of its heap whenever more than its
*trim threshold* lies free there. A CNN's forward pass on a CPU batch makes and frees activations
of tens of megabytes at every layer, so the kernel maps and zero-fills the same memory again for
each of them. Extracting the features of two Office-Caltech domains through both ImageNet
backbones on the CPU took 56.4 s, 48.0 s of CPU time of it in the kernel, and 27.5 s with both
thresholds raised (1.7 s in the kernel; ``python benchmarks/deep_extract.py --allocator system``,
against the default). Small networks gain less: an epoch of DANN on a LeNet went from 2.92 s to
2.85 s (``benchmarks/deep_speed.py``), and the multilingual USE sentence encoder encodes as fast
either way.

:func:`reuse_freed_memory` raises both thresholds to ``keep_mib`` MiB (default
:data:`KEEP_MIB`, or the ``TRANSFERKIT_KEEP_FREED_MIB`` variable): the process then keeps up to
that much freed memory for its next allocations instead of returning it, so its resident size
stays near its peak. The command line calls it when it starts, and so do the processes that
the benchmark runner and :func:`~transferkit.deep.distributed.launch` start; a Python program
calls it once, if it wants the same. Nothing changes where the C library is not glibc (macOS,
musl): their allocators have their own policies.

Examples
--------
>>> from transferkit.allocator import reuse_freed_memory
>>> reuse_freed_memory() in (True, False)  # False where the C library is not glibc
True
"""

from __future__ import annotations

import ctypes
import os

from transferkit.exceptions import InvalidParameterError

__all__ = ["KEEP_MIB", "KEEP_VARIABLE", "reuse_freed_memory"]

#: Freed memory (MiB) a process keeps for reuse by default: room for the activations that a CPU
#: batch of 32 images through an ImageNet CNN makes and frees.
KEEP_MIB = 1024
#: The environment variable that overrides :data:`KEEP_MIB`; 0 leaves the allocator as it is.
KEEP_VARIABLE = "TRANSFERKIT_KEEP_FREED_MIB"

# mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(keep_mib: int | None = None) -> bool:
    """Let the process keep up to ``keep_mib`` MiB of freed memory for reuse (glibc only).

    Parameters
    ----------
    keep_mib : int or None, default None
        None: the ``TRANSFERKIT_KEEP_FREED_MIB`` variable when it is set, else :data:`KEEP_MIB`.
        0 leaves the allocator as it is.

    Returns
    -------
    bool
        True when glibc took both thresholds; False where nothing was changed (``keep_mib`` 0,
        or a C library other than glibc).
    """
    if keep_mib is None:
        text = os.environ.get(KEEP_VARIABLE, "").strip()
        try:
            keep_mib = int(text) if text else KEEP_MIB
        except ValueError:
            raise InvalidParameterError(
                f"{KEEP_VARIABLE}={text!r} is not a whole number of MiB; set it to 0 to leave "
                f"the C allocator as it is, or to a size such as {KEEP_MIB}."
            ) from None
    if isinstance(keep_mib, bool) or not isinstance(keep_mib, int) or not 0 <= keep_mib < 2048:
        raise InvalidParameterError(
            f"keep_mib must be a whole number of MiB from 0 to 2047; got {keep_mib!r}."
        )
    if keep_mib == 0 or not _glibc():
        return False
    libc = ctypes.CDLL(None)
    size = keep_mib << 20
    mmap = libc.mallopt(_M_MMAP_THRESHOLD, size)
    trim = libc.mallopt(_M_TRIM_THRESHOLD, size)
    return bool(mmap) and bool(trim)


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False  # no confstr, or a system that does not know the name: not glibc
