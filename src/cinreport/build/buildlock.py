"""Hold the build lock for a whole build: ``python buildlock.py LOCKFILE -- COMMAND...``.

The Makefile runs ``make report`` (and the other building goals) through this, so two builds
started in the same folder never interleave: the second says it is waiting and waits until the
first has finished, then carries on (and usually finds everything up to date).

The lock is an advisory ``flock`` on ``LOCKFILE`` (created empty, never written, so it is not an
output). The locked file descriptor is passed on to COMMAND, which replaces this process
(``exec``), so the lock is held exactly as long as the build or any of its recipes runs, and the
operating system releases it however the build ends, even on SIGKILL or power loss: there is no
stale lock to remove by hand.

Standard library only, and run with ``python -I`` by path, so it works before ``make setup`` has
created the virtual environment.
"""

from __future__ import annotations

import os
import sys
import time

WAIT_ENV = "CINREPORT_LOCK_WAIT"  # seconds to wait for another build; unset: wait as long as it takes


def _say(message: str) -> None:
    print(f"cinreport: {message}", file=sys.stderr, flush=True)


def acquire(path: str, wait: float | None = None) -> int | None:
    """Open and lock ``path``; return the locked descriptor, or None when ``wait`` ran out.

    Prints a message when another process holds the lock.
    """
    import fcntl

    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    if wait is not None and wait <= 0:
        os.close(fd)
        return None
    started = time.monotonic()
    _say(f"another build is running in this folder (it holds {path}); "
         "waiting for it to finish before this one starts (Ctrl-C to stop waiting)")
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if wait is not None and time.monotonic() - started >= wait:
                os.close(fd)
                return None
            time.sleep(0.2)
    _say(f"the other build has finished (waited {time.monotonic() - started:.0f}s); starting this one")
    return fd


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python buildlock.py LOCKFILE -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    path, command = argv[0], argv[2:]
    wait = os.environ.get(WAIT_ENV)
    try:
        import fcntl  # noqa: F401
    except ImportError:  # e.g. Windows: no advisory locks here; run unlocked, but say so
        _say("cannot lock the build folder on this system; do not start two builds at once")
        os.execvp(command[0], command)
    try:
        fd = acquire(path, float(wait) if wait else None)
    except KeyboardInterrupt:
        _say("stopped waiting; nothing was built")
        return 130
    if fd is None:
        _say(f"another build is still running in this folder (it holds {path}); not starting a "
             f"second one (waited {wait}s, the limit set by {WAIT_ENV})")
        return 75  # EX_TEMPFAIL
    os.set_inheritable(fd, True)  # the build inherits the lock and holds it until its last recipe ends
    os.execvp(command[0], command)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
