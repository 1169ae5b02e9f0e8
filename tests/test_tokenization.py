"""helpers.tokenization: the course's byte-level BPE loads SmolLM2's vocabulary and merges and encodes
exactly as the `tokenizers` library does; encode_iterable streams the same ids."""

from __future__ import annotations

import io
import json

import pytest

from helpers import data
from helpers.tokenization import BPETokenizer, bytes_to_unicode

smollm2 = pytest.mark.skipif(not data.is_installed("smollm2"), reason="SmolLM2 is not installed")

TEXTS = [
    "Hello world", "Hello  world   with    runs of spaces\t\ttabs\n\n\nand newlines  \n  ",
    "Digits 1234567890, 3.14159 and 1,000,000 cost $42.50",
    "café naïve façade 漢字 😀👍🏽 Ελληνικά русский",
    "don't I'll we've they're she'd it's O'Neil", "    def f(x):\n        return x ** 2  # code\n",
    "", " ", "\n", "a", "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more<|im_end|><|im_end|>x", "<|im_start",
    "ROMEO:\nBut, soft! what light through yonder window breaks?",
]


@pytest.fixture(scope="module")
def pair():
    from transformers import AutoTokenizer

    p = data.smollm2_gguf()
    hf = AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name)
    return BPETokenizer.from_tokenizer_json(hf.backend_tokenizer.to_str()), hf.backend_tokenizer


@smollm2
def test_smollm2_vocabulary_encodes_like_tokenizers(pair):
    ours, ref = pair
    assert len(ours) == ref.get_vocab_size() == 49152
    texts = TEXTS + [data.shakespeare_text()[:3000]]
    for text in texts:
        want = ref.encode(text, add_special_tokens=False).ids
        assert ours.encode(text) == want, text[:60]
        assert ours.decode(want) == text


@smollm2
def test_the_chat_template_and_streaming(pair):
    ours, ref = pair
    chat = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
    assert ours.encode(chat) == ref.encode(chat, add_special_tokens=False).ids
    assert ours.encode(chat).count(ours.special["<|im_start|>"]) == 3
    text = data.shakespeare_text()[:20000] + "\n\n\n   " + chat + "   tail  don't I'll 12345 ...!!  "
    lines = io.StringIO(text)  # a file, read line by line
    assert list(ours.encode_iterable(lines)) == ours.encode(text)
    for n in (1, 3, 7):  # cuts inside words, contractions, whitespace runs and special tokens
        pieces = [text[i:i + n] for i in range(0, len(text), n)]
        assert list(ours.encode_iterable(pieces)) == ours.encode(text)


def test_byte_map_and_bad_specs():
    chars = bytes_to_unicode()
    assert len(set(chars.values())) == 256 and chars[ord(" ")] == "Ġ" and chars[ord("\n")] == "Ċ"
    assert chars[ord("a")] == "a"
    with pytest.raises(ValueError, match="byte-level BPE"):
        BPETokenizer.from_tokenizer_json({"model": {"type": "WordPiece"},
                                          "pre_tokenizer": {"type": "BertPreTokenizer"}})
    trained = BPETokenizer.train(["low lower lowest " * 20], vocab_size=270)
    text = "lower  lowest\n\nlow"
    assert list(trained.encode_iterable(text.splitlines(keepends=True))) == trained.encode(text)


def test_training_breaks_ties_as_the_tokenizers_library_does():
    """Equally frequent pairs are merged in GPT-2's byte-level order (bytes by their printable character),
    so the course's merges are the tokenizers library's BpeTrainer merges, one for one."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from helpers import data
    from helpers.tokenization import BPETokenizer, bytes_to_unicode

    text = data.shakespeare_text()[:60_000] + " naïve café — 1234 2025 résumé  \t tabs\n\n" * 3
    n = 200
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=256 + n, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False, special_tokens=[]))
    theirs = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
              for m in json.loads(hf.to_str())["model"]["merges"]]
    ours = BPETokenizer.train([text], vocab_size=256 + n)
    b2u = bytes_to_unicode()
    mine = [tuple("".join(b2u[b] for b in ours.vocab[t]) for t in pair) for pair in ours.merges]
    assert len(mine) == len(theirs) == n
    assert mine == theirs
