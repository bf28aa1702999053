"""Cell sums to zone figures: :func:`zone_sums` and :func:`apportion_bins`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..aggregate import zone_table
from ..density import split_by_period
from ..weights import Weights
from ._spread import _big_array, _Spread
from .bins import CellBins

__all__ = ['apportion_bins', 'zone_sums', 'used_cells']


def apportion_bins(bins: CellBins, weights: Weights, *, dedup_factor: float = 1.0) -> pd.DataFrame:
    """Share the sums of :class:`CellBins` among zones: the zone table, ``outside`` included.

    The same table as :func:`geozones.apportion` on the counts the bins were made from:
    a row for every zone, every period that holds counts and every origin that occurs.

    Parameters
    ----------
    bins : CellBins
        Sums per period, origin and cell (:func:`geozones.stream_counts`).
    weights : Weights
        The weights the bins were made with (the same cells, in the same order).
    dedup_factor : float, default 1.0
        Multiplies every figure (unique counts).

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``period_start`` (UTC), ``period``, ``origin``, ``observed`` and
        ``estimate`` (observed divided by the origin's market share, as the bins hold it).
        Zones vary fastest (``outside`` last), then origins, then periods, both ascending.
        Figures before disclosure control: not for publication.
    """
    t_used, o_used = used_cells(bins)
    nc = bins.sums.shape[2]
    obs = np.concatenate([bins.observed_at(t)[o_used] for t in t_used]) if len(t_used) else np.zeros((0, nc))
    est = np.concatenate([bins.estimate_at(t)[o_used] for t in t_used]) if len(t_used) else obs.copy()
    return zone_table({"observed": obs, "estimate": est}, bins.period_start[t_used], bins.origins[o_used], bins.period, weights, factor=dedup_factor)


def used_cells(bins: CellBins) -> tuple[np.ndarray, np.ndarray]:
    """Periods and origins that hold counts, each in ascending order."""
    t_order, o_order = bins.order()
    return t_order[bins.present.any(axis=1)[t_order]], o_order[bins.present.any(axis=0)[o_order]]


def zone_sums(bins: CellBins, weights: Weights, *, dedup_factor: float = 1.0, estimate: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The zone figures of :class:`CellBins` as one dense array, computed period by period.

    The figures of :func:`apportion_bins`, to rounding (about 1e-15 relatively: each
    zone's weighted sum of its cells, then one division per period and origin), at a
    fraction of its memory and time for a national zone set. Like them, figures before
    disclosure control: not for publication.

    Parameters
    ----------
    bins : CellBins
    weights : Weights
        The weights the bins were made with (the same cells, in the same order).
    dedup_factor : float
        Multiplies every figure (unique counts).
    estimate : bool, default False
        The estimates instead of the observed figures.

    Returns
    -------
    (values, period_start, origins, zone_ids)
        ``values`` of shape (periods, origins, zones + 1), ``outside`` last: a view of an
        array laid out (period, zone, origin) in memory (``np.ascontiguousarray`` copies it
        into the order shown). Periods and origins that hold counts, in ascending order.
    """
    t_used, o_used = used_cells(bins)
    # laid out (period, zone, origin) in memory, as the product writes it; shown as
    # (period, origin, zone)
    out = _big_array((len(t_used), len(weights.zone_ids) + 1, len(o_used)))
    starts = np.asarray(bins.period_start[t_used]).astype("datetime64[ns]").astype(np.int64)
    for w, at in split_by_period(weights, starts):  # (weights per period, --density period: each period with its own)
        spread = _Spread(w)
        for i in at:
            spread(bins, t_used[i], o_used, estimate, dedup_factor, out=out[i])
    return out.transpose(0, 2, 1), bins.period_start[t_used], bins.origins[o_used], weights.zone_labels
