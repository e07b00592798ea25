"""Unwrapping errors found and corrected pixel by pixel from the phase closure of interferogram triangles.

Three interferograms of dates ``a < b < c`` close: ``phi_ab + phi_bc - phi_ac`` is 0 up to noise, plus a
constant per triangle (unwrapped phase carries an arbitrary constant). A 2 pi unwrapping error in one of them
leaves an integer number of cycles in the closure of every triangle it belongs to, and nowhere else. So, at
every pixel:

1. the closure of every triangle whose three interferograms are valid and coherent there, minus the
   triangle's constant (estimated from a sample of the whole grid: the circular mean of its closure phase
   plus the most common whole number of cycles), rounded to whole cycles - where it is more than a
   quarter cycle from a whole number (noise), the mean over the 3 x 3 pixels around is rounded instead;
2. pixels are grouped by that pattern of non-closing triangles (the pixels of one error patch share it);
   for each pattern seen on a few pixels, the correction of the fewest interferograms (at most 3, by at
   most 2 cycles each) that closes every judged triangle is found by exhaustive search; it is applied only
   when it is the only one of its size (two interferograms sharing their only triangle cannot be told
   apart, and are left alone). More errors at once (overlapping patches) take the least-L1 correction
   (iteratively reweighted least squares), kept only when it is whole cycles closing every triangle;
3. a correction is kept only where it is the majority of the valid pixels around it (5 x 5 window), so
   that noise in a decorrelated area, which closes at random, is left alone while a patch of 2 pi errors
   is corrected as a whole.

This is MintPy's phase-closure idea (Yunjun et al., 2019) done for every pixel pattern with an exact sparse
solver instead of an L1 inversion on sampled pixels of common connected components: it needs no connected
components, so it corrects patches that the unwrapper did not separate (and products that have no
``_conncomp.tif``).
Interferograms that belong to no triangle cannot be checked this way. Pure numpy; the arrays are
``(interferograms, pixels)``.
"""

from __future__ import annotations

