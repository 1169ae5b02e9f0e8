"""Plots and widgets the notebooks share. Everything draws with matplotlib and ipywidgets only:
no JavaScript from a CDN, so it works in JupyterLab with no network.

    attention_heatmap(weights, tokens)                 one (tokens, tokens) matrix, tokens on both axes
    attention_viewer(tokens, attentions)               pick a layer and a head with widgets
    interactive_plot(draw, temperature=slider, ...)    any plot redrawn when its controls move
    interactive_text(show, word=text_box, ...)         the same for printed text
    label_points(ax, xy, words)                        a label by each point, none on top of another

interactive_plot and interactive_text put their result in a plain value widget (an ``Image``
holding a PNG, an ``HTML`` holding ``<pre>`` text), set from the kernel, and never use
``ipywidgets.interact`` or an ``Output`` widget. Why: under papermill (nbclient) there is no
browser, so nbclient itself plays the Output widget's front end: for every print inside
``with out:`` it sends a ``comm_msg`` to the kernel on the shell socket while another task is
waiting on that same socket for the cell's ``execute_reply``. Now and then that wait misses the
reply and returns only at its timeout (jupyter/nbclient#312, open): the cell "runs" until the cell
limit although the kernel finished long ago (twice ~170 s in our CI). Value widgets only send
messages from the kernel, so nbclient never writes to the shell socket during a cell.

The widgets carry CSS classes for tests in a browser: ``course-interactive`` on the whole widget,
``course-output`` on the part that changes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from . import validation as validate


def _as_numpy(weights, name: str = "weights", ndim: int = 2):
    """A tensor or array of attention weights as a float NumPy array of ``ndim`` dimensions."""
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().float().cpu().numpy()
    if not isinstance(weights, np.ndarray) or not np.issubdtype(weights.dtype, np.number):
        raise validate.ArgumentTypeError(f"{name} must be a tensor or NumPy array of numbers; got "
                                         f"{type(weights).__name__}.")
    if weights.ndim != ndim:
        raise validate.ShapeError(f"{name} must have {ndim} dimensions; got shape {weights.shape}.")
    return weights


def attention_heatmap(weights, tokens: Sequence[str], key_tokens: Sequence[str] | None = None,
                      ax=None, title: str = "", cmap: str = "viridis", colorbar: bool = True):
    """Draw one attention matrix (queries down, keys across) with the tokens as tick labels."""
    import matplotlib.pyplot as plt

    w = _as_numpy(weights)
    tokens = validate.list_of_str("tokens", tokens)
    key_tokens = tokens if key_tokens is None else validate.list_of_str("key_tokens", key_tokens)
    validate.string("title", title, non_empty=False)
    colorbar = validate.boolean("colorbar", colorbar)
    if w.shape != (len(tokens), len(key_tokens)):
        raise validate.ShapeError(f"weights of shape {w.shape} do not fit {len(tokens)} query tokens and "
                         f"{len(key_tokens)} key tokens.")
    if ax is None:
        size = max(3.0, 0.32 * len(key_tokens) + 1.5)
        _, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(float(w.max()), 1e-6))
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def _layers(attentions) -> list:
    """One (heads, T, T) array per layer."""
    if isinstance(attentions, (torch.Tensor, np.ndarray)):
        attentions = list(attentions)  # a (layers, heads, T, T) stack
    if not isinstance(attentions, (list, tuple)) or not attentions:
        raise validate.ArgumentValueError("attentions must be a non-empty list of (heads, T, T) arrays, one "
                                          "per layer.")
    return [_as_numpy(a, f"attentions[{i}]", ndim=3) for i, a in enumerate(attentions)]


def attention_grid(attentions, tokens: Sequence[str], layer: int, heads: Sequence[int] | None = None,
                   cols: int = 4):
    """Every head of one layer side by side. ``attentions``: sequence of (heads, T, T) per layer."""
    import matplotlib.pyplot as plt

    layers = _layers(attentions)
    validate.list_of_str("tokens", tokens)
    layer = validate.integer("layer", layer, 0, len(layers) - 1)
    cols = validate.positive_int("cols", cols)
    a = layers[layer]
    heads = list(range(a.shape[0])) if heads is None else [
        validate.integer("heads[i]", h, 0, a.shape[0] - 1) for h in heads]
    if not heads:
        raise validate.ArgumentValueError("heads is empty; give at least one head index (or None for all).")
    rows = (len(heads) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat[len(heads):]:
        ax.axis("off")
    for ax, h in zip(axes.flat, heads):
        ax.imshow(a[h], cmap="viridis", vmin=0.0)
        ax.set_title(f"layer {layer}, head {h}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def label_points(ax, points, labels: Sequence[str], fontsize: int = 8):
    """Write each label beside its point, moved around the point until it overlaps no earlier label.

    A greedy search over a few offsets (right, left, above, below, then further out) in screen units;
    a label with no free spot keeps the first. ``points``: (n, 2) coordinates in the axes' data units.
    """
    labels = validate.list_of_str("labels", labels, min_len=0)
    if len(points) != len(labels):
        raise validate.ArgumentValueError(f"points: {len(points)} points but {len(labels)} labels; give one label "
                                          "per point.")
    ax.autoscale_view()  # the data limits the labels are placed in
    renderer = ax.figure.canvas.get_renderer()
    tries = [(dx, dy) for dy in (2, -11, 13, -22, 24, -33) for dx in (4, -4)]
    placed = []
    for (x, y), label in zip(points, labels):
        for dx, dy in tries:
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               ha="left" if dx > 0 else "right")
            box = text.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            text.remove()
        else:
            dx, dy = tries[0]
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize)
            box = text.get_window_extent(renderer)
        placed.append(box)
    return ax


def _png(draw, figsize) -> bytes:
    """Render a figure off-screen (no pyplot, so nothing is shown inline) and return PNG bytes."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def interactive_plot(draw, figsize=(5.0, 3.0), **controls):
    """Controls (ipywidgets) above a plot that ``draw(ax, **values)`` redraws whenever one changes.

    Returns the widget (display it); ``widget.image.value`` holds the current PNG, and
    ``widget.draw()`` redraws on demand (for tests).
    """
    import ipywidgets as widgets

    validate.callable_("draw", draw)
    if not (isinstance(figsize, (tuple, list)) and len(figsize) == 2):
        raise validate.ArgumentTypeError(f"figsize must be (width, height) in inches; got {figsize!r}.")
    figsize = tuple(validate.positive(f"figsize[{i}]", x) for i, x in enumerate(figsize))
    for name, c in controls.items():
        if not (hasattr(c, "observe") and hasattr(c, "value")):
            raise validate.ArgumentTypeError(f"control {name} must be an ipywidgets control (a slider, a "
                                             f"dropdown); got {type(c).__name__}.")
    if not controls:
        raise validate.ArgumentValueError("give at least one control, e.g. temperature=widgets.FloatSlider(...).")
    image = widgets.Image(format="png", layout=widgets.Layout(width=f"{int(figsize[0] * 90)}px"))

    def redraw(*_):
        values = {name: c.value for name, c in controls.items()}
        image.value = _png(lambda ax: draw(ax, **values), figsize=figsize)

    widget = _wire(controls, redraw, image)
    widget.draw, widget.image = redraw, image
    return widget


