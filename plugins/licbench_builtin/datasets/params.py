"""The built-in datasets' parameter models, free of torch (validate reads them without
importing the datasets)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from licbench.plugin.params import Params


class FolderParams(Params):
    path: str = Field(description="the image folder (searched recursively)")


class KodakParams(Params):
    path: str | None = Field(None, description="a folder with kodim01..24.png")
    download: bool = Field(True, description="download (and verify) when no local copy")


class Bsds500Params(Params):
    split: Literal["train", "val", "test", "trainval"] = "test"
    path: str | None = Field(None, description="default: LICBENCH_DATA/bsds500")


class StreetParams(Params):
    split: Literal["train", "test", "all"] = "test"
    width: int | None = Field(None, ge=16, description="resize to this width (aspect kept)")
    path: str | None = Field(None, description="default: LICBENCH_DATA/segmentation")


class FacesParams(Params):
    split: Literal["identities", "pairs"] = "pairs"
    path: str | None = Field(None, description="default: LICBENCH_DATA/faces")
