"""helpers.visualisation's interactive widgets and label placement, headless (no browser needed)."""

from __future__ import annotations

import numpy as np
import pytest

widgets = pytest.importorskip("ipywidgets")

from helpers.visualisation import interactive_plot, interactive_text, label_points  # noqa: E402


def test_interactive_text_shows_what_show_prints_and_reruns_on_change():
    word = widgets.Text(value="good", description="word")
    shown = interactive_text(lambda word: print(f"<{word}> & more"), word=word)
    assert "&lt;good&gt; &amp; more" in shown.text.value  # printed text is escaped into <pre>
    word.value = "bad"
    assert "&lt;bad&gt;" in shown.text.value
    assert "course-interactive" in shown._dom_classes and "course-output" in shown.text._dom_classes


def test_interactive_text_shows_a_returned_string_and_an_error_message():
    def show(word):
        if word == "moive":
            raise KeyError("'moive' is not in the vocabulary. Close matches: movie.")
        return f"neighbours of {word}"

    box = widgets.Text(value="movie")
    shown = interactive_text(show, word=box)
    assert "neighbours of movie" in shown.text.value
    box.value = "moive"
    assert "Close matches: movie." in shown.text.value and "KeyError" not in shown.text.value


def test_controls_show_their_whole_label():
    long, set_by_hand = widgets.FloatSlider(description="temperature"), widgets.IntSlider(description="k")
    set_by_hand.style.description_width = "40px"
    interactive_text(lambda t, k: print(t, k), t=long, k=set_by_hand)
    assert long.style.description_width == "initial"  # not cut to "temperat…"
    assert set_by_hand.style.description_width == "40px"  # a width the notebook chose is kept


def test_interactive_text_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one control"):
        interactive_text(print)
    with pytest.raises(TypeError, match="show must be a function"):
        interactive_text("print", word=widgets.Text())
    with pytest.raises(TypeError, match="control word must be an ipywidgets control"):
        interactive_text(print, word="good")


def test_interactive_plot_redraws_when_a_control_moves():
    slider = widgets.FloatSlider(value=1.0, min=0.1, max=2.0, description="temperature")
    plot = interactive_plot(lambda ax, temperature: ax.plot([0, 1], [0, temperature]), temperature=slider)
    first = bytes(plot.image.value)
    assert first.startswith(b"\x89PNG")
    slider.value = 2.0
    assert bytes(plot.image.value) != first


def test_label_points_keeps_labels_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy = np.random.default_rng(0).normal(size=(30, 2)) * 0.3  # crowded on purpose
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(xy[:, 0], xy[:, 1])
    label_points(ax, xy, [f"word{i}" for i in range(30)])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 30
    overlaps = sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert overlaps <= 1, f"{overlaps} pairs of labels overlap"
    plt.close(fig)
    with pytest.raises(ValueError, match="one label per point"):
        label_points(ax, xy, ["one"])
