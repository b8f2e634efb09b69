"""The Hub's offline paths, repo ids, the pushed model card, and the messages for gated or
missing repos. (The machine running the suite reaches no Hub: the online path is the
same code, exercised by hand.)"""

from __future__ import annotations

import socket

import pytest
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
from library_support import make_adapter

from studio.core import hub


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


@pytest.mark.parametrize("text, expected", [
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("https://huggingface.co/meta-llama/Llama-3.2-1B/", "meta-llama/Llama-3.2-1B"),
    ("  org/model.v2  ", "org/model.v2"),
])
def test_repo_ids_are_read_like_the_hub_does(text, expected):
    assert hub.check_repo_id(text) == expected


@pytest.mark.parametrize("bad", ["", "just-a-name", "a/b/c", "../x", "org/..", "org/ model", "a/b c"])
def test_bad_repo_ids_fail_before_any_request(bad):
    with pytest.raises(hub.HubError, match="not a Hub repo id"):
        hub.check_repo_id(bad)


def test_offline_mode_fails_at_once_with_the_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubError, match="offline mode is on"):
        hub.download_model("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_an_unreachable_hub_is_called_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(hub.HubError, match="cannot reach 127.0.0.1.*looks offline"):
        hub.download_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(hub.HubError, match="looks offline"):
        hub.push_adapter(make_adapter(tmp_path / "adapter"), "me/my-adapter")


def test_the_pushed_folder_has_a_model_card_from_card_json(tmp_path):
    card = {"name": "pirate", "version": 2, "method": "lora", "tags": ["style"],
            "base_model": {"model_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "name": "SmolLM2"},
            "metrics": {"train_loss": 1.23}}
    folder = make_adapter(tmp_path / "adapter", card=card)
    stage = hub.stage_adapter_for_push(folder, "me/pirate")
    readme = (stage / "README.md").read_text()
    assert readme.startswith("---\nlibrary_name: peft\n") and "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in readme
    assert "tags: [lora, peft, lora-studio, style]" in readme and "# me/pirate" in readme
    assert {p.name for p in stage.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors", "card.json"}


def test_gated_and_missing_repos_say_what_to_do():
    class Response:
        status_code, headers, url, request, text = 403, {}, "https://huggingface.co/x", None, ""

        def json(self):
            return {}

    def make(cls):
        try:
            return cls("refused", response=Response())
        except Exception:  # noqa: BLE001 - the constructor's needs change between versions
            return type(cls.__name__, (Exception,), {})("refused")

    gated = hub._explain(make(GatedRepoError), "meta-llama/Llama-3.2-1B")
    assert "gated" in gated and "https://huggingface.co/meta-llama/Llama-3.2-1B" in gated and "login" in gated
    missing = hub._explain(make(RepositoryNotFoundError), "me/nothing")
    assert "was not found" in missing and "private" in missing
