"""A run's output folder: owned by one run at a time, stopped gracefully, logged once per update.

* :func:`locked` — a lock (``flock`` on ``<out_dir>/run.lock``, which names the owner's pid
  and host) so two runs never write one ``out_dir`` (their logs would interleave and their
  checkpoints mix). The kernel releases it when its process dies, so the file a SIGKILLed run
  leaves behind is taken over.
* :func:`stop_on_sigterm` — SIGTERM (what schedulers, ``kill`` and ``docker stop`` send) asks
  the training loops to stop after the current update and write a final checkpoint, as
  Ctrl-C does.
* :func:`running` — the frame of one training stage: the lock, the SIGTERM flag and torch's
  thread count (the caller's restored after).
* :func:`open_log` — a metrics log (one JSON line per update) that a resumed run continues
  without repeating the updates a killed run logged after its last checkpoint.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from spiral_dsl.io import write_atomic

from .errors import RunError

__all__ = ["LOCK_NAME", "locked", "stop_on_sigterm", "running", "open_log", "check_resumable",
           "RESUMABLE"]

LOCK_NAME = "run.lock"
#: Files of ``out_dir`` that ``--resume`` continues from: the RL checkpoint, else pretraining's.
RESUMABLE = ("checkpoint.pt", "pretrain_checkpoint.pt", "scene_checkpoint.pt")

_held: dict[Path, list] = {}   # lock path -> [open descriptor, nesting depth] in this process


def _owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
        return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _acquire(path: Path) -> int:
    """Take ``path``'s lock; return the descriptor that holds it.

    The lock is the kernel's ``flock`` on the file, not the file's existence: it is released
    when its process dies however it dies (SIGKILL included), so a leftover file needs no
    guess about whether its pid still runs (pids are reused; containers have their own), and
    two runs taking over one leftover file cannot both win. The pid and host written in the
    file are for the message only."""
    me = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _owner(path) or {}
            raise RunError(f"out_dir {path.parent} is in use by another run (pid "
                           f"{owner.get('pid', '?')} on {owner.get('host', '?')}, lock file "
                           f"{path}): wait for it, stop it, or choose another out_dir") from None
        try:   # its owner may have released and removed it between our open and flock
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:
            os.close(fd)
            continue
        left = _owner(path)
        if left is not None:
            print(f"taking over the lock of a run that no longer runs ({path}, pid "
                  f"{left['pid']})", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, me, 0)
        return fd
    raise RunError(f"cannot take the lock {path}: other runs keep taking it")


@contextlib.contextmanager
def locked(out_dir):
    """Hold ``<out_dir>/run.lock`` for the block (re-entrant within a process); raises
    :class:`~synth.errors.RunError` naming the other run's pid when it is held."""
    path = Path(out_dir).resolve() / LOCK_NAME
    if path not in _held:
        _held[path] = [_acquire(path), 0]
    _held[path][1] += 1
    try:
        yield
    finally:
        _held[path][1] -= 1
        if not _held[path][1]:
            fd, _ = _held.pop(path)
            path.unlink(missing_ok=True)   # while still held: see _acquire's inode check
            os.close(fd)


class _Stop:
    """Callable flag: ``stop()`` is True once SIGTERM arrived."""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None


_stops: list[_Stop] = []


@contextlib.contextmanager
def stop_on_sigterm():
    """Yield ``stop()``, True once SIGTERM arrived during the block (the default action, an
    immediate exit without a checkpoint, is replaced for the block and restored after).
    Nested blocks share the outermost flag; outside the main thread (where Python cannot
    install handlers) ``stop()`` stays False."""
    if _stops:
        yield _stops[-1]
        return
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_sigterm(signum, frame):
        stop.signal = signum
        print("\nSIGTERM: stopping after this update (a final checkpoint follows)", file=sys.stderr)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    if previous is None:   # a handler installed from C: Python cannot reinstall it
        previous = signal.SIG_DFL
    _stops.append(stop)
    try:
        yield stop
    finally:
        _stops.pop()
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def running(config, stop=None):
    """The frame of a training stage (``train()``, ``pretrain()``): ``config.run.out_dir``
    :func:`locked`, SIGTERM asking to stop (:func:`stop_on_sigterm`), torch on
    ``config.torch_threads()`` threads (the caller's count restored after). Yields the stage's
    ``stop()``: True once SIGTERM arrived or when the caller's ``stop()`` says so."""
    import torch
    threads = torch.get_num_threads()
    try:
        with locked(config.run.out_dir), stop_on_sigterm() as terminated:
            torch.set_num_threads(config.torch_threads())
            yield lambda: terminated() or (stop is not None and stop())
    finally:
        torch.set_num_threads(threads)


def open_log(path, resume_at: int | None):
    """Open the metrics log ``path`` for appending. A fresh run (``resume_at`` None) starts it
    empty; a run resumed at update ``resume_at`` first drops the lines after it (logged by a
    killed run after its last checkpoint, and about to be logged again) and any torn line."""
    path = Path(path)
    kept = []
    if resume_at is not None and path.is_file():
        for line in path.read_text().splitlines():
            try:
                update = json.loads(line).get("update")
            except (ValueError, AttributeError):
                continue
            if isinstance(update, int) and update <= resume_at:
                kept.append(line + "\n")
    write_atomic(path, "".join(kept).encode())
    return path.open("a")


def check_resumable(out_dir, teacher=None) -> None:
    """Raise :class:`~synth.errors.RunError` unless ``out_dir`` holds a checkpoint to resume,
    or the run's (partial) ``teacher`` file: a run stopped while it built its teacher programs
    has no checkpoint yet, and resuming it continues the build, then pretrains."""
    out = Path(out_dir)
    if teacher is not None and Path(teacher).is_file():
        return
    if not any((out / name).is_file() for name in RESUMABLE):
        raise RunError(f"--resume: {out} holds no {' or '.join(RESUMABLE)} to resume from; "
                       "run without --resume to start, or set out_dir to the run to continue")
