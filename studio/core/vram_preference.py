"""What a preference stage's step holds in memory beside SFT's, as TRL runs it (core.vram asks).

Read off TRL 1.16's trainers, which engine.preference_training runs plainly (no Liger, compile,
CUDA graphs or packing), then measured on an H200 (scripts/measure_vram.py --preference):

* DPO, ORPO and SimPO put each pair's chosen and rejected replies into one forward of 2 x batch
  sequences (each at most max_length); KTO trains batch sequences, one labelled reply each.
* DPO and KTO score the replies through TRL's fused LM head (trl.trainer.utils.add_fused_lm_head):
  log-probabilities computed one 4,096-token x 32,768-entry tile at a time, so the full logits never
  exist; the peak held only that tile beyond the activations, and the caching allocator kept little
  beside them (no loss-sized blocks to fragment around).
* ORPO's and CPO's (SimPO's) trainers take the model's logits whole, and under bf16 mixed precision
  accelerate hands them back in fp32 (convert_outputs_to_fp32): fp32 logits and their gradient over
  2 x batch sequences, and for a loss on the chosen replies (ORPO's; SimPO's with cpo_alpha) that
  half's log-softmax and gradients too.
* DPO and KTO compute the reference log-probabilities with the adapter's frozen copy (TRL adds it as
  adapter "ref": the trained adapter's size in fp32, with no gradients or optimizer states) in a
  no-grad forward after the trained one: its working set, one layer's, sits on top of the kept
  activations. With checkpointing the backward's recomputed layer needs room later, and the reference
  pass adds only what exceeds it. KTO's KL term adds two no-grad forwards of batch mismatched replies,
  one before the trained forward and one just before the reference pass: the peak is one pass.
* Every one of these trainers turns dropout off (``disable_dropout``): LoRA layers keep no mask.

GRPO (TRL's GRPOTrainer, also run plainly) first generates: batch x group x grad_accum answers at
once (one generation batch), with a bf16 KV cache over each prompt and answer; then trains on
batch x group sequences, whose logits cover only the answers' tokens. The two phases do not overlap,
so the generation's cache counts where it exceeds the training pass. With beta > 0 the reference
log-probabilities come from the base (the adapter disabled) in a no-grad pass; TRL keeps dropout on.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.jobs import TrainJob

# TRL's fused LM head projects tiles of (at most) this many tokens x this many vocabulary entries.
FUSED_HEAD_TILE_TOKENS = 4096
FUSED_HEAD_TILE_VOCAB = 32768
# Per token of a no-grad forward, at its widest point (the MLP): the residual stream and the
# normalised input in bf16 (4h), RMSNorm's fp32 upcast (4h), the fp32 copy peft makes of a LoRA
# layer's input (4h), and the MLP's gate, up and activation outputs (6i). Nothing is kept between
# layers, so this is the pass's whole working set (beside one LM-head tile).
NO_GRAD_BYTES_PER_HIDDEN = 12
NO_GRAD_BYTES_PER_INTER = 6
# Per token x vocabulary entry where the trainer builds the logits whole: allocated at the peak, and
# what the caching allocator reserved for them. Measured on an H200 (1B-shaped, 2 x 4 x 1,024 tokens;
# every run: tests/core/test_vram_preference.py's H200_RUNS): SimPO 7.3 / 9.2 (fp32 logits and their
# gradient), ORPO 9.3 / 15.2 (and the chosen half's log-softmax and its gradient; at 4,096 tokens its
# allocator reserved 12 a entry, so ORPO's estimate errs up to 15% high there).
FULL_LOGITS_BYTES = (7.3, 9.2)
FULL_LOGITS_WITH_CHOSEN_LOSS_BYTES = (9.3, 15.2)
# GRPO per answer token x vocabulary entry (logits, their log-softmax and entropy, gradients): SFT's
# rule; on the H200 (docs/benchmarks.md, GRPO) the whole estimate was 17% high at 1B, 0.5% low at 8B
# before the generation's cache was counted (tests/core/test_vram_preference.py's GRPO_H200_RUNS).
GRPO_LOGITS_BYTES = (10.72, 13.41)
# A decoding step of the generation: per answer, its hidden states (x hidden) and its fp32 logits,
# softmax and sampling buffers (x vocabulary).
GENERATION_STEP_BYTES_PER_HIDDEN = 64
GENERATION_LOGITS_BYTES = 16


@dataclass(frozen=True)
class StageMemory:
    stage: str
    sequences: int  # sequences trained per row of the batch: 2 for a pair
    reference_sequences: int  # sequences per row of the no-grad pass beside the kept activations; 0: none
    fused_head: bool  # log-probabilities from TRL's fused LM head: no full logits
    logits_bytes: tuple[float, float]  # (allocated, reserved) per token x vocabulary entry, where built whole
    dropout_off: bool = True  # the trainer turns dropout off (TRL's preference trainers; not GRPO's)
    # The share of a sequence's max_length tokens whose logits are built (GRPO: the answer's tokens only).
    logits_share: float = 1.0

    def activations_note(self, tokens: int) -> str:
        if self.stage == "grpo":
            return f"{self.sequences} answers per prompt, prompt + answer: {tokens:,} tokens/step"
        if self.sequences == 2:
            return f"chosen + rejected: 2 sequences per row, {tokens:,} tokens/step"
        return f"{tokens:,} tokens/step (one labelled reply per row)"

    def logits_note(self, tokens: int, vocab: int) -> str:
        if self.fused_head:
            return (f"TRL's fused LM head: one {FUSED_HEAD_TILE_TOKENS:,} x {FUSED_HEAD_TILE_VOCAB:,} tile at a "
                    "time, no full logits")
        if self.stage == "grpo":
            return f"the answers' {int(tokens * self.logits_share):,} tokens x {vocab:,} vocabulary"
        return f"{tokens:,} x {vocab:,} vocabulary in fp32, built whole by TRL's {self.stage.upper()} trainer"

    def reference_note(self, tokens: int, working: str, counted: float, whole: float) -> str:
        """``counted`` of the pass's ``whole`` working set (``working``, formatted) is beyond the room the
        backward's recomputed layer needs later (all of it without checkpointing)."""
        kl = " (and the KL term's mismatched replies)" if self.stage == "kto" else ""
        model = "the base's (adapter off)" if self.stage == "grpo" else "the starting adapter's"
        said = f"{model} forward over {tokens:,} tokens{kl}, one layer at a time"
        if counted >= whole:
            return f"{said}, beside the kept activations"
        if counted > 0:
            return f"{said} ({working}), less the room the recomputed layer needs later"
        return f"{said} ({working}): within the room the recomputed layer needs later"

    def note(self) -> str:
        dropout = "dropout off" if self.dropout_off else "dropout as the job sets it"
        return (f"{self.stage.upper()}: counted as TRL's trainer runs it (no fused kernels, compile or CUDA graphs; "
                f"{dropout}).")


