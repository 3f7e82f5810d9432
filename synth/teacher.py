"""Teacher programs for distillation: a search run over the training targets.

The policy learns fastest from demonstrations on the images it will see. ``build_teacher``
runs a search on every training target (in parallel processes, one torch thread each) and
stores the actions as one array, padded to ``steps`` statements with moves to the pen's
current point (they draw nothing), so every episode has the same length. The search is greedy
search (:func:`synth.search.greedy_actions`; ``search="greedy"``), or the policy-guided beam
of a trained policy (:func:`synth.beam.beam_search`; ``search="beam"``): distilling a policy
from its own beam's programs is one round of expert iteration (the search improves on the
policy; the policy learns what the search found; the better policy guides the next search).

    python -m synth.teacher --config configs/mnist.toml [--set key=value] [--out FILE]

The file is rewritten atomically after every chunk, so an interrupted build resumes where it
stopped; a file built for another action space or target set is never overwritten. :func:`load_teacher` checks that the file matches the action space it will train.
"""
from __future__ import annotations

import argparse
import io
import itertools
import multiprocessing as mp
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from spiral_dsl.actions import ActionSpec
from spiral_dsl.io import write_atomic

from .errors import DataError
from .progress import progress_bar

__all__ = ["build_teacher", "load_teacher", "pad_program"]


def pad_program(spec: ActionSpec, actions: list[dict], steps: int) -> np.ndarray:
    """(steps, slots) int array: ``actions`` then no-op moves to the pen's point."""
    order = spec.order
    rows = [[a.get(s, 0) for s in order] for a in actions[:steps]]
    end = actions[-1]["end"] if actions else 0
    noop = [{"flag": 0, "end": end}.get(s, 0) for s in order]
    rows += [noop] * (steps - len(rows))
    return np.asarray(rows, np.int16)


def _fingerprint(spec: ActionSpec, search: str = "greedy") -> str:
    base = f"{spec.domain}:{sorted(spec.settings.items())}:{list(spec.order)}"
    return base if search == "greedy" else f"{base}:{search}"


def _init_worker() -> None:
    """Before a worker process imports torch: idle OpenMP threads sleep instead of spinning
    (read once, when torch loads; spinning threads of several workers fight for the cores)."""
    import os
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _work(job):
    """One target in a worker process (torch loads there, with one thread)."""
    import torch

    from .search import greedy_actions, render_actions
    index, target, seed, steps, candidates, polish, settings, beam = job
    torch.set_num_threads(1)
    spec = ActionSpec.for_domain("paint", settings)
    if beam is None:
        actions = greedy_actions(target, seed=seed, steps=steps, candidates=candidates, polish=polish, spec=spec)
    else:
        from .beam import beam_search
        from .synthesize import load_policy  # cached per worker process
        checkpoint, expand = beam
        policy, _ = load_policy(checkpoint)
        programs, _ = beam_search(policy, target, expand=expand, steps=steps, seed=seed)
        actions = programs[0].to_actions(spec)   # the beam's programs are on the action grid
    row = pad_program(spec, actions, steps)
    # scored on the raster interpreter the policy trains on (no libmypaint needed here)
    canvas = render_actions(spec, [[dict(zip(spec.order, map(int, r))) for r in row]])[0]
    err = float(((canvas.permute(1, 2, 0).numpy() - target) ** 2).mean())
    return index, row, len(actions), err


def _save(path: Path, spec, actions, lengths, mse, done, search: str = "greedy") -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, actions=actions, lengths=lengths, mse=mse, done=done,
                        fingerprint=np.asarray(_fingerprint(spec, search)), order=np.asarray(list(spec.order)))
    write_atomic(path, buf.getvalue())


