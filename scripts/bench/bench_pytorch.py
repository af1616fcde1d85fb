#!/usr/bin/env python3
"""PyTorch's CPU build on the same two models as scripts/bench/main.ts, for an honest ratio.

The regular CNN and the deformable CNN of src/models/cnn.ts, layer for layer (3x3
convolutions with bias, ReLU before BatchNorm with Keras's epsilon 1e-3 and momentum 0.99,
global average pooling, a dense layer, softmax and categorical cross-entropy, Adam), and the
reference's per-channel offset layer: a 3x3 convolution without bias predicts (dy, dx) per
channel and pixel, and each channel is resampled bilinearly at (i + dy, j + dx) clipped to
the image, corners floor and floor + 1 (src/kernels/typed/bilinear.ts, 'clip'), gradients
through autograd. Stride-2 'same' convolutions pad one pixel on each side here (TensorFlow
pads 0 before and 1 after): the same arithmetic, shifted by a pixel.

Times, in milliseconds (median over rounds of the mean of a burst of consecutive calls, as
scripts/bench/main.ts takes them), batch 32 unless said, with torch.set_num_threads(n) for each n:
the regular training step, the deformable fine-tune step (conv11, conv12, conv21, conv22 and
fc1 frozen; offsets and BatchNorm learn), the two models' forward passes (inference, no
gradients) at batch 32, and the deformable forward at batch 1. One JSON object on stdout.

    python3 scripts/bench/bench_pytorch.py --threads 1,2 --rounds 5 --burst 3
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def deform_sample(x, offsets):
    """x [B, C, H, W] sampled per channel at (i + dy, j + dx), offsets [B, 2C, H, W] as (dy, dx) pairs."""
    b, c, h, w = x.shape
    dy, dx = offsets[:, 0::2], offsets[:, 1::2]
    rows = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1)
    cols = torch.arange(w, dtype=x.dtype).view(1, 1, 1, w)
    y = (rows + dy).clamp(0, h - 1)
    xx = (cols + dx).clamp(0, w - 1)
    y0, x0 = y.detach().floor(), xx.detach().floor()
    fy, fx = y - y0, xx - x0
    y0, x0 = y0.long(), x0.long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    flat = x.reshape(b, c, h * w)

    def corner(yi, xi):
        return flat.gather(2, (yi * w + xi).reshape(b, c, h * w)).reshape(b, c, h, w)

    top = corner(y0, x0) * (1 - fx) + corner(y0, x1) * fx
    bottom = corner(y1, x0) * (1 - fx) + corner(y1, x1) * fx
    return top * (1 - fy) + bottom * fy


class ConvOffset2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * channels, 3, padding=1, bias=False)
        nn.init.normal_(self.conv.weight, 0, 0.01)

    def forward(self, x):
        return deform_sample(x, self.conv(x))


BLOCKS = [('conv11', 1, 32, 1), ('conv12', 32, 64, 2), ('conv21', 64, 128, 1), ('conv22', 128, 128, 2)]


class Cnn(nn.Module):
    def __init__(self, deformable):
        super().__init__()
        layers = []
        for name, cin, cout, stride in BLOCKS:
            if deformable and name != 'conv11':
                layers.append(ConvOffset2D(cin))
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)]
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(128, 10)

    def forward(self, x):
        h = self.features(x).mean(dim=(2, 3))
        return F.softmax(self.fc1(h), dim=1)


def fine_tune_parameters(model):
    """Freezes the base (convolutions and fc1): only the offset convolutions and BatchNorm learn."""
    for p in model.parameters():
        p.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, (ConvOffset2D, nn.BatchNorm2d)):
            for p in module.parameters():
                p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def train_step(model, optimizer, xs, ys):
    optimizer.zero_grad(set_to_none=True)
    probs = model(xs)
    loss = -(ys * torch.log(probs.clamp(1e-7, 1 - 1e-7))).sum(dim=1).mean()
    loss.backward()
    optimizer.step()


def time_rounds(tasks, warmup, rounds, burst):
    times = {name: [] for name in tasks}
    for r in range(warmup + rounds):
        for name, task in tasks.items():
            start = time.perf_counter()
            for _ in range(burst):
                task()
            if r >= warmup:
                times[name].append((time.perf_counter() - start) * 1000 / burst)
    return {name: round(statistics.median(v), 1) for name, v in times.items()}


def bench(threads, batch, rounds, burst):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    xs = torch.rand(batch, 1, 28, 28)
    ys = F.one_hot(torch.randint(0, 10, (batch,)), 10).float()
    regular = Cnn(False)
    regular_opt = torch.optim.Adam(regular.parameters(), lr=1e-3, eps=1e-7)
    deform = Cnn(True)
    deform_opt = torch.optim.Adam(fine_tune_parameters(deform), lr=5e-4, eps=1e-7)
    inference = Cnn(True).eval()
    regular_inference = Cnn(False).eval()
    one = xs[:1].clone()

    def forward(model, x):
        with torch.no_grad():
            model(x)

    tasks = {
        'regular_train_ms': lambda: train_step(regular, regular_opt, xs, ys),
        'deform_finetune_ms': lambda: train_step(deform, deform_opt, xs, ys),
        'regular_forward_ms': lambda: forward(regular_inference, xs),
        'deform_forward_ms': lambda: forward(inference, xs),
        'deform_forward_batch1_ms': lambda: forward(inference, one),
    }
    return time_rounds(tasks, warmup=2, rounds=rounds, burst=burst)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', default='1,2', help='comma-separated thread counts')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--burst', type=int, default=3)
    args = parser.parse_args()
    result = {
        'torch': torch.__version__,
        'cpu_capability': torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, 'cpu') else None,
        'mkldnn': torch.backends.mkldnn.is_available(),
        'batch': args.batch,
        'threads': {n: bench(int(n), args.batch, args.rounds, args.burst) for n in args.threads.split(',')},
    }
    print(json.dumps(result))


if __name__ == '__main__':
    main()
