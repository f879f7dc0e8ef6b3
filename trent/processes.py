"""Process lifetimes (Linux): a child that ends with its parent, and whether a process runs.

Used by ``trent.supervisor`` (its workers) and ``trent.operations.pregen`` (the key-pair pool's
processes), so that ``kill -9`` of ``trent serve`` leaves nothing holding its port, files or
output, and by ``trent.cli`` to tell a dead serve's leftovers from a running one's.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_parent(parent: int, sig: signal.Signals) -> bool:
    """Ask the kernel to send this process ``sig`` when its parent ends, however it ends
    (``prctl(PR_SET_PDEATHSIG)``, prctl(2); Linux only, elsewhere nothing is asked). False
    when the parent (pid ``parent``) had already ended: the caller should end now, since the
    signal will never come. Raises ``OSError`` if the kernel refuses."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    return os.getppid() == parent


def running(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
