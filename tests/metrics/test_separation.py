"""Source-separation helpers: snippet cutting and joining (official and cross-faded),
spectrogram conversions, inversion with the mixture's phase and Griffin-Lim, resampling,
museval scoring on short synthetic songs, and the two aggregations by hand."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from conftest import needs_ffmpeg
from factorgan.metrics import separation as sep

SR = 22_050
MUSDB_SR = 44_100


def tone(seconds: float = 1.0, rate: int = SR) -> np.ndarray:
    """A 440-Hz tone with a slow tremolo, float32 ``(samples,)``."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


# ---- snippets -------------------------------------------------------------------------
@pytest.mark.parametrize("frames, starts", [(128, [0]), (129, [0, 1]), (256, [0, 128]), (300, [0, 128, 172])])
def test_official_snippet_starts(frames, starts):
    assert sep.snippet_starts(frames) == starts


def test_half_overlapping_snippet_starts():
    assert sep.snippet_starts(300, 128, hop=64) == [0, 64, 128, 172]
    assert sep.snippet_starts(256, 128, hop=64) == [0, 64, 128]


@pytest.mark.parametrize("hop", [None, 64, 1, 100])
@pytest.mark.parametrize("frames", [128, 129, 191, 255, 256, 257, 640, 1001])
def test_snippets_are_regular_end_aligned_and_cover_every_frame(frames, hop):
    length = 128
    starts = sep.snippet_starts(frames, length, hop)
    step = hop or length
    assert starts[0] == 0 and starts[-1] == frames - length
    gaps = np.diff(starts)
    assert (gaps[:-1] == step).all() and (gaps <= step).all() and (gaps > 0).all()
    covered = np.zeros(frames, dtype=int)
    for t in starts:
        covered[t:t + length] += 1
    assert (covered >= 1).all()


def test_too_short_song_is_an_error_naming_the_length():
    with pytest.raises(ValueError, match="127 frames is shorter than one snippet of 128 frames"):
        sep.snippet_starts(127, 128)
    with pytest.raises(ValueError, match="no gaps"):
        sep.snippet_starts(300, 128, hop=129)


@pytest.mark.parametrize("mode", [{}, {"overlap_add": True}, {"hop": 64}, {"hop": 37}])
@pytest.mark.parametrize("frames", [128, 129, 200, 256, 384, 1000])
def test_cut_join_round_trip_is_exact(frames, mode):
    x = np.random.default_rng(frames).standard_normal((2, 8, frames)).astype(np.float32) * 10
    snippets = sep.cut(x, 128, **mode)
    hop = mode.get("hop", 64 if mode else None)
    assert snippets.shape == (len(sep.snippet_starts(frames, 128, hop)), 2, 8, 128)
    back = sep.join(snippets, frames, **mode)
    assert back.dtype == np.float32 and back.shape == x.shape
    np.testing.assert_array_equal(back, x)


def test_official_join_lets_later_snippets_overwrite_the_overlap():
    snippets = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1) * np.ones((3, 1, 2, 128), np.float32)
    out = sep.join(snippets, 300)  # starts 0, 128, 172
    np.testing.assert_array_equal(out[0, 0, :128], 0)
    np.testing.assert_array_equal(out[0, 0, 128:172], 1)
    np.testing.assert_array_equal(out[0, 0, 172:], 2)


def test_overlap_add_join_cross_fades_with_hann_weights():
    w = sep.crossfade(128)
    assert (w > 0).all()
    np.testing.assert_allclose(w[:64] + w[64:], 1, atol=1e-12)  # half-overlapping weights sum to 1
    snippets = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1) * np.ones((3, 1, 1, 128), np.float32)
    out = sep.join(snippets, 256, overlap_add=True)[0, 0]  # starts 0, 64, 128
    np.testing.assert_array_equal(out[:64], 0)  # only snippet 0, whatever its weight
    # frame 64 + k: snippet 0 (value 0, weight w[64 + k]) and snippet 1 (value 1, weight w[k])
    np.testing.assert_allclose(out[64:128], w[:64], rtol=1e-6)
    np.testing.assert_allclose(out[128:192], 1 + w[:64], rtol=1e-6)
    np.testing.assert_array_equal(out[192:], 2)


