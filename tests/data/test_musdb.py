"""MUSDB18 and MUSDB18-HQ: both layouts load, the spectrogram cache, the paired songs,
the snippet pools, and a clear message for each bad input."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import needs_ffmpeg
from factorgan.data.formats import musdb_songs
from factorgan.data.interface import TEST, TRAIN, DatasetError, PairedCountError
from factorgan.data.formats.musdb import AudioSettings, log_spectrogram, musdb, paired_songs, snippet_index
from factorgan.data.synthetic.musdb import RATE, make_synthetic_musdb


@pytest.fixture(scope="module")
def hq_root(tmp_path_factory) -> Path:
    return make_synthetic_musdb(tmp_path_factory.mktemp("hq"), n_train=5, n_test=2, seconds=3.0, seed=1)


def load(root: Path, cache: Path, **kw):
    return musdb(root=str(root), cache_dir=str(cache), workers=1, **kw)


@needs_ffmpeg
def test_hq_songs_become_snippets_of_mixture_accompaniment_and_vocals(hq_root, tmp_path):
    data = load(hq_root, tmp_path, paired=2, mixture="sum")
    assert data.sample_shape == (3, 256, 128) and data.input_parts == 1
    frames = 3 * 22_050 // 256 + 1  # centred STFT frames of a 3-s song
    song = data.song(data.song_names()[0])
    assert song.shape == (3, 256, frames) and song.dtype == np.float16
    # the mixture is the sum of the sources (mixture=sum): in linear magnitudes, within
    # the triangle inequality, and the log1p spectrogram of the mono resampled audio
    mix, acc, voc = (np.expm1(song[i].astype(np.float32)) for i in range(3))
    assert np.all(mix <= (acc + voc) * 1.01 + 1e-2)  # float16 log magnitudes: 1 % rounding
    mixture, refs, rate = data.song_audio(data.song_names()[0])
    assert rate == RATE and mixture.shape[1] == 2
    import librosa
    mono = librosa.resample(mixture.mean(axis=1), orig_sr=RATE, target_sr=22_050)
    np.testing.assert_allclose(song[0].astype(np.float32), log_spectrogram(mono, AudioSettings()), atol=2e-2)
    assert len(data.index[TRAIN]) == 5 * len(range(0, frames - 128, 64))


@needs_ffmpeg
def test_stems_load_like_wav_folders(tmp_path):
    root = make_synthetic_musdb(tmp_path / "stems", n_train=2, n_test=1, seconds=2.0, seed=2, stems=True)
    data = load(root, tmp_path / "cache", paired=1)
    assert data.song(data.song_names()[0]).shape[:2] == (3, 256) and "MUSDB18(" in data.name
    mixture, refs, _ = data.song_audio(data.song_names()[0])
    # the stored mixture is AAC-encoded separately: close to, not equal to, the sum
    assert 0 < np.abs(mixture - refs["vocals"] - refs["accompaniment"]).max() < 0.5


@needs_ffmpeg
def test_the_cache_is_reused_and_rebuilt_when_a_setting_changes(hq_root, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in hq_root.rglob("*")}
    load(hq_root, tmp_path, paired=1)
    first = sorted(p.name for p in tmp_path.iterdir())
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npy")}
    load(hq_root, tmp_path, paired=3)  # paired is not a preprocessing setting: same cache
    assert sorted(p.name for p in tmp_path.iterdir()) == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npy")} == stamp  # nothing recomputed
    load(hq_root, tmp_path, paired=1, hop=128)
    assert len(list(tmp_path.iterdir())) == 2  # a changed setting: a new cache
    assert {p: p.stat().st_mtime_ns for p in hq_root.rglob("*")} == before  # the dataset folder untouched


@needs_ffmpeg
def test_paired_songs_are_nested_and_the_pools_use_every_song(hq_root, tmp_path):
    names = [f"s{i:03d}" for i in range(100)]
    assert paired_songs(names, 10) == paired_songs(names, 20)[:10] == paired_songs(names, 50)[:10]
    assert paired_songs(names, 50) != sorted(names)[:50]  # a shuffle, seeded
    data = load(hq_root, tmp_path, paired=1)
    chosen = data.names[TRAIN].index(paired_songs(data.names[TRAIN], 1)[0])
    assert set(data.index[TRAIN][data.paired_rows, 0].tolist()) == {chosen}
    g = torch.Generator().manual_seed(0)
    songs_drawn = set(data.index[TRAIN][torch.randint(len(data.index[TRAIN]), (200,), generator=g), 0].tolist())
    assert songs_drawn == set(range(5))  # the marginal pools: every training song
    paired_mix = data.sample_inputs(50, g, paired_only=True)
    song = data.song(data.names[TRAIN][chosen], TRAIN)
    allowed = torch.stack([torch.from_numpy(song[0, :, t:t + 128].astype(np.float32))
                           for t in range(0, song.shape[-1] - 128, 64)])
    assert all(any(torch.equal(m[0], a) for a in allowed) for m in paired_mix)  # the GAN's inputs
    with pytest.raises(PairedCountError, match="maximum is paired=5"):
        load(hq_root, tmp_path, paired=6)


def test_snippets_are_cut_as_the_official_code_did():
    rows = snippet_index([300, 128, 129], length=128, hop=64)
    assert rows.tolist() == [[0, 0], [0, 64], [0, 128], [2, 0]]  # range(0, frames - 128, 64)


def test_missing_root_names_the_layouts_and_the_preview(tmp_path):
    with pytest.raises(DatasetError) as err:
        load(tmp_path / "nowhere", tmp_path, paired=1)
    msg = str(err.value)
    assert ".stem.mp4" in msg and "mixture,drums,bass,other,vocals" in msg and "download=True" in msg


def test_a_song_missing_a_stem_is_named(hq_root, tmp_path):
    root = make_synthetic_musdb(tmp_path / "broken", n_train=2, n_test=1, seconds=1.0)
    os.remove(root / "train" / "song001" / "bass.wav")
    with pytest.raises(DatasetError, match="song 'song001'.*missing bass.wav"):
        load(root, tmp_path / "cache", paired=1)


@needs_ffmpeg
def test_an_unreadable_audio_file_is_named(tmp_path):
    root = make_synthetic_musdb(tmp_path / "bad", n_train=2, n_test=1, seconds=1.0)
    (root / "train" / "song000" / "vocals.wav").write_bytes(b"not a wav file")
    with pytest.raises(DatasetError, match="cannot read the audio of song 'song000'"):
        load(root, tmp_path / "cache", paired=1)


@needs_ffmpeg
def test_another_sample_rate_is_resampled_and_said(tmp_path, capsys):
    root = make_synthetic_musdb(tmp_path / "rate", n_train=2, n_test=1, seconds=1.0)
    for wav in (root / "train" / "song000").glob("*.wav"):
        audio, rate = sf.read(wav, dtype="float32")
        sf.write(wav, audio[::2], rate // 2)  # 22,050 Hz
    data = load(root, tmp_path / "cache", paired=1, snippet=32, snippet_hop=16)
    assert "is at 22050 Hz, not 44100: resampled" in capsys.readouterr().out
    lengths = [data.songs[TRAIN][i].shape[-1] for i in range(2)]
    assert abs(lengths[0] - lengths[1]) <= 1  # the same duration after resampling


def test_stems_without_ffmpeg_say_how_to_install_it(tmp_path, monkeypatch):
    root = tmp_path / "s"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.stem.mp4").write_bytes(b"")
    monkeypatch.setattr(musdb_songs, "_which", lambda cmd: False)
    with pytest.raises(DatasetError, match="needs ffmpeg.*apt-get install ffmpeg"):
        load(root, tmp_path / "cache", paired=0)


@needs_ffmpeg
def test_the_validation_option_holds_out_musdbs_validation_songs(tmp_path):
    root = make_synthetic_musdb(tmp_path / "v", n_train=3, n_test=1, seconds=1.0)
    (root / "train" / "song001").rename(root / "train" / "Actions - One Minute Smile")  # a musdb validation song
    every = load(root, tmp_path / "cache", paired=1, snippet=32, snippet_hop=16)
    held = load(root, tmp_path / "cache", paired=1, snippet=32, snippet_hop=16, validation=True)
    assert "Actions - One Minute Smile" in every.names[TRAIN]
    assert held.names[TRAIN] == [n for n in every.names[TRAIN] if n != "Actions - One Minute Smile"]
