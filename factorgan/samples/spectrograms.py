"""Sample grids and audio for spectrogram data (source separation).

One row per fixed test example: the input (mixture), every generated part, every true
part, each channel a grey image with low frequencies at the bottom, on one scale. The
examples' parts also go to TensorBoard as audio, one example after the other, turned
back into sound by Griffin-Lim from their magnitudes alone (a preview: the evaluation
uses the mixture's phase).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.tensorboard import SummaryWriter

from factorgan.data.interface import TrainingData
from factorgan.samples.grids import SampleWriter
from factorgan.samples.images import image_grid


def spectrogram_image(log_mag: Tensor, top: float) -> Tensor:
    """``log1p`` magnitudes ``(bins, frames)`` -> a grey image ``(1, bins, frames)`` in
    [0, 1], low frequencies at the bottom, ``top`` mapped to white (a square root lifts
    the quiet partials into view)."""
    return (log_mag / max(top, 1e-6)).clamp(0, 1).sqrt().flip(0).unsqueeze(0)


def griffin_lim(log_mag: Tensor, n_fft: int = 512, hop: int = 256, iters: int = 32) -> Tensor:
    """Audio ``(samples,)`` from ``log1p`` magnitudes ``(n_fft // 2, frames)`` (the top bin
    dropped) by Griffin-Lim from zero phase."""
    mag = torch.nn.functional.pad(torch.expm1(log_mag.float()).clamp_min(0), (0, 0, 0, 1))
    window = torch.hann_window(n_fft)
    spec = mag.to(torch.complex64)
    for _ in range(iters):
        audio = torch.istft(spec, n_fft, hop, window=window, center=True)
        phase = torch.stft(audio, n_fft, hop, window=window, center=True, return_complex=True)
        spec = mag * torch.exp(1j * phase.angle()[:, : mag.shape[1]])
    return torch.istft(spec, n_fft, hop, window=window, center=True)


class SpectrogramSampleWriter(SampleWriter):
    """Conditional spectrogram data: input | generated parts | true parts per row, and
    the parts as audio in TensorBoard (tags ``audio/<input>``, ``audio/<part>_{generated,true}``).

    Args:
        part_names: names of the parts in the sample's order (for the audio tags).
        sample_rate / n_fft / hop: the spectrograms' settings (for the audio).
    """

    def __init__(
        self, run_dir: Path, generator: nn.Module, data: TrainingData, seed: int, n: int = 4,
        part_names: tuple[str, ...] = ("mixture", "accompaniment", "vocals"),
        sample_rate: int = 22_050, n_fft: int = 512, hop: int = 256,
    ) -> None:
        if not data.input_parts:
            raise ValueError("SpectrogramSampleWriter needs a conditional dataset (input_parts ≥ 1)")
        super().__init__(run_dir, generator, data, seed, n)
        _, self.truth = data.split_inputs(data.examples(len(self.z)))
        self.part_names, self.sample_rate, self.n_fft, self.hop = part_names, sample_rate, n_fft, hop

    def grid(self) -> Tensor:
        cond, out = self.data.split_inputs(self.generate())
        rows = torch.cat([cond, out, self.truth.float()], dim=1)  # (n, C_in + 2·C_out, bins, frames)
        top = float(torch.quantile(self.truth.float().flatten()[:1_000_000], 0.995))  # a few bright peaks saturate
        tiles = torch.stack([spectrogram_image(x, top) for row in rows for x in row])
        return image_grid(tiles, nrow=rows.shape[1], padding=2, pad_value=1.0,
                          labels=self.column_labels(cond.shape[1], out.shape[1]))

    def column_labels(self, inputs: int, outputs: int) -> list[str]:
        """Headers of the grid's columns: the inputs' names, then each part generated, then true."""
        names = list(self.part_names)
        if len(names) != inputs + outputs:  # names not matching the data: numbered parts
            names = [f"input {i + 1}" for i in range(inputs)] + [f"part {i + 1}" for i in range(outputs)]
        parts = names[inputs:]
        return [*names[:inputs], *(f"{n} generated" for n in parts), *(f"{n} true" for n in parts)]

    def write(self, writer: SummaryWriter | None, step: int) -> Path:
        latest = super().write(writer, step)
        if writer is not None:  # every example's parts, one after the other: a few seconds
            cond, out = self.data.split_inputs(self.generate())
            k, names = self.data.input_parts, self.part_names
            clips = {f"audio/{names[0]}": cond[:, 0]}
            clips.update({f"audio/{names[k + i]}_generated": out[:, i] for i in range(out.shape[1])})
            clips.update({f"audio/{names[k + i]}_true": self.truth[:, i].float() for i in range(out.shape[1])})
            for tag, specs in clips.items():
                audio = torch.cat([griffin_lim(s, self.n_fft, self.hop) for s in specs])
                writer.add_audio(tag, (audio / audio.abs().max().clamp_min(1e-6)).unsqueeze(0), step,
                                 sample_rate=self.sample_rate)
        return latest
