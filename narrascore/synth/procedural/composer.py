"""The procedural composer: narrative plan + music concept -> a score (notes, controls, tempo map).

How the narrative drives the music (Gabrielsson & Lindström 2010; Livingstone et al.'s CMERS 2010;
details in docs/composer.md). ``a`` and ``v`` are the plan's arousal and valence sampled at every beat,
shifted per cue so that an edited cue intensity/valence in ``concept.json`` takes effect:

* **time grid**: every scene cut (and cue boundary) starts a new bar. Each segment between cuts gets
  a whole number of bars at the cue tempo (or of beats, with a short last bar, when whole bars
  would bend the tempo more than 15%); inside a segment beat lengths follow ``1 / tempo`` with the
  local tempo ``T_cue * (1 + 0.1 (a - mean a))``, so the tempo breathes with arousal beat by beat and
  the downbeats still land exactly on the cuts.
* **harmony**: a four-bar functional phrase per segment chosen by mode and affect class
  (calm, active, tense = negative valence with high arousal, which brings diminished sevenths,
  the Neapolitan and the tritone). A segment opens on its tonic and its last bar is a cadence into
  the next cue's key (predominant then dominant, resolving to the tonic exactly on the cut); the
  last segment ends V-I with a ritardando over its last two bars (the last beat 1.5 times as long),
  and (in pieces of 20 s or more, unless an event falls in the last bar) every part that is playing
  holds the final tonic from the last downbeat until 1 s before the end, where the room rings out.
* **melody**: one motif (rhythm per density level and a contour of scale steps) drawn from the seed
  and repeated through the score; strong beats snap to chord tones; register centre rises with
  valence (+4 semitones per unit) and arousal (+3); density goes from one note per bar to
  eighths as arousal rises; articulation shortens with arousal (legato 0.95 -> 0.65) and, detached
  (staccato), with positive valence.
* **counter-line** (``counterline``): where arousal is moderate, the pad plays a second voice against
  the melody, twice a bar, mostly in contrary motion and in thirds and sixths with it.
* **dynamics**: velocity 38..108 with arousal plus metric accents; CC7 and CC10 set the style's mix.
* **performance** (``performance``): humanised timing (none on the accents that mark cuts and events),
  velocity by phrase and metre, CC11 expression from arousal with swells inside long notes, and
  the sustain pedal for piano.
* **percussion**: none below the style's threshold, then density rising with arousal;
  a crash or timpani stroke accents a scene cut when the music is energetic.
* **shot cuts inside a scene** only nudge the texture: one extra accent note on the cut.
* **events** (``plan.events``) get a hit on their exact time, a build when the curve announces
  them and a drop-out before big ones (``answers``).
* **stingers** (``answers.story_jumps``): a hard scene cut where the story jumps (a scene far from the
  one before and more energetic) gets a hit, approached by the style's cymbal swell or tom fill.

Deterministic: every random choice comes from ``numpy.random.default_rng([concept.seed, ...])``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...artifacts import Cue, MusicConcept, NarrativePlan, Shots
from .answers import BIG, DROP, answer_events, answer_jumps, story_jumps
from .counterline import counter_line, in_counter_bar
from .harmony import PROGRESSIONS, TONIC, Chord, affect_class, chord, key_pitch_class, snap_to_chord, voicing
from .orchestration import (
    DRUM_CHANNEL, LOW_TOM, Part, bass_figure, harmony_figure, kit_figure, pad_figure, pattern_for, resolve_parts,
    timpani_figure, velocity,
)
from .performance import expression, pedal, perform
from .theme import Bar, Theme, avoid_parallels, compose_melody, draw_theme

COMPOSER_VERSION = 6  # part of the render stage's identity: a change of what is composed recomputes old renders
PERIOD = 8  # bars: an antecedent (ending on the progression's half cadence) and a consequent (ending V-I)
TEMPO_BREATH = 0.1  # local tempo change per unit of arousal above the segment mean
MAX_BAR_STRETCH = 0.15
RITARDANDO = 0.5  # the last beat of the piece is this much longer than its first unslowed beat
MIN_ENDING_SECONDS = 20.0  # shorter clips end in their groove, without the held final chord
RING_OUT_SECONDS = 1.0


@dataclass
class Track:
    """A group (track and stem): its parts and their notes [(start, end, pitch, velocity, channel)]."""

    name: str
    parts: list[Part]
    notes: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    controls: list[tuple[float, int, int, int]] = field(default_factory=list)  # (time, channel, cc, value)


@dataclass
class Score:
    """The composed piece; times in seconds. ``beat_times`` has one entry per beat plus the end."""

    tracks: list[Track]
    beat_times: np.ndarray
    bar_starts: np.ndarray  # index into beat_times of each bar's first beat
    bar_beats: np.ndarray  # beats in each bar
    scene_cuts: list[tuple[float, str]]
    cue_starts: list[tuple[float, str]]
    duration: float
    beats_per_bar: int
    chords: list[tuple[float, Chord]] = field(default_factory=list)  # harmonic rhythm: (start s, chord)

    def tempo_bpm(self) -> np.ndarray:
        return 60.0 / np.diff(self.beat_times)


# --------------------------------------------------------------------------- grid
def segment_bounds(plan: NarrativePlan, concept: MusicConcept) -> list[float]:
    """Every scene cut and cue boundary, sorted, from 0 to the plan's duration (seconds)."""
    times = {0.0, plan.duration}
    times.update(s.start for s in plan.scenes)
    times.update(c.start for c in concept.cues if 0 < c.start < plan.duration)
    out: list[float] = []
    for t in sorted(times):
        if not out or t - out[-1] > 1e-3:
            out.append(t)
    if plan.duration - out[-1] > 1e-9:
        out.append(plan.duration)
    out[-1] = plan.duration
    return out


