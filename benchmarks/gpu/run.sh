#!/usr/bin/env bash
# GPU benchmark run for a session that has a GPU machine: GEMM sweep (ILGPU tiled kernel, cuBLAS through
# ILGPU.Algorithms, PyTorch FP32 with TF32 off) and zoo latencies through the GPU provider, written as JSON
# and a markdown table under benchmarks/gpu/results/. Usage: bash benchmarks/gpu/run.sh [DEVICE] (default cuda)
set -euo pipefail
cd "$(dirname "$0")/../.."
device="${1:-cuda}"
out=benchmarks/gpu/results
mkdir -p "$out"
dotnet build benchmarks/Benchmarks -c Release -v q -nologo
bench() { dotnet benchmarks/Benchmarks/bin/Release/net10.0/NetOnnx.Benchmarks.dll "$@"; }
bench gpu gemm --device "$device" --format json > "$out/gemm-ilgpu.json"
if [ "$device" = cuda ]; then bench gpu gemm --device cuda-cublas --format json > "$out/gemm-cublas.json"; fi
python3 benchmarks/gpu/torch_matmul.py --json > "$out/gemm-torch.json" || echo "torch run failed" >&2
bench gpu zoo --device "$device" --rounds 20 --format json > "$out/zoo.json"
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(n):
    p = os.path.join(out, n)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) > 0 else []
lines = ["# GPU results", ""]
gemm = {n: load(n) for n in ("gemm-ilgpu.json", "gemm-cublas.json", "gemm-torch.json")}
devs = [rows[0]["device"] for rows in gemm.values() if rows]
lines += ["## SGEMM (square, FP32, device buffers), GFLOP/s", "", "| n | " + " | ".join(devs) + " |", "|---|" + "---|" * len(devs)]
for i, r in enumerate(gemm["gemm-ilgpu.json"]):
    cells = [f"{rows[i]['gflops']:.0f}" for rows in gemm.values() if rows and i < len(rows)]
    lines.append(f"| {r['m']} | " + " | ".join(cells) + " |")
zoo = load("zoo.json")
if zoo:
    lines += ["", f"## Zoo latency, {zoo[0]['device']} vs CPU kernels (1 thread), p50 ms", "", "| model | device | cpu | device nodes | cpu steps |", "|---|---|---|---|---|"]
    for r in zoo:
        lines.append(f"| {r['model']} | {r['device_p50_ms']:.2f} | {r['cpu_1thread_p50_ms']:.2f} | {r['device_nodes']} | {r['cpu_steps']} |")
open(os.path.join(out, "RESULTS.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
