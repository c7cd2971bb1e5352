"""Every speed option keeps the maths: fast and plain paths give the same training."""
from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from conftest import TINY, compose_config
from factorgan.training.cuda_graphs import graphs_supported, make_step_runner
from factorgan.training.steps import real_batch
from factorgan.build import build_trainer

SMALL = ["generator.hidden=32", "discriminator.hidden=32"]


def _train(tmp_path, steps: int, *overrides: str, graphs: bool = False, small: tuple[str, ...] = tuple(SMALL)):
    trainer = build_trainer(compose_config(*TINY, *small, *overrides), tmp_path)
    run = make_step_runner(trainer.train_step, trainer.rng, [trainer.opt_d, trainer.opt_g], graphs)
    for _ in range(steps):
        run()
    return trainer


def _assert_same_weights(a, b, rtol: float, atol: float) -> None:
    for (k, va), vb in zip(a.G.state_dict().items(), b.G.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=rtol, atol=atol, msg=k)
    for (k, va), vb in zip(a.D.state_dict().items(), b.D.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=rtol, atol=atol, msg=k)


@pytest.mark.parametrize("model", ["factorgan", "gan"])
def test_fused_adam_matches_the_plain_optimiser(tmp_path, model):
    fused = _train(tmp_path / "a", 8, f"model={model}", "optimizer.fused=true")
    plain = _train(tmp_path / "b", 8, f"model={model}", "optimizer.fused=false", "+optimizer.foreach=false")
    _assert_same_weights(fused, plain, rtol=1e-4, atol=1e-6)


def test_trainer_step_equals_its_parts(tmp_path):
    whole = _train(tmp_path / "a", 3)
    parts = build_trainer(compose_config(*TINY, *SMALL), tmp_path / "b")
    for _ in range(3):
        for _ in range(parts.settings.disc_iter):
            parts.discriminator_step()
        parts.generator_step()
    _assert_same_weights(whole, parts, rtol=0, atol=0)


