"""Render-and-compare repair of scene programs on real MuJoCo: greedy, deterministic moves.

A scene is a set of objects (action dicts of the six :data:`~synth.mcmc.SCENE_SLOTS`) in
distinct cells. :func:`repair` starts from a given scene (possibly empty or wrong) and applies
moves, each scored by one full render and its summed squared error to the target; a block of
moves is rendered and its best member is accepted only when the error strictly drops. Renders
are deterministic, so the true scene scores exactly 0 and the search stops there.

Moves, cheapest and likeliest first:

* **birth** where the target shows an object the render does not explain (a connected region of
  pixels where the target differs from both the empty table and the render): its colour is read
  from the target's pixels there, and the (shape, size, free cell) placements whose projected
  bounding boxes best fit the region's box are rendered (:data:`BIRTH_TRIES` of them). A
  ``propose(target, canvas, actions)`` callback (the policy) may supply candidates first.
* **refine** each object whose projected box still shows a residual (an object with none
  renders exactly as in the target, so touching it can only help by accident): colour read from
  the target, then blocks over shape (all 4), size (all 3), the free neighbour cells (±1 row and
  column), each colour channel (all 4 levels), shape × size jointly, relocation to the region a
  birth would fill (for a scene already full), and death.

The search stops at MSE 0, when a whole sweep accepts nothing, or when ``budget`` renders
(the initial scene's included) are spent. The empty-table image used to find unexplained pixels
is a constant of the model, rendered once per process and not counted.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spiral_dsl import Program
from spiral_dsl.actions import ActionSpec
from spiral_dsl.ast import SHAPES, SIZE_CLASSES
from spiral_dsl.errors import SplRangeError, SplTypeError

from .mcmc import SCENE_SLOTS, SceneRenderer, _check_int, _check_scene_spec, _check_target, \
    check_scene_actions

__all__ = ["RepairResult", "repair", "evaluate_repair", "BIRTH_TRIES", "RELOCATE_TRIES"]

BIRTH_TRIES = 8          # placements rendered per birth region
RELOCATE_TRIES = 3       # cells tried when an object jumps to an unexplained region
SAME_HUE = 0.995         # cosine of colour directions within one object (clipping moves it <0.001)
EPS = 1e-6               # renders are exact: any larger per-pixel difference is real
COLOURS = ("red", "green", "blue")

Propose = Callable[[np.ndarray, np.ndarray, list], Sequence[Mapping[str, int]]]


@dataclass
class RepairResult:
    """The best scene found; ``trace[k]``: the best MSE after renderer call ``k + 1``
    (``len(trace) == renderer_calls <= budget``, ``trace[-1] == mse``)."""
    actions: list[dict[str, int]]
    mse: float
    renderer_calls: int
    trace: np.ndarray = field(repr=False)


# ------------------------------------------------------------------ geometry of the camera
@functools.lru_cache(maxsize=8)
def _geometry(grid: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Projected boxes (cells, shapes, sizes, 4: x0, y0, x1, y1 in pixels) of every placement
    and the projections of their centres (…, 2: x, y).

    The camera is a pinhole, so a 3×4 projective matrix fitted (DLT) to a few exact
    :func:`project_point` projections reproduces it; that vectorises 24k projections."""
    from spiral_dsl.interpreters.mujoco import project_point
    from spiral_dsl.interpreters.mujoco_scene import cell_centre, geom_params

    settings = {"canvas": size, "grid": grid, "objects": 1}
    fit = np.array([(x, y, z) for x in (-0.9, 0.0, 0.7) for y in (-0.8, 0.1, 0.9)
                    for z in (0.0, 0.3)])
    pix = np.array([project_point(settings, p, size) for p in fit])
    rows = []
    for (x, y, z), (u, v) in zip(fit, pix):
        rows.append([x, y, z, 1, 0, 0, 0, 0, -u * x, -u * y, -u * z, -u])
        rows.append([0, 0, 0, 0, x, y, z, 1, -v * x, -v * y, -v * z, -v])
    proj = np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 4)

    def project(points: np.ndarray) -> np.ndarray:
        h = points @ proj[:, :3].T + proj[:, 3]
        return h[..., :2] / h[..., 2:]

    cells = np.array([cell_centre(grid, c % grid, c // grid) for c in range(grid * grid)])
    boxes = np.zeros((len(cells), len(SHAPES), len(SIZE_CLASSES), 4))
    centres = np.zeros((len(cells), len(SHAPES), len(SIZE_CLASSES), 2))
    for s, shape in enumerate(SHAPES):
        for z, size_class in enumerate(SIZE_CLASSES):
            kind, params, half = geom_params(shape, size_class)
            # horizontal half width: the cube is turned 45° (r·√2); a capsule's radius is params[0]
            w = params[0] * (np.sqrt(2) if kind == "box" else 1.0)
            corners = np.array([(dx * w, dy * w, dz) for dx in (-1, 1) for dy in (-1, 1)
                                for dz in (0.0, 2 * half)])
            pts = cells[:, None, :] + corners[None, :, :2]
            pts = np.concatenate([pts, np.broadcast_to(corners[None, :, 2:], pts.shape[:2] + (1,))], -1)
            uv = project(pts)
            boxes[:, s, z] = np.concatenate([uv.min(1), uv.max(1)], -1)
            mid = np.concatenate([cells, np.full((len(cells), 1), half)], -1)
            centres[:, s, z] = project(mid)
    assert np.allclose(project(fit), pix, atol=1e-6), "the scene camera is not a pinhole"
    return boxes, centres


_EMPTY: dict[tuple, np.ndarray] = {}


def _empty_table(spec: ActionSpec, size: int) -> np.ndarray:
    key = (tuple(sorted(spec.settings.items())), size)
    if key not in _EMPTY:
        _EMPTY[key] = SceneRenderer(spec, size)([])
    return _EMPTY[key]


# ------------------------------------------------------------------ the search
class _Search:
    """The current scene, its render and error; renders candidate blocks within the budget."""

    def __init__(self, target, state, spec, renderer, budget):
        self.target, self.spec, self.render, self.budget = target, spec, renderer, budget
        self.start_calls = renderer.calls
        self.grid = spec.settings["grid"]
        self.capacity = min(spec.settings["objects"], self.grid ** 2)
        self.levels = spec.slots["red"].n
        self.boxes, self.centres = _geometry(self.grid, target.shape[0])
        self.empty = _empty_table(spec, target.shape[0])
        self.foreground = np.abs(target - self.empty).sum(-1) > EPS     # target pixels of objects
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

    # -- reading the images
    def residual(self) -> np.ndarray:
        return np.abs(self.image - self.target).sum(-1)

    def box(self, obj: Mapping[str, int], pad: int = 1) -> tuple[slice, slice]:
        x0, y0, x1, y1 = self.boxes[obj["cell"], obj["shape"], obj["size"]]
        h, w = self.target.shape[:2]
        return (slice(max(int(np.floor(y0)) - pad, 0), min(int(np.ceil(y1)) + pad, h)),
                slice(max(int(np.floor(x0)) - pad, 0), min(int(np.ceil(x1)) + pad, w)))

    def colour_of(self, mask: np.ndarray) -> dict[str, int] | None:
        """Colour levels read from the target's pixels under ``mask`` (faces render at about
        0.9–1.07 × their colour, so the median rounds to the level)."""
        if not mask.any():
            return None
        med = np.median(self.target[mask], axis=0)
        lv = np.clip(np.rint(med * (self.levels - 1)), 0, self.levels - 1).astype(int)
        return dict(zip(COLOURS, (int(v) for v in lv)))

    def visible(self, obj: Mapping[str, int]) -> np.ndarray:
        """Pixels of ``obj``'s box whose render looks like ``obj``: its colour times one
        shading factor in [0.5, 1.2] (every face renders at about 0.8–1.07 × its colour)."""
        out = np.zeros(self.foreground.shape, bool)
        ys, xs = self.box(obj, pad=0)
        colour = np.array([obj[c] for c in COLOURS], float) / (self.levels - 1)
        pix = self.image[ys, xs].astype(float)
        norm = float(colour @ colour)
        shade = pix @ colour / norm if norm else np.ones(pix.shape[:2])
        fit = np.abs(pix - shade[..., None] * colour).max(-1) < 0.03
        out[ys, xs] = fit & (shade >= 0.5) & (shade <= 1.2)
        return out

    def suspect(self, obj: Mapping[str, int]) -> bool:
        """Whether the target differs on a pixel where the render shows ``obj``: then ``obj``
        is wrong, or an object missing in front of it is (refining ``obj`` is worth a try)."""
        return bool((self.residual()[self.visible(obj)] > EPS).any())

    def regions(self) -> list[np.ndarray]:
        """Unexplained regions, largest residual first: 8-connected pixels where the target
        shows an object the render does not match, split where the target's hue changes.

        Every pixel of an object renders as its colour times a shading factor (no
        antialiasing), so neighbours of one object share a unit colour direction (cosine >=
        :data:`SAME_HUE`) and the set of channels that are 0; near-black pixels form a class."""
        res = self.residual()
        mask = self.foreground & (res > EPS)
        pix = self.target.astype(float)
        norm = np.linalg.norm(pix, axis=-1)
        unit = pix / np.maximum(norm, 1e-9)[..., None]
        dark = norm < 0.05
        zero = pix < 0.02
        seen = np.zeros_like(mask)
        h, w = mask.shape
        out = []
        for y, x in zip(*np.nonzero(mask)):
            if seen[y, x]:
                continue
            stack, comp = [(y, x)], np.zeros_like(mask)
            seen[y, x] = True
            while stack:
                cy, cx = stack.pop()
                comp[cy, cx] = True
                for ny in range(max(cy - 1, 0), min(cy + 2, h)):
                    for nx in range(max(cx - 1, 0), min(cx + 2, w)):
                        if not mask[ny, nx] or seen[ny, nx] or dark[ny, nx] != dark[cy, cx]:
                            continue
                        if dark[cy, cx] or ((zero[ny, nx] == zero[cy, cx]).all()
                                            and unit[ny, nx] @ unit[cy, cx] >= SAME_HUE):
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            out.append(comp)
        return sorted(out, key=lambda c: -float(res[c].sum()))

    def placements(self, region: np.ndarray, free: set[int], shape=None, size=None,
                   k=BIRTH_TRIES, edges: int = 4):
        """The ``k`` (cell, shape, size) placements in ``free`` cells whose projected boxes best
        fit ``region``'s box (L1 over the four edges, or with ``edges=3`` all but the bottom one,
        which an object in front may hide; ties broken by index, deterministic)."""
        ys, xs = np.nonzero(region)
        rbox = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)
        cost = np.abs(self.boxes - rbox)[..., :edges].sum(-1)       # cells × shapes × sizes
        mask = np.full(cost.shape, np.inf)
        cells = sorted(free)
        mask[cells] = 0.0
        if shape is not None:
            keep = np.full(cost.shape, np.inf)
            keep[:, shape, size] = 0.0
            mask = mask + keep
        cost = cost + mask
        order = np.argsort(cost, axis=None, kind="stable")[:k]
        return [tuple(int(v) for v in np.unravel_index(i, cost.shape)) for i in order
                if np.isfinite(cost.flat[i])]


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


def _refine(search: _Search, i: int, regions: list[np.ndarray]) -> bool:
    """Blocked coordinate moves on object ``i``; True when any was accepted (``i`` may then
    name another object if the last move was its death)."""
    improved = False
    n_shapes, n_sizes, levels = len(SHAPES), len(SIZE_CLASSES), search.levels

    def obj():
        return search.state[i]

    # colour read from the target where this object's box shows objects the render misses
    ys, xs = search.box(obj())
    window = np.zeros(search.foreground.shape, bool)
    window[ys, xs] = True
    colour = search.colour_of(window & search.foreground & (search.residual() > EPS))
    if colour and any(colour[c] != obj()[c] for c in COLOURS):
        improved |= search.block([_with(search.state, i, **colour)])
    for slot, n in (("shape", n_shapes), ("size", n_sizes)):
        if not search.done:
            improved |= search.block([_with(search.state, i, **{slot: v}) for v in range(n)
                                      if v != obj()[slot]])
    if not search.done:
        col, row = obj()["cell"] % search.grid, obj()["cell"] // search.grid
        taken = {a["cell"] for a in search.state}
        near = [(row + dr) * search.grid + col + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                if 0 <= row + dr < search.grid and 0 <= col + dc < search.grid]
        improved |= search.block([_with(search.state, i, cell=c) for c in near if c not in taken])
    for slot in COLOURS:
        if not search.done:
            improved |= search.block([_with(search.state, i, **{slot: v}) for v in range(levels)
                                      if v != obj()[slot]])
    if not search.done:
        improved |= search.block([_with(search.state, i, shape=s, size=z)
                                  for s in range(n_shapes) for z in range(n_sizes)
                                  if s != obj()["shape"] and z != obj()["size"]])
    if not search.done and regions and not improved:
        taken = {a["cell"] for j, a in enumerate(search.state) if j != i}
        free = set(range(search.grid ** 2)) - taken
        cands = []
        for region in regions[:2]:
            colour = search.colour_of(region)
            for c, _, _ in search.placements(region, free, obj()["shape"], obj()["size"],
                                             RELOCATE_TRIES):
                cands += [_with(search.state, i, cell=c), _with(search.state, i, cell=c, **colour)]
        improved |= search.block(cands)
    if not search.done:
        improved |= search.block([search.state[:i] + search.state[i + 1:]])
    return improved


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
            improved |= _refine(search, i, search.regions())
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
    list of action dicts), tried before the built-in births each sweep. Raises
    :class:`SplTypeError` / :class:`SplRangeError` naming a bad spec, target, budget, scene or
    renderer.
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


def evaluate_repair(spec: ActionSpec, scenes, starts, *, budget: int = 600,
                    propose: Propose | None = None) -> dict[str, float]:
    """:func:`repair` from ``starts[k]`` on scene ``k`` of ``scenes`` = ``(actions lists,
    targets)`` (as from :func:`synth.scene_eval.held_out_scenes`), aggregated: fractions over
    all true objects (:func:`synth.scene_eval.object_recovery`), ``scene_exact_fraction`` (every
    object exact, none extra), mean MSE, mean renderer calls and wall seconds per scene."""
    import time

    from .scene_eval import object_recovery

    truths, targets = scenes
    if not len(truths) == len(targets) == len(starts) > 0:
        raise SplRangeError(f"{len(truths)} scenes, {len(targets)} targets and {len(starts)} "
                            "starts: expected the same number, at least 1")
    grid = spec.settings["grid"]
    renderer = SceneRenderer(spec, size=np.asarray(targets[0]).shape[0])
    totals = {"objects": 0, "exact": 0, "near": 0, "extra": 0}
    perfect, mses, calls = 0, [], []
    start = time.perf_counter()
    for true, target, init in zip(truths, targets, starts):
        result = repair(np.asarray(target), init, spec, budget=budget, propose=propose,
                        renderer=renderer)
        counts = object_recovery(true, result.actions, grid=grid)
        for key in totals:
            totals[key] += counts[key]
        perfect += counts["exact"] == counts["objects"] and counts["extra"] == 0
        mses.append(result.mse)
        calls.append(result.renderer_calls)
    n = len(truths)
    return {"scenes": n, "objects": totals["objects"], "budget": budget,
            "exact_fraction": totals["exact"] / totals["objects"],
            "near_fraction": totals["near"] / totals["objects"],
            "extra_per_scene": totals["extra"] / n, "scene_exact_fraction": perfect / n,
            "mean_mse": float(np.mean(mses)), "mean_renderer_calls": float(np.mean(calls)),
            "max_renderer_calls": int(np.max(calls)),
            "seconds_per_scene": (time.perf_counter() - start) / n}
