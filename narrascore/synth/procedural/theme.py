"""The melody: one main theme per soundtrack, stated, developed and brought back.

Why: a melody whose pitches are a random walk never recurs, and recurrence is what makes a long
film sound like one piece. The theme is a four-note motif with its own rhythm and contour (scale
steps), drawn once from the seed. Every scene is cut into four-bar phrases (two make a period: the
composer closes the second with V-I, the first ends on its progression's half cadence):

* bars 1 and 2, the **statement**: the theme on bar 1's chord and its sequence on bar 2's. Its form
  follows arousal, so melodic density does (Gabrielsson & Lindström 2010) while the contour stays
  the theme's: *augmented* over both bars when calm (a dotted half and a quarter, then two halves,
  when calmest; the theme's rhythm doubled below arousal 0), in its own rhythm when active (four
  notes), *diminished* and sequenced twice a bar at high arousal (eight);
* bar 3, the **continuation**: the theme's head, fragmented and sequenced a step down;
* bar 4 and the scene's last bar, the **cadence**: a stepwise approach to the root of the bar's last
  chord, held from the beat that chord comes on (rising to it in major, falling in minor).

Development: in tense cues (negative valence, high arousal) the statements are inverted; the
register rises with valence and arousal (so the climax restates the theme high and dense and the
resolution low and broad). Notes on the theme's strong beats are chord tones, chosen in the
direction of the theme's step so the contour survives any harmony; scale steps follow the sounding
chord (the raised leading tone over V in minor, the lowered second over the Neapolitan).

Where a statement starts is chosen among the chord tones near the register, by three costs: the
semitones its strong notes must move to reach chord tones (the fewer, the truer its intervals), its
notes off the key's tonic triad (a line that circles the relative key's triad, B-D-F# over G major,
is heard in that key), and a start on the chord's third (for the same reason). In a major key the
melody leaves a borrowed chord's minor colour (the flat third of iv) to the accompaniment. These
are what keep the mode a listener hears on the mode the valence asked for.

``avoid_parallels`` then moves the few melody notes that would make consecutive fifths or octaves
with the bass (the outer voices) to another chord tone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .harmony import TONIC, Chord, chord, nearest_degree, scale_classes, scale_pitch

Note = tuple[float, float, int, int]  # start s, end s, pitch, velocity
LEVELS = (-0.5, 0.0, 0.5)  # arousal thresholds of the four density levels
# the costs of a statement's start (semitones from the register count 1 each)
FIT_WEIGHT = 1.5  # per semitone its strong notes are moved onto chord tones
HOME_WEIGHT = 1.0  # per note off the key's tonic triad
THIRD_PENALTY = 2.5  # for starting on the chord's third
CALMEST_STATEMENT = (0.0, 3.0, 4.0, 6.0)  # the augmented theme's onsets over two bars below arousal -0.5
# the theme's own rhythms (four onsets in a 4/4 bar; beats 1 and 3 always carry a theme note)
THEME_RHYTHMS = ((0.0, 1.0, 2.0, 3.0), (0.0, 1.5, 2.0, 3.0), (0.0, 0.5, 1.0, 2.0), (0.0, 1.0, 1.5, 2.0),
                 (0.0, 1.5, 2.0, 2.5))
FIRST_STEPS, MIDDLE_STEPS, LAST_STEPS = (1, 2, -1, 3, -2), (1, -1, 2, -2), (-1, -2, 1, -3, 2)
# per density level, in order of preference: the first not already heard in the phrase is played,
# so a phrase has at least three bar rhythms (the statement's, the continuation's, the cadence's)
CONTINUATION_RHYTHMS = (((0.0, 1.0), (0.0, 3.0), (0.0, 2.0, 3.0)),
                        ((0.0, 3.0), (0.0, 1.0, 2.0), (0.0, 2.0, 3.0), (0.0, 1.5)),
                        ((0.0, 1.0, 2.0, 3.0), (0.0, 0.5, 2.0, 2.5), (0.0, 1.5, 2.0, 3.5)),
                        ((0.0, 0.5, 1.0, 2.0, 2.5, 3.0), (0.0, 0.5, 1.0, 1.5, 2.0, 3.0), (0.0, 1.0, 1.5, 2.0, 3.0, 3.5)))
CADENCE_RHYTHMS = (((0.0,), (0.0, 2.0)),
                   ((0.0, 2.0), (0.0, 1.0, 2.0), (0.0,)),
                   ((0.0, 1.0, 2.0), (0.0, 0.5, 1.0, 2.0), (0.0, 2.0)),
                   ((0.0, 0.5, 1.0, 1.5, 2.0), (0.0, 0.5, 1.0, 2.0), (0.0, 1.0, 1.5, 2.0)))


@dataclass(frozen=True)
class Theme:
    """The motif: ``rhythm`` (onsets in beats), ``steps`` (scale steps between its notes) and
    ``sequence`` (degrees the second statement moves, in ``variant``, another rhythm of its four
    notes)."""

    rhythm: tuple[float, ...]
    steps: tuple[int, ...]
    sequence: int
    variant: tuple[float, ...]

    @property
    def degrees(self) -> tuple[int, ...]:
        return tuple(int(d) for d in np.concatenate([[0], np.cumsum(self.steps)]))

    def inverted(self) -> "Theme":
        return Theme(self.rhythm, tuple(-s for s in self.steps), -self.sequence, self.variant)


def draw_theme(rng: np.random.Generator) -> Theme:
    """A singable motif: no repeated notes, a turn in its contour, a span of at most a sixth."""
    rhythm, variant = (THEME_RHYTHMS[int(k)] for k in rng.choice(len(THEME_RHYTHMS), size=2, replace=False))
    while True:
        steps = (int(rng.choice(FIRST_STEPS)), int(rng.choice(MIDDLE_STEPS)), int(rng.choice(LAST_STEPS)))
        degrees = np.concatenate([[0], np.cumsum(steps)])
        if len(set(np.sign(steps))) > 1 and degrees.max() - degrees.min() <= 5:
            break
    return Theme(rhythm, steps, sequence=int(rng.choice((-2, -1, 1, 2))), variant=variant)


@dataclass(frozen=True)
class Bar:
    """One bar: beat start times (s), the affect at each beat, and its chords [(start s, chord)]."""

    start: float
    end: float
    beats: np.ndarray
    arousal: np.ndarray
    valence: np.ndarray
    chords: tuple[tuple[float, Chord], ...]
    segment: int
    first_in_segment: bool
    last_in_segment: bool

    def chord_at(self, t: float) -> Chord:
        """The chord sounding at ``t`` s (the bar's first before its first change)."""
        current = self.chords[0][1]
        for start, ch in self.chords:
            if start <= t + 1e-9:
                current = ch
        return current


def role_of(phrase_bar: int) -> int:
    """0 and 1: statement, 2: continuation, 3: cadence."""
    return phrase_bar % 4


# Articulation by valence (Gabrielsson & Lindstrom 2010, Juslin & Laukka 2003: staccato reads happy,
# legato sad, at any tempo): at valence v > 0 a melody note sounds at most (1 - STACCATO v) of a beat;
# a phrase's cadence note is still held.
STACCATO = 0.8


def density_level(arousal: float) -> int:
    return int(np.searchsorted(LEVELS, arousal, side="right"))


def compose_melody(bars: Sequence[Bar], theme: Theme, *, center: int, min_arousal: float,
                   tense: Callable[[int], bool], velocity: Callable[[float, int], int]) -> list[Note]:
    """The melody over ``bars`` (see the module docstring). ``tense(i)``: is bar ``i`` in a tense cue."""
    notes: list[Note] = []
    phrase_bar, pending, statement_start, heard = 0, [], None, set()
    for i, bar in enumerate(bars):
        first = i == 0 or bars[i - 1].last_in_segment
        phrase_bar = 0 if first else phrase_bar + 1
        a0, v0 = float(bar.arousal[0]), float(bar.valence[0])
        if a0 < min_arousal:
            pending, statement_start = [], None
            continue
        level = density_level(a0)
        if role_of(phrase_bar) == 0 and not bar.last_in_segment and i + 1 < len(bars) and not bars[i + 1].last_in_segment:
            # a statement spans two bars: its form follows their mean arousal, not the first beat's
            level = density_level(float(np.mean(np.concatenate([bar.arousal, bars[i + 1].arousal]))))
        middle = center + round(4 * v0 + 3 * a0)
        motif = theme.inverted() if tense(i) else theme
        role = role_of(phrase_bar)
        heard = set() if role == 0 else heard
        if bar.last_in_segment or role == 3:
            played = _cadence(bar, _fresh([_cadence_onsets(bar, r) for r in CADENCE_RHYTHMS[level]], heard), middle,
                              major=bar.chord_at(bar.start).mode == "major")
        elif role == 2:
            played = _continuation(bar, motif, _fresh(CONTINUATION_RHYTHMS[level], heard), middle)
        elif role == 1 and pending:
            played, pending = pending, []
        else:
            if role == 0 or statement_start is None:  # the theme's span centred on the register
                target = middle - round(0.85 * (max(motif.degrees) + min(motif.degrees)))
            else:  # its sequence
                target = statement_start + 2 * motif.sequence
            played, pending, statement_start = _statement(bar, bars[i + 1] if i + 1 < len(bars) else None,
                                                          motif, level, target, variant=role == 1)
            if role == 1:
                pending = []  # a statement begun on the phrase's second bar is not carried into the third
        heard.add(tuple(o for o, _ in played))
        legato = 0.95 - 0.3 * max(0.0, a0)
        longest = (bar.end - bar.start) / len(bar.beats) * (1.0 - STACCATO * v0) if v0 > 0 else np.inf
        for k, (onset, pitch) in enumerate(played):
            t = _beat_time(bar, onset)
            nxt = _beat_time(bar, played[k + 1][0]) if k + 1 < len(played) else bar.end
            a = float(np.interp(t, bar.beats, bar.arousal))
            held = legato if k + 1 < len(played) else max(legato, 0.9)
            cadence_goal = k + 1 == len(played) and (bar.last_in_segment or role == 3)  # held, however detached the rest
            length = held * (nxt - t) if cadence_goal else min(held * (nxt - t), longest)
            notes.append((t, t + max(0.06, length), int(pitch), velocity(a, 8 if onset == 0 else 0)))
    return notes


# --------------------------------------------------------------------------- the three roles
def _statement(bar, following, motif: Theme, level: int, target: int, variant: bool):
    """(this bar's notes, the notes it leaves for the next bar, the pitch it started on); the sequence
    (``variant``) in the theme's other rhythm."""
    nb = len(bar.beats)
    if level <= 1:  # augmented over two bars
        onsets = [2 * o for o in motif.rhythm] if level == 1 else list(CALMEST_STATEMENT)
        here = [o for o in onsets if o < nb]
        later = [o - nb for o in onsets if o >= nb]
        pitches = _realise(motif, bar, target, onsets, following, nb)
        mine = list(zip(here, pitches[:len(here)]))
        rest = [(o, p) for o, p in zip(later, pitches[len(here):]) if following is not None and o < len(following.beats)]
        return mine, rest, mine[0][1] if mine else target
    rhythm = motif.variant if variant else motif.rhythm
    if level == 2:
        onsets = [o for o in rhythm if o < nb]
        pitches = _realise(motif, bar, target, onsets, None, nb)
        return list(zip(onsets, pitches)), [], pitches[0]
    half = [o / 2 for o in rhythm]  # diminished: twice in the bar, the second sequenced
    first = _realise(motif, bar, target, half, None, nb)
    played = list(zip(half, first))
    if nb > 2:
        later = [2 + o for o in half if 2 + o < nb]
        second = _realise(motif, bar, first[0] + 2 * motif.sequence, later, None, nb)
        played += list(zip(later, second))
    return played, [], first[0]


def _fresh(options: Sequence[tuple[float, ...]], heard: set) -> tuple[float, ...]:
    return next((o for o in options if o not in heard), options[0])


def _continuation(bar, motif: Theme, rhythm: tuple[float, ...], middle: int):
    """The theme's head (its first notes) again and again, each time a step lower."""
    nb = len(bar.beats)
    onsets = [o for o in rhythm if o < nb]
    start = _chord_tone_near(bar.chord_at(_beat_time(bar, 0.0)), middle)
    degree = nearest_degree(start, *_key(bar))
    fragment = motif.degrees[:3] if len(rhythm) >= 6 else motif.degrees[:2]
    pitches, previous = [], None
    for k, onset in enumerate(onsets):
        group, pos = divmod(k, len(fragment))
        d = degree + fragment[pos] - group
        pitches.append(_place(bar, onset, d, previous))
        previous = pitches[-1]
    return list(zip(onsets, pitches))


def _cadence_onsets(bar, rhythm: tuple[float, ...]) -> tuple[float, ...]:
    """``rhythm`` in ``bar``, its last note moved to come with the bar's last chord if it came before."""
    onsets = [o for o in rhythm if o < len(bar.beats)]
    change = float(np.searchsorted(bar.beats, bar.chords[-1][0] - 1e-6))  # the beat the last chord comes on
    if onsets[-1] < change:
        onsets = [o for o in onsets if o < change] + [change]
    return tuple(onsets)


def _cadence(bar, rhythm: tuple[float, ...], middle: int, *, major: bool):
    """A stepwise approach to the root of the bar's last chord, held from the beat that chord comes on
    (its notes on a strong beat are chord tones on the side it approaches from)."""
    onsets = list(rhythm)
    goal_chord = bar.chords[-1][1]
    goal = min((p for p in range(middle - 6, middle + 7) if p % 12 == goal_chord.root), key=lambda p: (abs(p - middle), p))
    tonic, mode = goal_chord.tonic, goal_chord.mode
    goal_degree = nearest_degree(goal, tonic, mode)
    direction = -1 if major else 1  # approach from below (rising to the root) in major, from above in minor
    pitches = []
    for k, onset in enumerate(onsets):
        distance = len(onsets) - 1 - k
        pitches.append(goal if distance == 0 else _place(bar, onset, goal_degree + direction * distance, goal, direction))
    return list(zip(onsets, pitches))


# --------------------------------------------------------------------------- pitches
def _realise(motif: Theme, bar, target: int, onsets: Sequence[float], following, nb: int) -> list[int]:
    """The motif's pitches at ``onsets`` (beats from ``bar``'s start, past its end into ``following``).
    It starts on a chord tone near ``target``: of those, the one from which the theme's strong notes
    need the least moving onto chord tones (so its intervals survive the harmony), then the nearest."""
    def where(onset: float):
        return (bar, onset) if onset < nb or following is None else (following, onset - nb)

    first_bar, first_onset = where(onsets[0])
    first_chord = first_bar.chord_at(_beat_time(first_bar, first_onset))
    tones = _melodic_tones(first_chord)
    starts = [p for p in range(target - 7, target + 8) if p % 12 in tones]
    degrees = motif.degrees
    home = _tonic_triad(first_bar)

    def from_start(start: int) -> tuple[float, list[int]]:
        start_degree = nearest_degree(start, *_key(first_bar))
        pitches, moved = [start], 0
        for k in range(1, len(onsets)):
            b, onset = where(onsets[k])
            if onset >= len(b.beats):
                break
            step = degrees[k] - degrees[k - 1]
            # the notes on the theme's own strong beats, in every form
            strong = motif.rhythm[k] in (0.0, 2.0)
            pitches.append(_place(b, onset, start_degree + degrees[k], pitches[-1], step, strong=strong))
            moved += abs(pitches[-1] - chord_scale_pitch(b.chord_at(_beat_time(b, onset)), start_degree + degrees[k]))
        away = sum(1 for p in pitches if p % 12 not in home)
        return FIT_WEIGHT * moved + _cost(first_chord, start, target) + HOME_WEIGHT * away, pitches

    return min((from_start(p) for p in starts), key=lambda fit: (fit[0], abs(fit[1][0] - target), fit[1][0]))[1]


def _place(bar, onset: float, degree: int, previous: int | None, step: int = 0, strong: bool | None = None) -> int:
    """Scale ``degree`` at ``onset``, adjusted to the sounding chord; where ``strong`` (by default: on
    beats 1 and 3) the chord tone nearest to it on the side the step goes (the contour's direction kept)."""
    ch = bar.chord_at(_beat_time(bar, onset))
    pitch = chord_scale_pitch(ch, degree)
    if strong is None:
        strong = onset == int(onset) and int(onset) % 2 == 0
    if strong:
        allowed = _melodic_tones(ch)
        tones = [p for p in range(pitch - 6, pitch + 7) if p % 12 in allowed]
        if previous is not None and step > 0:
            tones = [p for p in tones if p > previous] or tones
        elif previous is not None and step < 0:
            tones = [p for p in tones if p < previous] or tones
        pitch = min(tones, key=lambda p: (_cost(ch, p, pitch), p))
    return pitch


def chord_scale_pitch(ch: Chord, degree: int) -> int:
    """``scale_pitch`` in the chord's key, with a scale tone a semitone from a chord tone outside the
    scale moved onto it (the raised leading tone over V in minor, the lowered second over bII)."""
    pitch = scale_pitch(ch.tonic, ch.mode, degree)
    scale = scale_classes(ch.tonic, ch.mode)
    if pitch % 12 not in ch.pitch_classes:
        for d in (1, -1):
            if (pitch + d) % 12 in ch.pitch_classes and (pitch + d) % 12 not in scale:
                return pitch + d
    return pitch


def _chord_tone_near(ch: Chord, target: int) -> int:
    """The chord tone nearest ``target`` (of those the key's mode allows, see ``_melodic_tones``)."""
    tones = _melodic_tones(ch)
    return min((p for p in range(target - 6, target + 7) if p % 12 in tones), key=lambda p: (_cost(ch, p, target), p))


def _cost(ch: Chord, pitch: int, target: int) -> float:
    """Distance in semitones, plus a penalty on the chord's third: a melody that dwells on the third
    of the tonic sounds the relative key's tonic (B and D over G major read as B minor)."""
    return abs(pitch - target) + (THIRD_PENALTY if len(ch.intervals) > 1 and (pitch - ch.root) % 12 == ch.intervals[1] else 0.0)


def _melodic_tones(ch: Chord) -> set[int]:
    """The chord's pitch classes a melody may hold: in a major key not the borrowed minor colours
    (the flat third, sixth or seventh of iv, bVI, bVII), which the pad and harmony carry, so that
    the line that draws the ear keeps the mode the valence asked for."""
    tones = set(ch.pitch_classes)
    if ch.mode == "major":
        diatonic = tones & scale_classes(ch.tonic, "major")
        tones = diatonic or tones
    return tones


def _tonic_triad(bar) -> set[int]:
    tonic, mode = _key(bar)
    return set(chord(TONIC[mode], tonic, mode).pitch_classes)


def _key(bar) -> tuple[int, str]:
    ch = bar.chords[0][1]
    return ch.tonic, ch.mode


def _beat_time(bar, onset: float) -> float:
    i = min(int(onset), len(bar.beats) - 1)
    durations = np.diff(np.append(bar.beats, bar.end))
    return float(bar.beats[i] + (onset - i) * durations[i])


# --------------------------------------------------------------------------- outer voices
def avoid_parallels(melody: list[tuple], bass: list[tuple], chord_at: Callable[[float], Chord],
                    keep: Callable[[tuple], bool] = lambda note: False, strong: Callable[[float], bool] = lambda t: True,
                    tolerance: float = 0.06) -> list[tuple]:
    """Melody notes (start, end, pitch, velocity, channel) without consecutive fifths or octaves against
    the lowest bass note sounding under them (up to ``tolerance`` s after the onset, as a listener
    hears it). Of the two notes of each pair, the one moved is the one that needs the smallest change
    to a pitch making no perfect interval: a chord tone (any scale tone where ``strong`` is false for
    its onset), with a penalty for each turn of the melodic direction it causes. ``keep``: never moved."""
    if not bass or not melody:
        return melody
    bass = _restruck(sorted(bass))
    starts = np.array([n[0] for n in bass])

    def low_at(t: float) -> int | None:
        k = int(np.searchsorted(starts, t + tolerance, side="right"))
        sounding = [bass[j][2] for j in range(max(0, k - 8), k) if bass[j][1] > t + tolerance]
        return min(sounding) if sounding else None

    out = sorted(melody)
    lows = [low_at(n[0]) for n in out]

    def parallel(k: int) -> bool:
        if k < 1 or k >= len(out):
            return False
        m0, m1, b0, b1 = out[k - 1][2], out[k][2], lows[k - 1], lows[k]
        if b0 is None or b1 is None or m0 == m1 or b0 == b1 or np.sign(m1 - m0) != np.sign(b1 - b0):
            return False
        return (m0 - b0) % 12 in (0, 7) and (m1 - b1) % 12 == (m0 - b0) % 12

    def turns(j: int, q: int) -> int:
        old = out[j][2]
        return sum(1 for n in (j - 1, j + 1) if 0 <= n < len(out) and np.sign(out[n][2] - q) != np.sign(out[n][2] - old))

    for k in [k for _ in range(2) for k in range(1, len(out))]:  # twice: a move can make its left pair parallel
        if not parallel(k):
            continue
        options = []
        for j in (k, k - 1):
            if keep(out[j]) or lows[j] is None:
                continue
            s, _, p, _, _ = out[j]
            ch = chord_at(s)
            allowed = ch.pitch_classes if strong(s) else scale_classes(ch.tonic, ch.mode) | set(ch.pitch_classes)
            options += [(abs(q - p) + 6 * turns(j, q), j, q) for q in range(p - 5, p + 6)
                        if q != p and q % 12 in allowed and (q - lows[j]) % 12 not in (0, 7)]
        if options:
            _, j, q = min(options)
            out[j] = out[j][:2] + (q,) + out[j][3:]
    return out


def _restruck(notes: list[tuple]) -> list[tuple]:
    """Each note ended where its pitch is struck again on its channel (as the MIDI writer cleans
    overlaps), so a long note under a repeated one is not heard as sounding on after it."""
    out, next_start = [], {}
    for note in reversed(notes):
        key = (note[2], note[4] if len(note) > 4 else 0)
        end = min(note[1], next_start.get(key, note[1]))
        next_start[key] = note[0]
        out.append((note[0], end) + tuple(note[2:]))
    return out[::-1]
