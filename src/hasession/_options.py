"""The store's keyword options, derived from the fields of :class:`~hasession.StoreConfig`.

``StoreConfig``, ``from_url``, Django's ``HASESSION["OPTIONS"]`` and ``docs/configuration.md``
all take their list of options from :func:`option_fields`: adding a field to ``StoreConfig``
adds the option everywhere. Each field's type picks how a value given by a user is converted:

* keys (``tuple[Secret, ...]``, ``Secret | None``): a :class:`~hasession.Secret`, ``str`` or
  ``bytes``, or a list of them;
* policies (a config dataclass such as :class:`~hasession.RetryPolicy`): the policy itself, a
  ``dict`` of its fields, or ``None`` for its defaults;
* ``bool`` and ``float | None``: checked, never coerced from strings.

A field whose type has no converter makes the first use fail loudly, so it cannot be forgotten.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_type_hints

from ._config import Secret, secrets_tuple
from ._exceptions import ConfigurationError

__all__ = ["OptionField", "check_option_names", "convert_option", "option_fields", "policy_from"]

Convert = Callable[[str, Any], Any]
#: Fields that are not keyword options: ``from_url`` builds them from the URL.
_NOT_OPTIONS = frozenset({"topology"})
_FIELDS: dict[type[Any], dict[str, OptionField]] = {}


@dataclasses.dataclass(frozen=True, slots=True)
class OptionField:
    """One keyword option: the ``StoreConfig`` field it sets, its type and how values convert."""

    name: str
    hint: Any
    required: bool
    convert: Convert


def policy_from(name: str, cls: type[Any], value: object) -> Any:
    """``value`` as a ``cls``: the instance itself, a ``dict`` of its fields, or ``None`` (defaults)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a {cls.__name__} or a dict of its fields, not {value!r}")
    valid = [f.name for f in dataclasses.fields(cls)]
    if unknown := sorted(set(value) - set(valid)):
        raise ConfigurationError(f"unknown {cls.__name__} fields {unknown}; valid fields: {', '.join(valid)}")
    try:
        return cls(**value)
    except TypeError as exc:  # a value of the wrong type, found by the policy's own checks
        raise ConfigurationError(f"invalid {name}={dict(value)!r}: {exc}") from None


def _keys(name: str, value: Any) -> tuple[Secret, ...]:
    if value is None or (isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and not value):
        if name == "secret_keys":
            raise ConfigurationError("secret_keys needs at least one key")
        return ()
    if not isinstance(value, (Secret, str, bytes, Sequence)):
        raise ConfigurationError(f"{name} must be a key (str, bytes or Secret) or a list of keys")
    return secrets_tuple(value)


def _key(name: str, value: Any) -> Secret | None:
    if value is None:
        return None
    if not isinstance(value, (Secret, str, bytes)):
        raise ConfigurationError(f"{name} must be one key (str, bytes or Secret)")
    return secrets_tuple(value)[0]


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def _seconds_or_none(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ConfigurationError(f"{name} must be a number of seconds >= 0, or None, not {value!r}")
    return float(value)


def _converter(hint: Any) -> Convert:
    simple: dict[Any, Convert] = {
        tuple[Secret, ...]: _keys,
        Secret | None: _key,
        bool: _bool,
        float | None: _seconds_or_none,
    }
    if hint in simple:
        return simple[hint]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda name, value: policy_from(name, hint, value)
    raise TypeError(f"StoreConfig field type {hint!r} has no option converter in hasession._options")


def option_fields(config_cls: type[Any]) -> dict[str, OptionField]:
    """The keyword options of ``config_cls`` (:class:`~hasession.StoreConfig`), in field order."""
    if config_cls not in _FIELDS:  # computed on first use: type hints resolve once every module is loaded
        _FIELDS[config_cls] = _derive(config_cls)
    return _FIELDS[config_cls]


def _derive(config_cls: type[Any]) -> dict[str, OptionField]:
    hints = get_type_hints(config_cls)
    return {
        f.name: OptionField(
            name=f.name,
            hint=hints[f.name],
            required=f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            convert=_converter(hints[f.name]),
        )
        for f in dataclasses.fields(config_cls)
        if f.name not in _NOT_OPTIONS
    }


def check_option_names(config_cls: type[Any], given: Mapping[str, object], *, complete: bool = True) -> None:
    """Raise :class:`ConfigurationError` for an unknown option (naming the valid ones) or, when
    ``complete``, for a missing required one."""
    options = option_fields(config_cls)
    if unknown := [name for name in given if name not in options and name not in _NOT_OPTIONS]:
        raise ConfigurationError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f"{_hint_for(unknown[0], options)}; valid options: {', '.join(options)}"
        )
    missing = [name for name, option in options.items() if option.required and name not in given]
    if complete and missing:
        raise ConfigurationError(f"{missing[0]} is required")


def _hint_for(unknown: str, options: Mapping[str, OptionField]) -> str:
    """`` (it is a field of retry=RetryPolicy(...))`` when ``unknown`` belongs to a policy."""
    for option in options.values():
        if unknown in _policy_fields(option.hint):
            policy = option.hint.__name__
            return f" ({unknown} is a field of {policy}: {option.name}={policy}({unknown}=...))"
    return ""


def _policy_fields(hint: Any) -> set[str]:
    is_policy = isinstance(hint, type) and dataclasses.is_dataclass(hint)
    return {f.name for f in dataclasses.fields(hint)} if is_policy else set()


def convert_option(config_cls: type[Any], name: str, value: object) -> Any:
    """``value`` converted to the type of the field ``name`` of ``config_cls``."""
    return option_fields(config_cls)[name].convert(name, value)
