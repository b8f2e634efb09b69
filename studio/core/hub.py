"""The Hugging Face Hub: download a base model into the usual cache, push an adapter.

huggingface_hub does the work (resumable downloads into the shared cache, the token
from ``HF_TOKEN`` or ``huggingface-cli login``, uploads); this module adds what a
person needs around it: a check of the repo id before any request, a fast and plain
"offline" instead of a minute of retries, the gated-model message with its link, and
an adapter's model card written from its ``card.json``. A download reports bytes and
files done; its progress callback may raise :class:`DownloadCancelled` to end it (the
files already fetched stay in the cache, so the next download resumes there).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from studio.core import cards
from studio.core.models.discovery import default_hf_cache_dir

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
# What a model needs to train here: weights in safetensors, config, tokenizer, chat template.
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "*.jinja", "*.py"]
REACH_TIMEOUT_S = 3.0
Progress = Callable[[int, int, str], None]  # (bytes done, bytes total, files done: "2 of 7 files")
TRANSFER_BAR = "Downloading bytes"  # huggingface_hub's network-bytes bar: its total is a guess, not the files'


class HubError(RuntimeError):
    """A Hub operation that can't be done, with what to do about it."""


class DownloadCancelled(Exception):
    """Raised by a download's progress callback to end it; download_model lets it through."""


def check_repo_id(repo_id: str) -> str:
    repo_id = repo_id.strip().removeprefix("https://huggingface.co/").strip("/")
    if not REPO_ID.match(repo_id) or ".." in repo_id:
        raise HubError(f"{repo_id!r} is not a Hub repo id: expected owner/name, e.g. HuggingFaceTB/SmolLM2-360M-Instruct")
    return repo_id


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def ensure_online() -> None:
    """Fail in seconds, with the reason, where huggingface_hub would retry for a minute."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise HubError("offline mode is on (HF_HUB_OFFLINE=1): unset it to use the Hugging Face Hub")
    url = urlparse(endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=REACH_TIMEOUT_S):
            pass
    except OSError as exc:
        raise HubError(f"cannot reach {url.hostname} ({exc.strerror or exc}): this machine looks offline; "
                       "models already in the Hugging Face cache are listed on the Models page") from None


def download_model(repo_id: str, revision: str | None = None, progress: Progress | None = None,
                   fetch: Callable[..., str] | None = None) -> Path:
    """Download (or finish downloading) a model into the Hugging Face cache; its folder.
    ``fetch``: huggingface_hub's ``snapshot_download`` unless given (the tests' seam)."""
    repo_id = check_repo_id(repo_id)
    ensure_online()
    if fetch is None:
        from huggingface_hub import snapshot_download

        fetch = snapshot_download
    reporter = _progress_class(progress)
    try:
        downloaded = fetch(repo_id, revision=revision, cache_dir=default_hf_cache_dir(),
                           allow_patterns=MODEL_FILES, tqdm_class=reporter)
    except DownloadCancelled:
        raise
    except Exception as exc:
        if reporter is not None and reporter.cancelled.is_set():  # a download thread ended otherwise meanwhile
            raise DownloadCancelled() from None
        raise HubError(_explain(exc, repo_id)) from exc
    folder = Path(downloaded)
    if not (folder / "config.json").is_file():
        raise HubError(f"{repo_id} has no config.json: not a transformers model (a GGUF-only repo? download the "
                       ".gguf file and add it on the Models page)")
    if not any(folder.glob("*.safetensors")):
        raise HubError(f"{repo_id} has no safetensors weights; LoRA Studio does not load pickle weights from the Hub")
    return folder


def stage_adapter_for_push(folder: Path, repo_id: str) -> Path:
    """A temporary copy of an adapter version with a Hub model card (README.md) from its card.json."""
    card = cards.read_card(folder) or cards.Card()
    stage = Path(tempfile.mkdtemp(prefix="lora-studio-push-"))
    for item in Path(folder).iterdir():
        if item.is_file() and item.name != "README.md":
            shutil.copy2(item, stage / item.name)
    (stage / "README.md").write_text(hub_model_card(card, repo_id), encoding="utf-8")
    return stage


def hub_model_card(card: cards.Card, repo_id: str) -> str:
    base_id = card.base_model.model_id or card.base_model.id or ""
    tags = ["lora", "peft", "lora-studio", *card.tags]
    front = ["---", "library_name: peft", f"tags: [{', '.join(tags)}]"]
    if base_id and "/" in base_id and not base_id.startswith(("/", "path:", "gguf:")):
        front.append(f"base_model: {base_id}")
    front.append("---")
    if card.lora:
        body = cards.card_readme(card)
    else:  # an imported adapter's card may hold little more than its name
        body = (f"A LoRA adapter{f' for {base_id}' if base_id else ''}, kept with LoRA Studio. Load it with "
                "`peft.PeftModel.from_pretrained(base_model, repo_id)`.\n")
    return "\n".join(front) + f"\n\n# {repo_id}\n\n" + body


def push_adapter(folder: Path, repo_id: str, private: bool = True) -> str:
    """Upload an adapter version (with its model card) to a model repo; the repo's URL."""
    repo_id = check_repo_id(repo_id)
    ensure_online()
    from huggingface_hub import HfApi

    stage = stage_adapter_for_push(folder, repo_id)
    try:
        api = HfApi(endpoint=endpoint())
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(stage), repo_id=repo_id, commit_message="Upload adapter from LoRA Studio")
    except Exception as exc:
        raise HubError(_explain(exc, repo_id)) from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return f"{endpoint()}/{repo_id}"


