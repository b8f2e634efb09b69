"""LoRA Studio: fine-tune language models with LoRA, from a desktop app or headless."""

__version__ = "0.1.0"
