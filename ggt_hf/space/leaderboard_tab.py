"""The Leaderboard tab: the results store as a table (columns, directions and composite from the
metric specs, via :func:`ggt_hf.leaderboard.leaderboard_frame`), filters, sort, and a bar plot.

Endpoint (``gradio_client``)::

    table, plot = client.predict("overall", [], [], "", "Avg", api_name="/leaderboard")
    # table: {"headers": [...], "data": [[...], ...]}; arguments: category, metric groups,
    # model types, search text, sort column ("" = by the composite)
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from ggt_hf.evaluation.composite import GROUP_TITLES
from ggt_hf.metrics.specs import GROUPS, METRICS

logger = logging.getLogger(__name__)

#: Column the table is sorted by and plotted when none is chosen (the composite).
COMPOSITE_COLUMN = "Avg"

#: Decimals shown in the page (the ``/leaderboard`` endpoint returns full precision).
DISPLAY_DECIMALS = 4

#: At most this many models in the bar plot (the best ones).
PLOT_TOP = 20


def leaderboard_table(
    store: Any,
    category: str = "overall",
    groups: list[str] | None = None,
    model_types: list[str] | None = None,
    query: str = "",
    sort_by: str = "",
):
    """The leaderboard DataFrame of ``store`` with the filters applied and sorted by ``sort_by``
    (direction from the metric specs; default: the composite)."""
    from ggt_hf.leaderboard import leaderboard_frame, sort_frame

    frame = leaderboard_frame(
        store.results(),
        category=category or "overall",
        groups=groups or None,
        model_types=model_types or None,
        query=(query or "").strip() or None,
    )
    column = _metric_column(frame, sort_by) if sort_by else None
    if sort_by and column is None:
        raise ValueError(
            f"no column {sort_by!r} in this table; columns: {', '.join(map(str, frame.columns))}"
        )
    if column and column != COMPOSITE_COLUMN:
        frame = sort_frame(frame, column)
    return frame


def _metric_column(frame, column: str) -> str | None:
    lowered = {str(c).lower(): c for c in frame.columns}
    if column.strip().lower() in lowered:
        return lowered[column.strip().lower()]
    from ggt_hf.leaderboard.table import column_title

    for spec in METRICS.values():  # "psnr" / "PSNR" → "PSNR↑"
        if column.strip().lower() in (spec.name, spec.title.lower()):
            title = column_title(spec)
            return title if title in frame.columns else None
    return None


def leaderboard_plot(frame, column: str = COMPOSITE_COLUMN):
    """A horizontal bar chart (matplotlib Figure) of ``column`` for the top models, or ``None``
    when the table is empty or has no such numeric column."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import pandas as pd

    name = _metric_column(frame, column or COMPOSITE_COLUMN)
    if frame.empty or name is None or "Model" not in frame.columns:
        return None
    values = pd.to_numeric(frame[name], errors="coerce")
    keep = values.notna()
    if not keep.any():
        return None
    labels = frame.loc[keep, "Model"].astype(str).str.replace(r"^\[([^\]]*)\]\(.*\)$", r"\1", regex=True)
    data = values[keep]
    labels, data = labels.head(PLOT_TOP)[::-1], data.head(PLOT_TOP)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(data) + 1.2), layout="constrained")
    ax.barh(labels, data, color="#4f7cac")
    ax.set_xlabel(name)
    ax.set_title(f"{name} (top {len(data)})")
    plt.close(fig)  # gr.Plot renders the figure object; do not keep it in pyplot's registry
    return fig


def build_leaderboard_tab(store: Any) -> dict[str, Any]:
    """Render the tab's components and events inside the current ``gr.Blocks``/``gr.Tab``; returns
    the ``show`` event (``fn``/``inputs``/``outputs``) for the app to also run on page load."""
    from ggt_hf.leaderboard import MODEL_TYPES, TABLE_CATEGORIES, column_datatypes

    group_choices = [(GROUP_TITLES.get(g, g), g) for g in GROUPS]
    gr.Markdown(
        "Restorers scored on the GGT test split. **Avg** is the paper's composite (metric directions "
        "from the metric specs table); click a column name to sort it, or choose the sort column."
    )
    with gr.Row():
        category = gr.Dropdown(
            choices=list(TABLE_CATEGORIES), value="overall", label="Category", elem_id="ggt-lb-category"
        )
        groups = gr.CheckboxGroup(choices=group_choices, value=[], label="Metric groups (none = all)")
        model_types = gr.CheckboxGroup(choices=list(MODEL_TYPES), value=[], label="Model types (none = all)")
    with gr.Row():
        query = gr.Textbox(label="Search models", placeholder="e.g. nafnet", elem_id="ggt-lb-query")
        sort_by = gr.Textbox(label="Sort by column (empty = Avg)", placeholder="e.g. PSNR, SSIM, Fidelity")
        refresh = gr.Button("Refresh", elem_id="ggt-lb-refresh")
    table = gr.Dataframe(label="Leaderboard", interactive=False, wrap=True, elem_id="ggt-lb-table")
    plot = gr.Plot(label="Composite (or the sort column) per model", elem_id="ggt-lb-plot")

    def table_and_plot(category: str, groups: list[str], model_types: list[str], query: str, sort_by: str):
        try:
            frame = leaderboard_table(store, category, groups, model_types, query, sort_by)
        except (KeyError, ValueError) as exc:
            raise gr.Error(f"Cannot build the leaderboard: {exc}", print_exception=False) from None
        return frame, leaderboard_plot(frame, sort_by or COMPOSITE_COLUMN)

    def show(category: str, groups: list[str], model_types: list[str], query: str, sort_by: str):
        frame, figure = table_and_plot(category, groups, model_types, query, sort_by)
        shown = frame.round(DISPLAY_DECIMALS)
        return gr.Dataframe(value=shown, datatype=column_datatypes(shown)), figure

    def leaderboard(category: str, groups: list[str], model_types: list[str], query: str, sort_by: str):
        """The leaderboard table (filters: category, metric groups, model types, search text; sorted
        by ``sort_by``, default the composite ``Avg``) and its bar plot."""
        return table_and_plot(category, groups, model_types, query, sort_by)

    def pull_and_show(category: str, groups: list[str], model_types: list[str], query: str, sort_by: str):
        try:
            store.pull()  # a Hub-mirrored store fetches new results; a local folder does nothing
        except Exception as exc:  # keep serving the local copy when the Hub is unreachable
            logger.warning("could not refresh the results store: %s", exc)
            gr.Warning(f"Showing the cached results: the results repo could not be read ({exc}).")
        return show(category, groups, model_types, query, sort_by)

    inputs = [category, groups, model_types, query, sort_by]
    event = {"fn": show, "inputs": inputs, "outputs": [table, plot], "api_visibility": "private"}
    for component in (category, groups, model_types):
        component.change(**event)
    for component in (query, sort_by):
        component.submit(**event)
    refresh.click(**{**event, "fn": pull_and_show})
    # The named endpoint returns the plain table (the UI events also set per-column datatypes, which
    # gradio_client would receive as an update dict); a hidden trigger carries it.
    api_trigger = gr.Button(visible=False)
    api_trigger.click(leaderboard, inputs, [table, plot], api_name="leaderboard")
    return event
