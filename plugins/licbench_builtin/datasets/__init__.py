"""Built-in datasets. Registered here by name, lazy target, parameter model and description,
so that listing, validating and locating them import no torch."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PLUGINS = [  # name, class, its Params in the torch-free params module, description
    ("samples", "Samples", "licbench.plugin.params:Params",
     "Colour photographs shipped inside scikit-image's wheel: works with no download."),
    ("folder", "ImageFolder", f"{__name__}.params:FolderParams",
     "Every PNG/JPEG/TIFF/BMP/WebP image under ``path``, sorted by relative path."),
    ("kodak", "Kodak", f"{__name__}.params:KodakParams",
     "The 24 Kodak images: ``path``, else LICBENCH_DATA/kodak, else downloaded and verified."),
    ("bsds500", "Bsds500", f"{__name__}.params:Bsds500Params",
     "BSDS500 images (``split`` train, val, test or trainval) from ``path`` or LICBENCH_DATA."),
    ("street-scenes", "StreetScenes", f"{__name__}.params:StreetParams",
     "The shared driving photos (segmentation/street_scenes/*/images), a Cityscapes stand-in."),
    ("faces", "Faces", f"{__name__}.params:FacesParams",
     "The shared aligned 256×256 faces: ``split`` identities (training) or pairs (evaluation)."),
]  # fmt: skip

ROLES = {
    "bsds500": {"training": {"split": "trainval"}},  # Yu et al. train on BSDS500 train + val
    "kodak": {"published-curves": {}},  # CompressAI's and the papers' curves are on Kodak
    "samples": {"testing": {}},  # embedded: licbench.testing needs no data folder
}


@hookimpl
def register_datasets(register: Register) -> None:
    for name, cls, params, description in PLUGINS:
        register(
            name,
            f"{__name__}.images:{cls}",
            description=description,
            params=params,
            roles=ROLES.get(name, {}),
        )
