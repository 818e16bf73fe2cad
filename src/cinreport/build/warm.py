"""Warm processes for a build: pay for Python, the libraries and a kernel's start-up once.

Measured on the project's machines, executing one authority notebook cost ~0.6 s of work but
~4 s of start-up: a Python process for the `cinreport` recipe (papermill, nbformat), a kernel
process (IPython, ipykernel) and the notebook's imports (pandas, seaborn, scipy, pandera). With
153 authorities that start-up is nearly the whole build. So, for the duration of one build:

* ``python -I warm.py --python PY --socket SOCK -- make ...`` (the *supervisor*, run by the
  Makefile under the build lock; standard library only) starts a **server** (``PY -m
  cinreport warm-serve SOCK``, :mod:`cinreport.__main__`) that imports everything once, runs ``make``, and stops the server
  when make ends. It is skipped for ``make -n``/``-q`` and when PY does not exist yet.
* The server forks, on request, either a **worker** that runs one ``cinreport`` command (validate,
  run-authority, run-study, render) with the caller's standard streams, folder and environment, or
  a **kernel** (``ipykernel``, in its own session like a normally launched kernel) for papermill.
  A forked process starts with every library already imported and is otherwise new: each
  notebook still runs in its own fresh kernel process, executed by papermill, so outputs are the
  same bytes as with a cold start.
* ``cinreport`` (the recipe) is then only a small client (:func:`client_run`): it passes its
  standard streams to a worker, forwards SIGINT/SIGTERM/SIGHUP to it, and exits with its status.
  Without a server (``cinreport`` run by hand, or before ``make setup``) everything runs in the
  calling process exactly as before.

Faults: a worker whose client disappears terminates itself (as the recipe would have been
killed); a kernel whose requester disappears is killed; kernels also exit by themselves when the
server dies (ipykernel watches its parent); a killed build leaves no process behind.
"""

from __future__ import annotations

import array
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

SOCKET_ENV = "CINREPORT_WARM"  # path of the server's socket, set for make and its recipes
PID_ENV = "CINREPORT_WARM_PID"  # the server's process id (to stop waiting when it died)
DISABLE_ENV = "CINREPORT_NO_WARM"  # set to 1 to build without the warm server
DEPS_FRESH_ENV = "CINREPORT_DEPS_FRESH"  # set for make when its dry run has just refreshed deps.mk
WORKER_ENV = "CINREPORT_WARM_WORKER"  # set in a worker: run commands here, do not forward them
COMMANDS = ("validate", "run-authority", "run-study", "render", "publish", "analyse", "findings", "national")
# Progress of a build (see cinreport.build.pipeline.progress_line): when it started, how many notebooks
# its plan executes, and a file each finished notebook appends one byte to.
STARTED_ENV, TOTAL_ENV, PROGRESS_ENV = "CINREPORT_STARTED", "CINREPORT_TOTAL", "CINREPORT_PROGRESS"
READY_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------
# Messages: one JSON line each way, file descriptors alongside (SCM_RIGHTS)


def _send(conn: socket.socket, obj: dict, fds: Sequence[int] = ()) -> None:
    data = (json.dumps(obj) + "\n").encode()
    if fds:
        conn.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        conn.sendall(data)


