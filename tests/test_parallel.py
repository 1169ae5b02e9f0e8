"""The Folio/modern parallel corpus: cleaning, alignment on hand-made texts, one real play, splits."""

import pytest

from helpers import data, parallel

FOLIO = """The Tragedie of Nothing

Actus Primus. Scoena Prima.

Enter Barnardo and Francisco two Centinels.

  Barnardo. Who's there?
  Fran. Nay answer me: Stand & vnfold
your selfe

   Bar. Long liue the King

Exit Fran.

   Mar. Giue you good night
"""

MODERN = """A PLAY

ACT I.

Scene I. A platform.

[Francisco at his post. Enter to him Bernardo.]

Ber.
Who's there?

Fran.
Nay, answer me: stand, and unfold yourself.

Ber.
Long live the king!

1 Clown.
\u4f60\u597d\u4e16\u754c

Mar.
Give you good-night.

Hor.
...
"""


def test_cleaning_drops_speakers_directions_and_headings():
    assert parallel.modern_lines(MODERN) == [
        "A PLAY", "Who's there?", "Nay, answer me: stand, and unfold yourself.", "Long live the king!",
        "\u4f60\u597d\u4e16\u754c", "Give you good-night.", "..."]
    words = parallel.folio_words(FOLIO)
    assert words[:2] == ["The", "Tragedie"] and "Barnardo." not in words and "Enter" not in words
    assert "Who's" in words and "vnfold" in words and "Fran." not in words and "Exit" not in words


def test_normalise_sets_spelling_aside():
    assert parallel.normalise("Vnfolde") == parallel.normalise("unfold")
    assert parallel.normalise("Giue") == parallel.normalise("give")
    assert parallel.normalise("&") == "and"
    assert parallel.similarity("Long liue the King", "Long live the king!") == 1.0
    assert parallel.similarity("", "anything") == 0.0


def test_alignment_of_a_hand_made_scene():
    a = parallel.align_play(FOLIO, MODERN, "nothing", threshold=0.6)
    assert a.pairs == [
        ("Who's there?", "Who's there?"),
        ("Nay answer me: Stand & vnfold your selfe", "Nay, answer me: stand, and unfold yourself."),
        ("Long liue the King", "Long live the king!"),
        ("Giue you good night", "Give you good-night."),
    ]
    # the odd lines are counted, not fatal: a foreign script, a line of dots, a title with no partner
    assert a.skipped["unknown script"] == 1 and a.skipped["no words"] == 1
    assert len(a.pairs) + len(a.rejected) + sum(a.skipped.values()) == len(parallel.modern_lines(MODERN))


def test_alignment_never_crashes_on_odd_input():
    for folio, modern in [("", ""), ("\n\n", "x"), ("Only Folio text here", ""), ("", "Only modern.\n")]:
        a = parallel.align_play(folio, modern)
        assert a.pairs == []
    with pytest.raises(ValueError, match="threshold"):
        parallel.align_play(FOLIO, MODERN, threshold=1.5)
    with pytest.raises(ValueError, match="max_chars"):
        parallel.align_play(FOLIO, MODERN, max_chars=0)


def test_split_by_play_keeps_plays_apart():
    plays = [f"p{i}" for i in range(10)]
    s = parallel.split_plays(plays, n_val=2, n_test=3, seed=0)
    assert sorted(s.values()).count("test") == 3 and list(s.values()).count("val") == 2
    assert s == parallel.split_plays(list(reversed(plays)), n_val=2, n_test=3, seed=0)  # order-free
    with pytest.raises(ValueError, match="at least one play"):
        parallel.split_plays(plays[:3], n_val=1, n_test=2)


@pytest.mark.skipif(not data.is_installed("shakespeare"), reason="needs the shakespeare package")
def test_one_real_play_aligns_and_copying_scores_as_the_issue_says():
    files = parallel.pair_files()
    assert len(files) == 35 and files["twelfth_night"][0].name == "twelfe-night_gut_f.txt"
    corpus = parallel.build_corpus(plays=["comedy_of_errors", "macbeth", "tempest", "julius_caesar"],
                                   n_val=1, n_test=1, progress=False)
    a = corpus.per_play["macbeth"]
    assert len(a.pairs) > 2000 and len(a.rejected) < 0.02 * len(a.pairs)
    assert ("Thunder and Lightning" not in " ".join(s for s, _ in a.pairs))  # a stage direction
    # a well-known line, found with its Folio spelling
    assert any(t.startswith("Is this a dagger which I see before me") and "Dagger" in s for s, t in a.pairs)
    splits = {v for v in corpus.plays.values()}
    assert splits == {"train", "val", "test"}
    assert len(corpus.train) + len(corpus.val) + len(corpus.test) == sum(r["kept"] for r in corpus.report())
    from helpers.metrics import corpus_bleu

    src, ref = zip(*corpus.test)
    assert 30 < corpus_bleu(list(src), list(ref)).score < 50  # copying: about BLEU 39
