"""How the score answers the plan's events (``NarrativePlan.events``): a hit, a build before it, a drop-out.

* **hit**, on the event's exact time: a chord stab in the harmony (the chord sounding there, mid
  register), the bass root an octave down (a bass drop), a timpani stroke where the style has
  timpani, and a crash with a bass drum where it has a kit; velocity ``60 + 67 strength``.
* **build**, when the curve announces the event (its arousal rises by ``ANNOUNCED`` or more over
  the ``BUILD`` seconds before it) and the event is at least ``BIG`` strong, in each style's idiom
  (``_build``): a snare roll speeding up from 4 to 16 strokes a second in place of the kit's groove,
  with a timpani roll (orchestral), a tom fill in its last half second (rock) or a riser climbing the
  harmony (electronic); piano and ambient build in their own instruments instead, with a rising
  ostinato of chord tones (their kits join only at a climax or hit);
  always crescendo into the hit.
* **drop-out**, before a big hit (strength >= ``BIG``) in styles other than ambient: melody,
  harmony and pad stop ``DROP`` seconds before it, so the hit lands in a breath of silence.

**Stingers** answer the story's jumps (``story_jumps``): a hard scene cut into a scene whose
E_local lies at least ``JUMP`` away in the valence-arousal plane, whose energy rises (arousal up by
``RISE``) and whose valence does not fall. The cut gets a hit (as an event's) and, in the second
before it, the style's approach: a cymbal swell (a crash rolled in a crescendo; in electronic a riser
climbs the harmony too) or a fill down the kit (rock); a strong jump (``BIG``) also gets the
drop-out, except in ambient. Cuts into calm, into another mood at the same energy, or into a darker
scene get none: the music simply changes with them (measured: a stinger at the same energy was heard
as energy, and one into a darker scene, swell or low boom, took the arc story's descriptor valence r
under the fixed-mood baseline's, or, unannounced, read as a click on the cut).

Only notes are added or shortened: the beat grid, harmony and tempo map stay as composed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...artifacts import Event, NarrativePlan, Shots
from .harmony import Chord, voicing
from .orchestration import CRASH, DRUM_CHANNEL, KICK, LOW_TOM, MID_TOM, SNARE

BUILD = 2.0  # s of build before an announced event
ANNOUNCED = 0.15  # arousal rise over the build window that announces an event
BIG = 0.6  # strength from which an event gets a build and a drop-out
DROP = 0.35  # s of silence (melody, harmony, pad) before a big hit
THINNED = ("melody", "harmony", "pad")
FILL = 0.5  # s of tom fill at the end of a rock build
TIMPANI_ROLL = 1.0  # s of timpani roll at the end of an orchestral build (the snare roll starts it)
HIGH_TOM, FLOOR_TOM = 50, 41  # General MIDI drum keys (LOW_TOM 45, MID_TOM 47 come with the kit)
CRASH_2 = 57  # the swell's cymbal: another sample than the hits' crash
JUMP = 0.6  # distance between two scenes' (valence, arousal) from which a hard cut gets a stinger
RISE = 0.3  # arousal rise that makes a jump a shock
SWELL = 1.0  # s of approach before a stinger
ON_THE_CUT = 0.05  # s: a scene start this close to a hard shot cut is that cut
CLEAR_OF_EVENTS = 0.5  # s: a jump this close to an event is already answered by its hit


def answer_events(groups: dict, events: Sequence[Event], chord_at, arousal_at, style: str, duration: float) -> None:
    """Add each event's hit, build and drop-out to the tracks in ``groups`` (group name -> ``Track``).

    ``chord_at(t)`` gives the chord sounding at ``t`` s, ``arousal_at(t)`` the narrative arousal.
    """
    kit, timpani = _kit_and_timpani(groups)
    previous = -np.inf
    for event in sorted(events, key=lambda e: e.time):
        t, s = float(event.time), float(event.strength)
        if not 0 <= t < duration - 0.05:
            continue
        ch = chord_at(t)
        big = s >= BIG
        span = min(BUILD, t - previous - 0.5, t)
        announced = span >= 1.0 and arousal_at(t - 0.25) - arousal_at(t - span) >= ANNOUNCED
        if big and style != "ambient":
            _drop_out(groups, t - DROP, t)
        if big and announced:
            _build(groups, kit, timpani, ch, t - span, t, s, style)
        _hit(groups, kit, timpani, ch, t, s, duration)
        previous = t


def _vel(x: float) -> int:
    return int(min(127, max(1, round(x))))


def _kit_and_timpani(groups: dict):
    """The score's drum kit part and timpani part (None where it has none)."""
    kit = next((p for t in groups.values() for p in t.parts if p.is_drum), None)
    timpani = next((p for t in groups.values() for p in t.parts if not p.is_drum and p.instrument == "Timpani"), None)
    return kit, timpani


