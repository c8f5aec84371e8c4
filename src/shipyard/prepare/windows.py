"""Trailing-window arithmetic for :class:`~shipyard.prepare.series.SeriesFeatures`.

One implementation with two call sites: training computes every row of a frame,
the server computes only the newest reading of each entity, from the short
history it keeps. Both hand these functions rows sorted by entity then time,
``first`` (for each row, the position of its entity's first row in the array)
and ``at`` (the rows to compute). Each target row's window is gathered by
walking back ``k = 0, 1, 2, ...`` rows and every sum is accumulated in that
order, so a row gets bit-for-bit the same features whether the array holds the
entity's whole life or only the rows its windows reach.

The rows ``k`` back are gathered a block of ``k`` at a time and summed with
cumulative sums that start from the previous block's totals: the same
sequential order as adding one ``k`` at a time, in a few array operations per
block (the server's one row per request pays for a handful, not one per ``k``).

Sums are taken of ``value - shift``, the shift being the target row's own value
(or, when it has none, a per-column centre fitted on the training rows): that
keeps the variance and slope formulas free of the cancellation that raw sensor
levels (an exhaust temperature near 600) would cause, and a window of equal
values has a standard deviation of exactly 0.
"""

from __future__ import annotations

import numpy as np

EWM_TAIL = 1e-12  # EWM weights below this share of the newest reading's are left out
# Values gathered at once (rows x k x columns). Blocks pay off when a few rows reach
# far back (the server); a frame of many rows goes one k at a time, in place.
BLOCK = 1 << 18


