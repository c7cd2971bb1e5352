"""Fault injection for a run's files (``scripts/fault_injection.py --checks concurrent,damaged,disk``).

concurrent  writers of one metrics.json at once: WRITERS processes calling the write
            functions directly (distinct entries, the run's own result among them), then
            ROUNDS x EVALUATIONS ``python -m factorgan.evaluate run=R evaluation.seed=<s>``
            at once (distinct settings): entries kept out of entries written, valid JSON,
            exit codes.
damaged     config.yaml cut to its first 300 bytes (evaluate, sample, results) and
            metrics.json emptied, cut off, random bytes or ``[1, 2]`` (evaluate, results
            on a folder beside a good run, resume=true to a later step).
disk        a full disk for every writer: evaluate's metrics.json, sample's npz, a fresh
            start's lock file, TensorBoard's event writer, resumes.yaml, a sample image
            and the checkpoint. On a real
            full tmpfs when this runs as root (mount -t tmpfs), else (and for the writers a
            full disk cannot single out) a failure injected into the write in the process:
            exit 2, no traceback, the message with the free space, no partial file.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from factorgan.runs import checkpoint  # noqa: E402

EVALUATED = ["experiment=paired_mnist", "model=gan", "paired=10", "generator.hidden=16", "discriminator.hidden=16",
             "trainer.batch_size=8", "trainer.sample_every=0", "trainer.progress=false", "device=cpu", "threads=1",
             "trainer.max_steps=20", "trainer.ckpt_every=10", "trainer.log_every=10",
             "evaluation.num_samples=100", "evaluation.progress=false"]
WRITERS, EACH, EVALUATIONS, ROUNDS = 4, 50, 6, 3
DAMAGED = {"empty": b"", "cut off": b'{"format": 2, "step": 20, "metr', "random bytes": os.urandom(512),
           "[1,2]": b"[1, 2]"}
# python -c prologue: every write of the named kind fails with ENOSPC (after `ok` of them)
INJECT = {
    "fsync": "import os\n_real = os.fsync\ndef _hook(fd):\n    _calls[0] += 1\n    if _calls[0] > {ok}: {fail}\n"
             "    return _real(fd)\nos.fsync = _hook\n",
    "pwrite": "import os\ndef _hook(fd, data, offset):\n    {fail}\nos.pwrite = _hook\n",
    "events": "from tensorboard.summary.writer import record_writer as _rw\n_real = _rw.RecordWriter.write\n"
              "def _hook(self, data):\n    _calls[0] += 1\n    if _calls[0] > {ok}: {fail}\n"
              "    return _real(self, data)\n_rw.RecordWriter.write = _hook\n",
}
FAIL = "raise OSError(28, 'No space left on device')"


def run(module: str, args: list[str], cwd: Path, inject: str | None = None, ok: int = 0,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m factorgan.<module> args`` (``inject``: a kind of :data:`INJECT`)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    if inject is None:
        cmd = [sys.executable, "-m", f"factorgan.{module}", *args]
    else:
        prologue = "_calls = [0]\n" + INJECT[inject].format(ok=ok, fail=FAIL)
        cmd = [sys.executable, "-c", prologue + f"import runpy, sys\nsys.argv = ['{module}', *sys.argv[1:]]\n"
               f"runpy.run_module('factorgan.{module}', run_name='__main__')\n", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def entries(path: Path) -> tuple[int, bool]:
    """(evaluations recorded in metrics.json, whether it is valid JSON)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0, False
    by_ckpt = data.get("by_checkpoint", {}) if isinstance(data, dict) else {}
    return sum(len(v) for v in by_ckpt.values()) + len(data.get("during_training", {})), True


def finished_run(report, work: Path) -> Path | None:
    """A run trained to its end and evaluated (its result in metrics.json)."""
    run_dir = work / "evaluated"
    done = run("train", [*EVALUATED, f"hydra.run.dir={run_dir}"], work)
    ok = done.returncode == 0 and entries(run_dir / "metrics.json")[0] == 1
    if not ok:
        report.check("files: a finished, evaluated run to work on", False, done.stderr[-2000:])
    return run_dir if ok else None