@pytest.mark.skipif(not graphs_supported(torch.device("cuda")) or not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("model", ["factorgan", "gan"])
def test_cuda_graph_replay_matches_eager(tmp_path, model):
    eager = _train(tmp_path / "a", 12, f"model={model}", "device=cuda")
    graphed = _train(tmp_path / "b", 12, f"model={model}", "device=cuda", graphs=True)
    _assert_same_weights(eager, graphed, rtol=1e-4, atol=1e-5)
    log_e, log_g = eager.scalars.flush(), graphed.scalars.flush()
    assert log_e.keys() == log_g.keys()
    for k in log_e:
        assert abs(log_e[k] - log_g[k]) < 1e-4 * max(1.0, abs(log_e[k])), k


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_checkpoints_load_on_cpu(tmp_path):
    from factorgan.runs import checkpoint
    from factorgan.cli.train import train

    train(compose_config(*TINY, *SMALL, "device=cuda"), tmp_path)
    state = checkpoint.load(tmp_path / "checkpoints" / checkpoint.LAST)
    assert state["step"] == 4 and all(v.device.type == "cpu" for v in state["generator"].values())


def test_channels_last_matches_the_default_layout(tmp_path):
    conv = ["experiment=cityscapes_seg", "dataset=synthetic", "dataset.sample_shape=[6,32,32]", "dataset.dim=0",
            "dataset.sizes=[3,3]", "dataset.input_parts=1", "dataset.n_train=40", "dataset.n_test=4",
            "generator.width=8", "discriminator.filters=8", "trainer.batch_size=4"]
    nhwc = build_trainer(compose_config(*TINY, *conv, "channels_last=true"), tmp_path / "a")
    nchw = build_trainer(compose_config(*TINY, *conv, "channels_last=false"), tmp_path / "b")
    assert nhwc.data.train.is_contiguous(memory_format=torch.channels_last)
    grads = []
    for t in (nhwc, nchw):  # same seed: same weights, batches, noise and permutations
        t.rng.manual_seed(0)
        with torch.no_grad():
            fake = t.ctx.generate(4)
        terms = t.D.losses(real_batch(t.D, t.data, 4, t.rng), fake, t.rng)
        loss = sum(term.loss for term in terms.values())
        loss.backward()
        grads.append((fake, loss.detach(), [p.grad.clone() for p in t.D.parameters()]))
    (fa, la, ga), (fb, lb, gb) = grads
    torch.testing.assert_close(fa, fb, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(la, lb, rtol=1e-4, atol=1e-6)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-3, atol=1e-6)


CONV = ["experiment=cityscapes_seg", "dataset=synthetic", "dataset.sample_shape=[6,32,32]", "dataset.dim=0",
        "dataset.sizes=[3,3]", "dataset.input_parts=1", "dataset.n_train=40", "dataset.n_test=4",
        "generator.width=8", "discriminator.filters=8", "trainer.batch_size=4"]


@pytest.mark.parametrize("setting", [
    ("model=factorgan", *SMALL), ("model=gan", *SMALL), tuple(CONV), (*CONV, "model=cyclegan"),
    ("model=factorgan", *SMALL, "augment=ada", "penalty=pairs"), ("model=gan", *SMALL, "penalty=r1"),
], ids=["factorgan-mlp", "gan-mlp", "factorgan-unet", "cyclegan-unet", "factorgan-ada-pairs", "gan-r1"])
def test_bf16_autocast_trains_like_fp32(tmp_path, setting):
    """bf16 autocast (``speed=fast``) gives fp32's losses to bf16's precision, with the
    few-pairs remedies too (R1's double backward runs through the spectral-norm layers'
    hand-written backward inside the autocast region)."""
    runs = {}
    for precision in ("fp32", "bf16"):
        t = build_trainer(compose_config(*TINY, *setting, f"trainer.precision={precision}"), tmp_path / precision)
        dtypes = set()  # the fast path really computes in bf16
        t.G.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
        for _ in range(3):
            t.train_step()
        assert dtypes == {torch.bfloat16 if precision == "bf16" else torch.float32}
        runs[precision] = t
    log32, log16 = runs["fp32"].scalars.flush(), runs["bf16"].scalars.flush()
    assert log32.keys() == log16.keys()
    for k in log32:  # bf16 keeps ~3 significant digits: same losses to a loose tolerance
        if k.endswith("/r_t") and any(o.startswith("penalty=") for o in setting):
            continue  # R1 keeps the penalised logits near 0, where bf16 may flip their sign (a mean of signs)
        assert abs(log32[k] - log16[k]) < 0.03 * max(1.0, abs(log32[k])), (k, log32[k], log16[k])
    for (k, a), b in zip(runs["fp32"].D.state_dict().items(), runs["bf16"].D.state_dict().values()):
        assert b.dtype == a.dtype, k  # weights, spectral-norm vectors and BN stats stay fp32
    for net in ("G", "D"):  # Adam steps are ~lr whatever the gradient's size: weights agree to a few steps' lr
        for (k, a), b in zip(getattr(runs["fp32"], net).named_parameters(), getattr(runs["bf16"], net).parameters()):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-3, msg=f"{net}.{k}")


def test_unknown_precision_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="trainer.precision='fp8'"):
        build_trainer(compose_config(*TINY, *SMALL, "trainer.precision=fp8"), tmp_path)


def test_compiled_networks_train_like_eager_ones(tmp_path):
    eager = _train(tmp_path / "a", 3, "compile=false")
    compiled = _train(tmp_path / "b", 3, "compile=true")  # stacked MLPs with spectral norm: ~40 s to compile
    assert hasattr(compiled.G, "_compiled_call_impl") and compiled.G._compiled_call_impl is not None
    assert list(compiled.D.state_dict()) == list(eager.D.state_dict())  # checkpoints keep their names
    _assert_same_weights(eager, compiled, rtol=1e-4, atol=1e-6)


def test_checkpointed_unet_trains_like_the_plain_one(tmp_path):
    plain = _train(tmp_path / "a", 3, *CONV, "generator.checkpoint=false", small=())
    ckpt = _train(tmp_path / "b", 3, *CONV, "generator.checkpoint=true", small=())
    assert ckpt.G.checkpoint and not plain.G.checkpoint
    _assert_same_weights(plain, ckpt, rtol=1e-4, atol=1e-6)  # BN running statistics included