def cue_at(concept: MusicConcept, t: float) -> int:
    for i, cue in enumerate(concept.cues):
        if cue.start - 1e-6 <= t < cue.end - 1e-6:
            return i
    return len(concept.cues) - 1 if t >= concept.cues[-1].start else 0


def segment_beats(length: float, tempo: float, beats_per_bar: int) -> int:
    """Beats in a segment of ``length`` s at ``tempo`` BPM: whole bars unless that bends tempo > 15%."""
    raw = length * tempo / 60.0
    bars = max(1, round(raw / beats_per_bar))
    if abs(bars * beats_per_bar / raw - 1.0) <= MAX_BAR_STRETCH:
        return bars * beats_per_bar
    return max(1, round(raw))


def _affect_sampler(plan: NarrativePlan, concept: MusicConcept):
    times = np.asarray(plan.times, dtype=float)
    arousal = np.asarray(plan.arousal, dtype=float)
    valence = np.asarray(plan.valence, dtype=float)
    offsets = []
    for cue in concept.cues:
        grid = np.linspace(cue.start, cue.end, 16)
        offsets.append(((2 * cue.intensity - 1) - float(np.interp(grid, times, arousal).mean()),
                        cue.valence - float(np.interp(grid, times, valence).mean())))

    def sample(t: np.ndarray, cue_index: int) -> tuple[np.ndarray, np.ndarray]:
        da, dv = offsets[cue_index]
        a = np.clip(np.interp(t, times, arousal) + da, -1, 1)
        v = np.clip(np.interp(t, times, valence) + dv, -1, 1)
        return a, v

    return sample


