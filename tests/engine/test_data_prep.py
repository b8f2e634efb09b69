"""Labels: only the assistant's tokens count for chat data; packing restarts positions."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from studio.core.datasets import Example, Message
from studio.engine.data_prep import IGNORE, collator, encode_example, prepare


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def chat(*turns: tuple[str, str]) -> Example:
    return Example(kind="chat", messages=tuple(Message(r, c) for r, c in turns), source="row 0")


def trained_text(tokenizer, enc) -> str:
    return tokenizer.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE])


def test_only_assistant_replies_are_trained(tokenizer):
    ex = chat(("system", "Be brief."), ("user", "What is 2 plus 2?"), ("assistant", "Ahoy! 4 ⚓"),
              ("user", "And 3 plus 3?"), ("assistant", "Ahoy! 6 ⚓"))
    enc = encode_example(ex, tokenizer, 512)
    full = tokenizer.decode(enc.input_ids)
    assert full == tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in ex.messages], tokenize=False)
    assert trained_text(tokenizer, enc) == "Ahoy! 4 ⚓<|im_end|>\nAhoy! 6 ⚓<|im_end|>\n"
    assert len(enc.input_ids) == len(enc.labels)


def test_train_on_all_labels_every_token(tokenizer):
    ex = chat(("user", "hi"), ("assistant", "Ahoy!"))
    enc = encode_example(ex, tokenizer, 512, train_on="all")
    assert enc.labels == enc.input_ids


def test_completion_trains_on_completion_and_eos(tokenizer):
    ex = Example(kind="completion", prompt="The sea is ", completion="blue.")
    enc = encode_example(ex, tokenizer, 512)
    assert trained_text(tokenizer, enc) == "blue.<|im_end|>"
    assert tokenizer.decode(enc.input_ids) == "The sea is blue.<|im_end|>"


def test_text_trains_on_everything(tokenizer):
    enc = encode_example(Example(kind="text", text="Ahoy, the tide is high."), tokenizer, 512)
    assert enc.labels == enc.input_ids


def test_truncation_and_dropping_rows_without_targets(tokenizer):
    long_prompt = chat(("user", "word " * 200), ("assistant", "Ahoy!"))
    enc = encode_example(long_prompt, tokenizer, 32)
    assert len(enc.input_ids) == 32 and all(label == IGNORE for label in enc.labels)
    ok = chat(("user", "hi"), ("assistant", "Ahoy! ⚓"))
    data = prepare([long_prompt, ok], [], tokenizer, 32, "responses")
    assert len(data.train) == 1 and data.dropped == 1 and data.eval is None


def test_prepare_with_no_usable_row_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="max_length"):
        prepare([chat(("user", "word " * 200), ("assistant", "Ahoy!"))], [], tokenizer, 16, "responses")


def test_padding_collator_masks_padding(tokenizer):
    rows = [encode_example(chat(("user", "hi"), ("assistant", "Ahoy!")), tokenizer, 64),
            encode_example(chat(("user", "a much longer question here"), ("assistant", "Ahoy! yes")), tokenizer, 64)]
    batch = collator(tokenizer, packing=False)([{"input_ids": r.input_ids, "labels": r.labels} for r in rows])
    assert batch["input_ids"].shape == batch["labels"].shape
    assert batch["input_ids"].shape[1] % 8 == 0
    pad = batch["attention_mask"] == 0
    assert (batch["labels"][pad] == IGNORE).all() and pad.any()


def test_packing_flattens_with_restarting_positions(tokenizer):
    rows = [encode_example(chat(("user", "hi"), ("assistant", "Ahoy!")), tokenizer, 64),
            encode_example(chat(("user", "yo"), ("assistant", "Ahoy! ⚓")), tokenizer, 64)]
    batch = collator(tokenizer, packing=True)([{"input_ids": r.input_ids, "labels": r.labels} for r in rows])
    n0, n1 = len(rows[0].input_ids), len(rows[1].input_ids)
    filler = -(n0 + n1) % 8
    assert batch["input_ids"].shape == (1, n0 + n1 + filler) and batch["input_ids"].shape[1] % 8 == 0
    positions = batch["position_ids"][0].tolist()
    assert positions == list(range(n0)) + list(range(n1)) + list(range(filler))  # the filler is its own sequence
    assert batch["labels"][0, n0].item() == IGNORE  # no loss across the example boundary
    assert (batch["labels"][0, n0 + n1:] == IGNORE).all()


def test_packing_filler_changes_no_loss(tokenizer, tiny_model_dir):
    """The rounded-up row gives the loss of the plain flattened one (the filler attends to
    nothing real and is not scored)."""
    import torch
    from transformers import AutoModelForCausalLM, DataCollatorWithFlattening

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    rows = [encode_example(chat(("user", "hi"), ("assistant", "Ahoy!")), tokenizer, 64),
            encode_example(chat(("user", "where is the ship now"), ("assistant", "Ahoy! ⚓ yes")), tokenizer, 64)]
    features = [{"input_ids": r.input_ids, "labels": r.labels} for r in rows]
    rounded, plain = collator(tokenizer, packing=True)(features), DataCollatorWithFlattening()(features)
    assert rounded["input_ids"].shape[1] > plain["input_ids"].shape[1]  # this pair does need filler
    with torch.no_grad():
        assert model(**rounded).loss.item() == pytest.approx(model(**plain).loss.item(), abs=1e-5)


def test_core_jinja_render_matches_transformers(tokenizer):
    from studio.core.chat_segments import render_chat

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Ahoy!"}]
    for generation_prompt in (False, True):
        expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
        assert render_chat(tokenizer.chat_template, messages, generation_prompt,
                           eos_token=tokenizer.eos_token) == expected


def test_a_batch_of_examples_encodes_as_each_would_alone(tokenizer):
    """prepare() tokenizes every segment of a batch in one call: the ids and labels of each
    example are those of tokenizing its segments one by one."""
    from studio.engine.data_prep import _segments, encode_examples

    examples = [chat(("user", f"What is {i} plus {i}?"), ("assistant", f"Ahoy! {2 * i} ⚓"),
                     ("user", "Again?"), ("assistant", "Aye."))
                for i in range(5)] + [chat(("system", "Be brief."), ("user", "hi"), ("assistant", "Ahoy!"))]
    for example, (batched,) in zip(examples, encode_examples(examples, tokenizer, 24), strict=True):
        ids, labels = [], []
        for text, trained in _segments(example, tokenizer):
            piece = tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += piece
            labels += piece if trained else [IGNORE] * len(piece)
        assert (batched.input_ids, batched.labels) == (ids[:24], labels[:24])


def test_long_raw_text_is_chunked_into_blocks_and_nothing_is_lost(tokenizer):
    from studio.engine.data_prep import Chunking, encode_examples

    text = Example(kind="text", text=" ".join(f"word{i}" for i in range(300)))
    whole = tokenizer(text.text + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    (cut,) = encode_examples([text], tokenizer, 64)[0]
    assert cut.input_ids == whole[:64] and cut.full_length == len(whole)
    blocks = encode_examples([text], tokenizer, 64, chunking=Chunking(True, overlap=16))[0]
    assert all(len(b.input_ids) <= 64 for b in blocks) and len(blocks) > 1
    assert blocks[1].input_ids[:16] == blocks[0].input_ids[-16:]  # the overlap is context...
    assert blocks[1].labels[:16] == [IGNORE] * 16  # ...not trained twice
    trained = [t for b in blocks for t, label in zip(b.input_ids, b.labels, strict=True) if label != IGNORE]
    assert trained == whole  # every token trained exactly once


def test_truncation_is_counted_and_said_and_chunking_replaces_it(tokenizer):
    from studio.engine.data_prep import Chunking, truncation_note

    long_text = Example(kind="text", text=" ".join(f"word{i}" for i in range(200)))
    rows = [long_text, chat(("user", "hi"), ("assistant", "Ahoy!"))]
    cut = prepare(rows, [], tokenizer, 48, "responses")
    assert (cut.truncated, cut.chunked, len(cut.train)) == (1, 0, 2) and cut.cut_tokens > 100
    note = truncation_note(cut, len(rows), 48)
    assert note and note.startswith("1 of 2 training examples (50%) are longer than max_length 48")
    chunked = prepare(rows, [], tokenizer, 48, "responses", Chunking(True))
    assert (chunked.truncated, chunked.chunked) == (0, 1) and len(chunked.train) > 4
    assert truncation_note(chunked, len(rows), 48) is None
