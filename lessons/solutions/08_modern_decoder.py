"""Solutions to the exercises of notebook 08, and typical wrong answers (the tests use both)."""

import torch


def rms_norm(x, weight, eps):
    return weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rms_norm_wrong(x, weight, eps):
    x = x - x.mean(-1, keepdim=True)  # centring: that is LayerNorm
    return weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def apply_rope(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, D/2) each
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def apply_rope_wrong(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([x2, x1], dim=-1) * sin  # a reflection, not a rotation


def cached_attention_step(q, k_new, v_new, k_cache, v_cache):
    k_all = torch.cat([k_cache, k_new], dim=2)  # (B, H, past + 1, D)
    v_all = torch.cat([v_cache, v_new], dim=2)
    att = torch.softmax(q @ k_all.transpose(-2, -1) / q.size(-1) ** 0.5, dim=-1)  # (B, H, 1, past + 1)
    return att @ v_all, k_all, v_all


def cached_attention_step_wrong(q, k_new, v_new, k_cache, v_cache):
    k_all = torch.cat([k_cache, k_new], dim=2)
    v_all = torch.cat([v_cache, v_new], dim=2)
    att = torch.softmax(q @ k_cache.transpose(-2, -1) / q.size(-1) ** 0.5, dim=-1)  # forgets itself
    return att @ v_cache, k_all, v_all


SOLUTIONS = {"08.1": rms_norm, "08.2": apply_rope, "08.3": cached_attention_step}
WRONG = {"08.1": rms_norm_wrong, "08.2": apply_rope_wrong, "08.3": cached_attention_step_wrong}