def copy(run_dir: Path, to: Path) -> Path:
    shutil.rmtree(to, ignore_errors=True)
    return Path(shutil.copytree(run_dir, to))


# ---- concurrent writers of metrics.json ---------------------------------------------
def _writer(run_dir: str, index: int, barrier, failures) -> None:
    from factorgan.runs.results import metrics_file as run_metrics

    barrier.wait()
    try:
        for i in range(EACH):
            settings = {"_target_": "x.Evaluator", "num_samples": 1000 + i}
            run_metrics.write_metrics(Path(run_dir), {"fid": float(i)}, i, f"step_{index}_{i}.pt", settings, own=False)
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        failures.put(f"{type(err).__name__}")


def check_concurrent(report, work: Path, run_dir: Path) -> None:
    direct = copy(run_dir, work / "direct")
    ctx = multiprocessing.get_context("fork")
    barrier, failures = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(direct), w, barrier, failures)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    kept, valid = entries(direct / "metrics.json")
    written = WRITERS * EACH + 1
    report.check("concurrent: direct writers keep every entry", kept == written and valid and not errors,
                 f"{WRITERS} processes x {EACH} writes: {kept} of {written} entries kept (the run's own "
                 f"included), valid JSON: {valid}, {len(errors)} writers raised {sorted(set(errors))}")
    evaluated = copy(run_dir, work / "concurrent")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    codes = []
    for round_ in range(ROUNDS):  # the same work, other seeds: the writes come close together
        procs2 = [subprocess.Popen([sys.executable, "-m", "factorgan.evaluate", f"run={evaluated}",
                                    "evaluation.num_samples=60", f"evaluation.seed={round_ * EVALUATIONS + i}",
                                    "device=cpu"], cwd=work, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for i in range(EVALUATIONS)]
        codes += [p.wait(timeout=900) for p in procs2]
    kept, valid = entries(evaluated / "metrics.json")
    written = ROUNDS * EVALUATIONS + 1
    report.check("concurrent: simultaneous evaluate commands all keep their result",
                 kept == written and valid and codes == [0] * len(codes),
                 f"{ROUNDS} rounds of {EVALUATIONS} at once: {codes.count(0)} of {len(codes)} exit 0, "
                 f"{kept} of {written} entries kept (the run's own included), valid JSON: {valid}")


# ---- damaged run files -----------------------------------------------------------------
def check_damaged(report, work: Path, run_dir: Path) -> None:
    cut = copy(run_dir, work / "damaged" / "cut_config")
    (cut / "config.yaml").write_bytes((cut / "config.yaml").read_bytes()[:300])
    ev = run("evaluate", [f"run={cut}"], work)
    sa = run("sample", [f"run={cut}", "n=8", f"out={work / 'cut.npz'}", "overwrite=true"], work)
    res = run("results", [str(cut), "--out", str(work / "cut_results")], work)
    rows = (work / "cut_results" / "results.csv").read_text().splitlines() if res.returncode == 0 else []
    row = dict(zip(rows[0].split(","), rows[1].split(","))) if len(rows) == 2 else {}
    blank = [k for k in ("experiment", "paired", "lam", "seed") if not row.get(k)]
    noticed = all("does not match the run's checkpoint" in p.stderr for p in (ev, sa, res))
    report.check("damaged: config.yaml cut to 300 bytes is noticed; the checkpoint's config is used",
                 (ev.returncode, sa.returncode, res.returncode) == (0, 0, 0) and noticed and row and not blank,
                 f"exit evaluate {ev.returncode}, sample {sa.returncode}, results {res.returncode}; said so: "
                 f"{noticed}; results row {'blank in ' + ','.join(blank) if blank else 'complete'}"
                 f"{'' if ev.returncode == 0 else '; evaluate: ' + ev.stderr.strip().splitlines()[-1][:160]}")
    folder = work / "damaged" / "folder"
    copy(run_dir, folder / "good")
    kept_new, aside, resumed = 0, 0, 0
    for i, (what, content) in enumerate(DAMAGED.items()):
        bad = copy(run_dir, folder / f"bad{i}")
        (bad / "metrics.json").write_bytes(content)
        ev = run("evaluate", [f"run={copy(bad, work / 'damaged' / f'ev{i}')}"], work)
        evdir = work / "damaged" / f"ev{i}"
        kept_new += ev.returncode == 0 and entries(evdir / "metrics.json")[0] == 1
        aside += len(list(evdir.glob("metrics.json.damaged-*"))) == 1
        rs = copy(bad, work / "damaged" / f"resume{i}")
        tr = run("train", [*EVALUATED, "trainer.max_steps=30", "resume=true", f"hydra.run.dir={rs}"], work)
        data = json.loads((rs / "metrics.json").read_text()) if tr.returncode == 0 else {}
        resumed += data.get("step") == 30 and bool(data.get("metrics"))
    n = len(DAMAGED)
    report.check("damaged: evaluate keeps its numbers and sets a damaged metrics.json aside",
                 kept_new == aside == n, f"{kept_new} of {n} kept the new result, {aside} set aside ({', '.join(DAMAGED)})")
    report.check("damaged: resume=true to a later step keeps its final evaluation", resumed == n,
                 f"{resumed} of {n} resumed runs hold their result at step 30")
    res = run("results", [str(folder), "--out", str(work / "folder_results")], work)
    rows = (work / "folder_results" / "results.csv").read_text().splitlines()[1:] if res.returncode == 0 else []
    named = sum(f"left out {folder / f'bad{i}'}" in res.stderr for i in range(n))
    untouched = sum((folder / f"bad{i}" / "metrics.json").read_bytes() == c for i, c in enumerate(DAMAGED.values()))
    report.check("damaged: results skip only the damaged runs, saying why, and rename nothing",
                 res.returncode == 0 and len(rows) == 1 and named == n and untouched == n,
                 f"exit {res.returncode}, {len(rows)} of 1 good rows in results.csv, {named} of {n} damaged runs "
                 f"named, {untouched} of {n} left as they were")


# ---- a full disk for every writer ------------------------------------------------------
@contextlib.contextmanager
def full_tmpfs(work: Path, size_kib: int = 2048) -> Iterator[Path | None]:
    """A tmpfs of ``size_kib`` under ``work`` (root only; None otherwise), filled by
    :func:`fill` once the run is on it; unmounted afterwards."""
    mount = work / "tmpfs"
    mount.mkdir(exist_ok=True)
    made = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mount)], capture_output=True).returncode == 0
    try:
        yield mount if made else None
    finally:
        if made:
            subprocess.run(["umount", str(mount)], capture_output=True)


