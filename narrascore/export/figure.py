"""``figure.png``: the soundtrack's spectrogram over the narrative valence/arousal curves (the paper's Figure 4).

The spectrogram is computed streaming: the soundtrack is read in chunks, downmixed, low-passed and
decimated to 12 kHz (filter state carried across chunks), cut into 1024-sample frames, and the power
spectra of consecutive frames are averaged into at most ``MAX_COLUMNS`` columns, then mapped onto mel
bands. A two-hour film costs a few MB, not two hours of full-rate STFT.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..artifacts import NarrativePlan
from ..errors import OutputError
from ..fileio import atomic_path
from .loudness import iter_wav

MAX_COLUMNS = 2000
ANALYSIS_RATE = 12_000
N_FFT = 1024
FRAME_HOP = 256  # 21 ms at 12 kHz
N_MELS = 96
F_MIN = 40.0
DYNAMIC_RANGE_DB = 80.0
PNG_COMPRESSION = 3  # zlib level: a third of the default's time for a file about 10 % larger
ROLE_COLORS = {
    "setup": "#8fb3d9",
    "rising": "#f2c879",
    "climax": "#e06c5a",
    "falling": "#b39ddb",
    "resolution": "#8cc9a0",
}


def spectrogram(path: Path, *, max_columns: int = MAX_COLUMNS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mel power spectrogram of a sound file, streaming.

    Returns (times (c,) column centres in s, band_edges (N_MELS + 1,) in Hz, power_db (N_MELS, c) in dB
    re the loudest cell). Each column averages the power of ``ceil(frames / max_columns)`` frames.
    """
    rate, _channels, chunks = iter_wav(path)
    factor = max(1, rate // ANALYSIS_RATE)
    analysis_rate = rate / factor
    import soundfile as sf

    n_frames = max(1, (sf.info(str(path)).frames // factor - N_FFT) // FRAME_HOP + 1)
    per_column = max(1, math.ceil(n_frames / max_columns))
    from scipy import signal

    lowpass = signal.firwin(8 * factor + 1, 0.9 / factor) if factor > 1 else np.array([1.0])
    zi = np.zeros(lowpass.size - 1)
    phase = 0  # index of the next sample to keep after decimation
    window = np.hanning(N_FFT).astype(np.float32)
    buffer = np.zeros(0, np.float32)
    sums: list[np.ndarray] = []  # per-column summed power, (n_fft/2 + 1,)
    acc, acc_n = np.zeros(N_FFT // 2 + 1), 0
    for chunk in chunks:
        mono = chunk.mean(axis=1)
        filtered, zi = signal.lfilter(lowpass, 1.0, mono, zi=zi)
        decimated = filtered[phase::factor].astype(np.float32)
        phase = (phase - mono.shape[0]) % factor
        buffer = np.concatenate([buffer, decimated])
        count = (buffer.shape[0] - N_FFT) // FRAME_HOP + 1
        if count <= 0:
            continue
        frames = np.lib.stride_tricks.sliding_window_view(buffer, N_FFT)[::FRAME_HOP][:count]
        power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
        buffer = buffer[count * FRAME_HOP:]
        # Group frames into columns: top up the open column, then whole columns, keep the rest open.
        take = min(per_column - acc_n, power.shape[0])
        acc += power[:take].sum(axis=0)
        acc_n += take
        rest = power[take:]
        if acc_n == per_column:
            sums.append(acc / acc_n)
            whole = rest.shape[0] // per_column
            if whole:
                sums.extend(rest[: whole * per_column].reshape(whole, per_column, -1).mean(axis=1))
            rest = rest[whole * per_column:]
            acc, acc_n = rest.sum(axis=0), rest.shape[0]
    if acc_n:
        sums.append(acc / acc_n)
    spec = np.array(sums).T if sums else np.zeros((N_FFT // 2 + 1, 1))
    fb, edges = _mel_filterbank(analysis_rate)
    mel = fb @ spec
    db = 10.0 * np.log10(np.maximum(mel, 1e-12))
    db -= db.max()
    db = np.maximum(db, -DYNAMIC_RANGE_DB)
    column_seconds = per_column * FRAME_HOP / analysis_rate
    times = (np.arange(db.shape[1]) + 0.5) * column_seconds
    return times, edges, db


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def _mel_filterbank(rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangular mel filters (N_MELS, N_FFT/2+1) and the band edges (N_MELS+1,) in Hz for plotting."""
    f_max = rate / 2
    points = _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(f_max), N_MELS + 2))
    freqs = np.fft.rfftfreq(N_FFT, 1 / rate)
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)  # mean power in the band
    edges = np.sqrt(points[:-1] * points[1:])  # geometric midpoints between band centres
    return fb, edges


def prepare_drawing() -> None:
    """Import matplotlib's Agg backend: a quarter of a second, which a worker spends before it has anything to draw."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


def write_figure(
    out: Path,
    *,
    soundtrack: Path,
    plan: NarrativePlan,
    cuts: list[float],
    shot_cuts: list[float] | None = None,
    measured: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    title: str | None = None,
) -> Path:
    """Write the Figure-4 style PNG to ``out`` atomically and return its path.

    Top: mel spectrogram of ``soundtrack`` (dB). Bottom: the plan's narrative valence and arousal in [-1, 1]
    on the same time axis (s), scene arc roles as shaded bands with labels, scene cuts as vertical lines
    (``cuts`` in s), every shot cut as a tick along the bottom (``shot_cuts``), the plan's events as markers, the climax marked; ``measured`` = (times s, valence, arousal) of the music, dashed.
    """
    prepare_drawing()
    from matplotlib.figure import Figure

    out = Path(out)
    times, edges, db = spectrogram(soundtrack)
    duration = max(plan.duration, float(times[-1]) if times.size else 0.0)
    # Fixed margins (a layout engine would spend a third of the drawing time measuring every label)
    fig = Figure(figsize=(12, 6.4), dpi=150)
    ax_spec, ax_va = fig.subplots(2, 1, sharex=True, gridspec_kw={
        "height_ratios": [1.15, 1.0], "left": 0.065, "right": 0.925, "top": 0.945, "bottom": 0.085, "hspace": 0.16})

    t_edges = np.concatenate([[0.0], (times[:-1] + times[1:]) / 2, [times[-1] + (times[-1] - times[-2] if times.size > 1 else times[-1])]]) if times.size else np.array([0.0, duration])
    mesh = ax_spec.pcolormesh(t_edges, edges, db, cmap="magma", shading="flat", rasterized=True, vmin=-DYNAMIC_RANGE_DB, vmax=0)
    ax_spec.set_yscale("log")
    ax_spec.set_ylim(edges[0], edges[-1])
    ax_spec.set_yticks([50, 100, 250, 500, 1000, 2000, 4000])
    ax_spec.set_yticklabels(["50", "100", "250", "500", "1k", "2k", "4k"])
    ax_spec.set_ylabel("Frequency (Hz)")
    ax_spec.set_title(title or "Soundtrack spectrogram and narrative emotion", loc="left", fontsize=12, fontweight="bold")
    box = ax_spec.get_position()
    cbar = fig.colorbar(mesh, cax=fig.add_axes((box.x1 + 0.008, box.y0, 0.011, box.height)))
    cbar.set_label("dB")

    for scene in plan.scenes:
        ax_va.axvspan(scene.start, scene.end, color=ROLE_COLORS.get(scene.arc_role, "#dddddd"), alpha=0.22, lw=0)
        ax_va.text((scene.start + scene.end) / 2, 1.08, scene.arc_role, ha="center", va="bottom", fontsize=8,
                   color="#333333", clip_on=False)
    for t in cuts:
        for ax in (ax_spec, ax_va):
            ax.axvline(t, color="white" if ax is ax_spec else "#555555", lw=0.8, ls=":", alpha=0.8)

    if shot_cuts:
        ax_va.vlines(shot_cuts, -1.0, -0.88, color="#333333", lw=0.8, alpha=0.7, label="shot cuts")
    t_plan = np.asarray(plan.times)
    if plan.events:  # a marker per event at the narrative arousal, sized by strength, kind above it
        e_t = np.array([e.time for e in plan.events])
        e_a = np.interp(e_t, t_plan, plan.arousal) if t_plan.size else np.zeros(len(e_t))
        ax_va.scatter(e_t, e_a, s=[30 + 90 * e.strength for e in plan.events], marker="v", color="#ff8c00",
                      edgecolors="black", linewidths=0.6, zorder=6, label="events")
        for e, a in zip(plan.events, e_a):
            ax_va.annotate(e.kind, (e.time, a), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7, color="#8a4b00")
        ax_spec.vlines(e_t, edges[0], edges[-1], color="#ffb347", lw=0.9, ls="--", alpha=0.8)
    ax_va.plot(t_plan, plan.valence, color="#1f77b4", lw=2.0, label="valence (narrative)")
    ax_va.plot(t_plan, plan.arousal, color="#d62728", lw=2.0, label="arousal (narrative)")
    if measured is not None:
        m_t, m_v, m_a = (np.asarray(v, dtype=float) for v in measured)
        ax_va.plot(m_t, m_v, color="#1f77b4", lw=1.3, ls="--", alpha=0.9, label="valence (music, measured)")
        ax_va.plot(m_t, m_a, color="#d62728", lw=1.3, ls="--", alpha=0.9, label="arousal (music, measured)")
    climax_arousal = float(np.interp(plan.climax_time, t_plan, plan.arousal)) if t_plan.size else 0.0
    ax_va.axvline(plan.climax_time, color="#b22222", lw=1.2, alpha=0.6)
    ax_spec.axvline(plan.climax_time, color="#ff6b6b", lw=1.2, alpha=0.9)
    ax_va.plot([plan.climax_time], [climax_arousal], marker="*", ms=14, color="#b22222", mec="white", zorder=5)
    ax_va.annotate("climax", (plan.climax_time, climax_arousal), xytext=(9, -4), textcoords="offset points",
                   va="top", fontsize=9, color="#b22222", fontweight="bold",
                   bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    ax_va.axhline(0.0, color="#999999", lw=0.6)
    ax_va.set_ylim(-1.05, 1.05)
    ax_va.set_ylabel("Valence / arousal")
    ax_va.set_xlabel("Time (s)")
    ax_va.set_xlim(0, duration)
    ax_va.grid(axis="y", color="#e5e5e5", lw=0.6)
    ax_va.legend(loc="upper right", fontsize=8, ncol=4 if measured is not None else 2, framealpha=0.85)
    for ax in (ax_spec, ax_va):
        ax.spines[["top", "right"]].set_visible(False)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", pil_kwargs={"compress_level": PNG_COMPRESSION})
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the figure ({exc.strerror or exc})") from None
    return out