def test_join_and_cut_reject_mismatched_inputs():
    snippets = sep.cut(np.zeros((1, 4, 300), np.float32), 128)
    with pytest.raises(ValueError, match="join with the frames and hop given to cut"):
        sep.join(snippets, 400)
    with pytest.raises(ValueError, match="join with the frames and hop given to cut"):
        sep.join(snippets, 300, overlap_add=True)
    with pytest.raises(ValueError, match=r"spec\[None\]"):
        sep.cut(np.zeros((4, 300)), 128)
    with pytest.raises(ValueError, match="not both"):
        sep.cut(np.zeros((1, 4, 300)), 128, hop=32, overlap_add=True)


# ---- spectrograms and audio -----------------------------------------------------------
def test_stft_matches_the_datasets_spectrograms():
    from factorgan.data.formats.musdb import AudioSettings, log_spectrogram

    audio = tone(0.5)
    spec = sep.stft_mono(audio)
    assert spec.shape == (257, 1 + len(audio) // 256) and np.iscomplexobj(spec)
    np.testing.assert_allclose(sep.to_model(spec), log_spectrogram(audio, AudioSettings()), rtol=1e-6, atol=1e-6)


def test_to_model_and_back_keeps_the_magnitudes_but_the_top_bin():
    spec = sep.stft_mono(tone(0.5) + np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32))
    log_mag = sep.to_model(spec)
    assert log_mag.shape == (256, spec.shape[1]) and log_mag.dtype == np.float32
    np.testing.assert_allclose(log_mag, np.log1p(np.abs(spec[:256])), rtol=1e-6)
    mag = sep.from_model(log_mag)
    assert mag.shape == spec.shape and mag.dtype == np.float32
    np.testing.assert_allclose(mag[:256], np.abs(spec[:256]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(mag[256], 0)
    np.testing.assert_array_equal(sep.from_model(np.full((256, 3), -0.5)), 0)  # negative outputs: silence


def test_invert_with_true_magnitude_and_phase_gives_back_the_audio():
    audio = tone(1.0) + 0.1 * np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    spec = sep.stft_mono(audio)
    back = sep.invert(np.abs(spec), spec, len(audio))
    assert back.shape == audio.shape and back.dtype == np.float32
    np.testing.assert_allclose(back[512:-512], audio[512:-512], atol=1e-5)


def test_griffin_lim_from_the_mixture_phase_does_not_move_away_from_the_target():
    voice = tone(1.0)
    mixture = voice + 0.3 * np.random.default_rng(2).standard_normal(SR).astype(np.float32)
    target = sep.from_model(sep.to_model(sep.stft_mono(voice)))
    mix_stft = sep.stft_mono(mixture)
    def distance(audio: np.ndarray) -> float:  # spectral convergence: ‖|STFT(audio)| − target‖ / ‖target‖
        return float(np.linalg.norm(np.abs(sep.stft_mono(audio)) - target) / np.linalg.norm(target))

    errors = [distance(sep.invert(target, mix_stft, SR, n)) for n in (0, 3, 10)]
    assert errors[0] > 1e-3  # the mixture's phase does not fit the voice's magnitudes
    assert errors[2] <= errors[1] <= errors[0]
    with pytest.raises(ValueError, match="from_model"):
        sep.invert(target[:256], mix_stft, SR)


def test_resample_keeps_a_tone_and_the_channels():
    up = sep.resample(tone(1.0), SR, MUSDB_SR)
    assert up.dtype == np.float32 and len(up) == MUSDB_SR
    np.testing.assert_allclose(up[1000:-1000], tone(1.0, MUSDB_SR)[1000:-1000], atol=2e-3)
    stereo = sep.resample(np.stack([tone(0.2), -tone(0.2)], axis=1), SR, MUSDB_SR, length=9000)
    assert stereo.shape == (9000, 2)
    np.testing.assert_allclose(stereo[:, 1], -stereo[:, 0])
    np.testing.assert_array_equal(stereo[8820:], 0)  # 0.2 s = 8,820 samples, zero-padded


# ---- scoring --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def song() -> np.ndarray:
    """3 s of stereo at 44.1 kHz, 2 sources ``(2, samples, 2)``: a sine melody and
    band-passed noise; the noise stops after 2 s. museval: about 2 s per call here."""
    n = 3 * MUSDB_SR
    notes = np.repeat([440.0, 554.4, 659.3], MUSDB_SR)
    melody = 0.5 * np.sin(2 * np.pi * np.cumsum(notes) / MUSDB_SR)
    b, a = signal.butter(4, [1000, 4000], btype="band", fs=MUSDB_SR)
    noise = signal.lfilter(b, a, np.random.default_rng(0).standard_normal((n, 2)), axis=0)
    noise[2 * MUSDB_SR:] = 0
    return np.stack([np.stack([melody, 0.8 * melody], axis=1), noise]).astype(np.float32)


@pytest.fixture(scope="module")
def oracle_scores(song) -> dict[str, np.ndarray]:
    return sep.score_song(song, song.copy(), rate=MUSDB_SR, window_s=1.0)


@needs_ffmpeg
def test_oracle_estimate_scores_high_and_silent_windows_stay_nan(oracle_scores):
    assert set(oracle_scores) == {"sdr", "sir", "sar", "isr"}
    assert all(v.shape == (2, 3) for v in oracle_scores.values())
    assert (oracle_scores["sdr"][:, :2] > 60).all()  # inf where the error is exactly zero
    for v in oracle_scores.values():  # the noise is silent in the last second: NaN for every source
        assert np.isnan(v[:, 2]).all()


@needs_ffmpeg
def test_swapped_sources_score_below_zero(song):
    scores = sep.score_song(song, song[::-1].copy(), rate=MUSDB_SR, window_s=1.0)
    assert (scores["sdr"][:, :2] < 0).all()


@needs_ffmpeg
def test_score_song_rejects_mismatched_shapes(song):
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        sep.score_song(song[..., 0], song[..., 0])
    with pytest.raises(ValueError, match="one shape"):
        sep.score_song(song, song[:, :-10])


# ---- aggregation ----------------------------------------------------------------------
NAN = np.nan
SONGS = [  # rows: vocals, accompaniment
    {"sdr": np.array([[1.0, 2.0, NAN], [4.0, NAN, 6.0]])},
    {"sdr": np.array([[3.0, 10.0], [NAN, NAN]])},  # accompaniment silent throughout song 2
]


def test_pooled_aggregation_by_hand():
    out = sep.aggregate_pooled(SONGS, ["vocals", "accompaniment"], measures=("sdr",))
    # vocals pooled: 1, 2, 3, 10 -> median 2.5, |x - 2.5| = 1.5, .5, .5, 7.5 -> MAD 1
    # mean 4, deviations -3, -2, -1, 6 -> population variance 50 / 4
    assert out["sdr_vocals_median"] == 2.5 and out["sdr_vocals_mad"] == 1.0
    assert out["sdr_vocals_mean"] == 4.0 and out["sdr_vocals_std"] == pytest.approx(np.sqrt(12.5))
    # accompaniment pooled: 4, 6 (song 2's windows all NaN: skipped, no NaN result)
    assert (out["sdr_accompaniment_median"], out["sdr_accompaniment_mad"]) == (5.0, 1.0)
    assert (out["sdr_accompaniment_mean"], out["sdr_accompaniment_std"]) == (5.0, 1.0)
    assert len(out) == 8


def test_sisec_aggregation_by_hand():
    out = sep.aggregate_sisec(SONGS, ["vocals", "accompaniment"], measures=("sdr",))
    # vocals: song medians 1.5 and 6.5 -> 4; accompaniment: song 1's median 5, song 2 left out
    assert out == {"sdr_vocals_sisec": 4.0, "sdr_accompaniment_sisec": 5.0}


def test_a_source_nan_everywhere_warns_and_is_nan_alone():
    songs = [{"sdr": np.vstack([s["sdr"], np.full((1, s["sdr"].shape[1]), NAN)])} for s in SONGS]
    sources = ["vocals", "accompaniment", "bass"]
    for aggregate in (sep.aggregate_pooled, sep.aggregate_sisec):
        with pytest.warns(RuntimeWarning, match="sdr of 'bass': every window is NaN"):
            out = aggregate(songs, sources, measures=("sdr",))
        assert all(np.isnan(v) == ("bass" in k) for k, v in out.items())


@needs_ffmpeg
def test_aggregations_of_real_scores_handle_inf_and_nan(oracle_scores):
    sources = ["melody", "noise"]
    pooled = sep.aggregate_pooled([oracle_scores, oracle_scores], sources)
    sisec = sep.aggregate_sisec([oracle_scores], sources)
    assert len(pooled) == 4 * 2 * 4 and len(sisec) == 4 * 2
    assert not any(np.isnan(v) for v in [*pooled.values(), *sisec.values()])
    assert pooled["sdr_melody_median"] > 60 and sisec["sdr_noise_sisec"] > 60


def test_aggregations_reject_malformed_scores():
    with pytest.raises(ValueError, match="measures="):
        sep.aggregate_pooled(SONGS, ["vocals", "accompaniment"])  # no sir/sar/isr
    with pytest.raises(ValueError, match="order of `sources`"):
        sep.aggregate_sisec(SONGS, ["vocals"], measures=("sdr",))
