"""Training throughput (images/s) of the kit's loop against a faithful copy of the course's sample-code loop.

Both loops train the same model (same initial weights, same optimiser, same batch size, same images) for the
same number of epochs; only the data path and loop differ:

* course: ``CustomTensorDataset`` (uint8 tensor permuted to channels-first, per-item ``Compose([Lambda(to
  float32), Lambda(2*x/255-1)])``), ``RandomSampler``, ``DataLoader(batch_size=...)`` collating item by item,
  ``loss.item()`` every step (as the course's loop does). The course's per-epoch ``torch.save`` of the best
  model is left out of both loops.
* kit: ``starter_code.train.fit`` (uint8 gather + in-place normalisation per batch, one sync per epoch, its
  hooks included: the learning-rate schedule sets the rate before every step). On a GPU ``fit`` copies the uint8
  images to the device once, so no batch crosses the bus; the target there is >= 3x the course's loop
  (``benchmarks/gpu_check.py`` runs this script with ``--device cuda``).

Runs are interleaved (course, kit, course, kit, ...) so that load from other processes hits both alike; the
table reports the median over repeats. Default size runs in about a minute on 2 CPU cores.

    .venv/bin/python benchmarks/train_throughput.py                     # fcn, 4000 images, 2 epochs, 2 repeats
    .venv/bin/python benchmarks/train_throughput.py --models fcn cnn --n-images 8000 --epochs 3
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from starter_code.config import TrainConfig
from starter_code.data import make_loader
from starter_code.models import build_model, vae_loss
from starter_code.train import fit
from starter_code.utils import select_device, seed_everything


# --- Stand-ins for torchvision.transforms.Compose / Lambda (torchvision is not installed here) --------------------
class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class CustomTensorDataset(TensorDataset):
    """The course's dataset, as written in the HW8 sample code."""

    def __init__(self, tensors):
        self.tensors = tensors
        if tensors.shape[-1] == 3:
            self.tensors = tensors.permute(0, 3, 1, 2)
        self.transform = Compose([
            Lambda(lambda x: x.to(torch.float32)),
            Lambda(lambda x: 2. * x / 255. - 1.),
        ])

    def __getitem__(self, index):
        x = self.tensors[index]
        if self.transform:
            x = self.transform(x)
        return x

    def __len__(self):
        return len(self.tensors)


def course_loop(model: nn.Module, images: np.ndarray, model_type: str, epochs: int, batch_size: int, lr: float,
                device: torch.device) -> float:
    """The course's training loop; returns seconds spent in the epochs."""
    train_dataset = CustomTensorDataset(torch.from_numpy(images))
    train_dataloader = DataLoader(train_dataset, sampler=RandomSampler(train_dataset), batch_size=batch_size)
    if model_type == "fcn":
        # The course's fcn_autoencoder takes flattened images: same layers, same weights, no internal reshape.
        model = nn.Sequential(model.encoder, model.decoder)
    model = model.to(device).train()
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    for _ in range(epochs):
        tot_loss = []
        for data in train_dataloader:
            img = data.float().to(device)
            if model_type == "fcn":
                img = img.view(img.shape[0], -1)
            output = model(img)
            if model_type == "vae":
                loss = vae_loss(output[0], img, output[1], output[2])
            else:
                loss = criterion(output, img)
            tot_loss.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        np.mean(tot_loss)
    return time.perf_counter() - start


def kit_loop(model: nn.Module, images: np.ndarray, cfg: TrainConfig) -> float:
    return fit(model, images, cfg, progress=False).seconds


def data_path_seconds(images: np.ndarray, batch_size: int, epochs: int, device: torch.device) -> dict[str, float]:
    """Seconds to produce every normalised training batch for ``epochs`` epochs, without a model, per loader."""
    course = DataLoader(CustomTensorDataset(torch.from_numpy(images)),
                        sampler=RandomSampler(range(len(images))), batch_size=batch_size)
    kit = make_loader(images, batch_size, shuffle=True, device=device, seed=0)
    out = {}
    for name, loader in (("course", course), ("kit", kit)):
        start = time.perf_counter()
        for _ in range(epochs):
            for x in loader:
                x = x.float().to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        out[name] = time.perf_counter() - start
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["fcn"], help="model types to time (default: fcn, the simple "
                                                                "baseline)")
    p.add_argument("--n-images", type=int, default=4000, help="training images (random uint8 faces-sized arrays)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--repeats", type=int, default=2, help="interleaved runs per loop; the median is reported")
    p.add_argument("--device", default="cpu", help="'cpu' (the figure asked for), 'auto', 'cuda', ...")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--json", type=Path, help="also write the rows as JSON (benchmarks/gpu_check.py reads them)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.n_images, args.epochs, args.batch_size, args.repeats) < 1:
        print("error: --n-images, --epochs, --batch-size and --repeats must be positive", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    # Throughput does not depend on pixel values; random images avoid rendering faces (minutes on 2 cores).
    images = np.random.default_rng(args.seed).integers(0, 256, (args.n_images, 64, 64, 3), dtype=np.uint8)
    print(f"device={device} threads={torch.get_num_threads()} images={args.n_images} epochs={args.epochs} "
          f"batch={args.batch_size} repeats={args.repeats}")
    rows = []
    for model_type in args.models:
        seed_everything(args.seed)
        init = build_model(model_type)
        cfg = TrainConfig(model_type=model_type, epochs=args.epochs, batch_size=args.batch_size,
                          seed=args.seed, device=str(device))
        times = {"course": [], "kit": []}
        for _ in range(args.repeats):
            seed_everything(args.seed)
            times["course"].append(course_loop(copy.deepcopy(init), images, model_type, args.epochs,
                                               args.batch_size, cfg.lr, device))
            times["kit"].append(kit_loop(copy.deepcopy(init), images, cfg))
        n = args.n_images * args.epochs
        course, kit = (n / statistics.median(times[k]) for k in ("course", "kit"))
        rows.append((model_type, course, kit, kit / course))
    # The data path alone (no model): what the kit's loop removes from every step.
    data = [data_path_seconds(images, args.batch_size, args.epochs, device) for _ in range(args.repeats)]
    n = args.n_images * args.epochs
    course, kit = (n / statistics.median(d[k] for d in data) for k in ("course", "kit"))
    rows.append(("(data only)", course, kit, kit / course))
    print(f"{'loop':<12} {'course img/s':>13} {'kit img/s':>10} {'speed-up':>9}")
    for model_type, course, kit, ratio in rows:
        print(f"{model_type:<12} {course:>13.0f} {kit:>10.0f} {ratio:>8.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "rows": [
            {"loop": m, "course": c, "kit": k, "speedup": r} for m, c, k, r in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
