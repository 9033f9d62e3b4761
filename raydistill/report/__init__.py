"""Report layer: report data (`summary`), plotly figures (`figures`), and the HTML / markdown writers.

Pure pandas/numpy/plotly, no Ray or Optuna; reports are rebuilt from a run's points and trial tables alone (`load_report_inputs`).
"""

from __future__ import annotations

from raydistill.report.build import ReportFiles, build_report
from raydistill.report.figures import arch_hover, hypervolume_figure, points_figure, trials_figure
from raydistill.report.inputs import ReportInputs, load_report_inputs
from raydistill.report.summary import ReportData, build_report_data

__all__ = [
    "ReportData",
    "ReportFiles",
    "ReportInputs",
    "arch_hover",
    "build_report",
    "build_report_data",
    "hypervolume_figure",
    "load_report_inputs",
    "points_figure",
    "trials_figure",
]