def _recv(conn: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (None at end of stream) and the descriptors that came with it."""
    buf, fds = b"", []
    while not buf.endswith(b"\n"):
        size = array.array("i").itemsize * max_fds
        data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(size) if max_fds else 0)
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
                fds += list(got)
        if not data:
            return None, fds
        buf += data
    return json.loads(buf), fds


# --------------------------------------------------------------------------------------------
# Client side (in `cinreport` and in papermill's kernel manager)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        stat = open(f"/proc/{pid}/stat").read()
        return stat[stat.rindex(")") + 2:][:1] not in ("Z", "X")
    except (OSError, ValueError):
        return True


def connect() -> socket.socket | None:
    """A connection to this build's server, waiting while it starts; None when there is none."""
    path = os.environ.get(SOCKET_ENV)
    if not path or os.environ.get(DISABLE_ENV) or not hasattr(socket, "AF_UNIX"):
        return None
    pid = int(os.environ.get(PID_ENV) or 0)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if os.path.exists(path):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(path)
                return conn
            except OSError:
                conn.close()
        if (pid and not _alive(pid)) or time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def command_of(argv: list[str]) -> str | None:
    """The subcommand in a `cinreport` argument list (after --params/--build and their values)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--params", "--build"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def client_run(argv: list[str]) -> int | None:
    """Run ``cinreport argv`` in a warm worker; its exit status, or None when no server runs (or the
    command is not one the server runs, or this already is a worker)."""
    if os.environ.get(WORKER_ENV) or command_of(argv) not in COMMANDS:
        return None
    conn = connect()
    if conn is None:
        return None
    with conn:
        try:
            _send(conn, {"op": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}, [0, 1, 2])
            reply, _ = _recv(conn)
        except OSError:
            return None
        if not reply or "pid" not in reply:
            return None
        worker = reply["pid"]

        def forward(signum, frame):
            try:
                os.kill(worker, signum)
            except OSError:
                pass

        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signal.signal(getattr(signal, name), forward)
        while True:
            try:
                reply, _ = _recv(conn)
                break
            except InterruptedError:
                continue
            except OSError:
                reply = None
                break
    if reply is None:  # the worker died without saying how (e.g. SIGKILL)
        return 1
    return int(reply["exit"])


class ForkedKernel:
    """Stands in for the ``subprocess.Popen`` of a kernel the server forked (not our child)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, conn: socket.socket):
        self.pid, self._conn = pid, conn
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = 0
            self._conn.close()  # the server forgets the kernel
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if timeout is not None and deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def fork_kernel(cmd: list[str], env: dict, cwd: str, out_fd: int) -> ForkedKernel | None:
    """Ask the server for a kernel running ``cmd`` (``python -m ipykernel_launcher -f FILE``)."""
    if len(cmd) < 4 or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    if os.path.abspath(cmd[0]) != os.path.abspath(sys.executable):
        return None
    conn = connect()
    if conn is None:
        return None
    try:
        _send(conn, {"op": "kernel", "argv": cmd[3:], "cwd": os.path.abspath(cwd), "env": dict(env)}, [out_fd])
        reply, _ = _recv(conn)
    except OSError:
        conn.close()
        return None
    if not reply or "pid" not in reply:
        conn.close()
        return None
    return ForkedKernel(reply["pid"], conn)


# --------------------------------------------------------------------------------------------
# Server


#: What the server imports before forking, by name: it loads modules early and runs nothing of them, so
#: it is not among the sources a build step depends on (see cinreport.build.sourcedeps).
PRELOAD = tuple(f"cinreport.{m}" for m in ("chapters.authority", "cli", "data.config", "build.pipeline",
                                             "chapters.provenance", "render.renderer", "chapters.report",
                                             "chapters.study", "data.validate"))


def _warm_up() -> None:
    """Import what the commands and notebooks import, so forked processes start warm."""
    import importlib

    import ipykernel.kernelapp  # noqa: F401
    import IPython  # noqa: F401
    import nbclient  # noqa: F401
    import papermill  # noqa: F401
    import papermill.translators  # noqa: F401

    for name in PRELOAD:
        importlib.import_module(name)


class Server:
    def __init__(self, path: str, run: Callable[[list[str]], int]):
        self.path = path
        self.run = run  # a worker's command: the command line's main (given, so build imports no cli)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.kernels: dict[socket.socket, int] = {}  # requester's connection -> kernel pid
        self.children: set[int] = set()

    def listen(self) -> None:
        self.listener.bind(self.path)  # clients retry until listen() below
        self.listener.listen(64)

    def reap(self, *_):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, self.reap)
        while True:
            ready, _, _ = select.select([self.listener, *self.kernels], [], [])
            for sock in ready:
                if sock is self.listener:
                    conn, _ = self.listener.accept()
                    self.handle(conn)
                else:  # a kernel's requester went away: the kernel goes too
                    pid = self.kernels.pop(sock)
                    sock.close()
                    if pid in self.children:
                        try:
                            os.killpg(pid, signal.SIGKILL)
                        except OSError:
                            pass

    def handle(self, conn: socket.socket) -> None:
        try:
            request, fds = _recv(conn, max_fds=3)
        except (OSError, ValueError):
            conn.close()
            return
        if not request or request.get("op") not in ("run", "kernel"):
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self.listener.close()
                for other in self.kernels:
                    other.close()
                if request["op"] == "run":
                    code = _worker(conn, request, fds, self.run)
                else:
                    code = _kernel(conn, request, fds, server)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        self.children.add(pid)
        for fd in fds:
            os.close(fd)
        try:
            _send(conn, {"pid": pid})
        except OSError:
            pass
        if request["op"] == "kernel":
            self.kernels[conn] = pid
        else:
            conn.close()


def _child_setup(request: dict, fds: list[int]) -> None:
    for name in ("SIGCHLD", "SIGTERM", "SIGHUP", "SIGPIPE"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])