# --------------------------------------------------------------------------- composition
def compose(plan: NarrativePlan, concept: MusicConcept, shots: Shots | None = None) -> Score:
    """Compose the score (see module docstring). Pure and deterministic given ``concept.seed``."""
    rng = np.random.default_rng([concept.seed, 0x5C0E])
    pattern = pattern_for(concept.style)
    bpb = concept.beats_per_bar
    sample = _affect_sampler(plan, concept)
    bounds = segment_bounds(plan, concept)

    # ---- beat grid and bars
    beat_times: list[float] = []
    bars_meta: list[tuple[int, int, int, int]] = []  # (first beat index, n beats, segment, cue)
    for seg, (t0, t1) in enumerate(zip(bounds[:-1], bounds[1:])):
        ci = cue_at(concept, (t0 + t1) / 2)
        cue = concept.cues[ci]
        n = segment_beats(t1 - t0, cue.tempo, bpb)
        uniform = t0 + (t1 - t0) * np.arange(n) / n
        a, _ = sample(uniform, ci)
        weights = 1.0 / (1.0 + TEMPO_BREATH * (a - a.mean()))
        if seg == len(bounds) - 2 and n > 2 * bpb:  # the piece ends: a ritardando over its last two bars
            weights[-2 * bpb:] *= np.linspace(1.0, 1.0 + RITARDANDO, 2 * bpb)
        starts = t0 + np.concatenate([[0.0], np.cumsum(weights)[:-1]]) * (t1 - t0) / weights.sum()
        first = len(beat_times)
        beat_times.extend(starts.tolist())
        for b in range(0, n, bpb):
            bars_meta.append((first + b, min(bpb, n - b), seg, ci))
    beat_times.append(plan.duration)
    grid = np.asarray(beat_times)

    # ---- harmony per bar
    bars = _harmonise(bars_meta, grid, concept, sample, rng, len(bounds) - 1)

    # ---- parts
    parts = resolve_parts(concept.instruments)
    groups: dict[str, Track] = {}
    for part in parts:
        groups.setdefault(part.group, Track(part.group, [])).parts.append(part)
    theme = draw_theme(rng)
    classes = [affect_class(c.valence, 2 * c.intensity - 1) for c in concept.cues]
    tense = (lambda i: classes[bars_meta[i][3]] == "tense")  # noqa: E731
    for track in groups.values():
        for part in track.parts:
            track.notes.extend((s, e, p, v, part.channel) for s, e, p, v in _play(part, bars, pattern, theme, tense))
    if "melody" in groups and groups.get("pad") is not None and groups["pad"].parts:
        pad = groups["pad"]
        breaths = [(e.time - DROP, e.time) for e in plan.events if e.strength >= BIG]
        line = counter_line(bars, groups["melody"].notes, pad.notes, breaths)
        pad.notes.extend((s, e, p, v, pad.parts[0].channel) for s, e, p, v in line)
    _shot_accents(groups, shots, bounds, bars, pattern)
    chord_at = _chord_lookup(bars)
    jumps = story_jumps(plan, shots)
    answer_jumps(groups, jumps, chord_at, concept.style, plan.duration)
    if plan.events:
        arousal_at = (lambda t: float(np.interp(t, plan.times, plan.arousal)))  # noqa: E731
        answer_events(groups, plan.events, chord_at, arousal_at, concept.style, plan.duration)
    if plan.duration >= MIN_ENDING_SECONDS and not any(e.time >= bars[-1].start for e in plan.events):
        _final_hold(groups, bars[-1], plan.duration)  # (an event in the last bar, or a short clip, keeps its groove)
    _outer_voices(groups, bars)
    anchors = list(bounds) + [bars[-1].start] + [e.time for e in plan.events]
    anchors += list(shots.cut_times()) if shots is not None else []
    perform(groups, bars, anchors, seed=concept.seed, duration=plan.duration)
    beat_arousal = np.concatenate([b.arousal for b in bars])
    chord_changes = [(t, float(np.interp(t, bar.beats, bar.arousal))) for bar in bars for t, _ in bar.chords]
    for track in groups.values():
        _clean_overlaps(track, plan.duration)
        expression(track, grid, beat_arousal, volume=pattern.volume.get(track.name, 100), pan=pattern.pan.get(track.name, 64),
                   duration=plan.duration)
        if concept.style == "piano" and track.name in ("harmony", "bass"):
            pedal(track, chord_changes, plan.duration)

    cuts = [(s.start, _ascii(f"scene {i}: {s.caption}")[:120]) for i, s in enumerate(plan.scenes)]
    cue_marks = [(c.start, f"cue {i}: {c.key} {c.mode} {c.tempo:.0f} BPM") for i, c in enumerate(concept.cues)]
    return Score(
        tracks=list(groups.values()), beat_times=grid,
        bar_starts=np.array([m[0] for m in bars_meta]), bar_beats=np.array([m[1] for m in bars_meta]),
        scene_cuts=cuts, cue_starts=cue_marks, duration=plan.duration, beats_per_bar=bpb,
        chords=[c for bar in bars for c in bar.chords],
    )


