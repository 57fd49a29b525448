"""The main theme: one seeded two-bar motif per soundtrack, stated early and developed through the cues.

A ``Cell`` is a melodic fragment: notes as (onset in beats from the cell's start, scale degree relative
to an anchor). The theme owns a contour (scale steps) and, per density level, two distinct bar rhythms
from the style's vocabulary; its statement at a level is bar A's rhythm then bar B's carrying the
contour. Development uses exact transformations of a cell (``transpose``: a sequence; ``invert``:
around the first note; ``augment``: durations doubled; ``fragment``: the first bar's head repeated).
Mode change comes free: degrees are spelled in the cue's key and mode. Phrases are four bars: two of
the (transformed) theme, one fragment sequenced a step up, one cadence bar (``CADENCE_RHYTHMS``,
chosen distinct from bars A and B so every phrase has at least three bar rhythms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Cell = tuple[tuple[float, int], ...]

# bar rhythms (onsets in beats within a 4-beat bar) per density level (arousal rising)
VOCABULARY = (
    ((0.0, 2.0), (0.0, 3.0), (0.0, 2.5), (0.0, 1.5)),
    ((0.0, 2.0), (0.0, 1.5, 2.0), (0.0, 2.0, 3.0), (0.0, 1.0, 2.0), (0.0, 2.0, 2.5, 3.0)),
    ((0.0, 1.0, 2.0, 3.0), (0.0, 1.0, 1.5, 2.0, 3.0), (0.0, 0.5, 1.0, 2.0, 3.0), (0.0, 1.0, 2.0, 2.5, 3.0),
     (0.0, 1.5, 2.0, 3.0)),
    ((0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5), (0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 3.5), (0.0, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0),
     (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 3.5)),
)
CADENCE_RHYTHMS = ((0.0,), (0.0, 2.0), (0.0, 1.0, 2.0), (0.0, 0.5, 1.0, 2.0), (0.0, 1.0, 2.0, 3.0))
DEVELOPMENT = ("statement", "sequence", "inversion", "augmentation")


@dataclass(frozen=True)
class Theme:
    """The soundtrack's main theme: a contour of scale degrees and per-level bar rhythms (A, B)."""

    contour: tuple[int, ...]  # scale degrees relative to the first note (contour[0] == 0)
    rhythms: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]  # per density level: (bar A, bar B)

    def statement(self, level: int) -> Cell:
        """The theme at a density level: bar A then bar B (onsets 0..8 beats)."""
        a, b = self.rhythms[level]
        onsets = list(a) + [4.0 + o for o in b]
        return tuple((o, self.contour[i % len(self.contour)]) for i, o in enumerate(onsets))

    def cadence_rhythm(self, level: int) -> tuple[float, ...]:
        a, b = self.rhythms[level]
        return next(r for r in CADENCE_RHYTHMS if r not in (a, b))


def make_theme(seed: int) -> Theme:
    """The theme drawn from the concept seed: same seed, same theme."""
    rng = np.random.default_rng([seed, 0x7E3E])
    rhythms = []
    for choices in VOCABULARY:
        i, j = rng.choice(len(choices), size=2, replace=False)
        rhythms.append((choices[int(i)], choices[int(j)]))
    degrees, d = [0], 0
    for _ in range(15):
        step = int(rng.choice([-2, -1, 1, 2, 3, -3], p=[0.15, 0.3, 0.3, 0.12, 0.07, 0.06]))
        if abs(d + step) > 5:  # keep the contour within a sixth of its first note
            step = -step
        d += step
        degrees.append(d)
    return Theme(contour=tuple(degrees), rhythms=tuple(rhythms))


def transpose(cell: Cell, steps: int) -> Cell:
    """A sequence: every degree moved by ``steps`` scale steps."""
    return tuple((o, d + steps) for o, d in cell)


def invert(cell: Cell) -> Cell:
    """Mirror the intervals around the first note."""
    first = cell[0][1]
    return tuple((o, 2 * first - d) for o, d in cell)


def augment(cell: Cell, span: float = 8.0) -> Cell:
    """Durations doubled: the notes of the cell's first ``span / 2`` beats fill ``span`` beats."""
    return tuple((2 * o, d) for o, d in cell if 2 * o < span)


def fragment(cell: Cell) -> Cell:
    """The first bar's head (its first two beats) played twice within one bar."""
    head = tuple((o, d) for o, d in cell if o < 2.0)
    return head + tuple((o + 2.0, d) for o, d in head)


def phrase_cell(theme: Theme, level: int, development: str) -> Cell:
    """Bars 1-3 of a phrase (onsets 0..12 beats): the developed theme, then its fragment a step up."""
    head = theme.statement(level)
    if development == "sequence":
        head = transpose(head, 2)
    elif development == "inversion":
        head = invert(head)
    elif development == "augmentation":
        head = augment(head)
    return head + tuple((o + 8.0, d) for o, d in transpose(fragment(head), 1))