def _harmony(groups: dict):
    """The harmony track, where it has a part."""
    harmony = groups.get("harmony")
    return harmony if harmony is not None and harmony.parts else None


def _clear(notes: list, channel: int, start: float, stop: float) -> None:
    """Remove the channel's notes that start in ``[start, stop)``: what a roll or a fill replaces."""
    notes[:] = [n for n in notes if n[4] != channel or not start - 1e-9 <= n[0] < stop - 1e-9]


def _fill(notes: list, start: float, step: float, drums: tuple[int, ...], velocity) -> None:
    """A fill: ``drums`` one after another, ``step`` s apart from ``start``; ``velocity(k)`` for the k-th."""
    for k, drum in enumerate(drums):
        notes.append((start + k * step, start + (k + 0.9) * step, drum, velocity(k), DRUM_CHANNEL))


def _hit(groups: dict, kit, timpani, ch: Chord, t: float, s: float, duration: float) -> None:
    loud = _vel(60 + 67 * s)
    end = min(duration, t + 0.6 + 0.6 * s)
    harmony = _harmony(groups)
    if harmony is not None:
        for p in voicing(ch, 64, size=4):
            harmony.notes.append((t, end, p, loud, harmony.parts[0].channel))
    bass = groups.get("bass")
    if bass is not None and bass.parts:
        root = 28 + (ch.root - 28) % 12
        bass.notes.append((t, min(duration, t + 1.2), root, loud, bass.parts[0].channel))
    if timpani is not None:
        root = 41 + (ch.root - 41) % 12
        groups[timpani.group].notes.append((t, t + 0.8, root, _vel(70 + 57 * s), timpani.channel))
    if kit is not None:
        groups[kit.group].notes.append((t, t + 1.5, CRASH, loud, DRUM_CHANNEL))
        groups[kit.group].notes.append((t, t + 0.4, KICK - 1, loud, DRUM_CHANNEL))


def _build(groups: dict, kit, timpani, ch: Chord, t0: float, t1: float, s: float, style: str) -> None:
    """The style's build over ``[t0, t1]`` into a big announced hit, crescendo from 35 to 60 + 40 s.

    Where the style has a kit (not piano or ambient) a snare roll speeding up (4 -> 16 strokes/s) replaces
    the groove; orchestral adds a timpani roll on the chord's root in its last second, rock turns the roll's last half
    second into a tom fill down the kit, electronic adds a riser (chord tones climbing two octaves in
    the harmony); piano and ambient get the rising ostinato in the harmony.
    """
    pace = (t0, t1)
    harmony = _harmony(groups)
    if kit is not None and style not in ("piano", "ambient"):
        track = groups[kit.group]
        # the roll replaces the groove: a kit that keeps its beat under a roll blurs the build and masks the hit
        _clear(track.notes, DRUM_CHANNEL, t0, t1)
        fill_from = t1 - FILL if style == "rock" else t1
        _roll(track.notes, t0, fill_from, pace, s, DRUM_CHANNEL, lambda u: SNARE)
        if style == "rock":
            toms = (HIGH_TOM, HIGH_TOM, MID_TOM, MID_TOM, LOW_TOM, LOW_TOM, FLOOR_TOM, FLOOR_TOM)
            _fill(track.notes, fill_from, FILL / len(toms), toms, lambda k: _vel(60 + 40 * s))
        if style == "orchestral" and timpani is not None:
            root = 41 + (ch.root - 41) % 12
            notes, start = groups[timpani.group].notes, max(t0, t1 - TIMPANI_ROLL)
            _clear(notes, timpani.channel, start, t1)
            _roll(notes, start, t1, pace, s, timpani.channel, lambda u: root)
        if style == "electronic" and harmony is not None:
            _roll(harmony.notes, t0, t1, pace, s, harmony.parts[0].channel, _climbing(ch, (60, 72, 84)))
    elif harmony is not None:
        _roll(harmony.notes, t0, t1, pace, s, harmony.parts[0].channel, _climbing(ch, (60, 72)))


def _climbing(ch: Chord, centres: tuple[int, ...]):
    """``u`` in [0, 1) -> the chord's tones around ``centres``, from the lowest to the highest."""
    pitches = sorted(p for centre in centres for p in voicing(ch, centre, size=4))
    return lambda u: pitches[min(len(pitches) - 1, int(u * len(pitches)))]


