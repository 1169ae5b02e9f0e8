"""Argument checks with messages that help, and the course's error types.

Each public function of ``helpers`` states its contract in a few lines at the top, before any
work starts, so the teaching code below stays readable::

    def corpus(name, max_docs=None):
        max_docs = validate.positive_int("max_docs", max_docs, optional=True)

A check returns the value in the form the code wants (a NumPy integer becomes an ``int``, a tuple of
words a ``list``, a ``str`` path a ``Path``), or raises one of the errors below with a message that
names the argument, what was given, what is allowed and what to do. Checks accept what a user
reasonably passes: NumPy and whole-number floats for integers, tuples for lists, strings for paths.

One idea per file: ``errors`` (the error types, ``losses_ok``), ``values`` (numbers, flags, choices),
``sequences`` (strings, lists of strings, corpora), ``tensors`` (tensors, token ids, devices) and
``paths``; every check is importable from ``helpers.validation`` itself.
"""

from .errors import (ArgumentTypeError, ArgumentValueError, CourseError, MissingFileError, NotAvailableError,
                     PathError, ShapeError, TrainingError, UnknownNameError, _show, losses_ok)
from .values import (boolean, callable_, config_fields, integer, multiple_of, non_negative, non_negative_int,
                     one_of, positive, positive_int, probability, real)
from .paths import dir_path, file_path
from .sequences import list_of_str, string, tokenised_corpus, warn_or_refuse_one_word_documents
from .tensors import device, tensor, token_ids
