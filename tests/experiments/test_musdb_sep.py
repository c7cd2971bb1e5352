"""The musdb_sep experiment end to end on synthetic songs: the masking generator, the
spectrogram grids, training every model, and the separation evaluation against its
baselines, resumable per song."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_EVALUATED, compose_config, needs_ffmpeg
from factorgan.cli.train import train
from factorgan.data.synthetic.musdb import make_synthetic_musdb
from factorgan.nets.mask import MaskGenerator


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    return make_synthetic_musdb(tmp_path_factory.mktemp("musdb"), n_train=3, n_test=1, seconds=4.0, seed=3)


def config(songs: Path, cache: Path, *overrides: str):
    return compose_config("experiment=musdb_sep_synthetic", f"dataset.root={songs}", f"dataset.cache_dir={cache}",
                          "dataset.workers=1", *TINY_EVALUATED, "trainer.batch_size=4", "evaluation.workers=1",
                          "evaluation.batch_size=8", *overrides)


def test_the_mask_splits_the_mixture_exactly():
    torch.manual_seed(0)
    G = MaskGenerator((2, 32, 16), (1, 32, 16), noise_dim=4, width=4)
    mix = torch.rand(3, 1, 32, 16) * 3  # log1p magnitudes
    out = G(torch.rand(3, 4) * 2 - 1, mix)
    assert out.shape == (3, 2, 32, 16)
    torch.testing.assert_close(torch.expm1(out).sum(1, keepdim=True), torch.expm1(mix), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    with pytest.raises(ValueError, match="1-channel mixture into 2 sources"):
        MaskGenerator((3, 32, 16), (1, 32, 16))


@needs_ffmpeg
@pytest.mark.parametrize("model", ["factorgan", "gan"])
def test_each_model_trains_and_is_scored_beside_the_baselines(songs, tmp_path, model, capsys):
    run_dir = tmp_path / "run"
    trainer = train(config(songs, tmp_path / "cache", f"model={model}", "paired=1", "evaluation.progress=true"), run_dir)
    assert trainer.step == 4
    out, err = capsys.readouterr()
    # the bar counts songs (1 test song; not its 6 scores: 2 aggregations x model and 2 baselines)
    counts = re.findall(r"separation scores: +\d+%\|[^|]*\| (\d+/\d+)", err)
    assert counts and {c.split("/")[1] for c in counts} == {"1"} and counts[-1] == "1/1", err
    # the end: a table of SDRs beside the 0.5 and oracle masks, not ~60 key=value pairs
    table = out[out.index("Result at step 4"):]
    vocals = next(line for line in table.splitlines() if "vocals SDR, dB (median" in line)
    assert "higher" in vocals and "0.5 mask:" in vocals and "oracle mask:" in vocals
    assert "more metrics in metrics.json" in table
    seen = {t.name: trainer.D.in_shape(t) for t in trainer.D.term_list}
    assert all(shape[0] in (1, 2) for shape in seen.values())  # never the mixture's channel with the sources
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    for key in ("sdr_vocals_mean", "sdr_vocals_median", "sdr_accompaniment_mean", "sir_vocals_median",
                "sdr_vocals_sisec", "sdr_vocals_mean_oracle", "sdr_vocals_mean_mask0.5"):
        assert key in metrics and np.isfinite(metrics[key]), key
    # the ideal ratio mask separates these songs far better than splitting the mixture in half
    assert metrics["sdr_vocals_mean_oracle"] > metrics["sdr_vocals_mean_mask0.5"] + 5
    assert metrics["sdr_accompaniment_mean_oracle"] > metrics["sdr_accompaniment_mean_mask0.5"] + 5
    assert (run_dir / "samples" / "latest.png").exists()
    scored = list((run_dir / "separation").rglob("*.json"))
    assert len(scored) == 1  # the one test song's scores, kept for a resumed evaluation


@needs_ffmpeg
def test_an_evaluation_resumes_from_the_kept_song_scores(songs, tmp_path, monkeypatch):
    from factorgan.cli import evaluate
    from factorgan.evaluators import musdb as musdb_experiment

    run_dir = tmp_path / "run"
    train(config(songs, tmp_path / "cache", "paired=1", "evaluation.baselines=false",
                 "evaluation.aggregation=official"), run_dir)
    first = json.loads((run_dir / "metrics.json").read_text())["metrics"]

    def no_scoring(job):
        raise AssertionError("a song was scored again")

    monkeypatch.setattr(musdb_experiment, "_score", no_scoring)
    again = evaluate.main([f"run={run_dir}", "evaluation.workers=1"])
    assert again == pytest.approx(first)


@needs_ffmpeg
def test_tensorboard_gets_the_spectrograms_and_audio_of_every_part(songs, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    train(config(songs, tmp_path / "cache", "paired=1", "evaluation=null", "samples.n=2"), run_dir)
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"audio": 0, "images": 0})
    events.Reload()
    assert "samples" in events.Tags()["images"]
    # each heard example: the mixture, then each part true and generated, in that order
    names = ["1_mixture", "2_accompaniment_true", "3_accompaniment_generated", "4_vocals_true", "5_vocals_generated"]
    assert sorted(events.Tags()["audio"]) == [f"audio/example{i}/{n}" for i in (1, 2) for n in names]
    clips = {n: events.Audio(f"audio/example1/{n}")[-1] for n in names}
    # a few seconds: consecutive snippets of the song (its 4 s allow 10 of 32 frames, 3.7 s), not one
    frames = {clip.length_frames for clip in clips.values()}
    assert len(frames) == 1 and frames.pop() / 22_050 > 3.5
    assert all(clip.sample_rate == 22_050 for clip in clips.values())


@needs_ffmpeg
def test_audio_clips_of_an_example_share_one_gain(songs, tmp_path):
    from factorgan.build import build_trainer

    cfg = config(songs, tmp_path / "cache", "paired=1", "evaluation=null", "samples.n=2")
    trainer = build_trainer(cfg, tmp_path / "run")
    writer = trainer.samples
    clips = writer.clips(0)
    assert list(clips) == ["1_mixture", "2_accompaniment_true", "3_accompaniment_generated", "4_vocals_true",
                           "5_vocals_generated"]
    peaks = {name: float(a.abs().max()) for name, a in clips.items()}
    assert max(peaks.values()) == pytest.approx(0.9, abs=1e-4)  # the loudest clip of the example at 0.9
    assert peaks["4_vocals_true"] < 0.8 * peaks["1_mixture"]  # the others keep their loudness relative to it
    rows = trainer.data.clip_rows(int(trainer.data.example_rows(2)[0]), 100)
    assert len(set(trainer.data.index["test"][rows, 0].tolist())) == 1  # one song's snippets, in order
    assert (rows.diff() == 1).all()
