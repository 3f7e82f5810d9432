"""Progress with an ETA for long commands (``eval``, multi-file ``synthesize``, ``train``).

A tqdm bar on stderr (stdout stays the command's result). It is drawn only when stderr is a
terminal and the user did not pass ``--quiet``: in a log file or a pipe a redrawn bar is noise.
"""
from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["progress_bar"]


def progress_bar(total: int | None, desc: str, unit: str, *, quiet: bool = False,
                 initial: int = 0) -> tqdm:
    """A bar of ``total`` steps starting at ``initial``. ``quiet`` disables it; otherwise it
    shows only when stderr is a terminal. Print lines through ``bar.write(text)`` so they do
    not tear the bar (they are printed either way)."""
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=sys.stderr,
                disable=True if quiet else None, dynamic_ncols=True, leave=True)
