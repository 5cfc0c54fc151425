"""docs/configuration.md is the documentation of the settings: keep them in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from shopsys import settings

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SETTINGS_CLASSES = [
    value
    for value in vars(settings).values()
    if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings
]


def _documented() -> dict[str, str]:
    rows = re.findall(r"^\| `(SHOPSYS_[A-Z0-9_]+)` \| ([^|]+) \|", CONFIGURATION.read_text(), re.M)
    return {name: default.strip().strip("`") for name, default in rows}


@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES, ids=lambda cls: cls.__name__)
def test_every_setting_is_documented_with_its_default(settings_class: type[BaseSettings]) -> None:
    documented = _documented()
    prefix = str(settings_class.model_config["env_prefix"])
    for name, field in settings_class.model_fields.items():
        variable = (prefix + name).upper()
        assert variable in documented, f"{variable} is missing from docs/configuration.md"
        default = field.default
        if default is None:
            assert documented[variable] == "unset", variable
        elif hasattr(default, "get_secret_value"):
            assert documented[variable] == default.get_secret_value(), variable
        else:
            shown = documented[variable]
            assert shown == str(default) or float(shown) == default, variable