def _ascii(text: str) -> str:
    """Marker text as plain ASCII (MIDI meta text is read as Latin-1 by most tools)."""
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2018", "'").replace("\u2019", "'")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _cue_key(cue: Cue) -> tuple[int, str]:
    return key_pitch_class(cue.key), cue.mode


def _harmonise(bars_meta, grid, concept, sample, rng, n_segments) -> list[Bar]:
    bars: list[Bar] = []
    by_segment: dict[int, list[tuple[int, int, int, int]]] = {}
    for meta in bars_meta:
        by_segment.setdefault(meta[2], []).append(meta)
    for seg in range(n_segments):
        metas = by_segment[seg]
        ci = metas[0][3]
        cue = concept.cues[ci]
        tonic, mode = _cue_key(cue)
        last_segment = seg == n_segments - 1
        if last_segment:
            next_tonic, next_mode = tonic, mode
        else:
            next_ci = by_segment[seg + 1][0][3]
            next_tonic, next_mode = _cue_key(concept.cues[next_ci])
        options = PROGRESSIONS[(mode, affect_class(cue.valence, 2 * cue.intensity - 1))]
        progression = options[int(rng.integers(len(options)))]
        energetic = cue.intensity > 0.6
        dominant = "V7" if energetic else "V"
        predominant = "IV" if next_mode == "major" else "iv"
        n = len(metas)
        for j, (b0, nb, _, _) in enumerate(metas):
            t0, t1 = float(grid[b0]), float(grid[b0 + nb])
            mid = float(grid[b0 + nb // 2]) if nb >= 2 else None
            if last_segment and j == n - 1:  # the piece ends on its tonic
                chords = [(t0, chord(TONIC[mode], tonic, mode))]
            elif last_segment and j == n - 2 and j > 0:
                chords = [(t0, chord(dominant, tonic, mode))]
            elif j == n - 1:  # cadence into the next segment's tonic, which sounds on the cut
                if n == 1:
                    chords = [(t0, chord(TONIC[mode], tonic, mode))]
                    if mid is not None:
                        chords.append((mid, chord(dominant, next_tonic, next_mode)))
                elif mid is not None and cue.intensity < 0.5:
                    chords = [(t0, chord(predominant, next_tonic, next_mode)), (mid, chord(dominant, next_tonic, next_mode))]
                else:
                    chords = [(t0, chord(dominant, next_tonic, next_mode))]
            elif j % PERIOD == PERIOD - 1 and mid is not None:  # the period's consequent closes V-I
                chords = [(t0, chord(dominant, tonic, mode)), (mid, chord(TONIC[mode], tonic, mode))]
            else:  # (the antecedent, four bars of the progression, ends on its half cadence)
                chords = [(t0, chord(progression[j % len(progression)], tonic, mode))]
            beats = grid[b0:b0 + nb]
            a, v = sample(beats, ci)
            bars.append(Bar(t0, t1, beats, a, v, tuple(chords), seg, j == 0, j == n - 1))
    return bars


def _play(part: Part, bars: list[Bar], pattern, theme: Theme, tense):
    role = part.group
    if part.is_drum:
        return _play_kit(bars, pattern)
    if role == "percussion":
        return _play_timpani(bars, pattern)
    if role == "melody":
        return compose_melody(bars, theme, center=pattern.melody_center, min_arousal=pattern.melody_min_arousal,
                              tense=tense, velocity=lambda a, accent: velocity(a, accent, base=44, span=68))
    notes = []
    previous = None
    sounding: dict[int, int] = {}  # pad pitch -> index of its note in ``notes``
    for bar in bars:
        for k, (t0, ch) in enumerate(bar.chords):
            t1 = bar.chords[k + 1][0] if k + 1 < len(bar.chords) else bar.end
            mask = (bar.beats >= t0 - 1e-9) & (bar.beats < t1 - 1e-9)
            beats, arousal = bar.beats[mask], bar.arousal[mask]
            if len(beats) == 0:
                beats, arousal = np.array([t0]), bar.arousal[:1]
            if role == "harmony":
                figure, previous = harmony_figure(pattern.harmony, ch, t0, t1, beats, arousal, previous)
                notes.extend(figure)
            elif role == "bass":
                notes.extend(bass_figure(pattern.bass, ch, t0, t1, beats, arousal))
            elif role == "pad":
                if float(arousal.mean()) >= pattern.pad_min_arousal:
                    figure, voice = pad_figure(ch, t0, t1, float(arousal.mean()), previous, top=not in_counter_bar(bar))
                    tied: dict[int, int] = {}
                    for s, e, p, v in figure:  # common tones are tied over, not struck again (legato)
                        i = sounding.get(p)
                        if i is not None and abs(notes[i][1] - s) < 1e-9:
                            notes[i] = (notes[i][0], e, p, notes[i][3])
                            tied[p] = i
                        else:
                            notes.append((s, e, p, v))
                            tied[p] = len(notes) - 1
                    sounding = tied
                    previous = voice
                else:
                    previous, sounding = None, {}
    return notes


def _play_kit(bars: list[Bar], pattern):
    notes = []
    for bar in bars:
        if pattern.kit == "none" or float(bar.arousal[0]) < pattern.percussion_min_arousal:
            continue
        notes.extend(kit_figure(pattern.kit, bar.start, bar.end, bar.beats, bar.arousal, bar.first_in_segment))
    return notes


def _play_timpani(bars: list[Bar], pattern):
    notes = []
    for bar in bars:
        a0 = float(bar.arousal[0])
        if a0 < pattern.percussion_min_arousal and not (bar.first_in_segment and a0 > -0.6):
            continue
        for k, (t0, ch) in enumerate(bar.chords):
            t1 = bar.chords[k + 1][0] if k + 1 < len(bar.chords) else bar.end
            mask = (bar.beats >= t0 - 1e-9) & (bar.beats < t1 - 1e-9)
            if mask.any():
                notes.extend(timpani_figure(ch, t0, t1, bar.beats[mask], bar.arousal[mask]))
    return notes


def _chord_lookup(bars: list[Bar]) -> Callable[[float], Chord]:
    """``chord_at(t)``: the chord sounding at ``t`` s, in whichever bar holds ``t``."""
    starts = np.array([b.start for b in bars])
    return lambda t: bars[max(0, int(np.searchsorted(starts, t, side="right")) - 1)].chord_at(t)


def _outer_voices(groups: dict[str, Track], bars: list[Bar]) -> None:
    """No consecutive fifths or octaves between the melody and the bass (``theme.avoid_parallels``);
    a cadence's held last note keeps its root, the note before it moves instead."""
    melody, bass = groups.get("melody"), groups.get("bass")
    if melody is None or bass is None:
        return
    starts = np.array([b.start for b in bars])
    chord_at = _chord_lookup(bars)
    ends = {b.end for b in bars if b.last_in_segment}

    def strong(t: float) -> bool:  # on beat 1 or 3 of its bar
        bar = bars[max(0, int(np.searchsorted(starts, t, side="right")) - 1)]
        k = int(np.argmin(np.abs(bar.beats - t)))
        return abs(bar.beats[k] - t) < 1e-6 and k % 2 == 0

    melody.notes = avoid_parallels(melody.notes, bass.notes, chord_at, strong=strong,
                                   keep=lambda n: any(abs(n[1] - e) < 0.3 for e in ends) and n[1] - n[0] > 0.4)


def _shot_accents(groups: dict[str, Track], shots: Shots | None, bounds: list[float], bars: list[Bar], pattern) -> None:
    """A shot cut inside a scene adds one accent note on the cut (a tom, timpani or a chord tone)."""
    if shots is None or not bars:
        return
    starts = np.array([b.start for b in bars])
    for cut in shots.cut_times():
        if min(abs(cut - t) for t in bounds) < 0.25 or not 0 < cut < bounds[-1]:
            continue
        bar = bars[int(np.searchsorted(starts, cut, side="right")) - 1]
        a = float(np.interp(cut, bar.beats, bar.arousal))
        kit = next((p for t in groups.values() for p in t.parts if p.is_drum), None)
        if kit is not None and pattern.kit != "none" and a >= pattern.percussion_min_arousal:
            groups[kit.group].notes.append((cut, cut + 0.3, LOW_TOM, velocity(a, 6, base=30, span=80), DRUM_CHANNEL))
            continue
        harmony = groups.get("harmony")
        if harmony is not None and harmony.parts:
            p = snap_to_chord(72, bar.chord_at(cut))
            harmony.notes.append((cut, cut + 0.4, p, velocity(a, 4, base=30, span=64), harmony.parts[0].channel))


def _final_hold(groups: dict[str, Track], last: Bar, duration: float) -> None:
    """A real ending: from the last bar's downbeat every part that was playing holds the final tonic, then
    lets go ``RING_OUT_SECONDS`` before the end, so the room's tail (mix.py) is the last thing heard.

    Pitched parts sustain their tones of the tonic chord (the melody its root, the bass the root
    below); the drums keep only their strokes on that downbeat. Notes sounding into the bar stop there.
    """
    hold, tonic = last.start, last.chords[0][1]
    release = max(hold + 1.0, duration - RING_OUT_SECONDS)  # the chord lets go and the room rings out
    for track in groups.values():
        for part in track.parts:
            mine = [n for n in track.notes if n[4] == part.channel]
            before = [n for n in mine if hold - 4.0 <= n[0] < hold]
            keep = [n if n[1] <= hold else (n[0], hold, n[2], n[3], n[4]) for n in mine if n[0] < hold]
            if part.is_drum:
                keep += [n for n in mine if abs(n[0] - hold) < 1e-6]
            elif before:
                center = round(float(np.mean([n[2] for n in before])))
                v = int(np.clip(np.mean([n[3] for n in before]), 30, 110))
                if track.name in ("melody", "bass"):
                    pitches: tuple[int, ...] = (min((p for p in range(center - 6, center + 7) if p % 12 == tonic.root),
                                                    key=lambda p: (abs(p - center), p)),)
                else:
                    pitches = voicing(tonic, center, size=3 if track.name == "percussion" else 4)
                    pitches = pitches[:1] if track.name == "percussion" else pitches  # timpani: one drum
                keep += [(hold, release, p, v, part.channel) for p in pitches]
            track.notes = [n for n in track.notes if n[4] != part.channel] + keep


def _clean_overlaps(track: Track, duration: float) -> None:
    """Sort notes; a repeated pitch on a channel ends where the next one starts; clip to the piece."""
    notes = sorted((max(0.0, s), min(e, duration), p, v, c) for s, e, p, v, c in track.notes if s < duration - 1e-3)
    last: dict[tuple[int, int], int] = {}
    for i, (s, e, p, v, c) in enumerate(notes):
        j = last.get((c, p))
        if j is not None and notes[j][1] > s:
            s0, _, p0, v0, c0 = notes[j]
            notes[j] = (s0, s, p0, v0, c0)
        last[(c, p)] = i
    track.notes = [n for n in notes if n[1] - n[0] > 1e-3]


# --------------------------------------------------------------------------- MIDI
TICKS_PER_BEAT = 480


def write_midi(score: Score, path) -> None:
    """Write ``score`` as a type-1 MIDI file: a conductor track (tempo per beat, meters, markers at
    every scene cut and cue) and one track per instrument group, named after the group."""
    import mido

    grid = score.beat_times
    durations = np.diff(grid)

    def ticks(times) -> np.ndarray:
        t = np.asarray(times, dtype=float)
        k = np.clip(np.searchsorted(grid, t, side="right") - 1, 0, len(durations) - 1)
        return np.round(TICKS_PER_BEAT * (k + (t - grid[k]) / durations[k])).astype(np.int64)

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor: list[tuple[int, int, mido.MetaMessage]] = []
    for k, d in enumerate(durations):
        conductor.append((k * TICKS_PER_BEAT, 0, mido.MetaMessage("set_tempo", tempo=min(0xFFFFFF, int(round(d * 1e6))))))
    meter = None
    for first, n in zip(score.bar_starts.tolist(), score.bar_beats.tolist()):
        if n != meter:
            conductor.append((first * TICKS_PER_BEAT, 0, mido.MetaMessage("time_signature", numerator=int(n), denominator=4)))
            meter = n
    for t, text in score.scene_cuts:
        conductor.append((int(ticks([t])[0]), 1, mido.MetaMessage("marker", text=text)))
    for t, text in score.cue_starts:
        conductor.append((int(ticks([t])[0]), 2, mido.MetaMessage("cue_marker", text=text)))
    midi.tracks.append(_to_track("conductor", conductor))

    for track in score.tracks:
        events: list[tuple[int, int, str, dict]] = []  # (tick, order at a tick, message type, fields)
        for part in track.parts:
            if not part.is_drum:
                events.append((0, 0, "program_change", {"channel": part.channel, "program": part.program}))
        if track.controls:
            at = ticks([t for t, _, _, _ in track.controls]).tolist()
            for tick, (_, c, cc, value) in zip(at, track.controls):
                events.append((tick, 1, "control_change", {"channel": c, "control": cc, "value": value}))
        if track.notes:
            arr = np.array([(s, e) for s, e, _, _, _ in track.notes])
            on, off = ticks(arr[:, 0]), ticks(arr[:, 1])
            for (s, e, p, v, c), t_on, t_off in zip(track.notes, on.tolist(), off.tolist()):
                events.append((t_on, 3, "note_on", {"channel": c, "note": p, "velocity": v}))
                events.append((max(t_off, t_on + 1), 2, "note_off", {"channel": c, "note": p, "velocity": 0}))
        _check_data(track.name, events)
        midi.tracks.append(_to_track(track.name, [(tick, order, mido.Message(kind, skip_checks=True, **fields))
                                                  for tick, order, kind, fields in events]))
    midi.save(str(path))


def _check_data(name: str, events) -> None:
    """What mido would check of each message, at once: channels 0-15, data bytes 0-127 (its checks
    cost a third of writing a long score; the messages are then made without them)."""
    for _, _, kind, fields in events:
        if not 0 <= fields["channel"] <= 15 or any(not 0 <= v <= 127 for k, v in fields.items() if k != "channel"):
            raise ValueError(f"internal error: {kind} {fields} out of range in track {name}")


def _to_track(name: str, events) -> "mido.MidiTrack":
    import mido

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        message.time = int(tick - now)  # each message is this track's own: set in place, not copied
        track.append(message)
        now = tick
    return track