# Operations that read a tensor's values back to the host: on CUDA each one waits for the
# GPU (``item``/``bool``/``float`` go through ``_local_scalar_dense``; ``nonzero`` and
# ``masked_select`` need the result's size first).
HOST_READS = {"_local_scalar_dense", "nonzero", "masked_select", "is_nonzero", "equal"}


class _HostReads(TorchDispatchMode):
    """Records every operation in :data:`HOST_READS` dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in HOST_READS:
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("setting", [
    ("model=factorgan", *SMALL), ("model=gan", *SMALL), ("model=factorgan_no_cp", *SMALL),
    tuple(CONV), (*CONV, "model=cyclegan"),
    ("model=factorgan", *SMALL, "augment=ada", "penalty=r1"), ("model=gan", *SMALL, "augment=diffaug", "penalty=r1"),
    (*CONV, "augment=ada", "augment.per_part=false"),
], ids=["factorgan-mlp", "gan-mlp", "no_cp-mlp", "factorgan-unet", "cyclegan-unet",
        "factorgan-ada-r1", "gan-diffaug-r1", "factorgan-unet-ada-shared"])
def test_a_training_step_reads_nothing_back_to_the_host(tmp_path, setting):
    """Data indices, noise, shuffles, losses and logged scalars all stay on the device:
    no step waits for the GPU (logging reads the sums once per interval, in flush)."""
    t = build_trainer(compose_config(*TINY, *setting), tmp_path)
    t.train_step()  # first step: optimiser state and logging sums are created
    with _HostReads() as mode:
        t.train_step()
        t.train_step()
    assert mode.seen == []
    objective = t.ctx.objective  # the probe itself works: a step that reads a value back is caught

    def reads_back(v):
        float(v.detach().sum())
        return objective(v)

    t.ctx.objective = reads_back
    with _HostReads() as mode:
        t.train_step()
    assert mode.seen and set(mode.seen) == {"aten._local_scalar_dense.default"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("remedies", [(), ("augment=ada", "penalty=pairs")], ids=["plain", "ada-pairs"])
def test_a_cuda_training_step_never_synchronises(tmp_path, remedies):
    t = build_trainer(compose_config(*TINY, *SMALL, "device=cuda", *remedies), tmp_path)
    t.train_step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call raises
    try:
        for _ in range(3):
            t.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_speed_presets_set_their_options_and_keep_the_run_directory(tmp_path):
    plain = compose_config(*TINY, *CONV, "speed=plain")  # the experiment itself asks for channels_last
    fast = compose_config(*TINY, *CONV, "speed=fast")
    assert (plain.trainer.precision, plain.trainer.cuda_graph, plain.channels_last, plain.compile) == (
        "fp32", False, False, False)
    assert (fast.trainer.precision, fast.trainer.cuda_graph, fast.channels_last) == ("bf16", True, True)
    # The same maths: a preset leaves the run where it is (name= is the user's); a sweep
    # over presets names its runs apart with the chosen preset.
    assert plain.run_path == fast.run_path == compose_config(*TINY, *CONV).run_path
    from hydra import compose, initialize_config_module
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_module("factorgan.configs", version_base="1.3"):
        named = compose("train", [*TINY, *CONV, "speed=fast", "name=${hydra:runtime.choices.speed}"],
                        return_hydra_config=True)
    HydraConfig.instance().set_config(named)  # what a command's job sees
    try:
        assert named.name == "fast" and named.run_path == fast.run_path + "_fast"
    finally:
        HydraConfig.instance().cfg = None
    t = build_trainer(fast, tmp_path)
    assert t.settings.cuda_graph and t.settings.precision == "bf16"
    with pytest.warns(UserWarning, match="cuda_graph=true needs a CUDA device"):  # CPU: eager fallback
        t.fit()
    assert t.step == fast.trainer.max_steps and t._params_finite()
