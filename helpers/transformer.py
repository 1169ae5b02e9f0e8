"""The transformer block, and the two models built from it: a BERT-style encoder and a GPT.

    Block           attention + feed-forward, each wrapped in a residual connection and a layer norm
    Encoder         BERT: token + position + segment embeddings, post-norm blocks, sees both ways
    GPT             nanoGPT: token + position embeddings, pre-norm causal blocks, tied LM head

Both models read top to bottom like nanoGPT's model.py. Parameter names follow nanoGPT
(``attn.c_attn``, ``attn.c_proj``, ``mlp.c_fc``, ``mlp.c_proj``, ``ln_1``, ``ln_2``); the encoder's
embeddings keep Hugging Face BERT's names, and ``Encoder.from_pretrained`` maps the rest of a BERT
checkpoint (``encoder.layer.N.attention.self.query`` ...) onto them, so the course's own encoder
runs the pretrained all-MiniLM-L6-v2 weights and gives the same hidden states as ``BertModel``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate
from .attention import MultiHeadAttention, merge_heads, padding_mask, split_heads

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
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

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


# --------------------------------------------------------------------------------------------
# Encoder (BERT)
# --------------------------------------------------------------------------------------------


@dataclass
class EncoderConfig:
    vocab_size: int = 30522  # bert-base-uncased WordPiece
    hidden_size: int = 384  # model width (all-MiniLM-L6-v2)
    num_hidden_layers: int = 6
    num_attention_heads: int = 12  # hidden_size % num_attention_heads == 0
    intermediate_size: int = 1536  # width of the feed-forward layer
    max_position_embeddings: int = 512  # longest input
    type_vocab_size: int = 2  # segments (sentence A / sentence B)
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1  # hidden and attention dropout (training only)
    pad_token_id: int = 0

    def __post_init__(self):
        validate.config_fields(self, positive_ints=("vocab_size", "hidden_size", "num_hidden_layers",
                                                    "num_attention_heads", "intermediate_size",
                                                    "max_position_embeddings", "type_vocab_size"),
                               positives=("layer_norm_eps",), probabilities=("dropout",))
        validate.multiple_of("EncoderConfig.hidden_size", self.hidden_size, "num_attention_heads",
                             self.num_attention_heads)
        self.pad_token_id = validate.integer("EncoderConfig.pad_token_id", self.pad_token_id, 0, self.vocab_size - 1)

    @classmethod
    def from_hf(cls, hf: dict) -> "EncoderConfig":
        """From a Hugging Face BERT config.json dict (unknown keys are ignored)."""
        if hf.get("hidden_act", "gelu") != "gelu":
            raise validate.ArgumentValueError(
                f"the course's encoder uses GELU; this checkpoint wants {hf['hidden_act']!r}.")
        if hf.get("position_embedding_type", "absolute") != "absolute":
            raise validate.ArgumentValueError("the course's encoder has absolute positions only; this checkpoint uses "
                                              f"{hf['position_embedding_type']!r}.")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in hf.items() if k in known}
        kwargs["dropout"] = hf.get("hidden_dropout_prob", cls.dropout)
        return cls(**kwargs)

    def to_hf(self) -> dict:
        """A Hugging Face BertConfig dict, for ``transformers.BertConfig(**config.to_hf())``."""
        d = asdict(self)
        p = d.pop("dropout")
        return {**d, "hidden_dropout_prob": p, "attention_probs_dropout_prob": p, "hidden_act": "gelu",
                "model_type": "bert"}


class EncoderOutput(NamedTuple):
    last_hidden_state: torch.Tensor  # (batch, tokens, hidden)
    hidden_states: tuple  # num_hidden_layers + 1 tensors (batch, tokens, hidden): embeddings, layer 1..
    attentions: tuple  # num_hidden_layers tensors (batch, heads, tokens, tokens)


class Embeddings(nn.Module):
    """word + position + token type embeddings, then LayerNorm and dropout (names as in HF BERT)."""

    def __init__(self, c: EncoderConfig):
        super().__init__()
        if not isinstance(c, EncoderConfig):
            raise validate.ArgumentTypeError(f"c must be an EncoderConfig; got {type(c).__name__}.")
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, input_ids, token_type_ids):
        T = input_ids.shape[1]
        pos = torch.arange(T, device=input_ids.device)  # (T,)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos) \
            + self.token_type_embeddings(token_type_ids)  # (B, T, hidden)
        return self.dropout(self.LayerNorm(x))


class Encoder(nn.Module):
    """A BERT encoder: input_ids (batch, tokens) -> hidden states (batch, tokens, hidden)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if not isinstance(config, EncoderConfig):
            raise validate.ArgumentTypeError(f"config must be an EncoderConfig; got {type(config).__name__}.")
        self.config = c = config
        self.embeddings = Embeddings(c)
        self.layers = nn.ModuleList([
            Block(c.hidden_size, c.num_attention_heads, c.intermediate_size, dropout=c.dropout,
                  norm_first=False, eps=c.layer_norm_eps)  # BERT normalises after each residual
            for _ in range(c.num_hidden_layers)
        ])
        self.apply(GPT._init_weights)
        with torch.no_grad():
            self.embeddings.word_embeddings.weight[c.pad_token_id].zero_()  # as BERT: [PAD] starts at 0

    def _prepare(self, input_ids, attention_mask, token_type_ids):
        validate.tensor("input_ids", input_ids, dtype="integer", ndim=2)  # (batch, tokens)
        T = input_ids.shape[1]
        if T > self.config.max_position_embeddings:
            raise validate.ArgumentValueError(f"{T} tokens is more than max_position_embeddings "
                                              f"({self.config.max_position_embeddings}); truncate the input.")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != input_ids.shape:
                raise validate.ArgumentValueError(
                    f"attention_mask {tuple(attention_mask.shape)} must have the shape of "
                    f"input_ids {tuple(input_ids.shape)}.")
            mask = padding_mask(attention_mask)  # (B, 1, 1, T): no query looks at a padded key
        return self.embeddings(input_ids, token_type_ids), mask

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        """input_ids (B, T), attention_mask (B, T) of 1 (token) / 0 (padding) -> (B, T, hidden)."""
        x, mask = self._prepare(input_ids, attention_mask, token_type_ids)
        for layer in self.layers:
            x = layer(x, mask=mask)
        return x

    def inspect(self, input_ids, attention_mask=None, token_type_ids=None) -> EncoderOutput:
        """Like forward, but keeps every layer's hidden states and attention weights (for viewers)."""
        x, mask = self._prepare(input_ids, attention_mask, token_type_ids)
        hidden, attns = [x], []
        for layer in self.layers:
            x, w = layer(x, mask=mask, need_weights=True)
            hidden.append(x)
            attns.append(w)
        return EncoderOutput(x, tuple(hidden), tuple(attns))

    # ---- loading Hugging Face BERT checkpoints -----------------------------------------------

    @staticmethod
    def _hf_name_map(num_layers: int) -> dict[str, list[str]]:
        """Course parameter name -> the HF BERT names it is made of (q, k, v are concatenated)."""
        m = {f"embeddings.{n}.weight": [f"embeddings.{n}.weight"]
             for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")}
        m["embeddings.LayerNorm.weight"] = ["embeddings.LayerNorm.weight"]
        m["embeddings.LayerNorm.bias"] = ["embeddings.LayerNorm.bias"]
        for i in range(num_layers):
            src, dst = f"encoder.layer.{i}.", f"layers.{i}."
            for kind in ("weight", "bias"):
                m[dst + f"attn.c_attn.{kind}"] = [src + f"attention.self.{p}.{kind}"
                                                  for p in ("query", "key", "value")]
                m[dst + f"attn.c_proj.{kind}"] = [src + f"attention.output.dense.{kind}"]
                m[dst + f"ln_1.{kind}"] = [src + f"attention.output.LayerNorm.{kind}"]
                m[dst + f"mlp.c_fc.{kind}"] = [src + f"intermediate.dense.{kind}"]
                m[dst + f"mlp.c_proj.{kind}"] = [src + f"output.dense.{kind}"]
                m[dst + f"ln_2.{kind}"] = [src + f"output.LayerNorm.{kind}"]
        return m

    def load_hf_state_dict(self, hf_state: dict[str, torch.Tensor]) -> list[str]:
        """Copy a HF BERT state dict into this encoder; returns the checkpoint keys not used.

        Raises ValueError naming the parameter and both shapes when a shape does not match the
        config, and KeyError listing what is missing.
        """
        hf_state = {k.removeprefix("bert."): v for k, v in hf_state.items()}  # BertFor... checkpoints
        own = self.state_dict()
        new, used = {}, set()
        missing = [s for srcs in self._hf_name_map(self.config.num_hidden_layers).values()
                   for s in srcs if s not in hf_state]
        if missing:
            raise validate.UnknownNameError(
                f"the checkpoint lacks {len(missing)} BERT parameters, e.g. {missing[:3]}; is it a BERT encoder "
                f"with {self.config.num_hidden_layers} layers?")
        for name, srcs in self._hf_name_map(self.config.num_hidden_layers).items():
            want = own[name].shape
            part = torch.Size([want[0] // len(srcs), *want[1:]])  # each of q, k, v is a third
            for s in srcs:
                if hf_state[s].shape != part:
                    raise validate.ArgumentValueError(
                        f"checkpoint parameter {s!r} has shape {tuple(hf_state[s].shape)}, but the "
                        f"config makes it {tuple(part)} (course parameter {name!r}). Does the config "
                        f"match the checkpoint (hidden_size, intermediate_size, vocab_size, ...)?"
                    )
            new[name] = torch.cat([hf_state[s] for s in srcs]) if len(srcs) > 1 else hf_state[srcs[0]]
            used.update(srcs)
        self.load_state_dict(new, strict=True)
        return sorted(set(hf_state) - used)

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """This encoder's weights under HF BERT names: ``BertModel(BertConfig(**config.to_hf()))``
        loads them (its pooler stays untrained), and so does ``from_pretrained`` after saving them
        with ``safetensors.torch.save_file`` next to a config.json."""
        own = self.state_dict()
        out = {}
        for name, srcs in self._hf_name_map(self.config.num_hidden_layers).items():
            for s, part in zip(srcs, own[name].chunk(len(srcs))):  # c_attn splits back into q, k, v
                out[s] = part.detach().clone().contiguous()
        return out

    @classmethod
    def from_pretrained(cls, path, config: EncoderConfig | None = None) -> "Encoder":
        """An Encoder with the weights of a HF BERT checkpoint folder (config.json + model.safetensors
        or pytorch_model.bin), in eval mode. ``config`` overrides config.json."""
        path = Path(path)
        if not path.is_dir():
            raise validate.MissingFileError(
                f"No checkpoint folder at {path}; for MiniLM use helpers.data.minilm_dir().")
        if config is None:
            config = EncoderConfig.from_hf(json.loads((path / "config.json").read_text()))
        if (path / "model.safetensors").exists():
            from safetensors.torch import load_file

            state = load_file(str(path / "model.safetensors"))
        elif (path / "pytorch_model.bin").exists():
            state = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise validate.MissingFileError(f"{path} has neither model.safetensors nor pytorch_model.bin.")
        model = cls(config)
        model.unused_checkpoint_keys = model.load_hf_state_dict(state)  # e.g. the pooler, position_ids
        return model.eval()


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sentence embeddings: the mean of the real tokens' vectors. (B, T, H), (B, T) -> (B, H).

    This is all-MiniLM-L6-v2's pooling; it then normalises to unit length (F.normalize).
    """
    validate.tensor("hidden", hidden, dtype="float", ndim=3)
    if attention_mask is not None and tuple(validate.tensor("attention_mask", attention_mask, ndim=2).shape) \
            != tuple(hidden.shape[:2]):
        raise validate.ShapeError(f"attention_mask {tuple(attention_mask.shape)} must be (batch, tokens) of hidden "
                                  f"{tuple(hidden.shape)}.")
    if attention_mask is None:
        return hidden.mean(dim=1)
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
