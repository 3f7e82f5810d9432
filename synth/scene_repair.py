"""Render-and-compare repair of scene programs on real MuJoCo: greedy, deterministic moves.

A scene is a set of objects (action dicts of the six :data:`~synth.mcmc.SCENE_SLOTS`) in
distinct cells. :func:`repair` starts from a given scene (possibly empty or wrong) and applies
moves, each scored by one full render and its summed squared error to the target; a block of
moves is rendered and its best member is accepted only when the error strictly drops. Renders
are deterministic, so the true scene scores exactly 0 and the search stops there; a scene
rendered once is never rendered again (it cannot beat the current one).

Each sweep tries, and restarts after the first kind that helps:

1. the ``propose(target, canvas, actions)`` callback's objects (the policy), if given;
2. **refine** the *suspect* objects, those whose own visible pixels differ from the target,
   each until it is no longer suspect: colour read from the target; *rebirth* (render the scene
   without it, then a birth, as in 3, at the region that leaves unexplained; rebuilding is
   cheaper than searching slot by slot); blocks over shape (all 4), size (all 3), the free
   neighbour cells (±1 row and column), each colour channel (all 4 levels), shape × size
   jointly; a jump to an unexplained region; death;
3. **birth** at the largest unexplained region (pixels where the target shows an object the
   render does not match, split by hue): colour read from the target there, and the
   :data:`BIRTH_TRIES` (shape, size, free cell) placements whose projected boxes best fit the
   region's box (then fitting all but the bottom edge, which a nearer object may hide). In a
   full scene the new object replaces a suspect one;
4. refine every object with any residual in its box (until none is left there), and births at
   the two largest regions.

When a sweep finds nothing, objects the search added that the render hides are pruned (same
error, fewer objects), which can unblock the death of an object in front of them. The search
stops at MSE 0 (after that prune), when nothing helps, or when ``budget`` renders (the initial
scene's included) are spent. Image reading is in :mod:`synth.scene_reading`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.ast import SHAPES, SIZE_CLASSES
from spiral_dsl.errors import SplRangeError, SplTypeError

from .mcmc import (
    SCENE_SLOTS,
    SceneRenderer,
    _check_int,
    _check_scene_spec,
    _check_target,
    check_scene_actions,
)
from .scene_reading import COLOURS, EPS, reader

__all__ = ["RepairResult", "repair", "BIRTH_TRIES", "RELOCATE_TRIES"]

BIRTH_TRIES = 8          # placements rendered per birth region
RELOCATE_TRIES = 3       # cells tried when an object jumps to an unexplained region

Propose = Callable[[np.ndarray, np.ndarray, list], Sequence[Mapping[str, int]]]


@dataclass
class RepairResult:
    """The best scene found; ``trace[k]``: the best MSE after renderer call ``k + 1``
    (``len(trace) == renderer_calls <= budget``, ``trace[-1] == mse``)."""
    actions: list[dict[str, int]]
    mse: float
    renderer_calls: int
    trace: np.ndarray = field(repr=False)


# ------------------------------------------------------------------ the search
class _Search:
    """The current scene, its render and error; renders candidate blocks within the budget."""

    def __init__(self, target, state, spec, renderer, budget):
        self.target, self.spec, self.render, self.budget = target, spec, renderer, budget
        self.start_calls = renderer.calls
        self.grid = spec.settings["grid"]
        self.capacity = min(spec.settings["objects"], self.grid ** 2)
        self.levels = spec.slots["red"].n
        self.read = reader(spec, target.shape[0])
        self.foreground = self.read.foreground(target)
        self.trace: list[float] = []
        self.state = state
        self.initial = _key(state)
        self.seen = {self.initial}          # scenes rendered: none can beat the current one
        self.image = renderer(state)
        self.sq = self._sum_sq(self.image)
        self.trace.append(self.sq)

    # -- scoring
    @property
    def calls(self) -> int:
        return self.render.calls - self.start_calls

    @property
    def done(self) -> bool:
        return self.sq == 0.0 or self.calls >= self.budget

    def _sum_sq(self, image) -> float:
        return float(np.sum(np.square(image - self.target), dtype=np.float64))

    def block(self, candidates: Sequence[list[dict]]) -> bool:
        """Render candidate scenes (while the budget lasts, stopping at an exact one); accept
        the best when it is strictly better than the current scene."""
        best = None
        for cand in candidates:
            key = _key(cand)
            if self.calls >= self.budget or key in self.seen:
                continue            # a scene rendered before scored no better than now
            self.seen.add(key)
            image = self.render(cand)
            sq = self._sum_sq(image)
            if best is None or sq < best[0]:
                best = (sq, cand, image)
            self.trace.append(min(self.trace[-1], sq))
            if sq == 0.0:
                break
        if best is None or best[0] >= self.sq:
            return False
        self.sq, self.state, self.image = best[0], [dict(a) for a in best[1]], best[2]
        return True

    def look(self, scene: list[dict]) -> np.ndarray | None:
        """Render ``scene`` (even if rendered before: its image is wanted), accepting it when
        strictly better; None when the budget is spent."""
        if self.calls >= self.budget:
            return None
        self.seen.add(_key(scene))
        image = self.render(scene)
        sq = self._sum_sq(image)
        self.trace.append(min(self.trace[-1], sq))
        if sq < self.sq:
            self.sq, self.state, self.image = sq, [dict(a) for a in scene], image
        return image

    # -- reading the images (see :mod:`synth.scene_reading`)
    def residual(self) -> np.ndarray:
        return np.abs(self.image - self.target).sum(-1)

    def box(self, obj: Mapping[str, int], pad: int = 1) -> tuple[slice, slice]:
        return self.read.box(obj, pad)

    def colour_of(self, mask: np.ndarray) -> dict[str, int] | None:
        return self.read.colour_of(self.target, mask)

    def visible(self, obj: Mapping[str, int]) -> np.ndarray:
        return self.read.visible(self.image, obj)

    def suspect(self, obj: Mapping[str, int]) -> bool:
        """Whether the target differs on a pixel where the render shows ``obj``: then ``obj``
        is wrong, or an object missing in front of it is (refining ``obj`` is worth a try)."""
        return bool((self.residual()[self.visible(obj)] > EPS).any())

    def regions(self) -> list[np.ndarray]:
        return self.read.regions(self.target, self.residual(), self.foreground)

    def placements(self, region, free, shape=None, size=None, k=BIRTH_TRIES, edges=4):
        return self.read.placements(region, free, k, shape, size, edges)


# ------------------------------------------------------------------ moves
def _key(state: Sequence[Mapping[str, int]]) -> frozenset:
    return frozenset(tuple(a[s] for s in SCENE_SLOTS) for a in state)


def _with(state: list[dict], i: int, **slots) -> list[dict]:
    return state[:i] + [{**state[i], **slots}] + state[i + 1:]


def _births(search: _Search, region: np.ndarray) -> bool:
    """Add an object fitting ``region``; in a full scene, put it in place of a suspect object
    (of any object when none is suspect)."""
    colour = search.colour_of(region)
    state = search.state
    taken = {a["cell"] for a in state}
    free = set(range(search.grid ** 2)) - taken
    for edges in (4, 3):        # a hidden bottom edge makes the full box fit miss
        if len(state) < search.capacity:
            cands = [state + [{"shape": s, "cell": c, "size": z, **colour}]
                     for c, s, z in search.placements(region, free, edges=edges)]
        else:
            victims = [j for j, a in enumerate(state) if search.suspect(a)] or range(len(state))
            cands = [state[:j] + state[j + 1:] + [{"shape": s, "cell": c, "size": z, **colour}]
                     for j in victims
                     for c, s, z in search.placements(region, free | {state[j]["cell"]},
                                                      edges=edges)]
        if search.done:
            return False
        if search.block(cands):
            return True
    return False


def _proposed(search: _Search, propose: Propose) -> bool:
    """The callback's candidates: an object in a free cell is added (when there is room), one
    in a held cell replaces the object there."""
    got = propose(search.target, search.image.copy(), [dict(a) for a in search.state])
    if isinstance(got, (str, bytes, Mapping)) or not isinstance(got, Sequence):
        raise SplTypeError(f"propose() must return a list of action dicts, not {type(got).__name__}")
    got = [check_scene_actions(search.spec, [a], f"propose() result[{k}]")[0]
           for k, a in enumerate(got)]
    cells = [a["cell"] for a in search.state]
    cands = []
    for obj in got:
        if obj["cell"] in cells:
            cands.append(_with(search.state, cells.index(obj["cell"]), **obj))
        elif len(search.state) < search.capacity:
            cands.append(search.state + [obj])
    return search.block(cands)


def _refine(search: _Search, i: int, wanted) -> bool:
    """The moves of :func:`_moves` on object ``i`` until one leaves it no longer ``wanted``
    (e.g. no longer suspect: it renders as the target shows it). True when any was accepted
    (``i`` then names another object if the move was its death)."""
    improved, n = False, len(search.state)
    for moves in _moves(search, i):
        if search.done:
            break
        cands = moves()
        if len(search.state) < n:       # looking (a rebirth) found its death better
            return True
        if search.block(cands):
            improved = True
            if len(search.state) < n or search.done or not wanted(search.state[i]):
                break
    return improved


def _moves(search: _Search, i: int):
    """The move blocks on object ``i``, cheap and likely first, each built when its turn comes
    (from the object as the earlier blocks left it)."""
    def obj():
        return search.state[i]

    def read_colour():
        # the colour the target shows where this object's box has objects the render misses
        window = np.zeros(search.foreground.shape, bool)
        window[search.box(obj())] = True
        colour = search.colour_of(window & search.foreground & (search.residual() > EPS))
        return [_with(search.state, i, **colour)] if colour else []

    def slot(name, n):
        return lambda: [_with(search.state, i, **{name: v}) for v in range(n) if v != obj()[name]]

    def jump():
        # to where a birth would go: an object moved far, in a scene too full for a birth
        taken = {a["cell"] for j, a in enumerate(search.state) if j != i}
        free = set(range(search.grid ** 2)) - taken
        cands = []
        for region in search.regions()[:2]:
            colour = search.colour_of(region)
            for c, _, _ in search.placements(region, free, obj()["shape"], obj()["size"],
                                             RELOCATE_TRIES):
                cands += [_with(search.state, i, cell=c), _with(search.state, i, cell=c, **colour)]
        return cands

    def rebirth():
        # the object rebuilt from scratch where the target shows it: a birth, as for a missing
        # object, at the region that removing it leaves unexplained
        this, fewer = obj(), search.state[:i] + search.state[i + 1:]
        image = search.look(fewer)
        if image is None or search.done:
            return []
        residual = np.abs(image - search.target).sum(-1)
        box = np.zeros(residual.shape, bool)
        box[search.box(this)] = True
        regions = [r for r in search.read.regions(search.target, residual, search.foreground)
                   if (r & box).any()][:1]
        free = set(range(search.grid ** 2)) - {a["cell"] for a in fewer}
        return [fewer[:i] + [{"shape": s, "cell": c, "size": z, **search.colour_of(r)}] + fewer[i:]
                for r in regions for c, s, z in search.placements(r, free)]

    def neighbours():
        col, row = obj()["cell"] % search.grid, obj()["cell"] // search.grid
        taken = {a["cell"] for a in search.state}
        near = [(row + dr) * search.grid + col + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                if 0 <= row + dr < search.grid and 0 <= col + dc < search.grid]
        return [_with(search.state, i, cell=c) for c in near if c not in taken]

    def joint():
        return [_with(search.state, i, shape=s, size=z) for s in range(len(SHAPES))
                for z in range(len(SIZE_CLASSES)) if s != obj()["shape"] and z != obj()["size"]]

    yield read_colour
    yield rebirth
    yield slot("shape", len(SHAPES))
    yield slot("size", len(SIZE_CLASSES))
    yield neighbours
    for name in COLOURS:
        yield slot(name, search.levels)
    yield joint
    yield jump
    yield lambda: [search.state[:i] + search.state[i + 1:]]         # death


def _sweep(search: _Search, propose: Propose | None) -> bool:
    """One pass; True when any move was accepted.

    First the likely moves: the callback's proposals, refinement of the *suspect* objects
    (their own visible pixels differ from the target), and a birth at the largest unexplained
    region. Only when none of them helps, every object with any residual in its box is refined
    and births are tried at the two largest regions (an object too small or hidden may look
    right on its own pixels)."""
    if propose is not None and not search.done and _proposed(search, propose):
        return True
    if _refine_all(search, search.suspect):
        return True
    regions = search.regions()
    if regions and not search.done and _births(search, regions[0]):
        return True
    if _refine_all(search, lambda a: search.residual()[search.box(a)].max() > EPS):
        return True
    return any(not search.done and _births(search, r) for r in search.regions()[:2])


def _refine_all(search: _Search, wanted) -> bool:
    improved, i = False, 0
    while i < len(search.state) and not search.done:
        if wanted(search.state[i]):
            n = len(search.state)
            improved |= _refine(search, i, wanted)
            if len(search.state) < n:
                continue        # object i died; i now names the next one
        i += 1
    return improved


def _prune(search: _Search) -> bool:
    """Remove objects the search added that are hidden behind others, when that leaves the
    error unchanged: of scenes rendering alike, the one with fewer objects (objects of the
    start scene stay: the image cannot refute them). Only an object whose box overlaps
    another's can be hidden, so only those cost a render. True when one was removed."""
    def overlaps(i):
        mask = np.zeros(search.foreground.shape, bool)
        mask[search.box(search.state[i], pad=0)] = True
        return any(mask[search.box(a, pad=0)].any() for j, a in enumerate(search.state) if j != i)

    i, pruned = 0, False
    while i < len(search.state) and search.calls < search.budget:
        if _key(search.state[i:i + 1]) <= search.initial or not overlaps(i):
            i += 1
            continue
        fewer = search.state[:i] + search.state[i + 1:]
        image = search.render(fewer)
        sq = search._sum_sq(image)
        search.trace.append(min(search.trace[-1], sq))
        search.seen.add(_key(fewer))
        if sq <= search.sq:
            search.sq, search.state, search.image, pruned = sq, fewer, image, True
        else:
            i += 1
    return pruned


