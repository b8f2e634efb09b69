"""Compare and Playground prompts carry tool definitions: typed, checked, or taken from the dataset."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from studio.core.resources import SAMPLE_DIR
from studio.gui.pages.compare_page import ComparePage
from studio.gui.widgets.tools_dialog import ToolsDialog

WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
def page(qtbot, state, studio_home):
    widget = ComparePage(state)
    qtbot.addWidget(widget)
    widget.resize(960, 640)
    widget.show()
    yield widget
    widget.shutdown()


def test_the_dialog_checks_the_list_as_it_is_typed(qtbot):
    dialog = ToolsDialog(())
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled() and dialog.tools() == () and "No tools" in dialog.verdict.text()
    dialog.editor.setPlainText('[{"description": "no name"}]')
    assert not ok.isEnabled() and "tools[0]" in dialog.verdict.text() and "needs a 'name'" in dialog.verdict.text()
    dialog.editor.setPlainText('[{"name": ')
    assert not ok.isEnabled() and "does not parse" in dialog.verdict.text()
    dialog.editor.setPlainText(json.dumps([WEATHER]))  # a bare function: read as the OpenAI shape
    assert ok.isEnabled() and dialog.verdict.text() == "1 tool: get_weather"
    assert dialog.tools() == ({"type": "function", "function": WEATHER},)
    assert not dialog.from_dataset.isEnabled()  # no dataset to take tools from


def test_the_datasets_tools_are_sent_with_every_prompt(qtbot, state, page):
    state.set_dataset(str(SAMPLE_DIR / "captain_lora.tools.jsonl"))
    assert page.tools_button.text() == "Tools: none"
    dialog = page.open_tools_dialog()
    dialog.from_dataset.click()
    assert dialog.verdict.text() == "2 tools: get_weather, add"
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert page.tools_button.text() == "Tools: get_weather, add"
    assert [t["function"]["name"] for t in page.tools] == ["get_weather", "add"]
    # The session holds a request until its worker is ready: it goes out with the tools.
    page.session.ask([{"role": "user", "content": "Weather in Oslo?"}], ["base"], {}, page.tools)
    assert page.session._queued[-1]["tools"] == list(page.tools)
    assert page.playground.tools() is page.tools  # the Playground asks with the same list
