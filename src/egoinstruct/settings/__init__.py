"""Typed settings: one frozen dataclass per section of ``config/config.yaml``, built one way.

The configuration file (with its JSON schema, ``workflow/schemas/config.schema.yaml``) is the
only place where a setting's default lives; the classes here state types, not values. Every
section is built by :meth:`Settings.from_mapping` and turned back into plain data by
:meth:`Settings.to_mapping` — the workflow passes that plain data to a rule as a param (so that
changing a setting reruns exactly the jobs that use it) and the rule's script rebuilds the typed
object with ``from_mapping``. :mod:`egoinstruct.settings.workflow` loads a whole configuration:
schema, types and the checks that involve several keys, all at parse time.

This ``__init__`` holds only the builder, so importing one stage's settings module does not
import the others (each rule's code digest covers only what its script uses).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin

from egoinstruct.errors import InputError

S = TypeVar("S", bound="Settings")


class Settings:
    """Mixin of every settings dataclass: build from config-shaped mappings and back."""

    @classmethod
    def from_mapping(cls: type[S], data: Mapping[str, Any], where: str = "") -> S:
        """The typed section from its config mapping (``where``: its config key, for messages).

        Lists become tuples, nested mappings nested settings, ints floats where a float is
        declared; a missing or unknown key, or a value of the wrong type, raises
        :class:`InputError` naming the key.
        """
        return typing.cast(S, _build(cls, data, where or cls.__name__))

    def to_mapping(self) -> dict[str, Any]:
        """Plain data (dicts, lists, scalars) that :meth:`from_mapping` turns back into ``self``."""
        return typing.cast(dict[str, Any], plain(self))


def plain(value: Any) -> Any:
    """Settings (or containers of them) as JSON-like plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise InputError(f"config {where}: expected a mapping of settings, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"config {where}: unknown key(s) {', '.join(unknown)}; the keys of this section are "
            f"{', '.join(fields)} (config/config.yaml documents each)"
        )
    values = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING:
                continue
            raise InputError(f"config {_key(where, name)}: missing; config/config.yaml shows it with its default")
        values[name] = _convert(hints[name], data[name], _key(where, name))
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, where)
            except InputError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else InputError(f"config {where}: {_shown(value)} is not valid here")
    if origin is typing.Literal:
        if value not in args:
            raise InputError(f"config {where}: {_shown(value)} is not one of {', '.join(map(str, args))}")
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise InputError(f"config {where}: expected a list, got {_shown(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise InputError(f"config {where}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise InputError(f"config {where}: expected a mapping, got {_shown(value)}")
        value_hint = args[1] if args else Any
        return {str(k): _convert(value_hint, _with_name(value_hint, k, v), _key(where, str(k))) for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"config {where}: expected a number, got {_shown(value)}{_yaml_hint(value)}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise InputError(f"config {where}: expected an integer, got {_shown(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"config {where}: expected true or false, got {_shown(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"config {where}: expected text, got {_shown(value)}")
        return value
    raise TypeError(f"settings type {hint!r} of {where} is not supported by the builder")


def _with_name(hint: Any, key: Any, value: Any) -> Any:
    """Entries of a mapping of named settings (methods, models) learn their key as ``name``."""
    if (isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, Mapping)
            and "name" in {f.name for f in dataclasses.fields(hint)} and "name" not in value):
        return {"name": str(key), **value}
    return value


def _shown(value: Any) -> str:
    return "null" if value is None else repr(value)


def _yaml_hint(value: Any) -> str:
    """YAML 1.1 reads ``5e-4`` (no dot) as text: say how to write it as a number."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        if "e" in value.lower():
            return " (YAML reads exponents without a dot as text: write 5.0e-4 or 0.0005)"
        return " (write it without quotes)"
    return ""