def repair(target: np.ndarray, actions, spec: ActionSpec, *, budget: int = 600,
           propose: Propose | None = None, renderer: SceneRenderer | None = None) -> RepairResult:
    """Repair the scene ``actions`` (0..objects action dicts in distinct cells, or a Program)
    towards ``target`` (S×S×3 float in [0, 1]) with at most ``budget`` renders on real MuJoCo.

    Deterministic: the same inputs give the same result. ``renderer``: a shared
    :class:`SceneRenderer` of ``spec`` at the target's size (its ``calls`` grow by
    ``renderer_calls``). ``propose(target, canvas, actions)``: optional candidate objects (a
    list of action dicts), tried first each sweep; one in a free cell is added (when there is
    room), one in a held cell replaces the object there. Raises :class:`SplTypeError` /
    :class:`SplRangeError` naming a bad spec, target, budget, scene, renderer or proposal.

    The image reading that picks moves assumes the target was rendered as ``renderer`` renders
    (exact pixels); on other images it guesses worse, but every move is still scored by the
    error, so the result is never worse than the start (``mse <= trace[0]``).
    """
    _check_scene_spec(spec)
    target = _check_target(target)
    budget = _check_int("budget", budget, 1)
    if isinstance(actions, Program):
        actions = spec.encode_program(actions)
    if isinstance(actions, (str, bytes, Mapping)) or not isinstance(actions, Sequence):
        raise SplTypeError(f"actions must be a list of action dicts, not {type(actions).__name__}")
    state = check_scene_actions(spec, actions, "actions") if len(actions) else []
    if renderer is None:
        renderer = SceneRenderer(spec, size=target.shape[0])
    elif not isinstance(renderer, SceneRenderer):
        raise SplTypeError(f"renderer must be a SceneRenderer, not {type(renderer).__name__}")
    elif renderer.spec.settings != spec.settings or renderer.size != target.shape[0]:
        raise SplRangeError(f"renderer draws {renderer.spec.settings} at {renderer.size} px: "
                            f"expected {spec.settings} at the target's {target.shape[0]} px")
    if propose is not None and not callable(propose):
        raise SplTypeError(f"propose must be callable, not {type(propose).__name__}")
    search = _Search(target, state, spec, renderer, budget)
    while True:
        if not search.done and _sweep(search, propose):
            continue
        # a pruned hidden object may have blocked the death of the one in front of it
        if _prune(search) and not search.done:
            continue
        break
    pixels = target.size
    return RepairResult(actions=[dict(a) for a in search.state], mse=search.sq / pixels,
                        renderer_calls=search.calls,
                        trace=np.asarray(search.trace, dtype=np.float64) / pixels)
