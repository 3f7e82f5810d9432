"""Supervised data for the scene policy: random scenes and partial canvases, rendered once.

Random scenes are free labelled data: the scene program *is* the label of its render. Each
training example is a (target, canvas, remaining objects) triple: a random scene of 1..N
objects (:func:`synth.data.random_scenes`, the distribution held-out scenes come from), a
random subset of its objects already placed (the canvas, rendered by real MuJoCo; the empty
subset is the blank table, the full subset teaches *stop*), and the objects still to place.
A subset of ``k`` objects is drawn with ``k`` uniform in 0..n, then the objects uniformly.

Rendering costs about 0.3 ms per image here (three renders per scene with ``subsets = 2``),
far less than a training step, so examples are rendered once into uint8 arrays in memory and
reused; the same ``seed`` always gives the same examples.
"""
from __future__ import annotations

import random
from numbers import Integral

import numpy as np

from spiral_dsl.actions import ActionSpec
from spiral_dsl.errors import SplRangeError, SplTypeError

from .mcmc import SCENE_SLOTS, SceneRenderer

__all__ = ["SceneExamples", "scene_examples", "MAX_EXAMPLES"]

#: Bound on examples held in memory (2 images of 64² × 3 bytes each: about 2.5 GB at 10^5).
MAX_EXAMPLES = 400_000


class SceneExamples:
    """Rendered examples: ``targets`` (S, H, W, 3) uint8, one per scene; ``canvases``
    (E, H, W, 3) uint8; ``scene_of`` (E,) the target row of each example; ``remaining``
    (E, N, 6) int64, the objects still to place as ``SCENE_SLOTS`` rows, padded with -1."""

    def __init__(self, targets, canvases, scene_of, remaining):
        self.targets, self.canvases = targets, canvases
        self.scene_of, self.remaining = scene_of, remaining

    def __len__(self) -> int:
        return len(self.canvases)

    def batch(self, index: np.ndarray):
        """Torch tensors (target, canvas) (B, 3, H, W) float in [0, 1] and remaining (B, N, 6)."""
        import torch
        target = torch.from_numpy(self.targets[self.scene_of[index]]).permute(0, 3, 1, 2)
        canvas = torch.from_numpy(self.canvases[index]).permute(0, 3, 1, 2)
        return (target.float().div_(255), canvas.float().div_(255),
                torch.from_numpy(self.remaining[index]))


def _as_uint8(image: np.ndarray) -> np.ndarray:
    # the renderer's float image is its uint8 frame / 255: this inverts it exactly
    return np.rint(image * 255).astype(np.uint8)


def scene_examples(spec: ActionSpec, scenes: int, seed: int, subsets: int = 2,
                   progress=None) -> SceneExamples:
    """``scenes`` random scenes (``random_scenes(spec, scenes, seed)``) with ``subsets``
    partial canvases each, rendered by real MuJoCo. ``progress(done, total)`` is called every
    1,000 scenes."""
    from .data import random_scenes

    if not isinstance(spec, ActionSpec) or spec.domain != "scene":
        raise SplTypeError(f"spec must be a scene ActionSpec, not {spec!r}")
    for name, value, lo in (("scenes", scenes, 1), ("subsets", subsets, 1)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < lo:
            raise SplRangeError(f"{name}={value!r} is out of range: an integer >= {lo}")
    if scenes * subsets > MAX_EXAMPLES:
        raise SplRangeError(f"scenes × subsets = {scenes * subsets} examples is out of range: at "
                            f"most {MAX_EXAMPLES} are held in memory")
    size, n = int(spec.settings["canvas"]), int(spec.settings["objects"])
    render = SceneRenderer(spec)
    rng = random.Random(seed * 7919 + 1)     # subsets: a stream apart from the scenes' own
    targets = np.empty((scenes, size, size, 3), np.uint8)
    canvases = np.empty((scenes * subsets, size, size, 3), np.uint8)
    scene_of = np.repeat(np.arange(scenes), subsets)
    remaining = np.full((scenes * subsets, n, len(SCENE_SLOTS)), -1, np.int64)
    blank = _as_uint8(render([]))
    for s, actions in enumerate(random_scenes(spec, scenes, seed)):
        targets[s] = _as_uint8(render(actions))
        for k in range(subsets):
            e = s * subsets + k
            placed = rng.sample(actions, rng.randint(0, len(actions)))
            canvases[e] = blank if not placed else (
                targets[s] if len(placed) == len(actions) else _as_uint8(render(placed)))
            left = [a for a in actions if a not in placed]
            for j, a in enumerate(left):
                remaining[e, j] = [a[slot] for slot in SCENE_SLOTS]
        if progress is not None and (s + 1) % 1000 == 0:
            progress(s + 1, scenes)
    return SceneExamples(targets, canvases, scene_of, remaining)
