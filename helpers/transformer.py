"""The transformer block, and the GPT built from it (the BERT-style encoder is ``helpers.encoder``).

    MLP             the position-wise feed-forward network: widen, GELU, narrow back
    Block           attention + feed-forward, each wrapped in a residual connection and a layer norm
    init_weights    GPT-2's initialisation of one module (normal, std 0.02; zero biases): GPT and Encoder
    GPT             nanoGPT: token + position embeddings, pre-norm causal blocks, tied LM head

The model reads top to bottom like nanoGPT's model.py. Parameter names follow nanoGPT
(``attn.c_attn``, ``attn.c_proj``, ``mlp.c_fc``, ``mlp.c_proj``, ``ln_1``, ``ln_2``), and
``GPT.from_pretrained`` loads nanoGPT and transformers GPT-2 weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate
from .attention import MultiHeadAttention, merge_heads, split_heads

# --------------------------------------------------------------------------------------------
# The block
# --------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """The position-wise feed-forward network: widen, GELU, narrow back."""

    def __init__(self, n_embd: int, n_inner: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        n_embd, n_inner = validate.positive_int("n_embd", n_embd), validate.positive_int("n_inner", n_inner)
        dropout, bias = validate.probability("dropout", dropout), validate.boolean("bias", bias)
        self.c_fc = nn.Linear(n_embd, n_inner, bias=bias)  # (.., n_embd) -> (.., n_inner)
        self.gelu = nn.GELU()  # the exact (erf) GELU, as BERT and nanoGPT use
        self.c_proj = nn.Linear(n_inner, n_embd, bias=bias)  # back to (.., n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One transformer layer: x + attention(x), then x + mlp(x), with layer norms.

    ``norm_first=True`` (GPT-2, nanoGPT): x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)).
    ``norm_first=False`` (the original transformer, BERT): x = ln_1(x + attn(x)); x = ln_2(x + mlp(x)).
    """

    def __init__(self, n_embd: int, n_head: int, n_inner: int | None = None, dropout: float = 0.0,
                 bias: bool = True, norm_first: bool = True, eps: float = 1e-5):
        super().__init__()
        n_embd = validate.positive_int("n_embd", n_embd)
        n_inner = validate.positive_int("n_inner", n_inner, optional=True)
        norm_first, eps = validate.boolean("norm_first", norm_first), validate.positive("eps", eps)
        self.ln_1 = nn.LayerNorm(n_embd, eps=eps, bias=bias)
        self.attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias)
        self.ln_2 = nn.LayerNorm(n_embd, eps=eps, bias=bias)
        self.mlp = MLP(n_embd, n_inner or 4 * n_embd, dropout=dropout, bias=bias)
        self.norm_first = norm_first

    def forward(self, x, mask=None, is_causal=False, need_weights=False):
        """x (batch, tokens, n_embd) -> same shape; with need_weights also (batch, heads, T, T)."""
        h = self.ln_1(x) if self.norm_first else x
        a = self.attn(h, mask=mask, is_causal=is_causal, need_weights=need_weights)
        a, weights = a if need_weights else (a, None)
        if self.norm_first:
            x = x + a
            x = x + self.mlp(self.ln_2(x))
        else:
            x = self.ln_1(x + a)
            x = self.ln_2(x + self.mlp(x))
        return (x, weights) if need_weights else x

    def forward_cached(self, x, kv_cache, layer: int):
        """A pre-norm block over T new positions (B, T, n_embd) that also attends to the positions in
        ``kv_cache`` (helpers.generation.KVCache): generation without recomputing the past."""
        a = self.attn
        q, k, v = a.c_attn(self.ln_1(x)).split(a.n_embd, dim=2)  # 3 x (B, T, n_embd)
        q, k, v = (split_heads(t, a.n_head) for t in (q, k, v))  # (B, heads, T, head_dim)
        k, v = kv_cache.update(layer, k, v)  # (B, heads, past + T, head_dim)
        mask, is_causal = kv_cache.causal_mask(x.shape[1], x.device)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        x = x + a.c_proj(merge_heads(y))
        return x + self.mlp(self.ln_2(x))


def init_weights(module: nn.Module) -> None:
    """GPT-2's initialisation of one module, for ``model.apply(init_weights)``: Linear and Embedding
    weights from a normal distribution (std 0.02), Linear biases 0; other modules are left as they are.
    GPT, helpers.encoder.Encoder and helpers.seq2seq.Seq2Seq all start from it."""
    if not isinstance(module, nn.Module):
        raise validate.ArgumentTypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


# --------------------------------------------------------------------------------------------
# GPT (decoder only)
# --------------------------------------------------------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int = 65  # characters of Shakespeare; 50257 for GPT-2's BPE
    block_size: int = 64  # the longest context, in tokens
    n_layer: int = 4  # blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 128  # model width; n_embd % n_head == 0
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms

    def __post_init__(self):
        validate.config_fields(self, positive_ints=("vocab_size", "block_size", "n_layer", "n_head", "n_embd"),
                               probabilities=("dropout",), booleans=("bias",))
        validate.multiple_of("GPTConfig.n_embd", self.n_embd, "n_head", self.n_head)


