"""An instrument for digit samples: a small MNIST classifier of our own and the field's figures.

    python scripts/mnist_classifier.py train        # → bench/mnist_classifier.pt (< 1 MB)
    python scripts/mnist_classifier.py calibrate    # → bench/results/mnist_instrument.json
    python scripts/mnist_classifier.py score FILE.spl ... | IMAGES.npz   # samples' figures

Not part of the library: it measures what a generator draws. The classifier is trained on the
training digits (``synth.data.load_set("mnist-train")``: the 2,000 shipped digits, or 9,000
with ``SPIRAL_MNIST_DIR``) less 250 held out, with random shifts, and checked on the 1,000
evaluation digits, which it never sees in training. For a set of 64² images (dark ink on white, H×W×3 in [0, 1])
:func:`sample_quality` reports

* ``fid``: the Fréchet distance between Gaussians fitted to the classifier's penultimate
  features (128-d) of the images and of the 1,000 evaluation digits (FID-style; like FID it
  grows as the sample shrinks, so compare sets of the same size — 250 here);
* ``confident``: the share classified with probability ≥ 0.9;
* ``classes``: how many of the ten classes the confident images cover;
* ``diversity``: the mean pairwise Euclidean distance of their features.

``calibrate`` measures reference sets of 250 images: the 250 held-out training digits (real vs
real: neither seen by the classifier nor in the reference), greedy-search reconstructions of
those digits (64 candidates, 2 polish rounds), digits the classifier trained on, evaluation
digits (a quarter of the reference itself), random pen-style and uniform programs — programs
all rendered by real libmypaint — and blank canvases. The file is a state dict and a JSON description, loadable with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WEIGHTS = ROOT / "bench" / "mnist_classifier.pt"
RESULT = ROOT / "bench" / "results" / "mnist_instrument.json"
SIZE = 64


class DigitNet(nn.Module):
    """64² RGB in [0, 1] (dark ink on white) → 10 logits; :meth:`features` the 128-d
    penultimate layer. The image is averaged to 32² grey ink first (MNIST's detail is 28²)."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.convs = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),            # 16²
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),        # 8²
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(2 * w * 16, 128)
        self.head = nn.Linear(128, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        ink = 1 - images.mean(1, keepdim=True)                  # (B, 1, 64, 64), ink = 1
        ink = F.avg_pool2d(ink, SIZE // 32)
        return F.relu(self.fc(self.convs(ink).flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def _as_batch(images: np.ndarray) -> torch.Tensor:
    """(N, 64, 64, 3) float in [0, 1] → (N, 3, 64, 64) tensor."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1:] != (SIZE, SIZE, 3):
        raise ValueError(f"images must be (N, {SIZE}, {SIZE}, 3), got {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def _shift(x: torch.Tensor, gen: torch.Generator, pixels: int = 4) -> torch.Tensor:
    """Each image moved by up to ``pixels`` in x and y, the border filled white."""
    padded = F.pad(x, (pixels,) * 4, value=1.0)
    out = torch.empty_like(x)
    offsets = torch.randint(0, 2 * pixels + 1, (x.shape[0], 2), generator=gen)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy:dy + SIZE, dx:dx + SIZE]
    return out


def holdout_indices(count: int, total: int, seed: int = 0) -> np.ndarray:
    """The ``count`` training digits kept out of the classifier's training (sorted indices
    into ``mnist-train``): real digits it has never seen that are not in the reference set."""
    return np.sort(np.random.default_rng(seed).choice(total, count, replace=False))


def train_classifier(epochs: int = 25, seed: int = 0, holdout: int = 250, log=print) -> tuple[DigitNet, dict]:
    """Train on ``mnist-train`` less ``holdout`` digits (:func:`holdout_indices`); returns the
    net and a description with its accuracy on ``mnist-eval`` and the held-out indices."""
    from synth.data import load_set
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y = load_set("mnist-train", size=SIZE)
    held = holdout_indices(holdout, len(x), seed)
    keep = np.setdiff1d(np.arange(len(x)), held)
    x, y = _as_batch(x[keep]), torch.as_tensor(np.asarray(y)[keep], dtype=torch.long)
    net = DigitNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            loss = F.cross_entropy(net(_shift(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}")
    ex, ey = load_set("mnist-eval", size=SIZE)
    accuracy = (predict(net, ex).argmax(1) == torch.as_tensor(np.asarray(ey))).float().mean().item()
    return net, {"train_digits": len(x), "epochs": epochs, "seed": seed, "eval_accuracy": accuracy,
                 "holdout": held.tolist()}


@torch.no_grad()
def predict(net: DigitNet, images: np.ndarray, features: bool = False) -> torch.Tensor:
    """Class probabilities (N, 10), or penultimate features (N, 128) with ``features``."""
    net.eval()
    batch = _as_batch(images)
    out = [(net.features(b) if features else net(b).softmax(1)) for b in batch.split(250)]
    return torch.cat(out)


def save(net: DigitNet, info: dict, path: Path = WEIGHTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weights": net.state_dict(), "info": json.dumps(info)}, path)


def load(path: Path = WEIGHTS) -> DigitNet:
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = DigitNet()
    net.load_state_dict(state["weights"])
    return net.eval()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D):
    ``‖μa − μb‖² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)`` (symmetric square roots by eigh, no SciPy)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def sample_quality(images: np.ndarray, net: DigitNet | None = None,
                   reference: np.ndarray | None = None) -> dict:
    """The instrument's figures (module docstring) for ``images`` (N, 64, 64, 3) against the
    evaluation digits (``reference``: their features, computed when not given)."""
    net = net or load()
    if reference is None:
        from synth.data import load_set
        reference = predict(net, load_set("mnist-eval", size=SIZE)[0], features=True).numpy()
    feats = predict(net, images, features=True)
    probs = net.head(feats).softmax(1)
    top, label = probs.max(1)
    sure = top >= 0.9
    pair = torch.cdist(feats, feats)
    n = len(feats)
    return {"n": n, "fid": round(frechet_distance(feats.numpy(), reference), 3),
            "confident": round(sure.float().mean().item(), 4),
            "classes": int(label[sure].unique().numel()),
            "class_counts": torch.bincount(label[sure], minlength=10).tolist(),
            "diversity": round((pair.sum() / max(n * (n - 1), 1)).item(), 3)}


def render_programs(programs, backend: str | None = None) -> np.ndarray:
    """Programs rendered at 64² by ``backend`` (default: the library's, real libmypaint)."""
    return np.stack([p.render(size=SIZE, backend=backend) for p in programs])


def random_programs(count: int, style: str, seed: int = 0, length: int = 19):
    from spiral_dsl.actions import ActionSpec
    from spiral_dsl.generate import random_program
    spec = ActionSpec.for_domain("paint", {"canvas": SIZE, "grid": 32, "brush": "classic/dry_brush"})
    rng = random.Random(seed)
    return [random_program(spec, length, rng, style) for _ in range(count)]


def greedy_reconstructions(targets: np.ndarray, seed: int = 0, candidates: int = 64, polish: int = 2):
    """:func:`synth.search.greedy` programs (19 statements) for ``targets``: what a search that
    sees the digit draws — the aim for a generator's samples."""
    from synth.search import greedy
    return [greedy(t, seed=seed + i, candidates=candidates, polish=polish) for i, t in enumerate(targets)]


def calibrate(count: int = 250, seed: int = 0) -> dict:
    """The instrument on reference sets of ``count`` images (module docstring)."""
    from synth.data import load_set
    net = load()
    info = json.loads(torch.load(WEIGHTS, map_location="cpu", weights_only=True)["info"])
    reference = predict(net, load_set("mnist-eval", size=SIZE)[0], features=True).numpy()
    rng = np.random.default_rng(seed)
    train = load_set("mnist-train", size=SIZE)[0]
    evals = load_set("mnist-eval", size=SIZE)[0]
    unseen = train[np.asarray(info["holdout"])][:count]
    seen = train[np.setdiff1d(np.arange(len(train)), info["holdout"])]
    t0 = time.perf_counter()
    greedy = render_programs(greedy_reconstructions(unseen, seed))
    print(f"greedy reconstructions: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    sets = {
        "real digits (training set, held out from the classifier)": unseen,
        "greedy reconstructions of those digits (libmypaint)": greedy,
        "real digits the classifier trained on": seen[rng.choice(len(seen), count, replace=False)],
        "evaluation digits (part of the reference)": evals[rng.choice(len(evals), count, replace=False)],
        "random programs, pen style (libmypaint)": render_programs(random_programs(count, "pen", seed)),
        "random programs, uniform (libmypaint)": render_programs(random_programs(count, "uniform", seed)),
        "blank canvases": np.ones((count, SIZE, SIZE, 3), np.float32),
    }
    rows = {}
    for name, images in sets.items():
        t0 = time.perf_counter()
        rows[name] = sample_quality(images, net, reference)
        rows[name]["seconds"] = round(time.perf_counter() - t0, 2)
        print(name, rows[name], file=sys.stderr)
    return {"classifier": {k: v for k, v in info.items() if k != "holdout"}, "count": count, "seed": seed, "rows": rows}


def _load_images(paths: list[str]) -> np.ndarray:
    if len(paths) == 1 and paths[0].endswith(".npz"):
        return np.load(paths[0])["images"]
    from spiral_dsl import Program
    return render_programs([Program.parse(Path(p).read_text()) for p in paths])


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    command = argv[0] if argv else ""
    if command == "train":
        epochs = int(argv[1]) if len(argv) > 1 else 25
        net, info = train_classifier(epochs)
        save(net, info)
        print(json.dumps(info))
    elif command == "calibrate":
        from spiral_dsl.io import write_atomic
        result = calibrate()
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(RESULT, json.dumps(result, indent=1) + "\n")
        print(json.dumps(result, indent=1))
    elif command == "score" and len(argv) > 1:
        print(json.dumps(sample_quality(_load_images(argv[1:]))))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
