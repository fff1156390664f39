"""Image-quality measurement: the metric specs table and the engine over ``pyiqa``.

Heavy imports (torch, pyiqa) happen inside :mod:`ggt_hf.metrics.engine`; importing this package
only loads the specs table.
"""

from ggt_hf.metrics.specs import GROUPS, METRICS, MetricSpec, get_spec, paper_metrics

__all__ = ["GROUPS", "METRICS", "MetricSpec", "get_spec", "paper_metrics"]
