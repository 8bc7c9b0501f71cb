"""The top-level assets/ folder: the app's theme, hotkeys, logo and the example configs and patterns."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app import assets
from core.readers.video_folder import compile_pattern
from core.train.config import load_config, preset


def test_the_app_reads_its_theme_and_hotkeys_from_assets():
    css, js = assets.text(assets.THEME_CSS), assets.text(assets.HOTKEYS_JS)
    assert ".hg-error" in css and ".hg-job" in css
    # Gradio evaluates the file as one function expression: it must start with it, not a comment.
    assert js.startswith("() => {") and "keydown" in js and "'accept-one'" in js
    assert ET.parse(assets.LOGO).getroot().tag.endswith("svg")


@pytest.mark.parametrize("name,dataset", [("demo-cpu", "data/demo-grew"), ("casia-b-gaitbase", "data/casia-b-grew")])
def test_example_configs_are_their_presets_spelled_out(name, dataset):
    assert load_config(assets.CONFIGS / f"{name}.yaml") == preset(name, dataset=dataset)


def test_example_patterns_read_what_they_say():
    examples = assets.file_patterns()
    assert len(examples) >= 3
    for e in examples:
        pat = compile_pattern(e["pattern"], folders=e.get("kind") == "tree")
        assert pat.match(e["example"]) == e["reads"], e["pattern"]
