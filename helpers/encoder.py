"""The BERT-style encoder, built from helpers.transformer's Block, and mean pooling.

    EncoderConfig   the sizes of a BERT (all-MiniLM-L6-v2's by default); from and to a HF config.json
    Embeddings      token + position + segment embeddings, LayerNorm, dropout (HF BERT's names)
    Encoder         BERT: the embeddings, then post-norm blocks that see both ways; loads HF BERT weights
    EncoderOutput   every layer's hidden states and attention weights (``Encoder.inspect``)
    mean_pool       sentence embeddings: the mean of the real tokens' vectors

Block parameter names follow nanoGPT (``attn.c_attn``, ``attn.c_proj``, ``mlp.c_fc``, ``mlp.c_proj``,
``ln_1``, ``ln_2``, see helpers.transformer); the embeddings keep Hugging Face BERT's names, and
``Encoder.from_pretrained`` maps the rest of a BERT checkpoint (``encoder.layer.N.attention.self.query``
...) onto them, so the course's own encoder runs the pretrained all-MiniLM-L6-v2 weights and gives the
same hidden states as ``BertModel``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn

from . import validation as validate
from .attention import padding_mask
from .transformer import Block, init_weights


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
        self.apply(init_weights)
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
