import copy

import pytest
import yaml

from egoinstruct.config import load_config, validate_config
from egoinstruct.errors import InputError


def test_default_config_is_valid(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    assert config["demo"]["enabled"] is True
    assert config["reference_role"] == "instructor"


def _default(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def test_unknown_key_is_named(repo_root):
    config = _default(repo_root)
    config["demo"]["durration_s"] = 5
    with pytest.raises(InputError, match=r"demo: Additional properties .*'durration_s'"):
        validate_config(config, "my.yaml")


def test_wrong_type_names_field_and_file(repo_root):
    config = copy.deepcopy(_default(repo_root))
    config["annotation_checks"]["allow_gaps"] = "sometimes"
    with pytest.raises(InputError) as info:
        validate_config(config, "my.yaml")
    assert "my.yaml" in str(info.value)
    assert "annotation_checks.allow_gaps" in str(info.value)


def test_bad_reference_role(repo_root):
    config = _default(repo_root)
    config["reference_role"] = "teacher"
    with pytest.raises(InputError, match="reference_role"):
        validate_config(config)


def test_unreadable_yaml(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("demo: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(bad)
