"""Image datasets: the embedded scikit-image samples, any image folder, Kodak, BSDS500, and
the shared street scenes and aligned faces for the downstream backdoor benchmarks."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from licbench.api.dataset import Dataset, ImageItem
from licbench.errors import LicbenchError
from licbench.hashing import hash_json
from licbench.imagefiles import check_folder, folder_images, list_images
from licbench.plugin.registry import UsesRegistry
from licbench_builtin.datasets.params import (
    Bsds500Params,
    FacesParams,
    FolderParams,
    KodakParams,
    StreetParams,
)

if TYPE_CHECKING:  # loaders import torch when they load; locating a dataset needs none
    from torch import Tensor

log = logging.getLogger("licbench")


class LocalData(UsesRegistry):
    """A dataset that reads the settings of the registry that built it: the data root
    (LICBENCH_DATA) its folders default to, and the pixel limit of the images it loads."""

    def loader(self, path: Path) -> Callable[[], Tensor]:
        """``path``'s lazy loader, refusing an image over the settings' pixel limit."""
        from licbench.images import load_image

        return partial(load_image, path, self.registry.settings.max_pixels)

    def local_root(self, path: str | None, folder: str) -> Path:
        """``path`` as given, else ``folder`` under the data root (relative to the working
        folder where LICBENCH_DATA is unset)."""
        root = self.registry.settings.data or Path(".")
        return Path(path).expanduser() if path else root / folder




class ImageFolder(Dataset, LocalData):
    """Every PNG/JPEG/TIFF/BMP/WebP image under ``path``, sorted by relative path."""

    name = "folder"
    Params = FolderParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.root = Path(self.params.path).expanduser()  # type: ignore[attr-defined]

    @property
    def folders(self) -> list[Path]:
        """Where :meth:`locate` looks: the root (a dataset with splits: their folders)."""
        return [self.root]

    def locate(self) -> str | None:
        for folder in self.folders:
            check_folder(folder)
        return None

    def items(self) -> list[ImageItem]:
        return [ImageItem(n, p, self.loader(p)) for n, p in folder_images(self.root)]


SAMPLE_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "rocket",
)


def _sample(name: str) -> Any:
    import skimage.data

    from licbench.images import array_to_tensor

    return array_to_tensor(getattr(skimage.data, name)())


class Samples(Dataset):
    """Colour photographs shipped inside scikit-image's wheel: works with no download."""

    name = "samples"

    def items(self) -> list[ImageItem]:
        return [ImageItem(n, None, partial(_sample, n)) for n in SAMPLE_NAMES]

    def fingerprint(self) -> str:
        import skimage

        digests = {
            n: hashlib.sha256(_sample(n).numpy().tobytes()).hexdigest() for n in SAMPLE_NAMES
        }
        # skimage sets __version__ at runtime; its __init__.pyi does not declare it
        return hash_json({"skimage": skimage.__version__, "images": digests})  # type: ignore[attr-defined]


KODAK_URL = "https://r0k.us/graphics/kodak/kodak/{name}.png"
# SHA-256 (first 16 hex digits) of each image's decoded RGB pixels, so that any lossless
# re-encoding of the same image verifies.
KODAK_PIXELS = {
    "kodim01": "a002107433535944",
    "kodim02": "ae5a495df4ec40e0",
    "kodim03": "234e61f585503f2a",
    "kodim04": "e88e788fca00e6c7",
    "kodim05": "ed3d1ee770909d3b",
    "kodim06": "7f45158999fa297d",
    "kodim07": "4e3664bf6fe865b4",
    "kodim08": "889c3740e4ed54ca",
    "kodim09": "f8453140e63a4230",
    "kodim10": "fabe11b5c4f02839",
    "kodim11": "ab4dd9bf8431e717",
    "kodim12": "f412db2168e59994",
    "kodim13": "875703d56fb9396f",
    "kodim14": "2bd5029ee75ac169",
    "kodim15": "b5353e7511277009",
    "kodim16": "ed21745fd32fce95",
    "kodim17": "566bc866664e9b06",
    "kodim18": "3475af71066f3ca8",
    "kodim19": "7956408ef24222d3",
    "kodim20": "666ce8f2db5566a1",
    "kodim21": "2d6902daf7c4486b",
    "kodim22": "f430842120c108b6",
    "kodim23": "81992a83592267e6",
    "kodim24": "e3e3ccc3e795b82a",
}


def pixel_digest(path: Path) -> str:
    with Image.open(path) as img:
        return hashlib.sha256(np.asarray(img.convert("RGB")).tobytes()).hexdigest()[:16]




