"""The configuration: schema (unknown, moved and mistyped keys, YAML errors) and the typed settings
with every check that involves several keys, all run when the configuration is loaded."""

import copy
import dataclasses
import re

import pytest

from egoinstruct.config import load_config, read_config_file, validate_config, validate_definition
from egoinstruct.errors import InputError
from egoinstruct.settings.dataset import BaselineSettings, FoldSettings
from egoinstruct.settings.evaluation import EvaluationSettings
from egoinstruct.settings.gaze import GazeSettings, IVTSettings
from egoinstruct.settings.ingest import FrameSettings
from egoinstruct.settings.mllm import ModelSettings
from egoinstruct.settings.workflow import (
    WorkflowSettings,
    default_settings,
    defaults_for,
    load_settings,
    read_settings,
)


def test_default_config_is_valid(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    assert config["demo"]["enabled"] is True
    assert config["reference_role"] == "instructor"


def _default(repo_root):
    return read_config_file(repo_root / "config" / "config.yaml")


def test_validation_returns_a_checked_copy_with_schema_defaults(repo_root):
    config = _default(repo_root)
    assert "n_ctx" not in config["mllm"]["models"]["qwen2.5-omni-vllm"]
    before = copy.deepcopy(config)
    checked = validate_config(config, "my.yaml")
    assert config == before  # the caller's mapping is left alone
    assert checked["mllm"]["models"]["qwen2.5-omni-vllm"]["n_ctx"] == 4096  # schema default filled in
    assert checked["baselines"]["methods"]["steps"]["majority"] == {
        "model": "majority", "modalities": None, "settings": {}, "enabled": True}


def test_unknown_key_is_named_with_the_nearest_known_one(repo_root):
    config = _default(repo_root)
    config["demo"]["durration_s"] = 5
    with pytest.raises(InputError, match=r"my\.yaml: invalid configuration:\n  - demo\.durration_s: unknown key; "
                                         r"did you mean 'duration_s'\?"):
        validate_config(config, "my.yaml")
    config = _default(repo_root)
    config["mllm"]["models"]["gemma3-270m"]["temprature"] = 0.5
    with pytest.raises(InputError, match=r"mllm\.models\.gemma3-270m\.temprature: unknown key; "
                                         r"did you mean 'temperature'\?"):
        validate_config(config, "my.yaml")


@pytest.mark.parametrize(("old", "new"), [
    ("speech.prosody", "prosody (top level)"),
    ("gaze.debug", "gaze_debug (top level)"),
    ("baselines.steps", "baselines.methods.steps"),
    ("annotation_checks.allow_gaps", "annotation_checks.gaps.<task>.policy (error, ignore or fill)"),
])
def test_a_moved_key_says_where_it_lives_now(repo_root, old, new):
    config = _default(repo_root)
    section, key = old.split(".")
    config[section][key] = {}
    with pytest.raises(InputError, match=re.escape(f"{old}: this key moved to {new}")):
        validate_config(config, "my.yaml")


def test_wrong_type_names_field_and_file(repo_root):
    config = copy.deepcopy(_default(repo_root))
    config["annotation_checks"]["gaps"]["steps"]["policy"] = "sometimes"
    with pytest.raises(InputError) as info:
        validate_config(config, "my.yaml")
    assert "my.yaml" in str(info.value)
    assert "annotation_checks.gaps.steps.policy: 'sometimes' is not allowed; choose one of 'error'" in str(info.value)


def test_exponent_without_a_dot_gets_the_yaml_hint(repo_root):
    config = _default(repo_root)
    config["baselines"]["methods"]["steps"]["asformer"]["settings"]["learning_rate"] = "5e-4"
    with pytest.raises(InputError, match=r"baselines\.methods\.steps\.asformer\.settings\.learning_rate: '5e-4' is "
                                         r"text, not a number .*write 5\.0e-4 or 0\.0005"):
        validate_config(config, "my.yaml")
    with pytest.raises(InputError, match=r"where: epochs: 0 is less than the minimum of 1"):
        validate_definition("mstcn_settings", {"epochs": 0}, "where")


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


def test_a_yaml_syntax_error_names_line_and_column(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("demo:\n  enabled: true\n  seed: 3\n fps: 15\n")  # line 4 is indented by one space
    with pytest.raises(InputError, match=r"c\.yaml: line 4, column 2: not valid YAML") as info:
        read_config_file(bad)
    assert "indentation" in str(info.value)
    with pytest.raises(InputError, match=r"c\.yaml: line 4, column 2"):
        read_settings(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="expected a mapping of settings at the top level"):
        read_config_file(listed)
    with pytest.raises(InputError, match="cannot read config file"):
        read_config_file(tmp_path / "absent.yaml")


# --- every semantic check runs at load --------------------------------------------------------


def _bad_modalities(config):
    config["baselines"]["methods"]["steps"]["x"] = {"model": "asformer", "modalities": "smell"}


def _unknown_primary_metric(config):
    config["evaluation"]["primary_metric"]["steps"] = "f1@75"  # well-formed, but 0.75 is not an overlap


def _hop_longer_than_window(config):
    config["mllm"].update(window_s=4, hop_s=8)


def _completion_prompt_with_images(config):
    config["mllm"]["models"]["gemma3-270m"]["modalities"] = ["text", "image"]


def _unknown_mllm_task(config):
    config["mllm"]["tasks"] = ["steps", "gaze"]


@pytest.mark.parametrize(("change", "message"), [
    (_bad_modalities, r"config baselines\.methods\.steps\.x\.modalities: 'smell' is not a name in "
                      r"dataset\.modality_sets"),
    (_unknown_primary_metric, r"config evaluation\.primary_metric\.steps: 'f1@75' is not a metric of that task"),
    (_hop_longer_than_window, r"config mllm\.hop_s \(8\) must be at most mllm\.window_s \(4\)"),
    (_completion_prompt_with_images, r"mllm\.models\.gemma3-270m\.prompt_version: completion-v1 is a "
                                     r"completion-style \(text-only\) prompt"),
    (_unknown_mllm_task, r"config mllm\.tasks: unknown task 'gaze'; the tasks are steps, states"),
], ids=["baseline_modalities", "primary_metric", "mllm_hop", "completion_prompt_images", "mllm_task"])
def test_every_semantic_check_runs_at_load(repo_root, change, message):
    config = _default(repo_root)
    assert load_settings(copy.deepcopy(config), "x.yaml") == default_settings()
    change(config)
    with pytest.raises(InputError, match=r"^x\.yaml: " + message):
        load_settings(config, "x.yaml")


def test_checks_of_several_keys(repo_root):
    cases = [
        (lambda c: c["sync"].update(band_hz=[3000, 100]), r"config sync\.band_hz: \[3000, 100\] is not a band"),
        (lambda c: c["gaze"].update(depth_range_m=[5, 1]), r"config gaze\.depth_range_m"),
        (lambda c: c["prosody"].update(pitch_floor_hz=300, pitch_ceiling_hz=200),
         r"prosody\.pitch_floor_hz must be below prosody\.pitch_ceiling_hz"),
        (lambda c: c["annotation_checks"]["eaf_tiers"].pop("states"),
         r"annotation_checks\.eaf_tiers: no ELAN tier named for states"),
        (lambda c: c["annotation_checks"]["gaps"].pop("states"), r"annotation_checks\.gaps: no policy for states"),
        (lambda c: c["annotation_checks"]["gaps"]["states"].update(policy="fill"),
         r"annotation_checks\.gaps\.states: policy fill needs a fill_label"),
        (lambda c: c["annotation_checks"]["gaps"].update(moods={"policy": "error", "fill_label": None}),
         r"annotation_checks\.gaps: unknown task 'moods'"),
        (lambda c: c["evaluation"]["primary_metric"].pop("states"), r"evaluation\.primary_metric\.states: missing"),
        (lambda c: c["baselines"]["methods"].update(gaze={}), r"config baselines\.methods: unknown task 'gaze'"),
    ]
    for change, message in cases:
        config = _default(repo_root)
        change(config)
        with pytest.raises(InputError, match=message):
            load_settings(config, "x.yaml")


def test_a_disabled_model_is_not_checked_against_its_template(repo_root):
    config = _default(repo_root)
    model = config["mllm"]["models"]["gemma3-270m"]
    model.update(modalities=["text", "image"], enabled=False)
    assert load_settings(config, "x.yaml").mllm.enabled_models() == []


# --- typed settings ------------------------------------------------------------------------------


def test_default_settings_round_trip():
    settings = default_settings()
    assert isinstance(settings, WorkflowSettings)
    plain = settings.to_mapping()
    assert WorkflowSettings.from_mapping(plain) == settings
    assert WorkflowSettings.from_mapping(copy.deepcopy(plain)).to_mapping() == plain
    # every section too, and the plain data is plain (lists, not tuples)
    assert EvaluationSettings.from_mapping(settings.evaluation.to_mapping()) == settings.evaluation
    assert BaselineSettings.from_mapping(settings.baselines.to_mapping()) == settings.baselines
    assert isinstance(plain["mllm"]["tasks"], list) and isinstance(settings.mllm.tasks, tuple)
    # named entries know their key
    assert settings.mllm.models["gemma3-270m"].name == "gemma3-270m"
    assert settings.baselines.methods["steps"]["asformer"].name == "asformer"


def test_builder_refuses_missing_unknown_and_mistyped_keys():
    plain = default_settings().folds.to_mapping()
    with pytest.raises(InputError, match=r"config folds\.seed: missing"):
        FoldSettings.from_mapping({"k": 5}, "folds")
    with pytest.raises(InputError, match=r"config folds: unknown key\(s\) shuffle"):
        FoldSettings.from_mapping({**plain, "shuffle": True}, "folds")
    with pytest.raises(InputError, match=r"config folds\.k: expected an integer, got '5'"):
        FoldSettings.from_mapping({**plain, "k": "5"}, "folds")
    model = default_settings().mllm.models["gemma3-270m"].to_mapping()
    with pytest.raises(InputError, match=r"temperature: expected a number, got '5e-4' \(YAML reads exponents"):
        ModelSettings.from_mapping({**model, "temperature": "5e-4"})


def test_defaults_for_gives_a_section_with_changes():
    frames = defaults_for(FrameSettings)
    assert frames == default_settings().frames and frames.fps == 2
    assert defaults_for(FrameSettings, fps=5) == dataclasses.replace(frames, fps=5)
    assert default_settings().frames.fps == 2  # the cached defaults are not changed
    # nested sections are found too
    assert defaults_for(IVTSettings) == default_settings().gaze.ivt
    assert defaults_for(IVTSettings, velocity_threshold_deg_s=70).velocity_threshold_deg_s == 70
    assert defaults_for(GazeSettings).ivt.min_fixation_ms == 60
    with pytest.raises(TypeError, match="no section of type InputError"):
        defaults_for(InputError)
    with pytest.raises(TypeError):
        defaults_for(FrameSettings, frame_rate=5)