import datetime as dt
import itertools
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
        max_errors: int = 3,
        max_cycles: int = 2,
        min_pixels: int = 5,
        window_px: int = 5,
        support: float = 0.35,
    ) -> None:
        self.pairs = [tuple(p) for p in pairs]
        self.tri = triangles(self.pairs)
        self.min_coherence = float(min_coherence)
        self.max_errors = int(max_errors)
        self.max_cycles = int(max_cycles)
        self.min_pixels = int(min_pixels)
        self.max_open = 40  # a pattern with more open triangles is noise, not a few unwrapping errors
        self.max_candidates = 40
        self._null_cache: Dict[bytes, Tuple[np.ndarray, np.ndarray]] = {}
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
            ok &= coherence >= self.min_coherence  # NaN compares False: not coherent
        a, b, c = self.tri[:, 0], self.tri[:, 1], self.tri[:, 2]
        return ok[a] & ok[b] & ok[c]

    def usable_pixels(self, phase: np.ndarray, coherence: np.ndarray | None = None) -> np.ndarray:
        """How many pixels of ``(interferograms, pixels)`` each triangle can be judged on."""
        return self._usable(phase, coherence).sum(axis=1)

    def fit_constants(self, phase: np.ndarray, coherence: np.ndarray | None = None) -> None:
        """Estimate each triangle's constant from a sample ``(interferograms, pixels)`` of the grid."""
        if not self.n_triangles:
            return
        if phase.shape[1] > 200_000:  # plenty for a constant per triangle
            step = phase.shape[1] // 200_000 + 1
            phase = phase[:, ::step]
            coherence = coherence[:, ::step] if coherence is not None else None
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

    def solve(
        self, phase: np.ndarray, coherence: np.ndarray | None = None, shape: Tuple[int, int] | None = None
    ) -> ClosureResult:
        """Integer cycles per interferogram and pixel that make the triangles close (before the spatial
        majority filter, :meth:`majority`).

        Pixels are grouped by their pattern of non-closing triangles (the pixels of one error patch share
        it), and each pattern seen on at least ``min_pixels`` pixels is solved once: the fewest
        interferograms (up to ``max_errors``), with the fewest cycles, whose correction closes every
        judged triangle. When two such solutions exist (say, the only triangle of two interferograms),
        nothing is corrected: which one is wrong cannot be known. ``shape``: ``(rows, columns)`` of the
        pixels, to judge a triangle's unclear closure (more than a quarter cycle from a whole number) on its
        3 x 3 mean (a noisy pixel then follows its neighbours).
        """
        n_ifg, n_pix = phase.shape
        cycles = np.zeros((n_ifg, n_pix), dtype=np.int8)
        if not self.n_triangles or n_pix == 0:
            return ClosureResult(cycles, np.zeros(n_pix, dtype=bool))
        ok = np.isfinite(phase) & (phase != 0.0)
        if coherence is not None:
            ok &= coherence >= self.min_coherence  # NaN compares False: not coherent
        z = np.zeros((self.n_triangles, n_pix), dtype=np.int8)
        usable = np.zeros((self.n_triangles, n_pix), dtype=bool)
        for t, (ab, bc, ac) in enumerate(self.tri):  # one triangle at a time: memory of a few rows
            use = ok[ab] & ok[bc] & ok[ac]
            cycles_t = (phase[ab].astype(np.float64) + phase[bc] - phase[ac] - self.constants[t]) / TWO_PI
            if shape is not None:  # where the pixel itself is unclear, the 3 x 3 mean of its closure
                unclear = np.abs(cycles_t - np.round(cycles_t)) > 0.25
                if unclear.any():
                    smooth = _smooth(np.where(use, cycles_t, 0.0), use, shape)
                    cycles_t = np.where(unclear, smooth, cycles_t)
            z[t] = np.clip(np.where(use, np.round(cycles_t), 0.0), -100, 100).astype(np.int8)
            usable[t] = use
        checked = usable.any(axis=0)
        bad = np.nonzero((z != 0).any(axis=0))[0]
        if bad.size == 0:
            return ClosureResult(cycles, checked)
        key = np.concatenate([z[:, bad], usable[:, bad].astype(np.int8)], axis=0)
        patterns, inverse, counts = _unique_columns(key)
        n_tri = self.n_triangles
        fixes = np.zeros((n_ifg, patterns.shape[1]), dtype=np.int8)
        harder: List[int] = []  # patterns left to the least-L1 correction, solved together below
        for j in np.nonzero(counts >= self.min_pixels)[0]:
            solution = self._solve_pattern(
                patterns[:n_tri, j].astype(np.int64), patterns[n_tri:, j].astype(bool)
            )
            if solution is _LEAST_L1:
                harder.append(int(j))
            elif solution:
                for k, value in solution.items():
                    fixes[k, j] = value
        solutions = self._l1_patterns(
            [patterns[:n_tri, j].astype(np.int64) for j in harder], [patterns[n_tri:, j].astype(bool) for j in harder]
        )
        for j, solution in zip(harder, solutions):
            for k, value in (solution or {}).items():
                fixes[k, j] = value
        cycles[:, bad] = fixes[:, inverse]
        return ClosureResult(cycles, checked)

    def _solve_pattern(self, z: np.ndarray, known: np.ndarray) -> Dict[int, int] | None | object:
        """The unique smallest correction ``{interferogram: cycles}`` closing every known triangle of a
        pattern ``z`` (whole cycles per triangle), or None (none found, or not unique), or
        :data:`_LEAST_L1` when it has more errors than the exhaustive search tries (:meth:`_l1_patterns`)."""
        wrong = np.nonzero(z != 0)[0]
        if wrong.size == 0 or wrong.size > self.max_open:
            return None
        candidates = np.unique(self.tri[wrong])
        if candidates.size > self.max_candidates:
            return None
        # every judged triangle a candidate belongs to must close after the correction
        rows = np.nonzero(known & (self.member[candidates].sum(axis=0) > 0))[0]
        if not np.all(np.isin(wrong, rows)):
            return None
        signs = self.signs[np.ix_(candidates, rows)].T  # (triangles, candidates)
        target = -z[rows].astype(np.float32)
        values = np.array([v for v in range(-self.max_cycles, self.max_cycles + 1) if v], dtype=np.float32)
        # which open triangles each candidate belongs to: a correction must touch every open triangle
        touches = self.member[np.ix_(candidates, wrong)] > 0  # (candidates, open triangles)
        for size in range(1, self.max_errors + 1):
            if size > candidates.size:
                break
            combos = np.array(list(itertools.combinations(range(candidates.size), size)), dtype=np.int64)
            combos = combos[touches[combos].any(axis=1).all(axis=1)]  # those touching every open triangle
            if not len(combos):
                continue
            assignments = np.array(list(itertools.product(values, repeat=size)), dtype=np.float32)
            found = []
            for chunk in range(0, len(combos), 256):
                block = combos[chunk : chunk + 256]
                # residual of every (combination, assignment): sum of signs * values must equal -z
                effect = np.einsum("tcs,as->tca", signs[:, block], assignments)  # (tri, combos, assign)
                ok = np.all(np.abs(effect - target[:, None, None]) < 0.5, axis=0)
                for c, a in zip(*np.nonzero(ok)):
                    found.append((block[c], assignments[a]))
                    if len(found) > 1:
                        break
                if len(found) > 1:
                    break
            if len(found) == 1:
                members, cycles = found[0]
                return {int(candidates[m]): int(v) for m, v in zip(members, cycles)}
            if found:
                return None  # several equally small corrections: ambiguous
        return _LEAST_L1

    def _null_space(self, known: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``(pinv(C), null space of C)`` of the closure matrix ``C`` of the judged triangles ``known``."""
        key = known.tobytes()
        if key not in self._null_cache:  # most patterns judge every triangle: one decomposition serves them
            if len(self._null_cache) > 64:
                self._null_cache.clear()
            c = self.signs[:, np.nonzero(known)[0]].T.astype(np.float64)
            _, sv, vt = np.linalg.svd(c, full_matrices=True)
            rank = int((sv > 1e-9 * max(sv.max(), 1.0)).sum())
            self._null_cache[key] = (np.linalg.pinv(c), vt[rank:].T)
        return self._null_cache[key]

    def _l1_patterns(self, zs: Sequence[np.ndarray], knowns: Sequence[np.ndarray]) -> List[Dict[int, int] | None]:
        """More errors than the exhaustive search tries (overlapping patches): for each pattern, the least-L1
        correction ``min |N|_1`` subject to ``C N = -z`` over its judged triangles (iteratively reweighted
        least squares along the null space of ``C``), accepted only when it is whole cycles that close every
        judged triangle; None where it is not.

        Patterns judging the same triangles share ``C``: they are iterated together (one batched solve per
        step instead of one per pattern), each until its own correction converges, as if alone."""
        out: List[Dict[int, int] | None] = [None] * len(zs)
        groups: Dict[bytes, List[int]] = {}
        for index, known in enumerate(knowns):
            groups.setdefault(known.tobytes(), []).append(index)
        for members in groups.values():
            known = knowns[members[0]]
            rows = np.nonzero(known)[0]
            c = self.signs[:, rows].T.astype(np.float64)  # (triangles, interferograms)
            pinv, null = self._null_space(known)  # null: (interferograms, nullity)
            targets = np.stack([-zs[i][rows].astype(np.float64) for i in members])  # (patterns, triangles)
            base = targets @ pinv.T  # (patterns, interferograms)
            usable = np.ones(len(members), dtype=bool)
            solutions = base
            if null.shape[1]:
                m = null.shape[1]
                shift = np.zeros((len(members), m))
                active = np.ones(len(members), dtype=bool)
                ridge = 1e-12 * np.eye(m)
                for _ in range(50):
                    idx = np.nonzero(active)[0]
                    if idx.size == 0:
                        break
                    resid = base[idx] + shift[idx] @ null.T
                    weight = 1.0 / np.maximum(np.abs(resid), 1e-4)  # (active, interferograms)
                    lhs = (null.T[None, :, :] * weight[:, None, :]) @ null + ridge  # (active, m, m)
                    rhs = -(weight * base[idx]) @ null  # (active, m)
                    new, solved = _solve_each(lhs, rhs)
                    usable[idx[~solved]] = False
                    active[idx[~solved]] = False
                    idx, new = idx[solved], new[solved]
                    converged = np.max(np.abs(new - shift[idx]), axis=1) < 1e-7
                    shift[idx] = new
                    active[idx[converged]] = False
                solutions = base + shift @ null.T
            for p, index in enumerate(members):
                if usable[p]:
                    out[index] = self._whole_cycles(solutions[p], c, targets[p])
        return out

    def _whole_cycles(self, solution: np.ndarray, c: np.ndarray, target: np.ndarray) -> Dict[int, int] | None:
        """``{interferogram: cycles}`` of a least-L1 ``solution`` when it is a clear set of whole cycles that
        closes every judged triangle (``c @ N == target``), else None."""
        whole = np.round(solution)
        if np.max(np.abs(solution - whole)) > 0.1 or np.max(np.abs(whole)) > self.max_cycles:
            return None  # not a clear set of whole-cycle errors (ambiguous, or noise)
        if np.any(np.abs(c @ whole - target) > 1e-6):
            return None
        errors = np.nonzero(whole)[0]
        if errors.size == 0 or errors.size > max(self.max_errors, len(self.pairs) // 4):
            return None
        return {int(k): int(whole[k]) for k in errors}

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


#: What :meth:`ClosureCorrector._solve_pattern` returns for a pattern left to the least-L1 correction.
_LEAST_L1 = object()


def _solve_each(lhs: np.ndarray, rhs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Solve ``lhs[p] x = rhs[p]`` for every ``p`` at once; where one system is singular, the others are
    solved one by one. Returns ``(x, solved)``."""
    try:
        return np.linalg.solve(lhs, rhs[..., None])[..., 0], np.ones(len(lhs), dtype=bool)
    except np.linalg.LinAlgError:
        out = np.zeros_like(rhs)
        solved = np.ones(len(lhs), dtype=bool)
        for p in range(len(lhs)):
            try:
                out[p] = np.linalg.solve(lhs[p], rhs[p])
            except np.linalg.LinAlgError:
                solved[p] = False
        return out, solved


def _unique_columns(key: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(key, axis=1, return_inverse=True, return_counts=True)`` for an int8 ``key`` (patterns in
    another order): columns are grouped by a 64-bit hash, and the grouping is checked column by column
    against each group's first column, falling back to ``np.unique`` on a collision. Sorting hashes is
    many times faster than sorting the columns themselves (the frame-scale preparation spent most of its
    correction time there)."""
    if key.shape[1] == 0:
        return key[:, :0], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    weights = np.random.default_rng(0x5EED).integers(1, np.iinfo(np.int64).max, size=key.shape[0], dtype=np.int64)
    hashes = np.zeros(key.shape[1], dtype=np.int64)
    with np.errstate(over="ignore"):
        for weight, row in zip(weights, key):  # a row at a time: no int64 copy of the whole key
            hashes += weight * row.astype(np.int64)  # wraps modulo 2**64
    _, first, inverse, counts = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
    inverse = np.asarray(inverse).reshape(-1)
    if not np.array_equal(key[:, first[inverse]], key):  # two patterns share a hash: do it the slow way
        patterns, inverse, counts = np.unique(key, axis=1, return_inverse=True, return_counts=True)
        return patterns, np.asarray(inverse).reshape(-1), counts
    return key[:, first], inverse, counts


def _smooth(values: np.ndarray, valid: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Mean over the valid pixels of each 3 x 3 square (flattened arrays of ``shape``)."""
    total = _box_sum(values.reshape(shape), 1)
    count = _box_sum(valid.reshape(shape).astype(np.float64), 1)
    return (total / np.maximum(count, 1.0)).reshape(-1)


def _box_sum(values: np.ndarray, half: int) -> np.ndarray:
    """Sum over the ``(2 half + 1)`` square around every pixel (edges: the part inside), as two running
    sums of shifted slices (rows, then columns): a few additions per pixel, no cumulative sums."""
    h, w = values.shape
    padded = np.zeros((h + 2 * half, w + 2 * half), dtype=np.result_type(values.dtype, np.float64))
    padded[half : half + h, half : half + w] = values
    across = padded[:, 0:w].copy()
    for d in range(1, 2 * half + 1):
        across += padded[:, d : d + w]
    out = across[0:h].copy()
    for d in range(1, 2 * half + 1):
        out += across[d : d + h]
    return out
