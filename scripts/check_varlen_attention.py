"""On the GPU machine: the flash varlen kernel against one SDPA call per sequence.

python scripts/check_varlen_attention.py: a small grouped-query Llama in bf16 with LoRA,
packed rows of chat-like lengths; prints the loss and the largest LoRA gradient
difference of engine.varlen_attention's flash kernel against its reference kernel, eager
and with compiled decoder layers, and how many graphs the compiled layers needed."""

import copy

import torch
import transformers

from studio.core.jobs import LoraSettings
from studio.engine import adapter_setup, bench, data_prep, layer_setup, varlen_attention

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU: a dry run of the script, eager only
print("torch", torch.__version__, "transformers", transformers.__version__, "varlen:", varlen_attention.available())
width = 512 if DEVICE == "cuda" else 64
config = transformers.LlamaConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=4,
                                  num_attention_heads=8, num_key_value_heads=2, vocab_size=4096)
collate = data_prep.PackedCollator(0, boundaries=True)
rows = bench.examples({"batch": 8, "seq": 2048, "data": "variable"}, config.vocab_size, 4 if DEVICE == "cuda" else 1)
batches = [{k: v.to(DEVICE) if torch.is_tensor(v) else v for k, v in collate(rows[i:i + 8]).items()}
           for i in range(0, len(rows), 8)]


def model_with(kernel, compiled: bool, varlen: bool = True):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(copy.deepcopy(config), dtype=torch.bfloat16).to(DEVICE)
    model = adapter_setup.apply_adapter(model, LoraSettings(r=16, alpha=32, dropout=0.0,
                                                            target_modules=["all-linear"]), False, False)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    if varlen:
        varlen_attention.use(model, kernel=kernel)
    if compiled:
        for layer in layer_setup.decoder_layers(model):
            layer.compile(dynamic=True)
    model.train()
    return model


def run(model):
    out = []
    for batch in batches:
        model.zero_grad()
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        out.append((loss.item(), {n: p.grad.float().clone() for n, p in model.named_parameters() if p.requires_grad}))
    return out


def compare(label, got):
    for (lw, gw), (lg, gg), batch in zip(want, got, batches, strict=True):
        worst = max(float((gg[n] - gw[n]).abs().max() / (gw[n].abs().max() + 1e-12)) for n in gw)
        print(f"{label}, tokens {batch['input_ids'].shape[1]}: loss {lg:.5f} (one SDPA call per sequence: {lw:.5f}), "
              f"largest LoRA gradient difference {worst:.4f} of that gradient's largest value")


want = run(model_with(varlen_attention.reference_kernel, False))
# bf16 noise to judge the kernel's differences by: SDPA with transformers' per-example mask
compare("SDPA + mask", run(model_with(None, False, varlen=False)))
for compiled in (False, True) if DEVICE == "cuda" else (False,):
    torch._dynamo.reset()
    model = model_with(None, compiled)
    calls = []
    if not compiled and varlen_attention._KERNEL is not None:  # count the kernel's real calls (eager only)
        kernel = varlen_attention._KERNEL
        varlen_attention._KERNEL = lambda *args, kernel=kernel, calls=calls: calls.append(1) or kernel(*args)
    got = run(model)
    print("kernel:", getattr(varlen_attention._KERNEL, "__name__", "none"), f"({len(calls)} calls)" if calls else "")
    compare(f"flash varlen{' compiled' if compiled else ''}", got)
    if compiled:
        print("compiled graphs:", torch._dynamo.utils.counters["stats"]["unique_graphs"])
