"""Token-length statistics of a dataset, for choosing max_length before training.

The Datasets page shows how long the examples are in the chosen model's
tokens and what share a given max_length would cut off. This must run in the
GUI process, so it uses the `tokenizers` library on the model's
tokenizer.json rather than transformers. A chat is measured through the
model's chat template when the caller passes one as `render`; otherwise it is
rendered with `render_plain`, whose role tags cost a few tokens per turn,
close to what real templates add. A preference pair is two sequences, prompt +
chosen and prompt + rejected, each measured as a chat: its length is the longer
one, which is what max_length truncates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .formats import Example, Message
from .preference import sequences

HISTOGRAM_BINS = 20
OUTLIER_FACTOR = 2.0  # the longest row beyond this many times the 99th percentile: outliers, off the chart
_BATCH = 1024  # encodings hold offsets and more; encode in slices to bound memory


def render_plain(example: Example) -> str:
    """Text of an example as the model will roughly see it, without a chat template; a pair as its
    prompt, then each reply under a ``== chosen ==`` / ``== rejected ==`` line (for reading, not
    for measuring: a trainer sees the two sequences apart)."""
    if example.kind == "chat":
        return _turns(example.messages)
    if example.kind == "preference":
        return (_turns(example.messages) + "== chosen ==\n" + _turns(example.chosen)
                + "== rejected ==\n" + _turns(example.rejected))
    if example.kind == "kto":
        label = "desirable" if example.desirable else "undesirable"
        return _turns(example.messages) + f"== {label} ==\n" + _turns(example.response)
    if example.kind == "completion":
        return example.prompt + example.completion
    return example.text


def _turns(messages: tuple[Message, ...]) -> str:
    return "".join(f"<|{m.role}|>\n{m.content}\n" for m in messages)


@dataclass(frozen=True)
class TokenStats:
    count: int
    lengths: tuple[int, ...]  # per example, in the order given
    min: int
    median: float
    p95: float
    max: int
    mean: float
    histogram: tuple[int, ...]  # counts per bin, HISTOGRAM_BINS bins
    bin_edges: tuple[float, ...]  # len(histogram) + 1 edges
    max_length: int
    truncated_count: int  # examples longer than max_length
    truncated_fraction: float  # truncated_count / count (0.0 when there are none)
    off_chart: int = 0  # outliers longer than the last bin edge: counted, not drawn (they'd squash the bars)
    # Preference pairs, in the order given: prompt + chosen and prompt + rejected (`lengths` holds the longer).
    chosen_lengths: tuple[int, ...] = ()
    rejected_lengths: tuple[int, ...] = ()


def load_tokenizer(tokenizer_json_path: str | Path):
    """A `tokenizers.Tokenizer` with truncation and padding off, so lengths are true."""
    from tokenizers import Tokenizer

    path = Path(tokenizer_json_path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception on a malformed file
        raise ValueError(f"{path.name}: not a readable tokenizer.json: {e}") from None
    # Some tokenizer.json files ship with truncation or padding enabled; either
    # would hide the very lengths we are measuring.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def token_length_stats(
    examples: Sequence[Example],
    tokenizer_json_path: str | Path,
    max_length: int,
    *,
    render: Callable[[Example], str] | None = None,
) -> TokenStats:
    """Token lengths of `examples` (special tokens included) and their summary."""
    if max_length <= 0:
        raise ValueError(f"max_length must be > 0, got {max_length}")
    tokenizer = load_tokenizer(tokenizer_json_path)
    render = render or render_plain
    # Each example as the sequences a trainer feeds (a pair: two), measured in one stream.
    parts = [sequences(e) for e in examples]
    flat = [s for seqs in parts for s in seqs]
    measured: list[int] = []
    for start in range(0, len(flat), _BATCH):
        texts = [render(e) for e in flat[start : start + _BATCH]]
        measured.extend(len(enc.ids) for enc in tokenizer.encode_batch(texts, add_special_tokens=True))
    lengths: list[int] = []
    chosen: list[int] = []
    rejected: list[int] = []
    at = 0
    for example, seqs in zip(examples, parts, strict=True):
        own = measured[at : at + len(seqs)]
        at += len(seqs)
        lengths.append(max(own))
        if example.kind == "preference":
            chosen.append(own[0])
            rejected.append(own[1])
    if not lengths:
        return TokenStats(0, (), 0, 0.0, 0.0, 0, 0.0, (), (), max_length, 0, 0.0)
    import numpy as np  # lazily, like tokenizers: importing the package stays cheap for the GUI

    arr = np.asarray(lengths, dtype=np.int64)
    # A few outliers (one 11,632-token row among 400-token ones) would stretch the axis until every
    # other bar is a sliver: the bins end at the 99th percentile then, and the rest is counted.
    top = float(np.percentile(arr, 99))
    upper = top if arr.max() > OUTLIER_FACTOR * top else float(arr.max())
    counts, edges = np.histogram(arr, bins=HISTOGRAM_BINS, range=(float(arr.min()), upper))
    off_chart = int((arr > upper).sum())
    truncated = int((arr > max_length).sum())
    return TokenStats(
        count=len(lengths),
        lengths=tuple(lengths),
        min=int(arr.min()),
        median=float(np.median(arr)),
        p95=float(np.percentile(arr, 95)),
        max=int(arr.max()),
        mean=float(arr.mean()),
        histogram=tuple(int(c) for c in counts),
        bin_edges=tuple(float(x) for x in edges),
        max_length=max_length,
        truncated_count=truncated,
        truncated_fraction=truncated / len(lengths),
        off_chart=off_chart,
        chosen_lengths=tuple(chosen),
        rejected_lengths=tuple(rejected),
    )
