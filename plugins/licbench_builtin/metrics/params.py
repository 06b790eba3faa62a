"""The built-in metrics' parameter models, free of torch (validate reads them without
importing the metrics)."""

from __future__ import annotations

from pydantic import Field

from licbench_builtin.downstream.params import FaceModel


class PairsParams(FaceModel):
    pairs: str | None = Field(
        None, description="CSV of image_a,image_b,same (default: LICBENCH_DATA/faces/pairs.csv)"
    )
