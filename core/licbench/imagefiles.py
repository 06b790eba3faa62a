"""Image files on disk: the folder checks and listings datasets use, free of torch
(``licbench validate`` locates datasets without importing it)."""

from __future__ import annotations

from pathlib import Path

from licbench.errors import LicbenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".webp")


def check_folder(folder: Path) -> None:
    """The one error for an image folder that is not there."""
    if not folder.is_dir():
        raise LicbenchError(
            f"image folder {folder} does not exist; fix the path, or set LICBENCH_DATA to "
            "the folder that holds the datasets"
        )


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder`` (recursively), sorted by relative path."""
    check_folder(folder)
    files = sorted(
        (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not files:
        raise LicbenchError(f"{folder} holds no PNG/JPEG/TIFF images; point at an image folder")
    return files


def unique_names(root: Path, files: list[Path]) -> list[str]:
    """Relative paths without suffix; where two files share one (``a.png``, ``a.jpg``), both
    keep their suffix, so that every image has its own name."""
    stems = [p.relative_to(root).with_suffix("").as_posix() for p in files]
    seen = {s: stems.count(s) for s in stems}
    return [
        p.relative_to(root).as_posix() if seen[s] > 1 else s
        for p, s in zip(files, stems, strict=True)
    ]


def folder_images(folder: str | Path) -> list[tuple[str, Path]]:
    """Every image file under ``folder`` (recursively, by relative path), by its name."""
    root = Path(folder).expanduser()
    files = list_images(root)
    return list(zip(unique_names(root, files), files, strict=True))