def _worker(conn: socket.socket, request: dict, fds: list[int], main: Callable[[list[str]], int]) -> int:
    """Run one `cinreport` command with the client's streams; report its status to the client."""
    import threading

    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    _child_setup(request, fds)
    os.environ[WORKER_ENV] = "1"  # this is the command itself, not a client (it may still ask for kernels)

    def watch():  # the client (the recipe make started) went away: stop as it would have
        try:
            while conn.recv(1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
    sys.argv = ["cinreport", *request["argv"]]
    try:
        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        _send(conn, {"exit": code})
    except OSError:
        pass
    return code


def _die_with_parent(parent: int) -> None:
    """Linux: be killed when the server ends, however it ends (even SIGKILL of the whole build)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the server died before that was in place
        os._exit(1)


def _kernel(conn: socket.socket, request: dict, fds: list[int], server: int) -> int:
    """Become an IPython kernel (what ``python -m ipykernel_launcher`` does), in its own session."""
    conn.close()
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd in fds:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    _child_setup(request, fds)
    _die_with_parent(server)
    from ipykernel.kernelapp import launch_new_instance

    # ipykernel also exits when its parent (the server) dies; its default for this was read from
    # JPY_PARENT_PID when the server imported it, so it is given here.
    sys.argv = ["ipykernel_launcher", *request["argv"], f"--IPKernelApp.parent_handle={server}"]
    launch_new_instance()
    return 0


def serve(path: str, run: Callable[[list[str]], int]) -> int:
    """Warm up, then serve until SIGTERM/SIGINT/SIGHUP (the socket is removed on the way out)."""
    server = Server(path, run)

    def stop(signum, frame):
        raise SystemExit(0)

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        signal.signal(getattr(signal, name), stop)
    try:
        _warm_up()
        server.listen()
        server.serve()
    except SystemExit:
        pass
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return 0


# --------------------------------------------------------------------------------------------
# Supervisor (run by the Makefile with `python -I`: standard library only)


def _dry_run(make_args: list[str]) -> bool:
    flags = os.environ.get("MAKEFLAGS", "").split(" ")[0]
    return ("-" not in flags and any(c in flags for c in "nqt")) or any(
        a in ("-n", "-q", "-t", "--dry-run", "--just-print", "--question", "--touch") for a in make_args)


def planned_notebooks(command: list[str], env: dict) -> tuple[int, bool]:
    """How many notebooks ``make`` would execute (its dry run's run-authority/run-study lines), and
    whether the dry run succeeded. Make runs the recipe of an included makefile even in a dry run, so
    a successful one has just refreshed the stamps and ``deps.mk`` (``cinreport deps``)."""
    try:
        run = subprocess.run([*command, "-n"], env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return 0, False
    count = sum(1 for line in run.stdout.splitlines() if " run-authority " in line or " run-study " in line)
    return count, run.returncode == 0


def supervise(python: str, path: str, command: list[str]) -> int:
    """Start the server (when ``python`` exists), run ``command``, stop the server; command's status."""
    env = dict(os.environ)
    server, progress = None, None
    if not _dry_run(command):
        progress = os.path.join(os.path.dirname(os.path.abspath(path)), ".progress")
        env[STARTED_ENV] = repr(time.time())
        if os.access(python, os.X_OK):  # else the dry run would set up the environment, silently
            total, refreshed = planned_notebooks(command, env)
            env[TOTAL_ENV] = str(total)
            if refreshed:  # the build's first step has just run (under the same lock): not again
                env[DEPS_FRESH_ENV] = "1"
        env[PROGRESS_ENV] = progress
        if os.path.exists(progress):
            os.unlink(progress)
    if os.access(python, os.X_OK) and not os.environ.get(DISABLE_ENV) and not _dry_run(command) \
            and env.get(TOTAL_ENV) != "0":
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        path = os.path.abspath(path)
        if os.path.exists(path):
            os.unlink(path)  # left by a killed build (the build lock says none runs now)
        server = subprocess.Popen([python, "-m", "cinreport", "warm-serve", path], stdin=subprocess.DEVNULL)
        env[SOCKET_ENV], env[PID_ENV] = path, str(server.pid)
    proc = subprocess.Popen(command, env=env, close_fds=False)  # inherits the build lock

    def forward(signum, frame):
        try:
            proc.send_signal(signum)
        except OSError:
            pass

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), forward)
    code = proc.wait()
    if progress and os.path.exists(progress):
        os.unlink(progress)
    if server is not None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return code if code >= 0 else 128 - code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 6 and argv[0] == "--python" and argv[2] == "--socket" and argv[4] == "--":
        return supervise(argv[1], argv[3], argv[5:])
    print("usage: warm.py --python PY --socket SOCK -- COMMAND... (the server: python -m cinreport warm-serve SOCK)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
