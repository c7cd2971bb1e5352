#!/usr/bin/env python
"""Training-speed benchmark: generator steps per second, peak memory and the time split
of one step, for every experiment and model, on synthetic data of the real shapes.

    python scripts/benchmark.py --quick                 # a few minutes on 2 CPU cores
    python scripts/benchmark.py --device cuda --set trainer.cuda_graph=true
    python scripts/benchmark.py --cases paired_mnist,k_scaling --out bench.json
    python scripts/benchmark.py --cases paired_mnist/factorgan --versus model.combined.stack_same_shape=false

Each case runs alone in a fresh process (its own peak memory; no two benchmarks share the
cores). Steps/s is the median over several timed windows after warm-up. The split times
one instrumented step at a time (synchronising the device between the parts): the
generator's forward pass for the discriminator steps (``gen``), real-data sampling
(``data``), the rest of the discriminator steps (``disc``) and the generator step
(``g_step``), in milliseconds per generator step.

Every run first prints the machine's speed of the moment (``machine`` in the JSON): dense
GEMM GFLOP/s, the MNIST discriminator's first-layer GEMM in GFLOP/s and microseconds per
tiny operation (dispatch overhead). Shared machines drift by several times from day to day; compare
benchmark numbers from different days through these.

``--versus OVERRIDES`` compares instead: each case (A) against itself with the overrides
(B), alternating blocks of steps of the two in one process, so drift in the machine's
speed (large on shared CPUs) cancels out; it prints both median ms per step and B / A.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]

MNIST_MODELS = ("factorgan", "factorgan_no_cp", "gan", "gan_big")
SEG_MODELS = ("factorgan", "gan", "cyclegan")
PAIR_MODELS = ("factorgan", "gan", "gan_big")
MUSDB_MODELS = ("factorgan", "gan")
# Synthetic songs for the musdb cases (made on first use, then reused): 10 training songs
# of 60 s, read through the real loader's memory-mapped spectrogram cache.
MUSDB_BENCH = Path(tempfile.gettempdir()) / "factorgan_bench" / "musdb"


def musdb_data() -> list[str]:
    """The musdb cases' data overrides, writing the synthetic songs if missing."""
    if not (MUSDB_BENCH / "songs" / "test").is_dir():
        from factorgan.data.synthetic.musdb import make_synthetic_musdb

        make_synthetic_musdb(MUSDB_BENCH / "songs", n_train=10, n_test=1, seconds=60.0, seed=0)
    return [f"dataset.root={MUSDB_BENCH / 'songs'}", f"dataset.cache_dir={MUSDB_BENCH / 'cache'}"]


def seg_shapes(size: int) -> list[str]:
    """Cityscapes' shapes and footprint: 2,975 training pairs of (6, size, size), stored
    as uint8 like the real loader's."""
    return ["dataset=synthetic", f"dataset.sample_shape=[6,{size},{size}]", "dataset.dim=0",
            "dataset.sizes=[3,3]", "dataset.input_parts=1", "dataset.n_train=2975", "dataset.n_test=10",
            "dataset.uint8=true"]


def pair_shapes(size: int) -> list[str]:
    """Cityscapes image pairs' shapes: 2,975 unconditional (6, size, size) pairs, uint8."""
    return ["dataset=synthetic", f"dataset.sample_shape=[6,{size},{size}]", "dataset.dim=0",
            "dataset.sizes=[3,3]", "dataset.input_parts=0", "dataset.n_train=2975", "dataset.n_test=10",
            "dataset.uint8=true"]


def cases() -> dict[str, dict[str, list[str]]]:
    """Case group -> {case name: config overrides}."""
    groups: dict[str, dict[str, list[str]]] = {
        "paired_mnist": {
            f"paired_mnist/{m}": ["experiment=paired_mnist", f"model={m}"] for m in MNIST_MODELS
        },
        "k_scaling": {
            f"k_scaling/K={k}": [
                "experiment=paired_mnist", "model=factorgan", "dataset=synthetic",
                f"dataset.sample_shape=[1,{28 * k},28]", f"dataset.sizes=[{','.join(['28'] * k)}]",
            ]
            for k in (2, 4, 8)
        },
    }
    if (REPO / "factorgan" / "configs" / "experiment" / "cityscapes_seg.yaml").exists():
        groups["cityscapes_seg"] = {
            f"cityscapes_seg/{m}": ["experiment=cityscapes_seg", f"model={m}", *seg_shapes(128)]
            for m in SEG_MODELS
        }
    if (REPO / "factorgan" / "configs" / "experiment" / "musdb_sep.yaml").exists():
        groups["musdb"] = {f"musdb/{m}": ["experiment=musdb_sep", f"model={m}", "paired=5"] for m in MUSDB_MODELS}
    if (REPO / "factorgan" / "configs" / "experiment" / "cityscapes_pairs.yaml").exists():
        groups["image_pairs"] = {
            f"image_pairs/{m}": ["experiment=cityscapes_pairs", f"model={m}", *pair_shapes(64)]
            for m in PAIR_MODELS
        }
    return groups


