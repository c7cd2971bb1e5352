"""Stopping a run on Ctrl-C, SIGTERM and a cluster's pre-timeout signal: the loop finishes
its step, saves ``last.pt``, says how to resume and exits; a resume ends with exactly the
weights of an uninterrupted run; under submitit the job is requeued and resumes itself."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY, compose_config
from factorgan.cli.train import train
from factorgan.runs import checkpoint
from factorgan.runs.process import signals
from factorgan.runs.process.signals import Interrupted
from factorgan.training.loop import Trainer

REPO = Path(__file__).resolve().parents[2]
# a small GAN: fast steps, the whole training state in last.pt
FAST = [*TINY, "model=gan", "paired=10", "generator.hidden=16", "discriminator.hidden=16",
        "trainer.batch_size=8", "trainer.sample_every=0", "threads=1"]


@pytest.fixture
def handlers():
    """Our handlers for the test, the previous ones (pytest's) afterwards."""
    signals.install()
    yield
    signals.restore()


def assert_same_training(a: Path, b: Path) -> None:
    wa, wb = checkpoint.training_tensors(a), checkpoint.training_tensors(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)


def last(run_dir: Path) -> Path:
    return checkpoint.checkpoint_dir(run_dir) / checkpoint.LAST


def step_of(run_dir: Path) -> int:
    return int(checkpoint.load(last(run_dir))["step"])


def logged_steps(run_dir: Path, tag: str = "loss/g") -> list[int]:
    """The steps TensorBoard shows for ``tag`` (after its purge of resumed-over events),
    ascending: two writers of one process within one second may name their files so that
    the later one sorts first (``...<pid>.10`` before ``...<pid>.9``); a step shown twice
    still shows twice."""
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return sorted(e.step for e in acc.Scalars(tag))


def signal_during_step(monkeypatch, at_step: int, signum: int, times: int = 1) -> None:
    """Send ``signum`` to this process while step ``at_step`` trains (``self.step`` counts
    the steps done, so ``at_step - 1`` of them)."""
    original = Trainer.train_step

    def train_step(self: Trainer) -> None:
        if self.step == at_step - 1:
            for _ in range(times):
                os.kill(os.getpid(), signum)
        original(self)

    monkeypatch.setattr(Trainer, "train_step", train_step)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGUSR2])
def test_a_signal_mid_run_saves_that_step_and_the_resume_equals_an_uninterrupted_run(
    signum, handlers, monkeypatch, tmp_path
):
    common = [*FAST, "trainer.ckpt_every=5", "trainer.log_every=5"]
    signal_during_step(monkeypatch, 7, signum)
    with pytest.raises(Interrupted) as stopped:
        train(compose_config(*common, "trainer.max_steps=12"), tmp_path / "b")
    stop = stopped.value
    # the step under way was finished and saved: past the periodic checkpoint at step 5
    assert (stop.signum, stop.step, stop.aborted, stop.exit_code) == (signum, 7, False, 128 + signum)
    assert stop.checkpoint == last(tmp_path / "b") and step_of(tmp_path / "b") == 7
    assert logged_steps(tmp_path / "b") == [5, 7]  # steps 6-7's scalars, at the saved step
    signals.restore()

    monkeypatch.undo()
    resumed = train(compose_config(*common, "trainer.max_steps=12", "resume=true"), tmp_path / "b")
    straight = train(compose_config(*common, "trainer.max_steps=12"), tmp_path / "a")
    assert resumed.step == straight.step == 12
    assert_same_training(last(tmp_path / "a"), last(tmp_path / "b"))
    assert logged_steps(tmp_path / "b") == [5, 7, 10, 12]  # each step once


