"""Static word embeddings: word2vec (skip-gram and CBOW with negative sampling) and GloVe.

Both trainers are batched PyTorch that runs on cuda, mps or cpu, show progress bars, and return
gensim ``KeyedVectors``, so trained vectors get ``most_similar``, analogies and
``evaluate_word_pairs`` as gensim users know them. One idea per module, in reading order:

    vocab        the vocabulary (``Vocab``), unknown-word errors, gensim ``KeyedVectors``
    sampling     word2vec's subsampling and noise distribution, (center, context) pairs
    word2vec     skip-gram and CBOW, with hand-written batched updates (``train_word2vec``)
    glove        co-occurrence counts and the weighted least-squares fit (``train_glove``)
    evaluation   neighbours, analogies, WordSim353 / SimLex-999 / Google analogies (``evaluate``)

Typical use::

    from helpers import data, embeddings
    docs = data.corpus("imdb")
    model = embeddings.train_word2vec(docs, dim=100, window=5, epochs=5)
    model.wv.most_similar("movie")
    embeddings.evaluate(model.wv)
"""

from .evaluation import analogy, analogy_accuracy, evaluate, neighbours
from .glove import GloVe, cooccurrence_matrix, glove_loss, glove_weight, train_glove
from .sampling import context_windows, keep_probabilities, noise_distribution, sgns_loss, skipgram_pairs
from .vocab import Vocab, check_word, to_keyed_vectors
from .word2vec import Word2Vec, train_word2vec
# Private names that notebook 01, contextual.py and the tests reach for (kept where they were).
from .glove import _glove_step  # noqa: F401
from .sampling import _noise_table  # noqa: F401
from .vocab import _check_corpus  # noqa: F401
from .word2vec import _check_positive_int, _sg_step  # noqa: F401

__all__ = [
    "Vocab", "keep_probabilities", "noise_distribution", "skipgram_pairs",
    "context_windows", "sgns_loss", "Word2Vec", "train_word2vec", "cooccurrence_matrix", "glove_weight",
    "glove_loss", "GloVe", "train_glove", "to_keyed_vectors", "evaluate", "check_word",
    "neighbours", "analogy", "analogy_accuracy",
]
