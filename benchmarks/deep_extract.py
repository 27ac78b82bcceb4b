"""Extract (and cache) pre-trained features for every Office-Caltech10 image; print images/s.

Usage: nice -n 10 python benchmarks/deep_extract.py [--backbones mobilenet_v2,efficientnet_lite0]
       [--threads 1] [--stop-stage N] [--domains amazon,caltech10,dslr,webcam]
       [--allocator reuse|system]
Features land in the transferkit feature cache ($TRANSFERKIT_CACHE/features, else
~/.cache/transferkit/features); a second run reads them back and reports the cache speed.
``--allocator system`` leaves glibc's malloc as it is instead of calling
:func:`transferkit.allocator.reuse_freed_memory` (as the command line does).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from transferkit.allocator import reuse_freed_memory
from transferkit.datasets.office import load_office_caltech_images
from transferkit.deep.backbones import extract_features, load_backbone

DOMAINS = ("amazon", "caltech10", "dslr", "webcam")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="mobilenet_v2,efficientnet_lite0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stop-stage", type=int, default=None)
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--allocator", choices=("reuse", "system"), default="reuse")
    args = parser.parse_args()
    reused = args.allocator == "reuse" and reuse_freed_memory()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or 'cpu'}, "
        f"freed memory {'reused' if reused else 'returned (the C library default)'}"
    )
    print("| backbone | layer | dimensions | domain | images | seconds | images/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.backbones.split(","):
        backbone = load_backbone(name)
        layer = "penultimate" if args.stop_stage is None else f"stage{args.stop_stage}"
        for domain in args.domains.split(","):
            images, _ = load_office_caltech_images(domain)
            started = time.perf_counter()
            features = extract_features(images, backbone, stop_stage=args.stop_stage)
            seconds = time.perf_counter() - started
            print(
                f"| {name} | {layer} | {features.shape[1]} | {domain} | {len(images)} | "
                f"{seconds:.1f} | "
                f"{len(images) / seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