def _roll(notes: list, start: float, stop: float, pace: tuple[float, float], s: float, channel: int, pitch_at) -> None:
    """Strokes from ``start`` to ``stop`` speeding up from 4 to 16 a second across ``pace`` (s), in a crescendo."""
    p0, p1 = pace
    t = start
    while t < stop - 0.02:
        u = (t - p0) / (p1 - p0)
        rate = 4.0 + 12.0 * u * u
        notes.append((t, min(p1, t + 0.9 / rate), pitch_at(u), _vel(35 + (25 + 40 * s) * u), channel))
        t += 1.0 / rate


def _drop_out(groups: dict, t0: float, t1: float) -> None:
    """Melody, harmony and pad notes stop at ``t0``; none starts in ``[t0, t1)``."""
    for name in THINNED:
        track = groups.get(name)
        if track is None:
            continue
        kept = []
        for start, end, p, v, c in track.notes:
            if t0 - 1e-9 <= start < t1 - 1e-9:
                continue
            if start < t0 < end:
                end = t0
            kept.append((start, end, p, v, c))
        track.notes = kept


@dataclass(frozen=True)
class Jump:
    """A scene cut where the story jumps: ``time`` s, ``strength`` in [0.5, 1] (from the distance jumped)."""

    time: float
    strength: float


def story_jumps(plan: NarrativePlan, shots: Shots | None = None) -> list[Jump]:
    """The scene cuts that get a stinger: hard cuts (any scene cut when ``shots`` is None) into a scene at
    least ``JUMP`` away in valence and arousal, more energetic (by ``RISE``) and not darker, away from the plan's events."""
    hard = None if shots is None else np.array([c.time for c in shots.cuts if c.kind == "hard"])
    events = np.array([e.time for e in plan.events])
    jumps = []
    for before, after in zip(plan.scenes, plan.scenes[1:]):
        t = float(after.start)
        dv, da = after.valence - before.valence, after.arousal - before.arousal
        distance = math.hypot(dv, da)
        if distance < JUMP or da < RISE or dv < 0:
            continue
        if hard is not None and not (hard.size and np.min(np.abs(hard - t)) <= ON_THE_CUT):
            continue
        if events.size and np.min(np.abs(events - t)) < CLEAR_OF_EVENTS:
            continue
        jumps.append(Jump(t, min(1.0, 0.5 + (distance - JUMP) / 1.2)))
    return jumps


def answer_jumps(groups: dict, jumps: Sequence[Jump], chord_at, style: str, duration: float) -> None:
    """A stinger on each jump: the style's approach over the ``SWELL`` s before it, then a hit on the cut."""
    kit, timpani = _kit_and_timpani(groups)
    harmony = _harmony(groups)
    previous = 0.0
    for jump in jumps:
        t, s = jump.time, jump.strength
        if not 0 < t < duration - 0.05:
            continue
        t0 = max(previous, t - SWELL)
        if kit is not None and t - t0 >= 0.25:
            track = groups[kit.group]
            if style == "rock":  # a fill down the kit in place of the groove
                start = max(t0, t - FILL)
                _clear(track.notes, DRUM_CHANNEL, start, t)
                toms = (SNARE, SNARE, HIGH_TOM, HIGH_TOM, MID_TOM, LOW_TOM, FLOOR_TOM, FLOOR_TOM)
                _fill(track.notes, start, (t - start) / len(toms), toms, lambda k: _vel(55 + 45 * s * (k + 1) / len(toms)))
            else:
                _swell(track.notes, t0, t, s, CRASH_2)
        if s >= BIG and style != "ambient":
            _drop_out(groups, t - DROP, t)
        if style == "electronic" and harmony is not None:
            _roll(harmony.notes, t0, t, (t0, t), s, harmony.parts[0].channel, _climbing(chord_at(t0), (60, 72, 84)))
        _hit(groups, kit, timpani, chord_at(t), t, s, duration)
        previous = t


def _swell(notes: list, t0: float, t1: float, s: float, key: int) -> None:
    """A cymbal rolled with soft mallets: 16 strokes a second from almost nothing to the cut (a squared crescendo)."""
    n = max(2, int(round((t1 - t0) * 16)))
    for k in range(n):
        u = k / n
        notes.append((t0 + u * (t1 - t0), t1, key, _vel(20 + (50 + 40 * s) * u * u), DRUM_CHANNEL))
