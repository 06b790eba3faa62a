"""What a plugin receives from the runner: device, seed, settings and data references."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from licbench.errors import LicbenchError
from licbench.hashing import derive_seed
from licbench.settings import Settings, deterministic_cublas

if TYPE_CHECKING:
    from licbench.plugin.registry import Registry


@dataclass(frozen=True)
class RunContext:
    """The runner's context. ``settings`` are those of the edge that started the run (the
    command line, the API call, a worker process); ``image`` is set while one image is
    processed, so that :meth:`generator` draws different noise for each image of a cell,
    repeatably."""

    device: torch.device
    seed: int = 0
    settings: Settings = field(default_factory=Settings)
    train_data: Any = None  # the manifest's DatasetRef for trained artifacts, or None
    val_data: Any = None  # the manifest's validation DatasetRef, or None
    image: str = ""
    offline: bool = False  # a dry run: plugins read no dataset that is not here
    noise_seed: int | None = None  # the image's seed for draws inside the model (set by the runner)
    progress: bool = True  # a training may show a progress bar (off: --no-progress)

    @property
    def cache_dir(self) -> Path:
        """Where trained artifacts and downloads go (``settings.cache``)."""
        return self.settings.cache

    def training_data(self, own: Any, registry: Registry) -> Any:
        """What a trained artifact trains on: the plugin's ``own`` dataset reference, else
        the manifest's ``train_data``, else the dataset in the ``training`` role (the
        built-ins: BSDS500's train and val splits)."""
        return own or self.train_data or registry.role_ref("dataset", "training")

    def for_image(self, name: str, noise_seed: int | None = None) -> RunContext:
        return replace(self, image=name, noise_seed=noise_seed)

    def generator(self, salt: int = 0) -> torch.Generator:
        """A CPU generator seeded by the run's seed, ``salt`` and the current image."""
        return torch.Generator().manual_seed(derive_seed(self.seed, salt, self.image))

    def model_generator(self) -> torch.Generator:
        """A generator on the run's device for draws inside the model (a quantization
        proxy's noise), seeded for the current image alone, so that an image's draws do not
        depend on the images before it or beside it in a batch."""
        seed = self.noise_seed
        if seed is None:
            seed = derive_seed(self.seed, "model", self.image)
        return torch.Generator(device=self.device).manual_seed(seed)


CUDA_NUMERICS = {
    "cudnn_deterministic": True,
    "cudnn_benchmark": False,
    "tf32": False,
    "deterministic_algorithms": True,  # warn_only: ops without a deterministic kernel warn
}


def numerics(device_type: str) -> dict[str, bool]:
    """The numeric settings cells on ``device_type`` run under (part of their keys on CUDA):
    deterministic cuDNN, so that decoding recomputes the encoder's CDF indices exactly; no
    TF32, so that scores match the CPU's to float32 precision; deterministic algorithms
    where torch has them (the backward passes of bicubic resampling, replicate and reflect
    padding and transposed convolutions are not: torch warns when an attack uses one, see
    docs/benchmarks.md). None on the CPU."""
    return dict(CUDA_NUMERICS) if device_type == "cuda" else {}


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu`` or ``cuda`` as a device of this process; on CUDA, the settings of
    :func:`numerics` are applied."""
    if name == "cuda" and not torch.cuda.is_available():
        raise LicbenchError("--device cuda asked for, but torch sees no CUDA GPU; use cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = CUDA_NUMERICS["cudnn_deterministic"]
        torch.backends.cudnn.benchmark = CUDA_NUMERICS["cudnn_benchmark"]
        torch.backends.cuda.matmul.allow_tf32 = CUDA_NUMERICS["tf32"]
        torch.backends.cudnn.allow_tf32 = CUDA_NUMERICS["tf32"]
        deterministic_cublas()
        deterministic = CUDA_NUMERICS["deterministic_algorithms"]
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    return device