class Trail:
    """The rows ``k`` back from each target row, within its entity. ``deepest_first``
    orders the targets by how far back their entity reaches, so that the ones a
    ``k`` still reaches are a prefix and :meth:`blocks` works on those alone (a
    window of the whole history walks back as far as the longest life, and most
    rows run out long before); :meth:`unsorted` puts results back in order."""

    def __init__(self, first: np.ndarray, at: np.ndarray, deepest_first: bool = False):
        depth = at - first[at] + 1  # rows of the entity up to the target, in the array
        self.order = np.argsort(-depth, kind="stable") if deepest_first else None
        self.at = at if self.order is None else at[self.order]
        self.depth = depth if self.order is None else depth[self.order]

    def unsorted(self, result: np.ndarray) -> np.ndarray:
        """``result`` (a row per target, in this trail's order) in the order of ``at``."""
        if self.order is None:
            return result
        out = np.empty_like(result)
        out[self.order] = result
        return out

    def back(self, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``values`` ``k`` rows back from each target, and whether that row is the
        target's entity's (outside rows come back as NaN)."""
        inside = self.depth > k
        picked = values[np.where(inside, self.at - k, self.at)]
        if not inside.all():
            picked = np.where(inside[:, None], picked, np.nan)
        return picked, inside

    def block(self, values: np.ndarray, ks: np.ndarray,
              rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``values`` at ``ks`` rows back from each of the first ``rows`` targets
        (default: all): (len(ks), rows, columns), and where that row has a value
        inside the target's entity."""
        at, depth = self.at[:rows], self.depth[:rows]
        inside = depth[None, :] > ks[:, None]
        picked = values[np.where(inside, at[None, :] - ks[:, None], at[None, :])]
        if not inside.all():
            picked = np.where(inside[:, :, None], picked, np.nan)
        return picked, ~np.isnan(picked)

    def blocks(self, values: np.ndarray, depth: int):
        """``(ks, rows, picked, ok)`` for k = 0 .. depth - 1, a bounded block at a
        time; ``rows`` targets: those the block's first k reaches when the trail is
        deepest first (the others would only add nothing), else all."""
        size = max(1, BLOCK // max(1, len(self.at) * values.shape[1]))
        for start in range(0, depth, size):
            ks = np.arange(start, min(start + size, depth))
            rows = len(self.at) if self.order is None else \
                int(np.count_nonzero(self.depth > start))
            yield (ks, rows, *self.block(values, ks, rows))


def running(carry: np.ndarray, terms: np.ndarray, ufunc=np.add) -> np.ndarray:
    """``carry`` then each of ``terms`` (along the first axis, k) folded in one after
    another: the running totals, in the order a loop over k adds them."""
    if len(terms) == 1:
        return ufunc(carry, terms[0])[None]
    return ufunc.accumulate(np.concatenate([carry[None], terms]), axis=0)[1:]


def ewm_rows(span: int) -> int:
    """How many rows an EWM of ``span`` reaches before its weights fall below EWM_TAIL."""
    keep = 1.0 - 2.0 / (span + 1.0)
    return 1 if keep <= 0 else int(np.ceil(np.log(EWM_TAIL) / np.log(keep)))


def smoothed(values: np.ndarray, first: np.ndarray, at: np.ndarray, method: str,
             window: int) -> np.ndarray:
    """Each target row smoothed over its own trailing rows: the median of the last
    ``window`` values (missing ones skipped), or an exponentially weighted mean
    with span ``window`` (pandas' ``ewm(span=window).mean()``, weights older than
    :func:`ewm_rows` left out). NaN where the window holds no value."""
    trail = Trail(first, at, deepest_first=method != "median")
    if method == "median":
        stacked = np.stack([trail.back(values, k)[0] for k in range(window)], axis=1)
        ordered = np.sort(stacked, axis=1)  # NaN sorts last
        count = np.sum(~np.isnan(stacked), axis=1)
        low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[:, None], axis=1)
        high = np.take_along_axis(ordered, (count // 2)[:, None], axis=1)
        middle = (low[:, 0] + high[:, 0]) / 2.0
        return np.where(count > 0, middle, np.nan)
    keep = 1.0 - 2.0 / (window + 1.0)
    weighted = np.zeros((len(at), values.shape[1]))
    weights = np.zeros_like(weighted)
    for ks, rows, picked, ok in trail.blocks(values, min(ewm_rows(window),
                                                         int(trail.depth.max(initial=0)))):
        weight = np.array([keep ** int(k) for k in ks])[:, None, None]  # Python's pow
        weighted[:rows] = running(weighted[:rows], np.where(ok, picked * weight, 0.0))[-1]
        weights[:rows] = running(weights[:rows], np.where(ok, weight, 0.0))[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return trail.unsorted(np.where(weights > 0, weighted / weights, np.nan))


def window_stats(values: np.ndarray, first: np.ndarray, at: np.ndarray, windows, stats,
                 center: np.ndarray) -> dict[tuple[str, int], np.ndarray]:
    """``{(stat, window): (len(at), columns)}`` over each target row's last
    ``window`` rows (fewer at the entity's start; missing values skipped).
    ``slope`` is the least-squares slope per row; one value has std and slope 0;
    no value at all gives NaN."""
    trail = Trail(first, at, deepest_first=True)
    shape = (len(at), values.shape[1])
    totals = {name: np.zeros(shape) for name in ("n", "s1", "s2", "sx", "sxx", "sxy")}
    totals["low"], totals["high"] = np.full(shape, np.inf), np.full(shape, -np.inf)
    ends = sorted(set(windows))
    reach = min(max(ends, default=0), int(trail.depth.max(initial=0)))
    shift = np.broadcast_to(center, shape)
    out: dict[tuple[str, int], np.ndarray] = {}

    def emit(w: int, at_k: dict[str, np.ndarray]) -> None:
        for stat in stats:
            out[(stat, w)] = trail.unsorted(_stat(stat, shift=shift, **at_k))

    def whole(total: np.ndarray, reached: np.ndarray) -> np.ndarray:
        """Every target's sums: the ``reached`` prefix's, the rest's final ones."""
        if len(reached) == len(total):
            return reached
        merged = total.copy()
        merged[:len(reached)] = reached
        return merged

    for ks, rows, picked, ok in trail.blocks(values, reach):
        if ks[0] == 0:  # each row's own value, where it has one: a window of equal values
            shift = np.where(ok[0], picked[0], center)  # then sums exact zeros
        d = np.where(ok, picked - shift[:rows], 0.0)
        x = -ks.astype(np.float64)[:, None, None]  # the newest row at 0, older rows before
        seen = ok.astype(np.float64)
        terms = {"n": seen, "s1": d, "s2": d * d, "sx": seen * x, "sxx": seen * (x * x),
                 "sxy": d * x}
        sums = {name: running(totals[name][:rows], term) for name, term in terms.items()}
        sums["low"] = running(totals["low"][:rows], picked, np.fmin)
        sums["high"] = running(totals["high"][:rows], picked, np.fmax)
        for w in ends:
            if ks[0] < w <= ks[-1] + 1:
                emit(w, {name: whole(totals[name], v[w - 1 - ks[0]])
                         for name, v in sums.items()})
        for name, v in sums.items():
            totals[name][:rows] = v[-1]
    for w in ends:
        if w > reach:  # longer than any entity's rows here: everything there is
            emit(w, totals)
    return out


def _stat(stat, *, n, s1, s2, sx, sxx, sxy, low, high, shift) -> np.ndarray:
    empty = n == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if stat == "mean":
            return np.where(empty, np.nan, shift + s1 / n)
        if stat == "std":
            variance = (s2 - s1 * s1 / n) / n
            return np.where(empty, np.nan, np.sqrt(np.maximum(variance, 0.0)))
        if stat == "min":
            return np.where(empty, np.nan, low)
        if stat == "max":
            return np.where(empty, np.nan, high)
        spread = n * sxx - sx * sx
        slope = (n * sxy - sx * s1) / spread
    return np.where(empty, np.nan, np.where((n == 1) | (spread <= 0), 0.0, slope))


def lagged(values: np.ndarray, first: np.ndarray, at: np.ndarray, lag: int) -> np.ndarray:
    """Each target row's value ``lag`` rows earlier in its entity; NaN before it has one."""
    return Trail(first, at).back(values, lag)[0]


def starts(codes: np.ndarray) -> np.ndarray:
    """For rows grouped by entity (``codes`` equal within a group), each row's
    group's first position."""
    begins = np.r_[True, codes[1:] != codes[:-1]][:len(codes)]
    return np.maximum.accumulate(np.where(begins, np.arange(len(codes)), 0))
