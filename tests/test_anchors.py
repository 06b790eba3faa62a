"""The published state-of-the-art curves in BD-rate tables and plots of full-size Kodak."""

from __future__ import annotations

import pandas as pd
import pytest

from licbench.bjontegaard import bd_rate
from licbench.leaderboard.tables import bd_summary
from licbench.published import ANCHORS, Published, anchors
from licbench.settings import Settings


def _means(curves: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    rows = [
        {"dataset": "kodak", "label": label, "attack": "none", "defense": "none",
         "quality": i, "bpp": bpp, "psnr": psnr, "images": 24}
        for label, points in curves.items()
        for i, (bpp, psnr) in enumerate(points)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_published_anchors_join_the_bd_rate_table_marked_as_such() -> None:
    root = Settings.from_env().data
    assert root is not None, "set LICBENCH_DATA to the shared data folder"
    found = anchors(Published(root / "reference", "kodak"))
    assert set(found) == set(ANCHORS)  # VTM, HM, BPG, AV1, ELIC in the shared data
    jpeg = [(0.3, 27.0), (0.6, 30.0), (1.0, 32.5), (1.6, 35.0)]
    means = _means({"jpeg": jpeg, "lite": [(0.25, 28.0), (0.5, 31.0), (0.9, 33.5)]})
    tables = bd_summary("b", means, {"anchor": "jpeg"}, {"kodak": found})
    table = tables["b / kodak / BD vs jpeg"].frame.set_index("label")
    vtm = found["VTM"]
    ref = pd.DataFrame(jpeg, columns=["bpp", "psnr"])
    expected = bd_rate(ref.bpp, ref.psnr, vtm.bpp, vtm.psnr)
    assert table.loc["VTM (published)", "bd-rate %"] == pytest.approx(expected)
    assert table.loc["VTM (published)", "bd-rate %"] < table.loc["lite", "bd-rate %"] < 0
    assert "(published) are the curves" in tables["b / kodak / BD vs jpeg"].caption
    plain = bd_summary("b", means, {"anchor": "jpeg"})["b / kodak / BD vs jpeg"].frame
    assert not any("published" in str(v) for v in plain.label)