def _wire(controls: dict, update, output):
    """Call ``update`` now and whenever a control's value changes; controls (wrapping) above output."""
    import ipywidgets as widgets

    for c in controls.values():
        c.observe(update, names="value")
        style = getattr(c, "style", None)
        if style is not None and hasattr(style, "description_width") and not style.description_width:
            style.description_width = "initial"  # the whole label ("temperature", not "temperat…")
    update()
    output.add_class("course-output")
    row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
    return widgets.VBox([row, output]).add_class("course-interactive")


def interactive_text(show, **controls):
    """Controls above text: ``show(**values)`` prints (or returns a string), rerun when a control changes.

    What ``show`` prints goes to an ``ipywidgets.HTML`` as preformatted text, so the widget runs
    headless with no Output widget (see the module's note). A KeyError or ValueError that ``show``
    raises (an unknown word, say) is shown as its message: a learner typing is not an error.
    Returns the widget (display it); ``widget.text.value`` holds the current HTML, ``widget.show()``
    reruns on demand (for tests).
    """
    import contextlib
    import html
    import io

    import ipywidgets as widgets

    validate.callable_("show", show)
    if not controls:
        raise validate.ArgumentValueError("give at least one control, e.g. word=widgets.Text(value='good').")
    for name, c in controls.items():
        if not (hasattr(c, "observe") and hasattr(c, "value")):
            raise validate.ArgumentTypeError(f"control {name} must be an ipywidgets control (a text box, a "
                                             f"slider); got {type(c).__name__}.")
    text = widgets.HTML()

    def rerun(*_):
        values = {name: c.value for name, c in controls.items()}
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                result = show(**values)
                if result is not None:
                    print(result)
            except (KeyError, ValueError) as err:
                print(err.args[0] if err.args else repr(err))
        text.value = f"<pre style='margin: 0'>{html.escape(printed.getvalue())}</pre>"

    widget = _wire(controls, rerun, text)
    widget.show, widget.text = rerun, text
    return widget


def attention_viewer(tokens: Sequence[str], attentions):
    """An interactive viewer: choose a layer and a head (or their mean), see who attends to whom.

    ``attentions``: a sequence (one per layer) of (heads, T, T) tensors or arrays for ONE sentence,
    e.g. ``[a[0] for a in encoder.inspect(ids).attentions]``. Returns the widget (display it).
    """
    import ipywidgets as widgets

    tokens = validate.list_of_str("tokens", tokens)
    layers = _layers(attentions)
    n_heads, T, _ = layers[0].shape
    if T != len(tokens):
        raise validate.ShapeError(f"{len(tokens)} tokens but attention matrices of size {T} x {T}: "
                         f"give the attentions of one sentence (index the batch).")
    layer = widgets.IntSlider(0, 0, len(layers) - 1, description="layer", continuous_update=False)
    head = widgets.Dropdown(options=[("mean of heads", -1)] + [(f"head {h}", h) for h in range(n_heads)],
                            value=0, description="head")
    size = max(3.0, 0.32 * T + 1.5)

    def draw(ax, layer, head):
        a = layers[layer]
        w = a.mean(axis=0) if head == -1 else a[head]
        name = "mean of heads" if head == -1 else f"head {head}"
        attention_heatmap(w, tokens, ax=ax, title=f"layer {layer}, {name}")

    return interactive_plot(draw, figsize=(size + 1, size), layer=layer, head=head)
