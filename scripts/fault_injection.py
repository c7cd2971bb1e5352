"""Fault injection: kill training runs at random moments and check that they recover.

    python scripts/fault_injection.py [--n 10] [--seed 0] [--checks kill,joblib,submitit]

Checks (each prints PASS/FAIL with its numbers; the script exits 1 if any fails):

kill      one run killed N times, with SIGKILL or SIGTERM, at random moments (about half of
          them right after a checkpoint's temporary file appears, i.e. during the write),
          resumed with resume=true after each kill: every checkpoint on disk loads after
          every kill, the resumed run ends with exactly the weights and Adam moments of an
          uninterrupted run, and TensorBoard shows each logged step once.
joblib    a joblib sweep (model=gan,factorgan) whose factorgan job's worker is SIGKILLed
          mid-way after the gan job finished; running the same sweep again skips the
          finished run (its checkpoint untouched) and finishes the other one.
submitit  a submitit sweep on this machine (hydra/launcher=local, timeout_min=1) whose jobs
          outlast their time limit: they get SIGUSR2 30 s before it, save, are requeued
          and finish. Takes a few minutes.
concurrent, damaged, disk
          a run's files: simultaneous evaluations, damaged config.yaml / metrics.json, a
          full disk for every writer (scripts/fault_files.py says how).

Runs are tiny (PairedMNIST, small nets, one CPU thread each) in --workdir (default: a
temporary folder, removed unless --keep).
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from factorgan.runs import checkpoint  # noqa: E402
from fault_files import check_files  # noqa: E402

COMMON = ["experiment=paired_mnist", "model=gan", "paired=10", "generator.hidden=16",
          "discriminator.hidden=16", "trainer.batch_size=8", "trainer.sample_every=0",
          "trainer.progress=false", "device=cpu", "evaluation=null", "threads=1"]
EVERY = 5  # log_every = ckpt_every: TensorBoard must show every multiple of it once
FILE_CHECKS = ("concurrent", "damaged", "disk")  # scripts/fault_files.py
CHECKS = ("kill", "joblib", "submitit", *FILE_CHECKS)


@dataclass
class Report:
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.results)


# ---- processes -----------------------------------------------------------------------
def start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "0"}
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "factorgan.train", *args], cwd=cwd, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def train_to_end(args: list[str], cwd: Path, log: Path, timeout: float = 600) -> int:
    proc = start(args, cwd, log)
    return proc.wait(timeout=timeout)


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen | None, timeout: float,
               poll: float = 0.002) -> bool:
    """Poll ``condition`` until it holds (True), ``proc`` ends or ``timeout`` passes (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(poll)
    return False


def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# ---- run directories -----------------------------------------------------------------
def ckpt_files(run: Path) -> list[Path]:
    folder = checkpoint.checkpoint_dir(run)
    return sorted(folder.iterdir()) if folder.is_dir() else []


def step_of(path: Path) -> int:
    return int(checkpoint.load(path)["step"])


def all_checkpoints_load(run: Path) -> tuple[int, list[str]]:
    """(checkpoints that load, problems): every ``*.pt``, with snapshots at their step."""
    loaded, problems = 0, []
    for path in ckpt_files(run):
        if path.suffix != ".pt" or path.name.startswith("."):
            continue
        try:
            step = step_of(path)
        except Exception as err:  # noqa: BLE001 - any failure to load is the finding
            problems.append(f"{path.name}: {type(err).__name__}: {err}")
            continue
        if path.name.startswith("step_") and int(path.stem[5:]) != step:
            problems.append(f"{path.name} holds step {step}")
        loaded += 1
    return loaded, problems


def differences(a: Path, b: Path) -> tuple[int, list[str]]:
    """(tensors compared, names of those not bit-identical)."""
    sa, sb = checkpoint.training_tensors(a), checkpoint.training_tensors(b)
    if sa.keys() != sb.keys():
        return len(sa), ["different tensor names"]
    return len(sa), [k for k in sa if not torch.equal(sa[k], sb[k])]


def tensorboard_steps(run: Path, tag: str = "loss/g") -> list[int]:
    """The steps TensorBoard shows for ``tag`` (after it purges events a resume went back over)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.ERROR)  # its notes on each purge at a resume
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def check_tensorboard(report: Report, name: str, run: Path, until: int) -> None:
    steps = tensorboard_steps(run)
    dupes = sorted({s for s in steps if steps.count(s) > 1})
    missing = sorted(set(range(EVERY, until + 1, EVERY)) - set(steps))
    report.check(name, not dupes and not missing and steps == sorted(steps),
                 f"{len(steps)} loss/g events up to step {max(steps, default=0)}, "
                 f"{len(dupes)} steps logged more than once{f' {dupes[:10]}' if dupes else ''}, "
                 f"{len(missing)} multiples of {EVERY} missing{f' {missing[:10]}' if missing else ''}")


# ---- check 1: one run killed N times ---------------------------------------------------
def kill_once(rng: random.Random, run: Path, work: Path, log: Path, i: int, n: int) -> tuple[bool, str]:
    """Start (or resume) the run, kill it once; returns (ok, what happened)."""
    sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
    during_write = rng.random() < 0.5
    last = checkpoint.checkpoint_dir(run) / checkpoint.LAST
    before = {p.name: p.stat().st_mtime_ns for p in ckpt_files(run)}
    resume = ["resume=true"] if last.exists() else []  # the first start is a new run
    proc = start([*COMMON, "trainer.max_steps=1000000", f"trainer.ckpt_every={EVERY}",
                  f"trainer.log_every={EVERY}", f"trainer.snapshot_every={EVERY * 5}", *resume,
                  f"hydra.run.dir={run}"], work, log)

    def trained() -> bool:  # a checkpoint written by this process: it is past its start-up
        return last.exists() and last.stat().st_mtime_ns != before.get(checkpoint.LAST)

    stale = {name for name in before if name.endswith(".tmp")}  # left by an earlier SIGKILL

    def writing() -> bool:  # a temporary checkpoint file of this process exists
        folder = checkpoint.checkpoint_dir(run)
        return folder.is_dir() and any(n.endswith(".tmp") and n not in stale for n in os.listdir(folder))

    if not wait_until(trained, proc, timeout=300):
        proc.kill()
        return False, f"kill {i}/{n}: the run never started training (exit {proc.wait()})"
    moment = "at a random moment"
    if during_write:
        moment = ("during a checkpoint write" if wait_until(writing, proc, timeout=30, poll=0)
                  else "(no checkpoint write seen within 30 s)")
    else:
        time.sleep(rng.uniform(0, 1.0))
    tmp_at_kill = writing()
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    leftovers = [p.name for p in ckpt_files(run) if p.name.endswith(".tmp") and p.name not in stale]
    loaded, problems = all_checkpoints_load(run)
    step = step_of(last) if last.exists() else None
    expected_code = 128 + signal.SIGTERM if sig == signal.SIGTERM else -signal.SIGKILL
    ok = not problems and code == expected_code and step is not None
    what = (f"kill {i}/{n}: {signal.Signals(sig).name} {moment}"
            f"{' (temp file present)' if tmp_at_kill else ''}: exit {code}, last.pt at step {step}, "
            f"{loaded} checkpoints load{'; ' + '; '.join(problems) if problems else ''}"
            f"{f'; its temp file is left behind' if leftovers else ''}")
    return ok, what


def check_kill(report: Report, work: Path, n: int, rng: random.Random) -> None:
    run, straight = work / "killed", work / "straight"
    log = work / "kill.log"
    kills_ok = True
    for i in range(1, n + 1):
        ok, what = kill_once(rng, run, work, log, i, n)
        print(("  " if ok else "  FAIL ") + what, flush=True)
        kills_ok &= ok
    if not report.check("kill: every kill left loadable checkpoints (SIGTERM: exit 143)", kills_ok,
                        f"N={n} kills (log: {log})"):
        return
    until = step_of(checkpoint.checkpoint_dir(run) / checkpoint.LAST) + 2 * EVERY + 3
    args = [*COMMON, f"trainer.max_steps={until}", f"trainer.ckpt_every={EVERY}", f"trainer.log_every={EVERY}",
            f"trainer.snapshot_every={EVERY * 5}"]
    procs = [start([*args, "resume=true", f"hydra.run.dir={run}"], work, log),
             start([*args, f"hydra.run.dir={straight}"], work, work / "straight.log")]
    codes = [p.wait(timeout=600) for p in procs]
    if not report.check("kill: final resume and uninterrupted run finish", codes == [0, 0], f"exit codes {codes}"):
        return
    last = checkpoint.checkpoint_dir(run) / checkpoint.LAST
    compared, differ = differences(checkpoint.checkpoint_dir(straight) / checkpoint.LAST, last)
    report.check("kill: resumed run equals the uninterrupted run", not differ and step_of(last) == until,
                 f"step {step_of(last)} of {until}, {compared} tensors compared, {len(differ)} differ"
                 f"{f' {differ[:5]}' if differ else ''}")
    loaded, problems = all_checkpoints_load(run)
    temps = [p.name for p in ckpt_files(run) if p.name.endswith(".tmp")]
    report.check("kill: every checkpoint on disk loads", not problems,
                 f"{loaded} load, {len(problems)} do not; {len(temps)} temporary files of writes cut by "
                 f"SIGKILL left in checkpoints/")
    check_tensorboard(report, "kill: TensorBoard shows each step once", run, until)


# ---- check 2: a joblib sweep with a killed job -----------------------------------------
def check_joblib(report: Report, work: Path, steps: int) -> None:
    sweep = work / "joblib"
    log = work / "joblib.log"
    args = ["-m", *COMMON, "model=gan,factorgan", f"trainer.max_steps={steps}", f"trainer.ckpt_every={EVERY}",
            f"trainer.log_every={EVERY}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={sweep}"]
    proc = start(args, work, log)

    def run_dir(model: str) -> Path | None:
        found = sorted(sweep.glob(f"paired_mnist/{model}/*"))
        return found[0] if found else None

    def step(model: str) -> int:
        d = run_dir(model)
        last = None if d is None else checkpoint.find(d)
        try:
            return -1 if last is None else step_of(last)
        except Exception:  # noqa: BLE001 - being replaced right now
            return -1

    if not wait_until(lambda: step("gan") == steps, proc, timeout=600, poll=0.05):
        proc.kill()
        report.check("joblib: gan job finishes first", False, f"exit {proc.wait()}")
        return
    mid = step("factorgan")
    workers = [p for p in descendants(proc.pid) if "loky" in cmdline(p) and "resource_tracker" not in cmdline(p)]
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    code = proc.wait(timeout=120)
    killed_at = step("factorgan")
    report.check("joblib: factorgan job killed mid-way", 0 <= killed_at < steps and code != 0,
                 f"{len(workers)} workers SIGKILLed while factorgan was at step ≥ {mid}; sweep exit {code}; "
                 f"factorgan's last.pt at step {killed_at}")
    runs = {m: run_dir(m) for m in ("gan", "factorgan")}
    gan_last = checkpoint.checkpoint_dir(runs["gan"]) / checkpoint.LAST
    before = gan_last.read_bytes(), gan_last.stat().st_mtime_ns
    log.write_text("")
    code = train_to_end(args, work, log)
    out = log.read_text()
    report.check("joblib: the sweep again finishes every run", code == 0 and step("gan") == step("factorgan") == steps,
                 f"exit {code}, steps gan {step('gan')}, factorgan {step('factorgan')} of {steps}")
    skipped = f"Skipping {runs['gan']}: already finished" in out
    resumed = f"Resuming {runs['factorgan']} from step {killed_at}" in out
    untouched = (gan_last.read_bytes(), gan_last.stat().st_mtime_ns) == before
    report.check("joblib: the finished run is not redone", skipped and resumed and untouched,
                 f"gan skipped: {skipped}, its checkpoint untouched: {untouched}; "
                 f"factorgan resumed from step {killed_at}: {resumed}")
    check_tensorboard(report, "joblib: TensorBoard of the resumed run shows each step once",
                      runs["factorgan"], steps)


# ---- check 3: a submitit sweep whose jobs time out ------------------------------------
def steps_per_second(work: Path) -> float:
    """This machine's training speed for COMMON, one thread (a 200-step run in this process)."""
    from hydra import compose, initialize_config_module

    import factorgan.cli.train as cli

    with initialize_config_module("factorgan.configs", version_base="1.3"):
        cfg = compose("train", overrides=[*COMMON, "trainer.max_steps=200"])
    torch.set_num_threads(1)
    trainer = cli.build_trainer(cfg, work / "speed")
    trainer.train_step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(200):
        trainer.train_step()
    return 200 / (time.perf_counter() - t0)


def check_submitit(report: Report, work: Path, train_s: float) -> None:
    sweep = work / "submitit"
    log = work / "submitit.log"
    rate = steps_per_second(work)
    steps = int(rate * train_s) // EVERY * EVERY  # longer than the 30 s before the first signal
    print(f"  {rate:.0f} steps/s here: {steps} steps per run (~{train_s:.0f} s of training)", flush=True)
    args = ["-m", *COMMON, "paired=10,20", f"trainer.max_steps={steps}", "trainer.ckpt_every=1000000",
            f"trainer.log_every={EVERY}", "hydra/launcher=local", "hydra.launcher.timeout_min=1",
            "hydra.launcher.max_num_timeout=5", f"hydra.sweep.dir={sweep}"]
    t0 = time.monotonic()
    code = train_to_end(args, work, log, timeout=1200)
    took = time.monotonic() - t0
    runs = sorted(p for p in sweep.glob("paired_mnist/gan/*") if p.is_dir())
    finished = [step_of(checkpoint.checkpoint_dir(r) / checkpoint.LAST) == steps for r in runs]
    job_logs = "".join(p.read_text() for p in sorted((sweep / ".submitit").rglob("*_log.*")))
    requeues = len(re.findall(r"^submitit INFO .* - Requeued job", job_logs, re.M))  # not Hydra's copy
    stops = job_logs.count("Stopped by SIGUSR2 after step")
    report.check("submitit: timed-out jobs are requeued and finish",
                 code == 0 and len(runs) == 2 and all(finished) and requeues >= 2 and stops == requeues
                 and "Traceback" not in job_logs,
                 f"exit {code} after {took:.0f} s; {sum(finished)} of {len(runs)} runs at step {steps}; "
                 f"{stops} saves on SIGUSR2, {requeues} requeues")
    for run in runs:
        check_tensorboard(report, f"submitit: TensorBoard of {run.name} shows each step once", run, steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="kills of the run in the kill check")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kinds and moments of the kills")
    parser.add_argument("--checks", default=",".join(CHECKS), help="comma-separated: " + ", ".join(CHECKS))
    parser.add_argument("--joblib-steps", type=int, default=300, help="steps of each run of the joblib sweep")
    parser.add_argument("--submitit-train-s", type=float, default=40.0,
                        help="seconds of training per submitit run at this process's speed (its time "
                             "limit is 1 min, the signal comes at 30 s, at most 5 requeues)")
    parser.add_argument("--workdir", type=Path, default=None, help="where runs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    unknown = set(checks) - set(CHECKS)
    if unknown:
        parser.error(f"unknown checks {sorted(unknown)}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fault_injection_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"N={args.n} seed={args.seed} checks={','.join(checks)} workdir={work}", flush=True)
    report = Report()
    try:
        if "kill" in checks:
            check_kill(report, work, args.n, random.Random(args.seed))
        if "joblib" in checks:
            check_joblib(report, work, args.joblib_steps)
        if "submitit" in checks:
            check_submitit(report, work, args.submitit_train_s)
        if set(checks) & set(FILE_CHECKS):
            check_files(report, work, checks)
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    passed = sum(ok for _, ok, _ in report.results)
    print(f"{'PASS' if report.ok else 'FAIL'}: {passed} of {len(report.results)} checks passed", flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