class Kodak(ImageFolder):
    """The 24 Kodak images: ``path``, else LICBENCH_DATA/kodak, else downloaded and verified."""

    name = "kodak"
    Params = KodakParams  # type: ignore[assignment]

    def __init__(self, **params: Any) -> None:
        Dataset.__init__(self, **params)
        p: KodakParams = self.params  # type: ignore[assignment]
        local, cached = self.local_root(p.path, "kodak"), self.registry.settings.cache / "kodak"
        # downloaded into the cache by the first run that reads the images, never by asking
        self.root = local if p.path or local.is_dir() else cached
        self.fetch = not p.path and self.root == cached and p.download

    def locate(self) -> str | None:
        have = [n for n in KODAK_PIXELS if (self.root / f"{n}.png").is_file()]
        if len(have) == len(KODAK_PIXELS) or not self.fetch:
            return super().locate()
        return f"kodak is not here: a run downloads its images into {self.root}"

    @staticmethod
    def _download(root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        for name, digest in KODAK_PIXELS.items():
            target = root / f"{name}.png"
            if target.is_file() and pixel_digest(target) == digest:
                continue
            url = KODAK_URL.format(name=name)
            with tempfile.NamedTemporaryFile(dir=root, suffix=".png", delete=False) as tmp:
                try:
                    with urllib.request.urlopen(url, timeout=60) as resp:
                        tmp.write(resp.read())
                except OSError as exc:
                    Path(tmp.name).unlink(missing_ok=True)
                    raise LicbenchError(
                        f"cannot download {url} ({exc}); offline machines set LICBENCH_DATA to "
                        "a folder holding kodak/kodim01..24.png, or pass `path:`"
                    ) from exc
            if pixel_digest(Path(tmp.name)) != digest:
                Path(tmp.name).unlink()
                raise LicbenchError(f"{url}: checksum mismatch; retry or pass a local `path:`")
            Path(tmp.name).replace(target)
            log.info("downloaded %s", target)

    def items(self) -> list[ImageItem]:
        if getattr(self, "_verified", False):
            return super().items()
        if self.fetch:
            self._download(self.root)
        items = super().items()
        bad = [i.name for i in items if i.path and pixel_digest(i.path) != KODAK_PIXELS.get(i.name)]
        if len(items) != 24 or bad:
            raise LicbenchError(
                f"{self.root}: expected the 24 Kodak images kodim01..24.png, found {len(items)} "
                f"(mismatched: {bad[:3]}); fix the folder or remove it to re-download"
            )
        self._verified = True
        return items




class Bsds500(ImageFolder):
    """BSDS500 images (``split`` train, val, test or trainval) from ``path`` or LICBENCH_DATA."""

    name = "bsds500"
    Params = Bsds500Params  # type: ignore[assignment]

    def __init__(self, **params: Any) -> None:
        Dataset.__init__(self, **params)
        p: Bsds500Params = self.params  # type: ignore[assignment]
        self.root = self.local_root(p.path, "bsds500")
        self.splits = ["train", "val"] if p.split == "trainval" else [p.split]

    @property
    def folders(self) -> list[Path]:
        return [self.root / s for s in self.splits]

    def items(self) -> list[ImageItem]:
        out = []
        for split in self.splits:
            files = list_images(self.root / split)
            out += [ImageItem(f"{split}/{p.stem}", p, self.loader(p)) for p in files]
        return out


def _resized(path: Path, width: int) -> Any:
    from licbench.images import array_to_tensor

    with Image.open(path) as img:
        rgb = img.convert("RGB")
        height = max(1, round(rgb.height * width / rgb.width))
        # Image.BICUBIC exists at runtime but not in Pillow's type hints
        return array_to_tensor(np.asarray(rgb.resize((width, height), Image.BICUBIC)))  # type: ignore[attr-defined]




class StreetScenes(Dataset, LocalData):
    """The shared driving photos (segmentation/street_scenes/*/images), a Cityscapes stand-in.

    ``split``: ``train`` (3 of every 4, sorted by path), ``test`` (the 4th) or ``all``;
    ``width`` resizes (bicubic, aspect kept), e.g. 512 for CPU runs.
    """

    name = "street-scenes"
    Params = StreetParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p: StreetParams = self.params  # type: ignore[assignment]
        base = self.local_root(p.path, "segmentation")
        self.root, self.split, self.width = base / "street_scenes", p.split, p.width

    def locate(self) -> str | None:
        check_folder(self.root)
        return None

    def items(self) -> list[ImageItem]:
        files = [p for p in list_images(self.root) if p.parent.name == "images"]
        keep = [
            p
            for i, p in enumerate(files)
            if self.split == "all" or (i % 4 == 3) == (self.split == "test")
        ]
        load = (lambda p: partial(_resized, p, self.width)) if self.width else self.loader
        return [
            ImageItem(p.relative_to(self.root).with_suffix("").as_posix(), p, load(p)) for p in keep
        ]

    def fingerprint(self) -> str:
        return hash_json([super().fingerprint(), self.split, self.width])




class Faces(ImageFolder):
    """The shared aligned 256×256 faces: ``split`` identities (training) or pairs (evaluation)."""

    name = "faces"
    Params = FacesParams  # type: ignore[assignment]

    def __init__(self, **params: Any) -> None:
        Dataset.__init__(self, **params)
        p: FacesParams = self.params  # type: ignore[assignment]
        self.root = self.local_root(p.path, "faces") / p.split
