"""Analysis of a recording for automatic re-editing: pure functions over decoded samples plus thin
ffmpeg decoding helpers. Imports nothing from backend/ (an import-linter contract)."""

from workers.media.analysis.pipeline import ANALYSIS_VERSION, AnalysisOptions, analyse_recording, recording_facts
from workers.media.analysis.signals import AnalysisResult
from workers.media.analysis.text import ProductName

__all__ = ["ANALYSIS_VERSION", "AnalysisOptions", "AnalysisResult", "ProductName", "analyse_recording", "recording_facts"]
