"""The course's reusable core, one module per idea, in the order the course meets them.

    device         where to run (cuda > mps > cpu), seeding, mixed-precision dtype, CPU threads
    data/          the offline assets: table and installer, disk cache, loaders, spaCy entity labels
    embeddings/    word2vec and GloVe from scratch: vocabulary, sampling, the two trainers, evaluation
    contextual     an ELMo-style biLSTM language model: one word, different vectors in context
    attention      scaled dot-product attention (written out and fused), masks, heads, positions
    tokenization   byte-pair encoding from scratch
    transformer    the transformer block, a BERT-style encoder and a GPT
    pretraining    masked and causal language-model data, and the pretraining loop
    generation     sampling text from a causal LM (greedy, temperature, top-k, top-p), perplexity
    finetuning     a classifier on a pretrained encoder: heads, freezing, LoRA, the loop, metrics
    tagging        token classification: BIO tags, sub-token alignment, a tagger, entity metrics
    visualisation  attention heatmaps and widgets (matplotlib and ipywidgets, no CDN)
    report         key results a notebook records for the rendered course
    checks/        graded exercises: ``check("NN.k", your_function)``
"""

__version__ = "0.1.0"
