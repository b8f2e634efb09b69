"""What each page is for, in two sentences, and the keyboard shortcuts: shown as the
navigation's tooltips and by F1 (Help) for the page on screen."""

from __future__ import annotations

PAGE_HELP: dict[str, str] = {
    "Models": "Pick the base model to adapt: the bundled SmolLM2-135M, models in your Hugging Face cache, a "
              "local folder or a .gguf file. Its details (size, layers, context) show on the right.",
    "Datasets": "Pick the training data (alpaca, sharegpt, chat messages, prompt/completion or plain text). "
                "See its format, bad rows with their line and field, a preview and the token lengths.",
    "Train": "Set the LoRA method and hyperparameters (or a preset) and see the GPU memory it needs before "
             "starting. Start runs it in a separate worker process; the window can close meanwhile.",
    "Monitor": "The run in progress: loss, learning rate, throughput and GPU use, live. Pause, stop (saves the "
               "adapter and a checkpoint), cancel (saves nothing) or checkpoint now.",
    "Queue": "Jobs waiting their turn: each starts when its GPU is free (several GPUs run several at once), "
             "and the queue goes on after this window closes. Reorder, cancel, retry, or pause it.",
    "Sweeps": "Hyperparameter searches (grid, random or TPE over learning rate, rank or any setting): the trials "
              "with their results, the best so far, what mattered, and the best adapter into the library.",
    "Runs": "Every run on this machine, finished or not: replay one, follow a live one, or overlay the loss "
            "curves of several.",
    "Library": "Every adapter kept, in versions with their lineage: rename, tag, note, export, import, train "
               "more, or delete to the trash.",
    "Merge": "Combine adapters into a new one (weighted sum, TIES, DARE, SVD …), or merge one into its base "
             "model and export the whole model.",
    "Compare": "The base model and adapters side by side on the same prompts, with perplexity, ROUGE-L, the "
               "config diff and the loss curves; the Playground chats with one.",
    "Settings": "The system check (what this machine can do, and the fix for what is missing) and the app's "
                "preferences.",
}

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+1 … Ctrl+9", "go to the page at that place in the list"),
    ("Ctrl+,", "Settings"),
    ("Ctrl+Return or F5", "start training the job on the Train page"),
    ("Shift+F5 or Ctrl+.", "stop the run being followed (finish the step, save)"),
    ("Ctrl+Shift+P", "pause or resume the run being followed"),
    ("F1", "this help for the page on screen"),
)


def help_html(page: str) -> str:
    rows = "".join(f"<tr><td><b>{keys}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for keys, what in SHORTCUTS)
    return f"<h3>{page}</h3><p>{PAGE_HELP.get(page, '')}</p><h4>Keyboard</h4><table>{rows}</table>"
