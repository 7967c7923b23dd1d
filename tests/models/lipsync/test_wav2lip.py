"""Wav2Lip: the official checkpoint layout, loading it unchanged, and refusing other files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.lipsync.wav2lip import (
    CheckpointError,
    Precision,
    Wav2Lip,
    load_wav2lip,
    save_checkpoint,
)

# The published generator, layer by layer: (prefix, cin, cout, kernel, transposed).
_ENC = [
    [(6, 16, 7)],
    [(16, 32, 3), (32, 32, 3), (32, 32, 3)],
    [(32, 64, 3), (64, 64, 3), (64, 64, 3), (64, 64, 3)],
    [(64, 128, 3), (128, 128, 3), (128, 128, 3)],
    [(128, 256, 3), (256, 256, 3), (256, 256, 3)],
    [(256, 512, 3), (512, 512, 3)],
    [(512, 512, 3), (512, 512, 1)],
]
_AUDIO = [(1, 32, 3), (32, 32, 3), (32, 32, 3), (32, 64, 3), (64, 64, 3), (64, 64, 3),
          (64, 128, 3), (128, 128, 3), (128, 128, 3), (128, 256, 3), (256, 256, 3),
          (256, 512, 3), (512, 512, 1)]
_DEC = [
    [(512, 512, 1)],
    [(1024, 512, 3, "t"), (512, 512, 3)],
    [(1024, 512, 3, "t"), (512, 512, 3), (512, 512, 3)],
    [(768, 384, 3, "t"), (384, 384, 3), (384, 384, 3)],
    [(512, 256, 3, "t"), (256, 256, 3), (256, 256, 3)],
    [(320, 128, 3, "t"), (128, 128, 3), (128, 128, 3)],
    [(160, 64, 3, "t"), (64, 64, 3), (64, 64, 3)],
]


def _block(prefix: str, spec: tuple) -> dict[str, tuple[int, ...]]:
    cin, cout, k = spec[:3]
    weight = (cin, cout, k, k) if len(spec) == 4 else (cout, cin, k, k)  # ConvTranspose2d is (in, out, ...)
    bn = f"{prefix}.conv_block.1."
    return {f"{prefix}.conv_block.0.weight": weight, f"{prefix}.conv_block.0.bias": (cout,),
            bn + "weight": (cout,), bn + "bias": (cout,), bn + "running_mean": (cout,),
            bn + "running_var": (cout,), bn + "num_batches_tracked": ()}


def _official_keys() -> dict[str, tuple[int, ...]]:
    keys: dict[str, tuple[int, ...]] = {}
    for i, blocks in enumerate(_ENC):
        for j, spec in enumerate(blocks):
            keys |= _block(f"face_encoder_blocks.{i}.{j}", spec)
    for j, spec in enumerate(_AUDIO):
        keys |= _block(f"audio_encoder.{j}", spec)
    for i, blocks in enumerate(_DEC):
        for j, spec in enumerate(blocks):
            keys |= _block(f"face_decoder_blocks.{i}.{j}", spec)
    keys |= _block("output_block.0", (80, 32, 3))
    keys |= {"output_block.1.weight": (3, 32, 1, 1), "output_block.1.bias": (3,)}
    return keys


@pytest.fixture(scope="module")
def model() -> Wav2Lip:
    torch.manual_seed(0)
    return Wav2Lip().eval()


def test_state_dict_matches_the_official_layout(model: Wav2Lip) -> None:
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == _official_keys()


def test_forward_shapes_and_range(model: Wav2Lip) -> None:
    with torch.inference_mode():
        out = model(torch.randn(3, 1, 80, 16), torch.rand(3, 6, 96, 96))
    assert out.shape == (3, 3, 96, 96)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("data_parallel", [True, False])
def test_official_format_loads_unchanged(model: Wav2Lip, tmp_path: Path, data_parallel: bool) -> None:
    path = tmp_path / "wav2lip_gan.pth"
    save_checkpoint(model, path, data_parallel=data_parallel)
    raw = torch.load(path, weights_only=True)
    assert set(raw) >= {"state_dict"}
    assert all(k.startswith("module.") == data_parallel for k in raw["state_dict"])
    loaded = load_wav2lip(path, Precision("cpu", torch.float32))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    x = (torch.randn(2, 1, 80, 16), torch.rand(2, 6, 96, 96))
    with torch.inference_mode():
        assert torch.allclose(loaded(*x), model(*x), atol=1e-5)


def test_files_that_are_not_checkpoints_are_refused(model: Wav2Lip, tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_wav2lip(text)
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, other)
    with pytest.raises(CheckpointError, match="not a Wav2Lip generator"):
        load_wav2lip(other)
    shapes = tmp_path / "shapes.pth"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["output_block.1.weight"] = torch.zeros(3, 32, 3, 3)
    torch.save({"state_dict": state}, shapes)
    with pytest.raises(CheckpointError, match="wrong shapes"):
        load_wav2lip(shapes)
    empty = tmp_path / "empty.pth"
    torch.save({"optimizer": {}}, empty)
    with pytest.raises(CheckpointError, match="no state_dict"):
        load_wav2lip(empty)
    with pytest.raises(FileNotFoundError):
        load_wav2lip(tmp_path / "missing.pth")
