"""Short synthetic songs in MUSDB18-HQ's layout (and as ``.stem.mp4``), for tests and the
CPU demo.

Every song has four distinct, separable sources at 44.1 kHz stereo: a voiced melody
with vibrato (vocals: a harmonic tone with formant-like partials, in phrases with rests),
drums (decaying noise bursts and a low thump on the beat), bass (a low sine line) and
other (sustained three-note chords). The accompaniment's harmony and the melody's notes
are drawn per song, so the parts depend on each other as in music.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

RATE = 44_100
SCALE = np.array([0, 2, 4, 5, 7, 9, 11])  # major scale, semitones


def _hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69) / 12)


def _notes(rng: np.random.Generator, n: int, low: int, span: int, key: int) -> np.ndarray:
    degrees = rng.integers(0, span, n)
    return key + low + 12 * (degrees // 7) + SCALE[degrees % 7]


def render_song(seconds: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The four sources of one song, float32 ``(samples, 2)`` each."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    key = int(rng.integers(0, 12))
    beat = rng.uniform(0.4, 0.6)  # seconds per beat
    steps = np.floor(t / beat).astype(int)
    bar = steps // 4
    # other: a chord per bar (root, third, fifth), soft sawtooth-like partials
    roots = _notes(rng, bar.max() + 1, 48, 7, key)
    other = np.zeros(n)
    for offset in (0, 4, 7):
        f = _hz(roots[bar] + offset)
        for k in (1, 2, 3):
            other += np.sin(2 * np.pi * k * np.cumsum(f) / RATE) / (k * 3)
    # bass: the chord root two octaves down, one note per beat
    bass = np.sin(2 * np.pi * np.cumsum(_hz(roots[bar] - 24)) / RATE) * (1 - 0.5 * (t % beat) / beat)
    # drums: a noise burst and a low thump on every beat
    since = t % beat
    drums = rng.normal(0, 1, n) * np.exp(-since * 30) * 0.6 + np.sin(2 * np.pi * 60 * since) * np.exp(-since * 12)
    # vocals: a melody of two notes per beat with vibrato and rests, harmonic partials
    half = np.floor(t / (beat / 2)).astype(int)
    melody = _notes(rng, half.max() + 1, 60, 10, key)
    f0 = _hz(melody[half]) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) * amp for k, amp in ((1, 1.0), (2, 0.5), (3, 0.35), (4, 0.2)))
    sung = (rng.random(bar.max() + 1) < 0.8)[bar] & ((t % (4 * beat)) < 3.5 * beat)
    vocals = voice * sung * 0.5
    pan = {"drums": 0.5, "bass": 0.5, "other": 0.35, "vocals": 0.55}
    out = {}
    for name, x in (("drums", drums), ("bass", bass), ("other", other), ("vocals", vocals)):
        x = 0.2 * x / (np.abs(x).max() + 1e-9)
        out[name] = np.stack([x * (1 - pan[name]) * 2, x * pan[name] * 2], axis=1).astype(np.float32)
    return out


def make_synthetic_musdb(
    root: str | Path, n_train: int = 8, n_test: int = 3, seconds: float = 8.0, seed: int = 0,
    stems: bool = False,
) -> Path:
    """Write songs ``<root>/{train,test}/song<i>/{mixture,drums,bass,other,vocals}.wav``
    (MUSDB18-HQ), or ``<root>/{train,test}/song<i>.stem.mp4`` with ``stems`` (MUSDB18's
    stream order mixture, drums, bass, other, vocals; needs ffmpeg); returns ``root``."""
    import soundfile as sf

    root = Path(root).expanduser()
    rng = np.random.default_rng(seed)
    for subset, n in (("train", n_train), ("test", n_test)):
        for i in tqdm(range(n), desc=f"synthetic songs ({subset})", unit="song", mininterval=1.0):
            sources = render_song(seconds, rng)
            mixture = sum(sources.values())
            if stems:
                import stempeg

                path = root / subset / f"song{i:03d}.stem.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                data = np.stack([mixture, *(sources[s] for s in ("drums", "bass", "other", "vocals"))])
                stempeg.write_stems(str(path), data, sample_rate=RATE)
            else:
                folder = root / subset / f"song{i:03d}"
                folder.mkdir(parents=True, exist_ok=True)
                sf.write(folder / "mixture.wav", mixture, RATE, subtype="FLOAT")
                for name, x in sources.items():
                    sf.write(folder / f"{name}.wav", x, RATE, subtype="FLOAT")
    return root
