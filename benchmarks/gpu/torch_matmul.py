#!/usr/bin/env python3
"""PyTorch reference for `gpu gemm`: square FP32 torch.matmul on the GPU with TF32 off, as GFLOP/s.

Usage: python3 benchmarks/gpu/torch_matmul.py [--sizes 256,512,1024,2048,4096] [--rounds 20] [--json]
Timing: CUDA events around `repeat` back-to-back matmuls, median over rounds, after a warm-up, so it is
comparable with GpuMicrobenchmarks.Sgemm (device buffers, no host copies).
"""
import argparse
import json
import statistics

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024,2048,4096")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: torch sees no CUDA device")
    # FP32 as IEEE single precision: no TF32 tensor-core shortcuts in matmul or cuDNN.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(dev)
    rows = []
    for n in (int(s) for s in args.sizes.split(",") if s):
        a = torch.rand(n, n, device=dev, dtype=torch.float32) - 0.5
        b = torch.rand(n, n, device=dev, dtype=torch.float32) - 0.5
        repeat = 20 if n <= 512 else 3
        for _ in range(3):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        times = []
        for _ in range(args.rounds):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(repeat):
                c = torch.matmul(a, b)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / repeat)
        ms = statistics.median(times)
        ref = (a[n // 2].double() @ b.double())
        err = (ref - c[n // 2].double()).abs().max().item()
        rows.append({"device": f"torch {torch.__version__}: {name}", "m": n, "n": n, "k": n, "ms": ms,
                     "gflops": 2.0 * n * n * n / (ms * 1e6), "max_abs_err_row": err})
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"device: torch {torch.__version__}: {name} (TF32 off)")
        print(f"{'size':>8} {'ms':>10} {'GFLOP/s':>10} {'max err':>10}")
        for r in rows:
            print(f"{r['m']:>8} {r['ms']:>10.3f} {r['gflops']:>10.1f} {r['max_abs_err_row']:>10.1e}")


if __name__ == "__main__":
    main()
