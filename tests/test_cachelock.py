"""Two processes that need the same features or sentence vectors compute them once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Each process builds the same slow encoder (a tiny CNN, or a text encoder of hashes), says it
# is ready, waits for the go, fills the shared cache, and prints how many rows it computed.
WORKER = """
import logging, sys, time
from pathlib import Path
import numpy as np

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
folder, name, kind = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
computed = []

if kind == "images":
    import torch
    from torch import nn
    from transferkit.deep.backbones import PretrainedBackbone, extract_features

    torch.manual_seed(0)
    stages = [nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 16, 3, 2, 1)]
    backbone = PretrainedBackbone(
        "tiny", stages, nn.Linear(16, 2), (0.5,) * 3, (0.25,) * 3, input_size=24, resize_size=24
    ).eval()
    forward = backbone.features

    def slow(batch, layer="penultimate"):
        computed.append(len(batch))
        time.sleep(0.4)
        return forward(batch, layer)

    backbone.features = slow
    images = np.random.default_rng(0).integers(0, 256, (16, 24, 24, 3), dtype=np.uint8)

    def fill():
        return extract_features(
            images, backbone, cache_dir=folder / "cache", batch_size=4, device="cpu"
        )
else:
    from transferkit.text import encoders

    def build():
        def encode(texts):
            computed.append(len(texts))
            time.sleep(0.4)
            return np.array([[len(t), t.count("e"), 1.0] for t in texts], dtype=np.float32)

        return encode

    encoders.TEXT_ENCODERS["slow"] = encoders.TextEncoder(
        "slow", "a slow test encoder", 3, None, "1", 4, build
    )
    texts = [f"verse number {i}, the same in both processes" for i in range(16)]

    def fill():
        return encoders.encode_texts(texts, "slow", cache_dir=folder / "cache")

(folder / f"{name}.ready").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
rows = fill()
np.save(folder / f"{name}.npy", rows)
print(sum(computed))
"""


@pytest.mark.parametrize("kind", ["images", "texts"])
def test_two_processes_filling_one_cache_compute_each_row_once(tmp_path: Path, kind: str):
    if kind == "images":
        pytest.importorskip("torch")
    import numpy as np

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), name, kind],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"{name}.ready").exists() for name in ("a", "b")):
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        time.sleep(0.05)
    (tmp_path / "go").touch()  # both start filling at once: 4 slow batches of 4 rows each
    outputs = [w.communicate(timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    computed = [int(out.split()[-1]) for out, _ in outputs]
    assert sum(computed) == 16, computed  # without the lock both compute all 16 rows: 32
    assert any("waiting for it" in err for _, err in outputs)
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
