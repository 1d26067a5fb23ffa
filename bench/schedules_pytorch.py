"""PyTorch's own schedulers for bench/schedules.ts, stepped as a PyTorch user steps them:
optimizer.step() then scheduler.step() after every batch, the rate read before each batch.

  one-cycle  OneCycleLR(max_lr=lr, total_steps, pct_start, anneal_strategy='cos',
             div_factor=div, final_div_factor=final_div / div, three_phase=False) on Adam:
             its betas[0] is the cycled momentum term (0.95 -> 0.85 -> 0.95).
  cosine     SequentialLR([LinearLR(start_factor=1/(W+1), total_iters=W),
             CosineAnnealingLR(T_max=total-W, eta_min=0)], milestones=[W]); W = 0: CosineAnnealingLR alone.
  constant   LinearLR(start_factor=1/(W+1), total_iters=W); W = 0: the rate.

Argument: one JSON object {total, lr, div, finalDiv, pctStart, warmupSteps}.
Prints one JSON line: {torch, oneCycle: [[lr, beta1]...], cosine: [lr...], constant: [lr...]}.
"""
import json, sys, warnings
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, OneCycleLR, SequentialLR

warnings.simplefilter("ignore")  # SequentialLR's deprecation notes on step(epoch) are not ours to fix
a = json.loads(sys.argv[1])
total, lr, w = a["total"], a["lr"], a["warmupSteps"]


def adam():
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def run(optimizer, scheduler, with_momentum=False):
    out = []
    for _ in range(total):
        group = optimizer.param_groups[0]
        out.append([group["lr"], group["betas"][0]] if with_momentum else group["lr"])
        optimizer.step()
        scheduler.step()
    return out


o = adam()
one_cycle = run(
    o,
    OneCycleLR(o, max_lr=lr, total_steps=total, pct_start=a["pctStart"], anneal_strategy="cos",
               div_factor=a["div"], final_div_factor=a["finalDiv"] / a["div"], three_phase=False),
    with_momentum=True,
)

o = adam()
if w > 0:
    warm = LinearLR(o, start_factor=1 / (w + 1), end_factor=1.0, total_iters=w)
    cos = CosineAnnealingLR(o, T_max=total - w, eta_min=0)
    cosine = run(o, SequentialLR(o, [warm, cos], milestones=[w]))
else:
    cosine = run(o, CosineAnnealingLR(o, T_max=total, eta_min=0))

o = adam()
constant = run(o, LinearLR(o, start_factor=1 / (w + 1), end_factor=1.0, total_iters=w)) if w > 0 else [lr] * total

print(json.dumps({"torch": torch.__version__, "oneCycle": one_cycle, "cosine": cosine, "constant": constant}))