# ---- one case, in its own process ----------------------------------------------------
def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CPU-GPU sync point: timing only


def _timed(fn: Callable, acc: dict[str, float], key: str, device: Any) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _sync(device)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        _sync(device)
        acc[key] = acc.get(key, 0.0) + time.perf_counter() - t0
        return out

    return wrapper


def _build(overrides: list[str], device: str, run_dir: Path) -> tuple[Any, Callable[[], None]]:
    """A trainer for the composed config and its step function (eager or CUDA graph)."""
    from hydra import compose, initialize_config_module

    from factorgan.training.cuda_graphs import make_step_runner
    from factorgan.build import build_trainer

    if "experiment=musdb_sep" in overrides:  # the real loader, on synthetic songs
        overrides = [*overrides, *musdb_data()]
    with initialize_config_module("factorgan.configs", version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"device={device}", "trainer.progress=false"])
    trainer = build_trainer(cfg, run_dir)
    trainer.G.train()
    trainer.D.train()
    step = make_step_runner(trainer.train_step, trainer.rng, [trainer.opt_d, trainer.opt_g], cfg.trainer.cuda_graph)
    return trainer, step


def run_versus(overrides: list[str], versus: list[str], device: str, quick: bool) -> dict[str, Any]:
    """A/B in one process: the case (A) and the case with ``versus`` overrides (B) run
    alternating blocks of steps, so a machine that speeds up or slows down meanwhile
    affects both alike. Returns median ms per generator step of each and B / A."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = [_build(ov, device, Path(tmp) / name) for name, ov in (("a", overrides), ("b", overrides + versus))]
        dev = runs[0][0].device
        times: list[list[float]] = [[], []]
        for _ in range(5 if quick else 20):  # warm-up (compilation, graph capture)
            for _, step in runs:
                step()
        _sync(dev)
        t0 = time.perf_counter()
        runs[0][1]()
        _sync(dev)
        block = max(1, int((0.2 if quick else 1.0) / max(time.perf_counter() - t0, 1e-6)))
        for _ in range(4 if quick else 12):
            for k, (_, step) in enumerate(runs):
                _sync(dev)
                t0 = time.perf_counter()
                for _ in range(block):
                    step()
                _sync(dev)
                times[k].append(1000 * (time.perf_counter() - t0) / block)
    a, b = statistics.median(times[0]), statistics.median(times[1])
    return {"a_ms": a, "b_ms": b, "b_over_a": b / a, "a_blocks_ms": times[0], "b_blocks_ms": times[1],
            "steps_per_block": block, "overrides": overrides, "versus": versus}


def run_case(overrides: list[str], device: str, quick: bool) -> dict[str, Any]:
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        trainer, step = _build(overrides, device, Path(tmp))
        dev = trainer.device
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        for _ in range(5 if quick else 20):  # warm-up (and CUDA graph capture)
            step()
        _sync(dev)
        t0 = time.perf_counter()
        step()
        _sync(dev)
        one = time.perf_counter() - t0
        window_s = 0.5 if quick else 2.0
        per_window = max(1, int(window_s / max(one, 1e-6)))
        rates = []
        for _ in range(3 if quick else 5):
            _sync(dev)
            t0 = time.perf_counter()
            for _ in range(per_window):
                step()
            _sync(dev)
            rates.append(per_window / (time.perf_counter() - t0))
        # Time split: instrumented eager steps.
        split: dict[str, float] = {}
        # The D steps' generator batches (``gen``) and real batches (``data``; GAN and
        # FactorGAN steps) timed by wrapping the functions the steps call.
        from factorgan.training import steps as steps_module

        ctx, gen, data = trainer.ctx, trainer.ctx.generate, steps_module.real_batch
        steps_module.real_batch = _timed(data, split, "data", dev)  # type: ignore[assignment]
        n_split = max(1, min(per_window, 20))
        try:
            for _ in range(n_split):
                for _ in range(trainer.settings.disc_iter):
                    ctx.generate = _timed(gen, split, "gen", dev)  # type: ignore[method-assign]
                    _timed(trainer.discriminator_step, split, "disc_total", dev)()
                ctx.generate = gen  # type: ignore[method-assign]
                _timed(trainer.generator_step, split, "g_step", dev)()
        finally:
            steps_module.real_batch = data  # type: ignore[assignment]
        ms = {k: 1000 * v / n_split for k, v in split.items()}
        ms["disc"] = ms.pop("disc_total") - ms.get("gen", 0.0) - ms.get("data", 0.0)
        if dev.type == "cuda":
            peak = torch.cuda.max_memory_allocated(dev)
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        return {
            "steps_per_s": statistics.median(rates),
            "s_per_step": 1 / statistics.median(rates),
            "windows": rates,
            "peak_memory_mb": peak / 2**20,
            "split_ms": ms,
            "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "overrides": overrides,
        }


# ---- the machine's speed of the moment -------------------------------------------------
def calibrate(device: str, quick: bool) -> dict[str, Any]:
    """Three figures that set step times here: ``gemm_gflops`` (512×512 by 512×512 fp32
    products: arithmetic-bound convolution work), ``mlp_gemm_gflops`` (50×1568 by 1568×128,
    the PairedMNIST discriminator's first layer on a real+fake batch) and ``tiny_op_us``
    (adding two 128-vectors: the per-operation overhead that bounds the MLP steps)."""
    import torch

    from factorgan.checks import resolve_device

    dev = resolve_device(device)

    def seconds_per_call(fn: Callable[[], Any], calls: int) -> float:
        for _ in range(max(3, calls // 10)):
            fn()
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(dev)
        return (time.perf_counter() - t0) / calls

    scale = 1 if quick else 5
    a, b = torch.randn(512, 512, device=dev), torch.randn(512, 512, device=dev)
    x, w = torch.randn(50, 1568, device=dev), torch.randn(128, 1568, device=dev)
    u, v = torch.randn(128, device=dev), torch.randn(128, device=dev)
    return {
        "gemm_gflops": 2 * 512**3 / seconds_per_call(lambda: torch.mm(a, b), 20 * scale) / 1e9,
        "mlp_gemm_gflops": 2 * 50 * 1568 * 128 / seconds_per_call(lambda: torch.mm(x, w.t()), 200 * scale) / 1e9,
        "tiny_op_us": 1e6 * seconds_per_call(lambda: torch.add(u, v), 2000 * scale),
        "device": str(dev),
        "threads": torch.get_num_threads(),
    }


def describe_machine(m: dict[str, Any]) -> str:
    return (f"machine now ({m['device']}, {m['threads']} threads): GEMM {m['gemm_gflops']:.0f} GFLOP/s, "
            f"MLP GEMM {m['mlp_gemm_gflops']:.0f} GFLOP/s, tiny op {m['tiny_op_us']:.1f} us")


# ---- step time against the number of parts ---------------------------------------------
def k_scaling_fit(results: dict[str, Any]) -> dict[str, Any] | None:
    """Least-squares line ms/step = intercept + per_part · K through the ``k_scaling/K=<k>``
    results (None with fewer than two), with its R²."""
    import numpy as np

    points = sorted(
        (int(name.split("=", 1)[1]), 1000 / r["steps_per_s"])
        for name, r in results.items() if name.startswith("k_scaling/K=") and "steps_per_s" in r
    )
    if len(points) < 2:
        return None
    k, ms = (np.array(v, dtype=float) for v in zip(*points))
    per_part, intercept = np.polyfit(k, ms, 1)
    residual = ms - (intercept + per_part * k)
    spread = ((ms - ms.mean()) ** 2).sum()
    r2 = 1.0 - (residual**2).sum() / spread if spread > 0 else 1.0
    return {"k": k.tolist(), "ms": ms.tolist(), "per_part_ms": float(per_part),
            "intercept_ms": float(intercept), "r2": float(r2)}


def k_scaling_figure(fit: dict[str, Any]) -> Any:
    """ms per generator step against K, the measured points and the fitted line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(fit["k"], fit["ms"], "o", label="measured")
    ks = [min(fit["k"]), max(fit["k"])]
    ax.plot(ks, [fit["intercept_ms"] + fit["per_part_ms"] * k for k in ks], "--",
            label=f"{fit['intercept_ms']:.1f} + {fit['per_part_ms']:.1f}·K ms (R² {fit['r2']:.3f})")
    ax.set_xlabel("parts K")
    ax.set_ylabel("ms per generator step")
    ax.set_xticks(fit["k"])
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    ax.set_title("FactorGAN step time against K", fontsize="medium")
    return fig


# ---- driver ---------------------------------------------------------------------------
def _in_subprocess(name: str, args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    """Run one case (or ``machine``) alone in a fresh process: (its result or None, stderr)."""
    cmd = [sys.executable, __file__, "--one", name, "--device", args.device, "--set", *args.set]
    if args.versus is not None and name != "machine":
        cmd += ["--versus", *args.versus]
    if args.quick:
        cmd.append("--quick")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return None, proc.stderr
    return json.loads(line[len("RESULT "):]), proc.stderr


def _last_line(error: str) -> str:
    """The last line of a failed subprocess's stderr (usually the exception)."""
    return error.strip().splitlines()[-1] if error.strip() else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short warm-up and windows")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--cases", default=None, help="comma-separated groups or case names (default: all)")
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides for every case")
    parser.add_argument("--versus", nargs="*", default=None, metavar="OVERRIDE",
                        help="A/B: time each case against itself with these overrides, alternating "
                             "blocks of steps in one process (cancels machine drift)")
    parser.add_argument("--out", type=Path, default=Path("benchmark.json"), help="JSON results")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one case
    args = parser.parse_args(argv)

    groups = cases()
    flat = {name: ov for g in groups.values() for name, ov in g.items()}
    if args.one is not None:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        if args.one == "machine":
            result = calibrate(args.device, args.quick)
        elif args.versus is not None:
            result = run_versus(flat[args.one] + args.set, args.versus, args.device, args.quick)
        else:
            result = run_case(flat[args.one] + args.set, args.device, args.quick)
        print("RESULT " + json.dumps(result))
        return 0

    wanted = args.cases.split(",") if args.cases else list(groups)
    names = [n for w in wanted for n in (groups[w] if w in groups else [w])]
    unknown = [n for n in names if n not in flat]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(groups)} or {list(flat)}")
    results: dict[str, Any] = {}
    machine, error = _in_subprocess("machine", args)  # the same process set-up as every case
    if machine is not None:
        results["machine"] = machine
        print(describe_machine(machine))
    else:
        print(f"machine speed: FAILED: {_last_line(error)}")
    if args.versus is not None:
        print(f"{'case':28s} {'A ms/step':>10s} {'B ms/step':>10s} {'B/A':>6s}   B = A + {' '.join(args.versus)}")
    else:
        print(f"{'case':28s} {'steps/s':>9s} {'s/step':>8s} {'peak MB':>9s}  split ms (gen/data/disc/g_step)")
    for name in names:
        r, error = _in_subprocess(name, args)
        if r is None:
            print(f"{name:28s} FAILED: {_last_line(error)}")
            results[name] = {"error": error[-2000:]}
            continue
        results[name] = r
        if args.versus is not None:
            print(f"{name:28s} {r['a_ms']:10.2f} {r['b_ms']:10.2f} {r['b_over_a']:6.2f}", flush=True)
            continue
        s = r["split_ms"]
        print(
            f"{name:28s} {r['steps_per_s']:9.2f} {r['s_per_step']:8.4f} {r['peak_memory_mb']:9.0f}  "
            f"{s.get('gen', 0):.2f}/{s.get('data', 0):.2f}/{s.get('disc', 0):.2f}/{s.get('g_step', 0):.2f}",
            flush=True,
        )
    fit = k_scaling_fit(results) if args.versus is None else None
    if fit is not None:
        results["k_scaling_fit"] = fit
        figure = args.out.with_name(args.out.stem + "_k_scaling.png")
        k_scaling_figure(fit).savefig(figure, dpi=150)
        print(f"K scaling: {fit['intercept_ms']:.1f} + {fit['per_part_ms']:.1f}·K ms per step "
              f"(R² {fit['r2']:.3f}); figure {figure}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
