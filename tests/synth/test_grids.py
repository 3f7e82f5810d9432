"""synth.grids: the sample grids a run writes every ``grid_every`` updates."""
import json

import numpy as np
from PIL import Image

from spiral_dsl.cli import main as spiral
from synth.grids import episode_grid, write_grid


def _batch(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 8, 6), dtype=np.uint8)


def test_cells_are_the_canvases_row_major_each_beside_its_target():
    finals, targets = _batch(6, 0), _batch(6, 1)
    grid = episode_grid(finals, targets)
    assert grid.shape == (2 * 8 + 2, 4 * 12 + 3 * 2, 3) and grid.dtype == np.uint8
    for k in range(6):
        r, c = divmod(k, 4)
        cell = grid[r * 10:r * 10 + 8, c * 14:c * 14 + 12]
        assert np.array_equal(cell[:, :6], targets[k].transpose(1, 2, 0))
        assert np.array_equal(cell[:, 6:], finals[k].transpose(1, 2, 0))
    assert (grid[8:10] == 128).all()                 # the gap between rows
    assert (grid[10:, 2 * 14:] == 128).all()         # the cells of episodes 7 and 8 are empty


def test_at_most_count_episodes_and_unconditional_cells_are_canvases_alone(tmp_path):
    finals = _batch(20, 2)
    grid = episode_grid(finals)
    assert grid.shape == (4 * 8 + 3 * 2, 4 * 6 + 3 * 2, 3)   # 16 of the 20
    path = write_grid(tmp_path, 7, finals)
    assert path == tmp_path / "grids" / "update_000007.png"
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), grid)


def test_a_run_writes_a_grid_every_n_updates_and_logs_it(tmp_path):
    out = tmp_path / "run"
    assert spiral(["train", "--config", "configs/tiny.toml", "--set", f"out_dir={out}",
                   "--set", "updates=4", "--set", "grid_every=2", "-q"]) == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [("grid" in x) for x in lines] == [False, True, False, True]
    assert sorted(p.name for p in (out / "grids").iterdir()) == ["update_000002.png", "update_000004.png"]
    image = Image.open(lines[1]["grid"])
    assert image.size == (4 * 128 + 3 * 2, 64)        # batch 4: one row of target | canvas
