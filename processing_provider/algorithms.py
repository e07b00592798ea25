"""The list of algorithms the provider registers (one module per algorithm)."""

from __future__ import annotations


def all_algorithms() -> list:
    """Fresh instances of every InSARHub algorithm, in workflow order."""
    from .decompose import DecomposeAlgorithm
    from .download_products import DownloadProductsAlgorithm
    from .download_scenes import DownloadScenesAlgorithm
    from .filter_scenes import FilterScenesAlgorithm
    from .run_timeseries import RunTimeSeriesAlgorithm
    from .search_scenes import SearchScenesAlgorithm
    from .select_pairs import SelectPairsAlgorithm
    from .submit_jobs import SubmitJobsAlgorithm
    from .summarize_stacks import SummarizeStacksAlgorithm
    from .watch_jobs import WatchJobsAlgorithm

    return [
        SearchScenesAlgorithm(), SummarizeStacksAlgorithm(), FilterScenesAlgorithm(), DownloadScenesAlgorithm(),
        SelectPairsAlgorithm(),
        SubmitJobsAlgorithm(), WatchJobsAlgorithm(), DownloadProductsAlgorithm(),
        RunTimeSeriesAlgorithm(), DecomposeAlgorithm(),
    ]
