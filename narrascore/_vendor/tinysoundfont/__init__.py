"""tinysoundfont 0.3.7's ``Synth``, cut to what the renderer calls (MIT: see vendor/tinysoundfont/).

Upstream's ``synth.py`` less live playback (``start``/``stop``, the only use of pyaudio), the sequencer
and the MIDI-file player; the method bodies are unchanged, so rendering is the same as the PyPI wheel's.
One addition: ``sfload(..., samples=)`` takes the decoded samples from a memory map (see fontcache).
The C++ side also reads the SoundFont's modulators (vendor/tinysoundfont/README.md).
"""

from __future__ import annotations

from . import _tinysoundfont

__version__ = "0.3.7"  # upstream release vendored; part of the render cache's identity
PATCH = 1  # our changes that alter rendered samples (SF2 modulators); part of the identity too
MAX_CHANNELS = 16
_FRAME_BYTES = 8  # stereo float32


class SoundFontException(Exception):
    """An exception raised from tinysoundfont."""


class Synth:
    """A synthesizer: SoundFonts by id, each MIDI channel bound to one of them."""

    def __init__(self, gain: float = 0, samplerate: int = 44100):
        self.gain = gain
        self.samplerate = samplerate
        self.soundfonts: dict[int, _tinysoundfont.SoundFont] = {}
        self.next_sfid = 0
        self.channel: dict[int, int] = {}  # channel -> sfid

    def _get_soundfont(self, sfid: int):
        if sfid not in self.soundfonts:
            raise SoundFontException("Invalid SoundFont id")
        return self.soundfonts[sfid]

    def _get_sfid(self, chan: int) -> int:
        if chan not in self.channel:
            raise SoundFontException("Invalid channel (channel not assigned)")
        return self.channel[chan]

    def sfload(self, filename_or_bytes: str | bytes, gain: float = 0.0, max_voices: int = 256, samples=None) -> int:
        """Load an sf2/sf3/sfo SoundFont (path or bytes) and return its id; unassigned channels use it.

        ``samples`` (narrascore): the font's decoded samples (float32, e.g. memory-mapped), used instead of
        reading and converting the file's own.
        """
        if samples is not None:
            soundfont = _tinysoundfont.SoundFont(filename_or_bytes, samples)
        else:
            soundfont = _tinysoundfont.SoundFont(filename_or_bytes)
        soundfont.set_output(_tinysoundfont.OutputMode.StereoInterleaved, self.samplerate, self.gain + gain)
        soundfont.set_max_voices(max_voices)
        sfid = self.next_sfid
        self.next_sfid += 1
        self.soundfonts[sfid] = soundfont
        for chan in range(MAX_CHANNELS):
            if chan not in self.channel:
                self.channel[chan] = sfid
        return sfid

    def program_select(self, chan: int, sfid: int, bank: int, preset: int, is_drums: bool = False) -> None:
        """Bind ``chan`` to SoundFont ``sfid`` and select ``bank``/``preset`` (0-based) on it."""
        soundfont = self._get_soundfont(sfid)
        self.channel[chan] = sfid
        soundfont.channel_set_bank(chan, bank)
        soundfont.channel_set_preset_number(chan, preset, is_drums)

    def noteon(self, chan: int, key: int, velocity: int) -> bool:
        """Start ``key`` at ``velocity`` (0-127); False if out of range or the channel has no SoundFont."""
        if not (0 <= key <= 127 and 0 <= velocity <= 127) or chan not in self.channel:
            return False
        self._get_soundfont(self._get_sfid(chan)).channel_note_on(chan, key, velocity / 127.0)
        return True

    def noteoff(self, chan: int, key: int) -> bool:
        """Release ``key``; False if out of range or the channel has no SoundFont."""
        if not 0 <= key <= 127 or chan not in self.channel:
            return False
        self._get_soundfont(self._get_sfid(chan)).channel_note_off(chan, key)
        return True

    def control_change(self, chan: int, controller: int, control_value: int) -> None:
        """A MIDI 1.0 control change (volume, pan, expression, RPNs, ...) on ``chan``."""
        self._get_soundfont(self._get_sfid(chan)).channel_midi_control(chan, controller, control_value)

    def generate_simple(self, samples: int, buffer: memoryview | None = None) -> memoryview:
        """Fill ``buffer`` (or a new one of ``samples`` frames) with stereo float32, every SoundFont mixed."""
        if buffer is None:
            buffer = memoryview(bytearray(samples * _FRAME_BYTES))
        mix = False
        for soundfont in self.soundfonts.values():
            soundfont.render(buffer, mix)
            mix = True
        return buffer