def build_teacher(targets: np.ndarray, spec: ActionSpec, out: str | Path, *, steps: int,
                  candidates: int, polish: int, workers: int, seed: int = 0,
                  chunk: int = 64, progress: bool = True, stop=None, search: str = "greedy",
                  checkpoint=None, expand: int = 16) -> Path:
    """Programs for ``targets`` (N, H, W, 3) found by ``search`` (``"greedy"``: ``candidates``,
    ``polish``; ``"beam"``: the beam of ``checkpoint``'s policy, ``expand`` proposals per
    partial program) written to ``out`` (resumes a partial file of the same search). The
    search's settings have no defaults here: they are a training config's
    (:class:`synth.config.SearchConfig`, ``episode_length - 1`` steps). ``stop()`` (SIGTERM
    during training) is polled every second: when True the programs found so far are saved
    and the build returns early, its file partial (a later build resumes it)."""
    out = Path(out)
    if out.is_dir():   # found before the search, not when its first chunk is written
        raise DataError(f"teacher file {out} is a folder: name a file (e.g. {out / 'teacher.npz'})")
    if search not in ("greedy", "beam"):
        raise DataError(f"search={search!r} is not one of ['greedy', 'beam']")
    if search == "beam" and not (checkpoint and Path(checkpoint).is_file()):
        raise DataError(f"search='beam' needs the checkpoint of a trained policy; {checkpoint!r} "
                        "is not a file")
    beam = (str(checkpoint), expand) if search == "beam" else None
    out.parent.mkdir(parents=True, exist_ok=True)
    n, width = len(targets), len(spec.order)
    actions = np.zeros((n, steps, width), np.int16)
    lengths = np.zeros(n, np.int16)
    mse = np.full(n, np.nan, np.float32)
    done = np.zeros(n, bool)
    if out.is_file():  # resume a partial build; never overwrite another build
        old = np.load(out)
        if str(old["fingerprint"]) != _fingerprint(spec, search) or old["actions"].shape != actions.shape:
            raise DataError(f"{out} holds teacher programs of shape {old['actions'].shape} for "
                            f"{old['fingerprint']}, not {actions.shape} for {_fingerprint(spec, search)}: "
                            "remove it or choose another path")
        actions, lengths, mse, done = (old[k].copy() for k in ("actions", "lengths", "mse", "done"))
    todo = [i for i in range(n) if not done[i]]
    settings = dict(spec.settings)
    jobs = [(i, targets[i], seed + i, steps, candidates, polish, settings, beam) for i in todo]
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")  # no forked torch thread pools
    # a bar with an ETA on a terminal; elsewhere the per-chunk lines below are the progress
    bar = progress_bar(n, "teacher", "image", quiet=not progress or not jobs, initial=n - len(jobs))
    # concurrent.futures, not multiprocessing.Pool: when a worker dies (SIGTERM to the process
    # group kills the workers with the run), the executor reports it as BrokenProcessPool and
    # shuts down; a Pool can hang for ever in terminate(), on a queue lock the dead worker held.
    queued, k = iter(jobs), 0
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool, bar:
        pending = {pool.submit(_work, job) for job in itertools.islice(queued, 2 * workers)}
        while pending:
            if stop is not None and stop():   # polled every second, whatever the workers do
                _save(out, spec, actions, lengths, mse, done, search)
                pool.shutdown(wait=False, cancel_futures=True)
                break
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    i, row, length, err = future.result()
                    k += 1
                    actions[i], lengths[i], mse[i], done[i] = row, length, err, True
                    # a worker can die between a result and the next job: submit raises then
                    pending |= {pool.submit(_work, job) for job in itertools.islice(queued, 1)}
                except BrokenProcessPool:
                    if stop is not None and stop():   # the workers died with the run: stopping
                        continue
                    _save(out, spec, actions, lengths, mse, done, search)
                    raise DataError(f"a teacher worker process died; the {int(done.sum())} "
                                    f"programs found so far are saved in {out}, and a later "
                                    "build resumes them") from None
                bar.update(1)
                bar.set_postfix(mse=f"{np.nanmean(mse):.4f}", refresh=False)
                if k % chunk == 0 or k == len(jobs):
                    _save(out, spec, actions, lengths, mse, done, search)
                    if progress and bar.disable:
                        rate = k / (time.perf_counter() - t0)
                        print(f"[teacher {done.sum()}/{n}] mean mse {np.nanmean(mse):.4f} "
                              f"{rate:.2f} img/s", file=sys.stderr)
    if not jobs:
        _save(out, spec, actions, lengths, mse, done, search)
    return out


def load_teacher(path: str | Path, spec: ActionSpec, count: int, search: str = "greedy") -> dict:
    """The teacher arrays, checked against ``spec``, the search and the number of targets."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"teacher file {path} does not exist (build it with python -m synth.teacher)")
    data = np.load(path)
    if str(data["fingerprint"]) != _fingerprint(spec, search):
        raise DataError(f"teacher file {path} was built for {data['fingerprint']}, not "
                        f"{_fingerprint(spec, search)}")
    if len(data["actions"]) != count:
        raise DataError(f"teacher file {path} has {len(data['actions'])} programs for {count} targets")
    if not data["done"].all():
        raise DataError(f"teacher file {path} is incomplete: {int(data['done'].sum())}/{count} programs")
    return {k: data[k] for k in ("actions", "lengths", "mse")}


def main(argv=None) -> int:
    """Build the teacher file of a training config (its targets, action space, episode length
    and search fields: the same defaults as ``spiral train``)."""
    import os

    from spiral_dsl.errors import SplError
    p = argparse.ArgumentParser(prog="python -m synth.teacher", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=None, help="training config TOML (default: the defaults "
                   "of synth.config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (python -m synth.config lists them)")
    p.add_argument("--out", default=None, help="teacher file (default: the config's teacher, "
                   "else <out_dir>/teacher.npz)")
    p.add_argument("--limit", type=int, default=0, help="only the first N targets (0: all)")
    a = p.parse_args(argv)
    try:
        from .config import load_config
        from .data import load_set
        config = load_config(a.config, a.overrides)
        if a.limit < 0:
            raise DataError(f"--limit={a.limit} must be an integer >= 0")
        run, search = config.run, config.search
        if run.domain != "paint":
            raise DataError(f"teacher programs are for the paint domain, not domain={run.domain!r}")
        images, _ = load_set(run.targets, size=run.canvas)
        if a.limit:
            images = images[: a.limit]
        out = a.out or config.teacher_path()
        build_teacher(images, config.spec(), out, steps=run.episode_length - 1,
                      candidates=search.teacher_candidates, polish=search.teacher_polish,
                      workers=search.teacher_workers or os.cpu_count() or 1, seed=run.seed,
                      progress=run.progress, search=search.teacher_search,
                      checkpoint=search.teacher_checkpoint, expand=search.teacher_expand)
    except SplError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