def fill(folder: Path) -> None:
    """Write zeros into ``folder/filler`` until its disk is full."""
    with open(folder / "filler", "ab", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def failed_cleanly(done: subprocess.CompletedProcess, target: str) -> tuple[bool, str]:
    err = done.stderr
    ok = (done.returncode == 2 and "Traceback" not in err and "Exception in thread" not in err
          and f"could not write {target}" in err and "MiB free on its disk" in err)
    line = next((ln for ln in err.splitlines() if ln.startswith("error:")), err.strip()[-200:])
    return ok, f"exit {done.returncode}: {line[:260]}"


def check_disk(report, work: Path, run_dir: Path) -> None:
    with full_tmpfs(work) as mount:
        where = "tmpfs" if mount is not None else "injected"
        base = mount if mount is not None else work / "disk"
        base.mkdir(exist_ok=True)
        on_disk = copy(run_dir, base / "run")
        before = (on_disk / "metrics.json").read_bytes()
        if mount is not None:
            fill(mount)
        kind = None if mount is not None else "fsync"
        ev = run("evaluate", [f"run={on_disk}", "evaluation.num_samples=60"], work, inject=kind)
        ok, what = failed_cleanly(ev, str(on_disk / "metrics.json"))
        ok &= (on_disk / "metrics.json").read_bytes() == before and not leftovers(on_disk)
        report.check(f"disk ({where}): evaluate's metrics.json write", ok, f"{what}; previous file intact, "
                     f"no partial file: {ok}")
        out = base / "s.npz"
        sa = run("sample", [f"run={on_disk}", "n=64", f"out={out}"], work, inject=kind)
        ok, what = failed_cleanly(sa, str(out))
        ok &= not out.exists() and not leftovers(base)
        report.check(f"disk ({where}): sample's npz write", ok, f"{what}; no partial file: {not leftovers(base)}")
        fresh = base / "fresh"
        st = run("train", [*EVALUATED, f"hydra.run.dir={fresh}"], work, inject=None if mount else "pwrite")
        ok, what = failed_cleanly(st, str(fresh / ".lock"))
        report.check(f"disk ({where}): a fresh start's lock file", ok and not fresh.exists(),
                     f"{what}; run directory left: {fresh.exists()}")
    tb = copy(run_dir, work / "disk_tb")
    tr = run("train", [*EVALUATED, "trainer.max_steps=40", "resume=true", f"hydra.run.dir={tb}"], work,
             inject="events", ok=5)  # fails at step 30's scalars, before its checkpoint
    ok, what = failed_cleanly(tr, str(tb / "tb"))
    step = int(checkpoint.load(tb / "checkpoints" / "last.pt")["step"])
    again = run("train", [*EVALUATED, "trainer.max_steps=40", "resume=true", f"hydra.run.dir={tb}"], work)
    report.check("disk (injected in the writer thread): TensorBoard's event writer",
                 ok and step < 40 and again.returncode == 0,
                 f"{what}; last.pt at step {step}; resume=true afterwards: exit {again.returncode}")
    # A resume syncs resumes.yaml, then config.yaml, then (every sample_every steps) the
    # sample images, then the checkpoint: `ok` lets the writes before the one checked through.
    rs = copy(run_dir, work / "disk_resumes")
    tr = run("train", [*EVALUATED, "trainer.max_steps=40", "resume=true", f"hydra.run.dir={rs}"], work,
             inject="fsync", ok=0)
    ok, what = failed_cleanly(tr, str(rs / "resumes.yaml"))
    step = int(checkpoint.load(rs / "checkpoints" / "last.pt")["step"])
    report.check("disk (injected): resumes.yaml", ok and step == 20 and not (rs / "resumes.yaml").exists()
                 and not leftovers(rs), f"{what}; last.pt still at step {step}, no partial file: {not leftovers(rs)}")
    sm = copy(run_dir, work / "disk_samples")
    tr = run("train", [*EVALUATED, "trainer.max_steps=40", "trainer.sample_every=10", "resume=true",
                       f"hydra.run.dir={sm}"], work, inject="fsync", ok=2)
    ok, what = failed_cleanly(tr, str(sm / "samples" / "step_0000030.png"))
    step = int(checkpoint.load(sm / "checkpoints" / "last.pt")["step"])
    again = run("train", [*EVALUATED, "trainer.max_steps=40", "trainer.sample_every=10", "resume=true",
                          f"hydra.run.dir={sm}"], work)
    report.check("disk (injected): a sample image", ok and step == 20 and not leftovers(sm) and again.returncode == 0
                 and (sm / "samples" / "step_0000040.png").exists(),
                 f"{what}; last.pt at step {step}, no partial file: {not leftovers(sm)}; "
                 f"resume=true afterwards: exit {again.returncode}")
    ck = copy(run_dir, work / "disk_ckpt")
    tr = run("train", [*EVALUATED, "trainer.max_steps=40", "resume=true", f"hydra.run.dir={ck}"], work,
             inject="fsync", ok=2)
    ok, what = failed_cleanly(tr, str(ck / "checkpoints" / "last.pt"))
    step = int(checkpoint.load(ck / "checkpoints" / "last.pt")["step"])
    report.check("disk (injected): the checkpoint write", ok and step < 40 and not leftovers(ck),
                 f"{what}; last.pt still at step {step}, no partial file: {not leftovers(ck)}")


def check_files(report, work: Path, checks: list[str]) -> None:
    """The checks of this module named in ``checks``, on one finished run."""
    work = Path(tempfile.mkdtemp(prefix="files_", dir=work))
    run_dir = finished_run(report, work)
    if run_dir is None:
        return
    if "concurrent" in checks:
        check_concurrent(report, work, run_dir)
    if "damaged" in checks:
        check_damaged(report, work, run_dir)
    if "disk" in checks:
        check_disk(report, work, run_dir)
