"""The policy network per component, SPIRAL's (``arch = "spiral"``) vs the lean one, one thread.

For ``configs/mnist.toml``'s network (channels 32, hidden 256, spatial heads, 64² canvas, 32²
grid) at batch 16 and 256: forward and forward+backward time of one whole step (teacher forced,
as the learner runs it) and of each component on its own (encoder convolutions, residual
blocks, core, one location head, sampling of all slots), median of ``--repeats`` runs, plus
multiply-adds per sample; for the lean network also the whole step with its weights in
torch's default (NCHW) layout instead of channels-last. Writes bench/results/bench_policy.json.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import write_result

from synth.config import load_config
from synth.nets import Policy


def _time(fn, repeats: int) -> float:
    fn()                                           # warm-up (allocator, oneDNN primitives)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _macs(policy: Policy, size: int) -> int:
    """Multiply-adds per sample of one step: convolutions, linear layers and the LSTM cell."""
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, torch.nn.ConvTranspose2d):  # each input position scatters k taps
            total += inp[0][0].numel() * m.out_channels * k
        else:
            total += out[0].numel() * (m.in_channels // m.groups) * k

    def linear_hook(m, inp, out):
        nonlocal total
        total += m.in_features * m.out_features

    def lstm_hook(m, inp, out):
        nonlocal total
        total += 4 * m.hidden_size * (m.input_size + m.hidden_size)

    hooks = []
    for m in policy.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, torch.nn.LSTMCell):
            hooks.append(m.register_forward_hook(lstm_hook))
    with torch.no_grad():
        x = torch.rand(1, 3, size, size)
        policy(x, x, policy.no_action(1), policy.initial_state(1))
    for h in hooks:
        h.remove()
    return total


def measure(arch: str, batch: int, repeats: int) -> dict:
    config = load_config("configs/mnist.toml", [f"arch={arch}"])
    torch.manual_seed(0)
    policy = Policy(config.spec(), config.policy)
    size = config.run.canvas
    g = torch.Generator().manual_seed(1)
    canvas, target = torch.rand(batch, 3, size, size, generator=g), torch.rand(batch, 3, size, size, generator=g)
    prev, state = policy.no_action(batch), policy.initial_state(batch)
    actions = {s: torch.randint(0, n, (batch,), generator=g) for s, n in policy.spec.sizes.items()}
    params = [p for p in policy.parameters()]

    def step_forward():
        with torch.no_grad():
            policy(canvas, target, prev, state, actions=actions)

    def step_backward():
        out = policy(canvas, target, prev, state, actions=actions)
        (out.log_prob.sum() + out.entropy.sum() + out.value.sum()).backward()
        for p in params:
            p.grad = None

    x = torch.cat([canvas, target], 1) * 2 - 1
    with torch.no_grad():
        z, _, fmap = policy.encode(canvas, target, prev, state)
        enc = policy.encoder(x)
    head = policy.heads["end"]
    comps = {
        "encoder_convs": lambda: policy.encoder(x),
        "residual_blocks": lambda: policy.res(enc),
        "core": lambda: policy.core(F.relu(policy.to_core(fmap.flatten(1))), state),
        "one_location_head": lambda: head(F.relu(z), fmap),
    }
    row = {"forward_s": _time(step_forward, repeats), "forward_backward_s": _time(step_backward, repeats)}
    for name, fn in comps.items():
        def fwd(fn=fn):
            with torch.no_grad():
                fn()

        def fwd_bwd(fn=fn):
            out = fn()
            out = out[0] if isinstance(out, tuple) else out
            out.sum().backward()
            for p in params:
                p.grad = None
        row[f"{name}_forward_s"] = _time(fwd, repeats)
        row[f"{name}_forward_backward_s"] = _time(fwd_bwd, repeats)
    if arch == "lean":  # the same network with contiguous (NCHW) weights: what channels-last buys
        policy.to(memory_format=torch.contiguous_format)
        row["forward_nchw_s"] = _time(step_forward, repeats)
        row["forward_backward_nchw_s"] = _time(step_backward, repeats)
        policy.to(memory_format=torch.channels_last)
    row = {k: round(v * 1000, 3) for k, v in row.items()}  # milliseconds
    row = {k.replace("_s", "_ms") if k.endswith("_s") else k: v for k, v in row.items()}
    row["macs_per_sample"] = _macs(policy, size)
    row["parameters"] = sum(p.numel() for p in params)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 256])
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    for batch in args.batches:
        for arch in ("spiral", "lean"):
            results[f"{arch}_b{batch}"] = row = measure(arch, batch, args.repeats)
            print(arch, batch, row, flush=True)
        s, l_ = results[f"spiral_b{batch}"], results[f"lean_b{batch}"]
        results[f"speedup_b{batch}"] = {k: round(s[k] / l_[k], 2) for k in s if k.endswith("_ms") and l_.get(k)}
    write_result("bench_policy", {"benchmark": "policy components", "config": "configs/mnist.toml",
                                  "threads": 1, "repeats": args.repeats, **results,
                                  "note": "median milliseconds per call; forward_* score given actions "
                                          "(teacher forcing), as the learner does; the machine is shared"})


if __name__ == "__main__":
    main()
