"""How check() behaves for a learner: a one-line verdict, "not attempted" for an untouched stub, the input
that made their code crash, a time limit, and no traceback through the course's checking code."""

from __future__ import annotations

import pytest
import torch

from helpers.checks import CheckFailed, UnknownExercise, check, verdict


def stub(x):
    raise NotImplementedError


def test_an_untouched_stub_is_reported_as_not_attempted(capsys):
    assert check("00.1", stub) is None  # the notebook runs on
    out = capsys.readouterr().out
    assert "00.1" in out and "not attempted yet" in out
    assert verdict("00.1", stub).status == "not attempted"


def test_a_correct_answer_prints_one_line_and_returns_nothing(capsys):
    assert check("00.1", lambda x: torch.softmax(x, dim=-1)) is None
    assert capsys.readouterr().out.strip().endswith("correct.")


def test_a_wrong_answer_raises_a_message_shown_without_a_traceback():
    with pytest.raises(CheckFailed) as info:
        check("00.1", lambda x: x.exp() / x.exp().sum())
    lines = info.value._render_traceback_()  # what IPython shows instead of a traceback
    assert "not yet" in lines[0] and not any("File " in line for line in lines)


def test_a_crash_names_the_error_and_the_input_that_caused_it():
    def crashes(x):
        return x[10]

    v = verdict("00.1", crashes)
    assert v.status == "failed" and "IndexError" in v.message
    assert "called with: a torch.float32 tensor of shape (3,) = [1.0, 2.0, 3.0]" in v.message


def test_a_function_that_never_returns_is_stopped():
    def forever(x):
        while True:
            pass

    v = verdict("00.1", forever, time_limit=0.5)
    assert v.status == "failed" and "did not finish within 0.5 s" in v.message


def test_unknown_ids_and_non_functions_get_clear_messages():
    with pytest.raises(UnknownExercise, match="00.1, 00.2"):
        check("0.1", stub)
    v = verdict("00.1", "softmax")
    assert v.status == "failed" and "your function itself" in v.message


@pytest.mark.parametrize("mistake, named", [
    (lambda q, k, v, mask=None: torch.softmax(_scores(q, k, mask, scale=False), -1) @ v, "missing scale"),
    (lambda q, k, v, mask=None: torch.softmax(_scores(q, k, mask), -2) @ v, "wrong axis"),
    (lambda q, k, v, mask=None: torch.softmax(_scores(q, k, mask, fill=0.0), -1) @ v, "mask with 0 instead of -inf"),
])
def test_attention_check_names_the_typical_mistake(mistake, named):
    v = verdict("04.1", mistake)
    assert v.status == "failed" and v.mistake == named and f"Likely mistake: {named}." in v.message, v.message
    assert "input:" in v.message and "expected:" in v.message  # the small case is shown
    assert "masked_fill" not in v.message.split("(Stuck?")[0]  # the verdict names the mistake, not the code


def _scores(q, k, mask, scale=True, fill=float("-inf")):
    s = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5 if scale else 1.0)
    return s if mask is None else s.masked_fill(~mask, fill)


def test_a_stronger_hint_on_request(capsys):
    from helpers.checks import hint

    hint("04.1")
    assert "square root" in capsys.readouterr().out
    with pytest.raises(UnknownExercise):
        hint("4.1")


def test_the_known_mistakes_mechanism(capsys):
    """What a new exercise gets from Mistake, compare and blame (registered for this test only)."""
    from helpers.checks import REGISTRY, Mistake, blame, compare, exercise

    double = lambda x: 2 * x  # noqa: E731

    @exercise("99.1", "double every entry", hint="Multiply each entry by two.", mistakes=[
        Mistake("squared", "Doubling is x + x, not x * x.", lambda x: x * x),
        Mistake("negative", "Keep the sign.")])
    def grade(answer):
        got = compare(answer, double, (torch.tensor([1.0, 3.0]),), what="doubling", shown="x = [1.0, 3.0]",
                      hint="Each entry times two.")
        if answer(torch.tensor([-1.0])).item() > 0:
            raise blame("negative", "doubling -1 gave a positive number.")
        return got

    try:
        v = verdict("99.1", lambda x: x * x)
        assert v.mistake == "squared" and "Likely mistake: squared. Doubling is x + x" in v.message
        assert "input:    x = [1.0, 3.0]" in v.message and "yours:    [1, 9]" in v.message
        assert "expected: [2, 6]" in v.message
        v = verdict("99.1", lambda x: x + 1)  # no known mistake: the general hint
        assert v.mistake is None and "Hint: Each entry times two." in v.message
        assert verdict("99.1", lambda x: x.clone().mul_(2)).passed
        with pytest.raises(KeyError, match="not a known mistake"):
            blame("cubed", "")  # outside a check (or with a name the exercise does not list)
    finally:
        del REGISTRY["99.1"]