def stage_memory(job: TrainJob) -> StageMemory | None:
    """How ``job``'s stage runs, for the estimate; None for SFT (core.vram's own model)."""
    stage = job.training.stage
    if stage in ("dpo", "kto"):
        return StageMemory(stage, 2 if stage == "dpo" else 1, 2 if stage == "dpo" else 1, True, (0.0, 0.0))
    if stage in ("orpo", "simpo"):
        chosen_loss = stage == "orpo" or job.preference.cpo_alpha > 0
        return StageMemory(stage, 2, 0, False,
                           FULL_LOGITS_WITH_CHOSEN_LOSS_BYTES if chosen_loss else FULL_LOGITS_BYTES)
    if stage == "grpo":
        g, tr = job.grpo, job.training
        return StageMemory(stage, g.num_generations, g.num_generations if g.beta > 0 else 0, False,
                           GRPO_LOGITS_BYTES, dropout_off=False,
                           logits_share=min(1.0, g.max_completion_length / max(1, tr.max_length)))
    return None


def generation_bytes(job: TrainJob, hidden: int, kv: int, layers: int, vocab: int) -> tuple[int, float, float]:
    """(answers generated at once, their KV cache, all the generation holds): each answer's bf16 cache over
    prompt and answer (max_length tokens) in every layer, and one decoding step's activations and logits."""
    tr, g = job.training, job.grpo
    answers = tr.batch_size * g.num_generations * max(1, tr.grad_accum)
    cache = answers * tr.max_length * layers * 2 * kv * 2
    step = answers * (GENERATION_STEP_BYTES_PER_HIDDEN * hidden + GENERATION_LOGITS_BYTES * vocab)
    return answers, cache, cache + step


def head_tile_bytes(tokens: int) -> float:
    """TRL's fused LM head: one bf16 tile of the logits at a time (core.vram scales fp32)."""
    return min(tokens, FUSED_HEAD_TILE_TOKENS) * FUSED_HEAD_TILE_VOCAB * 2


def reference_pass_bytes(tokens: int, hidden: int, inter: int) -> float:
    """The working set of a no-grad forward over ``tokens`` at its widest, in bf16 (core.vram scales fp32)."""
    return (NO_GRAD_BYTES_PER_HIDDEN * hidden + NO_GRAD_BYTES_PER_INTER * inter) * tokens
