"""The configuration file checked against ``workflow/schemas/config.schema.yaml``.

One validator for the workflow, the CLI and the tests: every problem is listed with its key,
what was wrong and (where one is known) the fix — an unknown key gets the nearest known one, a
key that moved gets its new place — instead of a dump of the schema. Keys the schema gives a
``default`` are filled in, so the schema and the config file are the only places defaults live.
Typed settings are built from the result by :mod:`egoinstruct.settings.workflow`.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from egoinstruct.errors import InputError
from egoinstruct.paths import SCHEMA_DIR

# Keys that moved, with where they live now (an old config gets the new place in the message).
MOVED_KEYS = {
    "speech.prosody": "prosody (top level)",
    "gaze.debug": "gaze_debug (top level)",
    "baselines.steps": "baselines.methods.steps",
    "baselines.states": "baselines.methods.states",
    "annotation_checks.allow_gaps": "annotation_checks.gaps.<task>.policy (error, ignore or fill)",
}


def load_schema(name: str) -> dict[str, Any]:
    """A JSON schema from ``workflow/schemas/<name>.schema.yaml``."""
    with open(SCHEMA_DIR / f"{name}.schema.yaml") as handle:
        schema: dict[str, Any] = yaml.safe_load(handle)
    return schema


def describe_validation_error(error: jsonschema.ValidationError) -> str:
    """``field.sub: message`` for a jsonschema error, with the JSON path spelled out."""
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{where}: {error.message}"


def _filling_defaults(validator_class: Any) -> Any:
    """A validator class that fills in missing keys that have a schema ``default``."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator: Any, props: dict[str, Any], instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


_Validator = _filling_defaults(jsonschema.Draft202012Validator)


def _explain(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    where = ".".join(path) or "(top level)"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties") or {})
        lines = []
        for key in sorted(set(error.instance) - set(known)):
            full = ".".join([*path, key])
            if full in MOVED_KEYS:
                lines.append(f"{full}: this key moved to {MOVED_KEYS[full]}")
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            lines.append(f"{full}: unknown key; {hint}the keys here are {', '.join(known) or '(none)'}")
        return "\n  - ".join(lines)
    if error.validator == "required":
        return f"{where}: {error.message}; config/config.yaml shows every key with its default"
    if error.validator == "type" and isinstance(error.instance, str):
        try:
            float(error.instance)
        except ValueError:
            pass
        else:
            if "e" not in error.instance.lower():
                return f"{where}: {error.instance!r} is text, not a number; write it without quotes"
            return (f"{where}: {error.instance!r} is text, not a number — YAML reads exponents without a dot "
                    "as text: write 5.0e-4 or 0.0005")
    if error.validator == "contains" and isinstance(error.validator_value, dict) and "const" in error.validator_value:
        return f"{where}: {error.instance!r} must include {error.validator_value['const']!r}"
    if error.validator in ("enum", "const"):
        return f"{where}: {error.instance!r} is not allowed; choose one of {', '.join(map(repr, error.validator_value))}" \
            if error.validator == "enum" else f"{where}: {error.message}"
    return f"{where}: {error.message}"


def _errors(validator: Any, instance: Any) -> Iterator[jsonschema.ValidationError]:
    """Errors with ``anyOf``/``oneOf``/``if-then`` failures replaced by their most telling cause."""
    for error in validator.iter_errors(instance):
        yield jsonschema.exceptions.best_match(error.context) or error if error.context else error


def validate_config(config: Mapping[str, Any], source: str | Path = "config") -> dict[str, Any]:
    """A checked copy of ``config``, with schema defaults filled in; :class:`InputError` listing
    every problem (key, what is wrong, the fix) otherwise."""
    data = copy.deepcopy(dict(config))
    speech = data.get("speech")
    if isinstance(speech, dict) and speech.get("align") is False:
        speech["align"] = "off"  # YAML 1.1 reads a bare `off` as false
    validator = _Validator(load_schema("config"))
    errors = sorted(_errors(validator, data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = "\n".join(f"  - {_explain(e)}" for e in errors)
        raise InputError(
            f"{source}: invalid configuration:\n{lines}\n"
            "Every key is documented in config/config.yaml and config/README.md."
        )
    return data


def validate_definition(name: str, data: Any, where: str) -> None:
    """Check ``data`` against ``$defs/<name>`` of the config schema (e.g. a baseline model's
    settings when they come from code rather than a config file); :class:`InputError` otherwise."""
    schema = load_schema("config")
    validator = jsonschema.Draft202012Validator({**schema["$defs"][name], "$defs": schema["$defs"]})
    errors = sorted(_errors(validator, data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = "; ".join(_explain(e) for e in errors)
        raise InputError(f"{where}: {lines}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a mapping; a syntax error names the line and column."""
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise InputError(f"{path}: cannot read config file: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and (mark is None or start.line != mark.line):
            problem += f"; {context} that starts on line {start.line + 1}, column {start.column + 1}"
        raise InputError(f"{path}: {where}not valid YAML ({problem}); check the indentation and quoting there") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings at the top level")
    return data


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and check it against the schema (plain data, defaults filled)."""
    return validate_config(read_config_file(path), path)
