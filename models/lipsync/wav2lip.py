"""Wav2Lip generator (Prajwal et al., 2020), written so the official checkpoints load unchanged.

The module tree (names, order, shapes) mirrors the published model exactly, because the
``state_dict`` keys of ``wav2lip.pth`` / ``wav2lip_gan.pth`` are the contract:
``face_encoder_blocks.{i}.{j}.conv_block.{0: conv, 1: batchnorm}``, the same under
``audio_encoder`` and ``face_decoder_blocks``, and ``output_block.{0.conv_block, 1}``.

Input: a 96x96 face as 6 channels (the target frame with its lower half blacked out, then a
reference frame; BGR, values in [0, 1]) and an 80x16 mel window (0.2 s of audio).
Output: the 96x96 face with a mouth that speaks the window, BGR in [0, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

FACE_SIZE = 96
MEL_BINS, MEL_STEPS = 80, 16


class Conv2d(nn.Module):
    """conv + batchnorm + ReLU, optionally residual (same shape in and out)."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int | tuple[int, int],
                 padding: int, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding),
                                        nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class Conv2dTranspose(nn.Module):
    """transposed conv + batchnorm + ReLU: the decoder's upsampling step."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, padding: int,
                 output_padding: int = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
            nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(c: int, n: int) -> list[nn.Module]:
    """n residual 3x3 blocks at c channels."""
    return [Conv2d(c, c, 3, 1, 1, residual=True) for _ in range(n)]


def _down(cin: int, cout: int, n_res: int) -> nn.Sequential:
    """Stride-2 conv halving the size, then n_res residual blocks."""
    return nn.Sequential(Conv2d(cin, cout, 3, 2, 1), *_res(cout, n_res))


def _up(cin: int, cout: int, n_res: int) -> nn.Sequential:
    """Stride-2 transposed conv doubling the size, then n_res residual blocks."""
    return nn.Sequential(Conv2dTranspose(cin, cout, 3, 2, 1, output_padding=1), *_res(cout, n_res))


class Wav2Lip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(6, 16, 7, 1, 3)),  # (B, 16, 96, 96)
            _down(16, 32, 2),  # (B, 32, 48, 48)
            _down(32, 64, 3),  # (B, 64, 24, 24)
            _down(64, 128, 2),  # (B, 128, 12, 12)
            _down(128, 256, 2),  # (B, 256, 6, 6)
            _down(256, 512, 1),  # (B, 512, 3, 3)
            nn.Sequential(Conv2d(512, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0)),  # (B, 512, 1, 1)
        ])
        self.audio_encoder = nn.Sequential(  # (B, 1, 80, 16) -> (B, 512, 1, 1)
            Conv2d(1, 32, 3, 1, 1), *_res(32, 2),
            Conv2d(32, 64, 3, (3, 1), 1), *_res(64, 2),  # (B, 64, 27, 16)
            Conv2d(64, 128, 3, 3, 1), *_res(128, 2),  # (B, 128, 9, 6)
            Conv2d(128, 256, 3, (3, 2), 1), *_res(256, 1),  # (B, 256, 3, 3)
            Conv2d(256, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0),
        )
        self.face_decoder_blocks = nn.ModuleList([  # each output is concatenated with a skip
            nn.Sequential(Conv2d(512, 512, 1, 1, 0)),  # (B, 512, 1, 1)
            nn.Sequential(Conv2dTranspose(1024, 512, 3, 1, 0), *_res(512, 1)),  # (B, 512, 3, 3)
            _up(1024, 512, 2),  # (B, 512, 6, 6)
            _up(768, 384, 2),  # (B, 384, 12, 12)
            _up(512, 256, 2),  # (B, 256, 24, 24)
            _up(320, 128, 2),  # (B, 128, 48, 48)
            _up(160, 64, 2),  # (B, 64, 96, 96)
        ])
        self.output_block = nn.Sequential(Conv2d(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0),
                                          nn.Sigmoid())

    def forward(self, mel: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """mel (B, 1, 80, 16), face (B, 6, 96, 96) -> face (B, 3, 96, 96) in [0, 1]."""
        skips = []
        x = face
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(mel)  # (B, 512, 1, 1)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), skips.pop()), dim=1)
        return self.output_block(x)


class CheckpointError(ValueError):
    """The file is not a Wav2Lip generator checkpoint."""


def _state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds no state_dict of tensors (expected the official "
                              "wav2lip.pth / wav2lip_gan.pth: a dict with 'state_dict')")
    return {k.removeprefix("module."): v for k, v in state.items()}


@dataclass(frozen=True)
class Precision:
    """Where and how the network runs; chosen once per process by :func:`pick_precision`."""

    device: str  # "cuda" or "cpu"
    dtype: torch.dtype


def pick_precision(prefer_bf16_on_cpu: bool = True) -> Precision:
    """fp16 on CUDA; bf16 on CPUs with native bf16 matmul (AMX/AVX512-BF16), else fp32."""
    if torch.cuda.is_available():
        return Precision("cuda", torch.float16)
    native_bf16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return Precision("cpu", torch.bfloat16 if prefer_bf16_on_cpu and native_bf16 else torch.float32)


def load_wav2lip(path: Path, precision: Precision | None = None) -> Wav2Lip:
    """Official checkpoint -> eval-mode model on its device, in its dtype, channels-last."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Wav2Lip checkpoint at {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {exc}") from exc
    model = Wav2Lip()
    state = _state_dict(obj, path)
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    wrong = [k for k in set(expected) & set(state) if state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path} is not a Wav2Lip generator: {len(missing)} missing keys "
                              f"(e.g. {sorted(missing)[:3]}), {len(unexpected)} unexpected "
                              f"(e.g. {sorted(unexpected)[:3]}), wrong shapes {sorted(wrong)[:3]}")
    model.load_state_dict(state)
    precision = precision or pick_precision()
    model = model.eval().to(device=precision.device, dtype=precision.dtype,
                            memory_format=torch.channels_last)
    log.info("loaded Wav2Lip from %s on %s as %s", path, precision.device, precision.dtype)
    return model


def save_checkpoint(model: Wav2Lip, path: Path, data_parallel: bool = True) -> None:
    """The official layout (``module.``-prefixed keys under ``state_dict``); for tests and tools."""
    prefix = "module." if data_parallel else ""
    state = {prefix + k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 0, "global_epoch": 0}, path)
