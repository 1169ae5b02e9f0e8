"""The course's reusable core, one module per idea, in the order the course meets them.

    device         where to run (cuda > mps > cpu), seeding, mixed-precision dtype, CPU threads
    validation     argument checks with messages that help, and the course's error types (below)
    data/          the offline assets: table and installer, disk cache, loaders, spaCy entity labels
    embeddings/    word2vec and GloVe from scratch: vocabulary, sampling, the two trainers, evaluation
    checkpoint     the one checkpoint format: safetensors + JSON, written atomically, checked on load
    training       the one training loop: schedule, clipping, accumulation, mixed precision, resume
    batches        the get_batch functions the loop draws from: random rows, or epoch by epoch
    distributed    what the loop needs under torchrun: DDP, a share of each batch per process
    contextual     an ELMo-style biLSTM language model: one word, different vectors in context
    attention      scaled dot-product attention (written out and fused), masks, heads, positions
    tokenization   byte-pair encoding from scratch (and SmolLM2's byte-level BPE, as tokenizers does)
    transformer    the transformer block, its initialisation and a GPT (GPT-2 weights load)
    encoder        a BERT-style encoder of those blocks (BERT weights load), mean pooling
    pretraining    masked and causal language-model data and the mini-BERT
    generation     the one generate (with a KV cache), sampling filters, perplexity
    llama          the modern decoder: RMSNorm, RoPE, SwiGLU, grouped-query attention; SmolLM2
    finetuning     a classifier on a pretrained encoder: heads, freezing, LoRA, metrics
    text_batches   labelled texts tokenised and checked, batches trimmed and grouped by length
    distillation   knowledge distillation into a smaller student; int8 quantisation
    bio            BIO tags without a model: label sets, entity spans, entity-level scores, a baseline
    tagging        token classification: sub-token alignment, a tagger, its training and predictions
    crf            a linear-chain CRF: forward algorithm, likelihood, Viterbi, BIO constraints
    cloze          cloze questions from Wikipedia, the CNN/Daily Mail way: the data of extractive QA
    qa             extractive question answering: windows, a span head, span selection, EM/F1
    selection      answer-sentence selection on ACLSum: a cross-encoder ranks sentences; MAP, P@k
    parallel       the First Folio / modern Shakespeare parallel corpus, aligned and split by play
    seq2seq        an encoder-decoder with cross-attention (and a copy head) for translation
    seq2seq_data   its character tokenizer and padded (source, target) batches for the training loop
    beam_search    greedy decoding and batched beam search over a step function with a cache
    metrics        BLEU, chrF and ROUGE written out (matching sacrebleu and rouge-score)
    summarisation  ACLSum papers: lead-k and oracle baselines, SmolLM2 zero-shot and LoRA-tuned summaries
    instruct       chat templates, labels on the assistant's tokens only, the SFT step, LoRA on a causal LM
    chat_data      FLAN-style instructions made offline from the course's data, split by source document
    preference     DPO from its loss: policy and reference log-probabilities of chosen and rejected replies
    posttraining   notebook 12's pieces: the sentiment judge, sampling replies, task scores, adapters
    visualisation  attention heatmaps and widgets (matplotlib and ipywidgets, no CDN)
    report         key results and claims a notebook records for the rendered course
    checks/        graded exercises: ``check("NN.k", your_function)``

Errors. Every public function checks its arguments before any work starts. A bad argument raises
one of the course's error types (``helpers.validation``), whose message names the argument, what
was given, what is allowed and what to do. Each is also the built-in error Python users expect, so
``except ValueError`` still catches ``ArgumentValueError``:

    CourseError          the base of all of them: ``except CourseError`` catches any of the below
    ArgumentTypeError    (a TypeError) an argument of a type that cannot be right: a string where a
                         list of strings belongs, a float where token ids belong, an int tensor for q
    ArgumentValueError   (a ValueError) the right type, an impossible value: a size of 0 or below, a
                         probability above 1, an empty corpus, an unknown option, a sample too small
    ShapeError           (an ArgumentValueError) tensors or arrays whose shapes do not fit
    PathError            (an ArgumentValueError) a folder where a file belongs or the reverse, or an
                         output folder that cannot be written
    MissingFileError     (a PathError and a FileNotFoundError) a file to read is not there
    UnknownNameError     (a KeyError) a word not in the vocabulary, an asset the course does not know;
                         the message suggests close matches (``data.UnknownAssetError`` is one)
    NotAvailableError    (a RuntimeError) what the call needs is not on this machine: a device
    TrainingError        (a RuntimeError) training that would otherwise fail silently: a NaN or
                         infinite loss, no training example; says when, and the last finite loss
    data.MissingAssetError  (an ImportError) a data package is not installed; says the pip command
    checks.CheckFailed      (an AssertionError) an exercise answer that is not right yet, with a hint
    checks.UnknownExercise  (an ArgumentValueError) no exercise has that id; the closest are suggested

``helpers.validation`` is a package split by idea (errors, values, sequences, tensors, paths); every
check is importable from it directly, e.g. ``validation.positive_int("epochs", epochs)``.
"""

__version__ = "0.1.0"