def _explain(exc: BaseException, repo_id: str) -> str:
    name = type(exc).__name__
    if name == "GatedRepoError":
        return (f"{repo_id} is gated: accept its terms at {endpoint()}/{repo_id} while logged in, then log in here "
                "(`huggingface-cli login`, or set HF_TOKEN) and download again")
    if name == "RepositoryNotFoundError":
        return f"{repo_id} was not found on the Hub (or it is private: log in with `huggingface-cli login`)"
    if name == "RevisionNotFoundError":
        return f"{repo_id} has no such revision"
    if name in ("LocalTokenNotFoundError",) or "401" in str(exc) or "403" in str(exc):
        return f"the Hub refused the request for {repo_id}: log in with `huggingface-cli login` (or set HF_TOKEN) " \
               "with a token that may write there"
    if name in ("LocalEntryNotFoundError", "ConnectionError", "ConnectTimeout", "ReadTimeout") or "connect" in \
            str(exc).lower():
        return f"lost the connection to the Hub ({name}); run again to resume where it stopped"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    return f"{name}: {first}"


def _progress_class(progress: Progress | None):
    """A tqdm class for huggingface_hub that reports to ``progress``: bytes written of the
    files' sizes, and files done of all. A DownloadCancelled from ``progress`` goes up through
    the download thread that called it (the others raise at their next chunk)."""
    if progress is None:
        return None
    from tqdm.auto import tqdm

    files = [0, 0]  # done, all: from huggingface_hub's bar counting files

    class Reporter(tqdm):
        cancelled = threading.Event()

        def __init__(self, *args, **kwargs):
            kwargs["disable"] = False
            kwargs["file"] = _Discard()  # drawn nowhere: only its counts are read
            super().__init__(*args, **kwargs)
            if self.unit != "B" and self.total:
                files[:] = [int(self.n), int(self.total)]

        def update(self, n=1):
            super().update(n)
            if self.unit != "B":
                files[:] = [int(self.n), int(self.total or 0)]
                return
            if str(self.desc or "").startswith(TRANSFER_BAR):
                return
            try:
                progress(int(self.n), int(self.total or 0), f"{files[0]} of {files[1]} files" if files[1] else "")
            except DownloadCancelled:
                if not Reporter.cancelled.is_set():
                    Reporter.cancelled.set()
                    # A Xet download reports from its own threads and ignores a callback's error:
                    # end its session (in a thread of its own: the caller may be one of them).
                    threading.Thread(target=_abort_xet, name="hub-cancel", daemon=True).start()
                raise

    return Reporter


class _Discard:
    """A file for tqdm that keeps nothing (an open os.devnull per bar was never closed)."""

    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _abort_xet() -> None:
    try:
        from huggingface_hub.utils._xet import abort_xet_session
    except ImportError:  # no Xet in this huggingface_hub
        return
    abort_xet_session()
