"""The downstream models' shared parameter models (which model, which classes), free of torch:
a metric or goal that reads a downstream model declares one of these."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, model_validator

from licbench.errors import LicbenchError
from licbench.plugin.params import Params
from licbench.plugin.registry import Registry


def class_index(registry: Registry, model: str, name: str) -> int:
    """The index of class ``name`` of segmentation model ``model``: its ``classes``, as
    registered (nothing is imported), else its class's (no model is built)."""
    try:
        entry = registry.get("downstream", model)
        names = entry.meta.get("classes")
        classes: dict[str, int] = (
            {c: i for i, c in enumerate(names)} if names else getattr(entry.load(), "classes", {})
        )
    except LicbenchError as exc:  # inside a params validator: keep the manifest's location
        raise ValueError(str(exc)) from None
    if name not in classes:
        raise ValueError(f"{model} has no class '{name}'; one of {sorted(classes)}")
    return classes[name]


class SegmentationClasses(Params):
    """A segmentation model and the source and target classes of the attack."""

    model: str = Field("espnetv2-cityscapes", description="downstream segmentation model")
    source: str = Field("car", description="class whose pixels are attacked")
    target: str = Field("road", description="class they must be seen as")

    @model_validator(mode="after")
    def _known_classes(self, info: ValidationInfo) -> SegmentationClasses:
        registry = (info.context or {}).get("registry")
        if registry is not None:  # validated by the registry: the classes are checked here
            class_index(registry, self.model, self.source)
            class_index(registry, self.model, self.target)
        return self


class FaceModel(Params):
    model: str = Field("mobilefacenet", description="downstream face-embedding model")