class GPT(nn.Module):
    """A GPT language model (nanoGPT's layout): idx (batch, tokens) -> logits (batch, tokens, vocab)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise validate.ArgumentTypeError(f"config must be a GPTConfig; got {type(config).__name__}.")
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embeddings
            wpe=nn.Embedding(config.block_size, config.n_embd),  # learned positions
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config.n_embd, config.n_head, dropout=config.dropout,
                                   bias=config.bias, norm_first=True) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying: one matrix in, same out
        self.apply(init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, counted once (tied weights); without the position table by default, as nanoGPT."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, kv_cache=None):
        """idx (batch, tokens) -> logits (batch, tokens, vocab); with targets, (logits, loss).

        With a kv_cache (helpers.generation.KVCache), idx holds only the new tokens: positions continue
        from ``kv_cache.pos``, the cache grows by T, and only the last position's logits come back.
        """
        validate.tensor("idx", idx, dtype="integer", ndim=2)  # (batch, tokens) token ids
        B, T = idx.shape
        start = kv_cache.pos if kv_cache is not None else 0
        if start + T > self.config.block_size:
            raise validate.ArgumentValueError(
                f"a sequence of {start + T} tokens is longer than block_size {self.config.block_size}; crop it "
                f"to the last {self.config.block_size}.")
        pos = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for i, block in enumerate(self.transformer.h):
            if kv_cache is None:
                x = block(x, is_causal=True)  # fused attention, each token sees only its past
            else:
                x = block.forward_cached(x, kv_cache, i)
        if kv_cache is not None:
            kv_cache.advance(T)
            x = x[:, -1:]  # generation needs only the next token's distribution
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, vocab)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    # ---- loading nanoGPT and transformers GPT-2 weights ----------------------------------------

    CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

    @classmethod
    def from_pretrained(cls, source, config: GPTConfig | None = None) -> "GPT":
        """A GPT with the weights of a nanoGPT or transformers GPT-2 checkpoint, in eval mode.

        ``source``: a transformers ``GPT2LMHeadModel`` (or ``GPT2Model``); a nanoGPT checkpoint dict
        (``{"model": state, "model_args": {...}}`` as nanoGPT's train.py saves it); or a bare state
        dict in either naming, with ``config``. GPT-2's ``Conv1D`` layers store their weights as
        (in, out), the transpose of ``nn.Linear``: they are transposed here. transformers' GPT-2 uses
        the tanh approximation of GELU ("gelu_new") by default, the course's GPT the exact one: the
        logits then differ slightly (about 1e-3); a config with ``activation_function="gelu"`` matches.
        """
        if isinstance(source, nn.Module):  # a transformers model
            hf = source.config
            config = config or GPTConfig(vocab_size=hf.vocab_size, block_size=hf.n_positions, n_layer=hf.n_layer,
                                         n_head=hf.n_head, n_embd=hf.n_embd, dropout=0.0, bias=True)
            state = source.state_dict()
        elif isinstance(source, dict) and "model" in source and "model_args" in source:  # nanoGPT ckpt.pt
            known = {f.name for f in fields(GPTConfig)}
            config = config or GPTConfig(**{k: v for k, v in source["model_args"].items() if k in known})
            state = source["model"]
        elif isinstance(source, dict):
            state = source
        else:
            raise validate.ArgumentTypeError(
                f"source must be a transformers GPT-2 model or a state dict, got {type(source).__name__}.")
        if config is None:
            raise validate.ArgumentValueError(
                "a bare state dict does not say how many heads the model has: pass config=GPTConfig(...).")
        state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}  # torch.compile'd nanoGPT
        if not any(k.startswith("transformer.") for k in state):  # GPT2Model: no "transformer." prefix
            state = {("transformer." + k if not k.startswith("lm_head") else k): v for k, v in state.items()}
        model = cls(config)
        own = model.state_dict()
        c_attn = "transformer.h.0.attn.c_attn.weight"  # Linear: (3C, C); GPT-2's Conv1D: (C, 3C)
        conv1d = c_attn in state and state[c_attn].shape == own[c_attn].shape[::-1]
        new = {}
        for name, want in own.items():
            if name not in state:
                if name == "lm_head.weight":  # tied: the token embedding matrix
                    continue
                raise validate.UnknownNameError(
                    f"the checkpoint has no {name!r} (shape {tuple(want.shape)} here); is it a "
                    f"GPT-2 / nanoGPT model with {config.n_layer} layers and bias={config.bias}?")
            w = state[name]
            if conv1d and name.endswith(cls.CONV1D):
                w = w.t()
            if w.shape != want.shape:
                raise validate.ArgumentValueError(
                    f"checkpoint tensor {name!r} has shape {tuple(w.shape)}, the config makes "
                    f"it {tuple(want.shape)}; does the config match the checkpoint?")
            new[name] = w
        new.setdefault("lm_head.weight", new["transformer.wte.weight"])
        model.load_state_dict(new)
        return model.eval()