def test_a_signal_at_a_checkpoint_step_saves_once(handlers, monkeypatch, tmp_path):
    saves = []
    original = Trainer.save
    monkeypatch.setattr(Trainer, "save", lambda self: saves.append(self.step) or original(self))
    signal_during_step(monkeypatch, 5, signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped:
        train(compose_config(*FAST, "trainer.ckpt_every=5", "trainer.max_steps=12"), tmp_path)
    assert stopped.value.step == 5 and saves == [5] and step_of(tmp_path) == 5


def test_a_second_signal_while_saving_stops_at_once_and_keeps_the_previous_checkpoint(
    handlers, monkeypatch, tmp_path
):
    real_save = torch.save

    def save(obj, f, *args, **kwargs):  # the second Ctrl-C comes while step 7 is written
        if isinstance(obj, dict) and obj.get("step") == 7:
            os.kill(os.getpid(), signal.SIGINT)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    signal_during_step(monkeypatch, 7, signal.SIGINT)
    with pytest.raises(Interrupted) as stopped:
        train(compose_config(*FAST, "trainer.ckpt_every=5", "trainer.max_steps=12"), tmp_path)
    assert stopped.value.aborted and stopped.value.step is None
    assert step_of(tmp_path) == 5  # the previous checkpoint, whole
    assert sorted(p.name for p in checkpoint.checkpoint_dir(tmp_path).iterdir()) == ["last.pt"]  # no temp file
    text = signals.describe(stopped.value, tmp_path, multirun=False, argv=["x=1"])
    assert "at once, without saving" in text and f"{last(tmp_path)} holds step 5" in text


def test_a_signal_outside_the_training_steps_stops_at_once(handlers):
    with pytest.raises(Interrupted) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert stopped.value.step is None and not stopped.value.aborted


def test_without_installed_handlers_ctrl_c_is_a_keyboard_interrupt(monkeypatch, tmp_path):
    """Library use (``factorgan.train(cfg)`` in a notebook) keeps Python's behaviour."""
    # Python's own handler, whatever this process inherited (a shell's background job
    # starts with SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        signal_during_step(monkeypatch, 3, signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            train(compose_config(*FAST, "trainer.max_steps=12"), tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_messages_say_how_to_continue(tmp_path):
    stop = Interrupted(signal.SIGTERM, 37, last(tmp_path))
    single = signals.describe(stop, tmp_path, multirun=False,
                              argv=["experiment=paired_mnist", "resume=false", "name=a b"])
    assert f"Stopped by SIGTERM after step 37: saved {last(tmp_path)}." in single
    assert "python -m factorgan.train experiment=paired_mnist 'name=a b' resume=true" in single
    assert "run the same sweep again" in signals.describe(stop, tmp_path, multirun=True)
    assert "requeues this job" in signals.describe(stop, tmp_path, multirun=True, requeue=True)
    fresh = signals.describe(Interrupted(signal.SIGINT), tmp_path, multirun=False, argv=["seed=1", "resume=true"])
    assert "no checkpoint yet" in fresh and "outside the training steps" in fresh
    assert fresh.endswith("To start again: python -m factorgan.train seed=1")  # nothing to resume


def test_finish_hands_submitits_signal_to_its_requeue_handler(tmp_path, capsys):
    calls = []

    def checkpoint_and_try_requeue(signum, frame):  # named as submitit's SignalHandler method
        calls.append(signum)
        raise SystemExit(144)  # submitit's local executor: "requeue me"

    previous = signal.signal(signal.SIGUSR2, checkpoint_and_try_requeue)
    try:
        signals.install()
        with pytest.raises(SystemExit) as exited:
            signals.finish(Interrupted(signal.SIGUSR2, 3, last(tmp_path)), tmp_path, multirun=True)
        assert exited.value.code == 144 and calls == [signal.SIGUSR2]
        assert signal.getsignal(signal.SIGUSR2) is checkpoint_and_try_requeue  # restored
        assert "submitit requeues this job" in capsys.readouterr().err
        with pytest.raises(SystemExit) as exited:  # SIGTERM: no requeue, 128 + 15
            signals.install()
            signals.finish(Interrupted(signal.SIGTERM, 3, last(tmp_path)), tmp_path, multirun=True)
        assert exited.value.code == 143 and calls == [signal.SIGUSR2]
    finally:
        signals.restore()
        signal.signal(signal.SIGUSR2, previous)


# ---- end to end: the command line, and submitit --------------------------------------
def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "0"}
    return subprocess.Popen([sys.executable, "-m", "factorgan.train", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(paths, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until one of ``paths()`` exists (training has logged): the moment to signal."""
    end = time.monotonic() + timeout
    while not paths():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the run did not start training"
        time.sleep(0.02)


ENDLESS = [*FAST, "trainer.max_steps=100000", "trainer.ckpt_every=100000", "trainer.log_every=5"]


def test_ctrl_c_and_sigterm_on_the_command_line_save_and_resume_exactly(tmp_path):
    procs = {}
    for signum in (signal.SIGINT, signal.SIGTERM):  # both at once: the start-up dominates
        run = tmp_path / signal.Signals(signum).name
        procs[signum] = (run, start([*ENDLESS, f"hydra.run.dir={run}"], tmp_path))
    for signum, (run, proc) in procs.items():
        wait_for(lambda: (run / "tb").exists(), proc)  # step 5 logged
        proc.send_signal(signum)
    reached = {}
    for signum, (run, proc) in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 128 + signum, err  # 130, 143
        assert "Traceback" not in err
        reached[signum] = step_of(run)  # no periodic checkpoint yet: saved on the signal
        assert reached[signum] >= 5
        assert f"after step {reached[signum]}: saved {last(run)}" in err
        assert "To continue: python -m factorgan.train" in err and err.rstrip().endswith("resume=true")
    # resumed to a common length, each equals one uninterrupted run
    until = f"trainer.max_steps={max(reached.values()) + 3}"
    straight = tmp_path / "straight"
    train(compose_config(*ENDLESS, until), straight)
    for run, _ in procs.values():
        train(compose_config(*ENDLESS, until, "resume=true"), run)
        assert_same_training(last(straight), last(run))


def submitit_tasks(folder: Path) -> list[int]:
    """Pids of the submitit job processes working in ``folder`` (Linux /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"submitit.core._submit" in cmd and str(folder).encode() in cmd:
            pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the job's process in /proc")
def test_submitit_job_signalled_before_its_timeout_saves_is_requeued_and_resumes(tmp_path):
    """What SLURM's ``--signal`` does before the time limit, sent by hand (a real timeout
    takes minutes: scripts/fault_injection.py)."""
    sweep = tmp_path / "sweep"
    overrides = [*FAST, "trainer.max_steps=200", "trainer.ckpt_every=100000", "trainer.log_every=5"]
    proc = start(["-m", *overrides, "hydra/launcher=local", f"hydra.sweep.dir={sweep}"], tmp_path)
    run = sweep / compose_config(*overrides).run_path
    wait_for(lambda: (run / "tb").exists(), proc)
    tasks = submitit_tasks(sweep)
    assert len(tasks) == 1
    os.kill(tasks[0], signal.SIGUSR2)
    straight = tmp_path / "straight"
    train(compose_config(*overrides), straight)  # meanwhile: the uninterrupted run
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    log = "".join(p.read_text() for p in sorted((sweep / ".submitit").rglob("*_log.*")))
    assert "Stopped by SIGUSR2 after step" in log and "submitit requeues this job" in log
    assert "Requeued job" in log and "Traceback" not in log
    resumed_from = int(log.split(f"Resuming {run} from step ")[1].split()[0])
    assert 5 <= resumed_from < 200 and "Finished at step 200" in log
    assert step_of(run) == 200
    assert_same_training(last(straight), last(run))
