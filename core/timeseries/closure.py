"""Unwrapping errors found and corrected pixel by pixel from the phase closure of interferogram triangles.

Three interferograms of dates ``a < b < c`` close: ``phi_ab + phi_bc - phi_ac`` is 0 up to noise, plus a
constant per triangle (unwrapped phase carries an arbitrary constant). A 2 pi unwrapping error in one of them
leaves an integer number of cycles in the closure of every triangle it belongs to, and nowhere else. So, at
every pixel:

1. the closure of every triangle whose three interferograms are valid and coherent there, minus the
   triangle's constant (estimated from a sample of the whole grid: the circular mean of its closure phase
   plus the most common whole number of cycles), rounded to whole cycles;
2. while some triangle does not close: the interferogram with the largest share of non-closing triangles
   among its own (at least half of them, more than any other; the one in more triangles on a tie) is the
   culprit, corrected by the rounded mean cycles of those triangles; its triangles are updated; repeated
   for up to ``max_steps`` culprits;
3. a correction is kept only where it is the majority of the valid pixels around it (5 x 5 window), so
   that noise in a decorrelated area, which closes at random, is left alone while a patch of 2 pi errors
   is corrected as a whole.

This is MintPy's phase-closure idea (Yunjun et al., 2019) done for every pixel with a greedy solver instead of
an L1 inversion on sampled pixels of common connected components: it needs no connected components, so it
corrects patches that the unwrapper did not separate (and products that have no ``_conncomp.tif``).
Interferograms that belong to no triangle cannot be checked this way. Pure numpy; the arrays are
``(interferograms, pixels)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

TWO_PI = 2.0 * np.pi


def triangles(pairs: Sequence[Tuple[dt.date, dt.date]]) -> np.ndarray:
    """``(n, 3)`` interferogram indices ``(ab, bc, ac)`` of every closed triangle of dates ``a < b < c``."""
    index = {tuple(p): k for k, p in enumerate(pairs)}
    later: Dict[dt.date, List[dt.date]] = {}
    for a, b in pairs:
        later.setdefault(a, []).append(b)
    out = []
    for a, bs in later.items():
        for b in bs:
            for c in later.get(b, []):
                ac = index.get((a, c))
                if ac is not None:
                    out.append((index[(a, b)], index[(b, c)], ac))
    return np.array(sorted(out), dtype=np.int64).reshape(-1, 3)


@dataclass
class ClosureResult:
    """Cycles to add to each interferogram (``2 pi * cycles``), and what was checked."""

    cycles: np.ndarray  # (interferograms, pixels) int8
    checked: np.ndarray  # (pixels,) bool: at least one triangle could be closed here


class ClosureCorrector:
    """Pixel-wise unwrapping-error correction for one interferogram network (see the module docstring).

    ``pairs``: the interferograms' date pairs, in the order of the arrays given later. ``min_coherence``:
    a triangle is judged only where its three interferograms are at least this coherent.
    """

    def __init__(
        self,
        pairs: Sequence[Tuple[dt.date, dt.date]],
        *,
        min_coherence: float = 0.3,
        max_steps: int = 6,
        window_px: int = 5,
        support: float = 0.35,
    ) -> None:
        self.pairs = [tuple(p) for p in pairs]
        self.tri = triangles(self.pairs)
        self.min_coherence = float(min_coherence)
        self.max_steps = int(max_steps)
        self.window_px = int(window_px)
        self.support = float(support)
        self.constants = np.zeros(len(self.tri))
        n = len(self.pairs)
        self.in_triangle = np.zeros(n, dtype=bool)
        if len(self.tri):
            self.in_triangle[np.unique(self.tri)] = True
        # incidence (interferograms x triangles): the closure's sign of each member, and membership
        self.signs = np.zeros((n, len(self.tri)), dtype=np.float32)
        for t, (ab, bc, ac) in enumerate(self.tri):
            self.signs[ab, t], self.signs[bc, t], self.signs[ac, t] = 1.0, 1.0, -1.0
        self.member = np.abs(self.signs)

    @property
    def n_triangles(self) -> int:
        """Number of closed triangles of the network."""
        return int(len(self.tri))

    def _closure(self, phase: np.ndarray) -> np.ndarray:
        a, b, c = self.tri[:, 0], self.tri[:, 1], self.tri[:, 2]
        return phase[a].astype(np.float64) + phase[b] - phase[c]

    def _usable(self, phase: np.ndarray, coherence: np.ndarray | None) -> np.ndarray:
        ok = np.isfinite(phase) & (phase != 0.0)
        if coherence is not None:
            ok &= np.nan_to_num(coherence, nan=0.0) >= self.min_coherence
        a, b, c = self.tri[:, 0], self.tri[:, 1], self.tri[:, 2]
        return ok[a] & ok[b] & ok[c]

    def fit_constants(self, phase: np.ndarray, coherence: np.ndarray | None = None) -> None:
        """Estimate each triangle's constant from a sample ``(interferograms, pixels)`` of the grid."""
        if not self.n_triangles:
            return
        closure = self._closure(phase)
        usable = self._usable(phase, coherence)
        for t in range(self.n_triangles):
            values = closure[t][usable[t]]
            if values.size == 0:
                self.constants[t] = 0.0
                continue
            angle = float(np.angle(np.mean(np.exp(1j * values))))
            whole = np.round((values - angle) / TWO_PI).astype(np.int64)
            counts = np.bincount(whole - whole.min())
            self.constants[t] = angle + TWO_PI * (int(np.argmax(counts)) + int(whole.min()))

    def solve(self, phase: np.ndarray, coherence: np.ndarray | None = None) -> ClosureResult:
        """Integer cycles per interferogram and pixel that make the triangles close (before the spatial
        majority filter, which :meth:`correct_block` applies)."""
        n_ifg, n_pix = phase.shape
        cycles = np.zeros((n_ifg, n_pix), dtype=np.int8)
        if not self.n_triangles or n_pix == 0:
            return ClosureResult(cycles, np.zeros(n_pix, dtype=bool))
        usable = self._usable(phase, coherence)
        checked = usable.any(axis=0)
        z = np.round((self._closure(phase) - self.constants[:, None]) / TWO_PI)
        z = np.where(usable, z, 0.0).astype(np.int32)
        bad = np.nonzero((z != 0).any(axis=0))[0]
        if bad.size == 0:
            return ClosureResult(cycles, checked)
        z = z[:, bad]
        known = usable[:, bad]
        total = self.member @ known.astype(np.float32)  # triangles of each interferogram judged here
        fix = np.zeros((n_ifg, bad.size), dtype=np.int32)
        active = np.ones(bad.size, dtype=bool)
        cols = np.arange(bad.size)
        members = [(self.tri[:, 0], 1), (self.tri[:, 1], 1), (self.tri[:, 2], -1)]
        for _ in range(self.max_steps):
            nonzero = (z != 0) & known
            active &= nonzero.any(axis=0)
            if not active.any():
                break
            count = self.member @ nonzero.astype(np.float32)
            signed = self.signs @ z.astype(np.float32)
            share = np.divide(count, total, out=np.zeros_like(count), where=total > 0)
            # the culprit: the largest share, then the most triangles
            score = share * 1000.0 + count
            best = np.argmax(score, axis=0)
            best_score = score[best, cols]
            # ...unless an interferogram sharing a triangle with it scores the same: which one is wrong?
            rival = np.zeros(bad.size)
            for t in range(self.n_triangles):
                members_t = self.tri[t]
                mine = (members_t[:, None] == best[None, :]).any(axis=0)
                if mine.any():
                    others = np.where(members_t[:, None] == best[None, :], -1.0, score[members_t])
                    rival = np.where(mine, np.maximum(rival, others.max(axis=0)), rival)
            best_share = share[best, cols]
            best_count = count[best, cols]
            step = np.divide(signed[best, cols], best_count, out=np.zeros(bad.size), where=best_count > 0)
            step = np.round(step).astype(np.int32)
            accept = active & (best_share >= 0.5) & (best_score > rival) & (step != 0)
            if not accept.any():
                break
            k, p = best[accept], cols[accept]
            fix[k, p] -= step[accept]
            # update the closures of the culprit's triangles at the accepted pixels
            for idx, sign in members:
                hit = idx[:, None] == k[None, :]  # (triangles, accepted pixels)
                z[:, p] -= np.where(hit, sign * step[accept][None, :], 0)
            active &= accept
        cycles[:, bad] = np.clip(fix, -127, 127).astype(np.int8)
        return ClosureResult(cycles, checked)

    def majority(self, cycles: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Keep a correction of an interferogram only where it is the majority of the valid pixels in the
        ``window_px`` square around it. ``cycles``: ``(rows, columns)`` of one interferogram."""
        if not cycles.any():
            return cycles
        half = self.window_px // 2
        n_valid = _box_sum(valid.astype(np.float64), half)
        out = np.zeros_like(cycles)
        for value in np.unique(cycles[cycles != 0]):
            same = _box_sum((cycles == value).astype(np.float64), half)
            keep = (cycles == value) & (same >= self.support * np.maximum(n_valid, 1.0))
            out[keep] = value
        return out


def _box_sum(values: np.ndarray, half: int) -> np.ndarray:
    """Sum over the ``(2 half + 1)`` square around every pixel (edges: the part inside)."""
    k = 2 * half + 1
    padded = np.pad(values, half, mode="constant")
    c = np.cumsum(np.cumsum(padded, axis=0), axis=1)
    c = np.pad(c, ((1, 0), (1, 0)), mode="constant")
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
