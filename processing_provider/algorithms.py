"""The list of algorithms the provider registers (one module per algorithm)."""

from __future__ import annotations


def all_algorithms() -> list:
    """Fresh instances of every InSARHub algorithm, in workflow order."""
    from .filter_scenes import FilterScenesAlgorithm
    from .select_pairs import SelectPairsAlgorithm
    from .search_scenes import SearchScenesAlgorithm
    from .summarize_stacks import SummarizeStacksAlgorithm

    return [SearchScenesAlgorithm(), SummarizeStacksAlgorithm(), FilterScenesAlgorithm(), SelectPairsAlgorithm()]
