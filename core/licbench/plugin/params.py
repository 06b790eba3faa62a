"""Typed plugin parameters: every plugin class declares a pydantic ``Params`` model.

As simonw/llm's ``Options``: a nested model with extra keys forbidden and constraints on
each field. The registry validates a manifest's params against it before anything runs and
builds the plugin from the validated values; ``licbench plugins --params NAME`` prints it.

A parameter that names another plugin (a backdoor's triggers and goals) is a
:class:`NestedPlugin` subclass with its ``kind``; ``licbench validate`` checks its name and
params against the registry too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from licbench.errors import nearest

Loc = tuple[str | int, ...]


class Params(BaseModel):
    """Base of every plugin's parameter model: unknown keys are errors. ``header_safe``
    names the fields a bitstream header may set (plain values that name no file and start
    no download); a decoder takes no other parameter from a header."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    header_safe: ClassVar[tuple[str, ...]] = ()


class Ref(BaseModel):
    """A plugin by name with its constructor params; a bare string is shorthand for
    ``{name: ...}``. The one reference model: a manifest's entries and the plugins named
    inside other plugins' params both build on it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class Selection(BaseModel):
    """Which of a dataset's images are used (a manifest's datasets, a training set)."""

    limit: int | None = Field(None, ge=1, description="use the first N images")
    crop: int | None = Field(None, ge=16, description="centre-crop each image to N×N")


class NestedPlugin(Ref, Params):
    """A plugin named inside another plugin's params, e.g. a backdoor's trigger."""

    kind: ClassVar[str] = ""


ParamsModel = Params  # the base, under a name that the ``Params`` attributes below don't hide


class Configurable:
    """Mixin: ``cls(**params)`` validates ``params`` against ``cls.Params`` into ``self.params``."""

    Params: ClassVar[type[ParamsModel]] = ParamsModel
    params: ParamsModel

    def __init__(self, **params: Any) -> None:
        self.params = self.Params.model_validate(params)


class DatasetRef(NestedPlugin, Selection):
    """A dataset inside a plugin's params (e.g. what an attack trains on)."""

    kind = "dataset"


def nested_plugins(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, NestedPlugin]]:
    """Every :class:`NestedPlugin` inside a validated params model, with its location."""
    if isinstance(value, NestedPlugin):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from nested_plugins(getattr(value, name), (*loc, name))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from nested_plugins(item, (*loc, i))


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that owns the keys at ``loc`` inside ``model`` (None if unknown)."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def describe_error(
    model: type[BaseModel], err: ValidationError, noun: str = "parameter"
) -> tuple[Loc, str]:
    """The first problem of a validation error as (location, one-line message with a hint):
    the one formatter of validation errors, for plugin params and manifests (``noun``
    ``key``) alike."""
    errors = err.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    if first["type"] == "extra_forbidden":
        owner = model_at(model, loc[:-1])
        names = list(owner.model_fields) if owner else []
        near = nearest(str(loc[-1]), names)
        hint = f"did you mean '{near}'?" if near else f"accepted: {', '.join(names) or 'none'}"
        return loc, f"unknown {noun}; {hint}"
    if first["type"] == "missing":
        return loc, f"required {noun} is missing"
    msg = first["msg"]
    if first["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be")
    given = first.get("input")
    if not isinstance(given, (dict, list)) and first["type"] != "value_error":
        shown = repr(given)
        msg += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"  # an input may be huge
    return loc, msg.removeprefix("Value error, ")


def dotted(loc: Loc) -> str:
    """``('attacks', 0, 'params', 'iters')`` -> ``attacks[0].params.iters``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def schema_rows(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    """(name, type, default, description) of every parameter, for docs and the CLI."""
    rows = []
    for name, field in model.model_fields.items():
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = repr(field.default_factory())  # type: ignore[call-arg]
        elif isinstance(field.default, float):
            default = f"{field.default:.4g}"
        else:
            default = repr(field.default)
        kind = _type_name(field.annotation)
        bounds = [b for b in (_bound(m) for m in field.metadata) if b]
        if bounds:
            kind += f" ({', '.join(bounds)})"
        rows.append((name, kind, default, field.description or ""))
    return rows


_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "multiple_of": "multiple of"}


def _bound(meta: Any) -> str:
    """``Ge(ge=1)`` -> ``>= 1`` (annotated-types constraints pydantic keeps as metadata)."""
    for attr, sign in _BOUNDS.items():
        value = getattr(meta, attr, None)
        if isinstance(value, (int, float)):
            return f"{sign} {value:g}"
    return ""


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if get_origin(annotation) is None else None
    return text or str(annotation).replace("typing.", "")
