#!/usr/bin/python3
# clip_torch.py -- the baseline for scripts/bench/clip: CLIP's ViT-B/32 image tower in PyTorch.
#
# The tower as CLIP's model.py builds it (conv patch embedding, class token,
# positions, ln_pre, 12 pre-LN residual blocks of nn.MultiheadAttention and
# a quick-GELU MLP, ln_post, projection), random weights, written here from
# the paper's description; timed at the batch and thread count given, fp32
# and bf16 (the weights and inputs cast to bfloat16: PyTorch's oneDNN path),
# in inference mode.  Prints "torch_<precision>_img_per_s N" lines.
# Needs Debian's python3-torch (scripts/setup.sh --bench).
import argparse
import time

import torch
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTower(nn.Module):
    def __init__(self, size=224, patch=32, width=768, layers=12, heads=12, embed=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        n = (size // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.pos = nn.Parameter(torch.randn(n, width) * width ** -0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.Sequential(*[Block(width, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, embed) * width ** -0.5)

    def forward(self, x):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)           # [B, grid^2, W]
        cls = self.cls.to(x.dtype).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.pos.to(x.dtype))
        x = self.blocks(x.permute(1, 0, 2)).permute(1, 0, 2)  # MHA wants [S, B, W]
        return self.ln_post(x[:, 0, :]) @ self.proj


def rate(model, batch, dtype, seconds):
    x = torch.rand(batch, 3, 224, 224, dtype=dtype)
    with torch.inference_mode():
        model(x)  # warm-up: oneDNN builds its primitives
        n, t0 = 0, time.perf_counter()
        while True:
            model(x)
            n += batch
            t = time.perf_counter() - t0
            if t >= seconds:
                return n / t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--precision", choices=["fp32", "bf16"], action="append")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = VisionTower().eval()
    for p in a.precision or ["fp32", "bf16"]:
        dtype = torch.float32 if p == "fp32" else torch.bfloat16
        print("torch_%s_img_per_s %.2f" % (p, rate(model.to(dtype), a.batch, dtype, a.seconds)),
              flush=True)
    print("torch_version %s" % torch.__version__)


if __name__ == "__main__":
    main()
