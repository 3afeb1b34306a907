"""Benchmark: chen2025's DenseNet-169 training recipe, the paper's (224 px, batch 32, 50 epochs, 156
training patients x 4 sequences) and ours (128 px, batch 16, 3 epochs, 84 x 4), per epoch and extrapolated.

    python bench/densenet.py [--device auto] [--size 224] [--batch 32] [--samples 624] [--epochs 2] [--threads 0]

Random inputs of the real shape (the time does not depend on the pixel values); MONAI DenseNet169 (2D,
3 channels), SGD momentum 0.9 lr 0.01, cross-entropy, random flip + crop on the device. Only torch and
MONAI are needed (runs on a bare GPU machine with a MONAI wheel).
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--samples", type=int, default=624, help="training samples per epoch (patients x 4 sequences)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs measured (the first is warm-up)")
    ap.add_argument("--target-epochs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    from monai.networks.nets import DenseNet169

    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if a.device == "auto" else a.device))
    torch.manual_seed(0)
    net = DenseNet169(spatial_dims=2, in_channels=3, out_channels=2, pretrained=False).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x_all = torch.randn(a.samples, 3, a.size, a.size)
    y_all = torch.randint(0, 2, (a.samples,))
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else f"cpu x {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {name}, load {os.getloadavg()[0]:.1f}; {a.samples} samples of 3 x {a.size} x "
          f"{a.size}, batch {a.batch}")
    times = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        net.train()
        for i in range(0, a.samples, a.batch):
            x = x_all[i:i + a.batch].to(dev)
            y = y_all[i:i + a.batch].to(dev)
            x = torch.where(torch.rand(len(x), 1, 1, 1, device=dev) < 0.5, x.flip(-1), x)  # flip
            x = torch.nn.functional.pad(x, (8, 8, 8, 8))
            oy, ox = torch.randint(0, 17, (2,)).tolist()
            x = x[..., oy:oy + a.size, ox:ox + a.size]  # crop
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        print(f"epoch {epoch + 1}: {times[-1]:.2f} s")
    per = sum(times[1:]) / max(1, len(times) - 1) if len(times) > 1 else times[0]
    net.eval()
    with torch.no_grad():
        x = torch.randn(4, 3, a.size, a.size, device=dev)
        net(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(5):
            net.features(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    feat = (time.perf_counter() - t0) / 5
    print(f"per epoch {per:.2f} s; {a.target_epochs} epochs (extrapolated): {per * a.target_epochs / 60:.1f} min; "
          f"deep features of one patient (4 sequences): {feat * 1000:.1f} ms")


if __name__ == "__main__":
    main()
