import numpy as np
import pytest

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError
from egoinstruct.media.audio import decode_audio, place_on_session_clock, read_wav, write_wav

from conftest import make_video


def test_decode_to_16k_mono(tmp_path):
    video = make_video(tmp_path / "v.mp4", duration_s=3.0)
    audio = decode_audio(video)
    assert audio.sample_rate_hz == 16000 and audio.original_rate_hz == 48000
    assert audio.original_channels == 2 and audio.original_layout == "stereo"
    assert len(audio.samples) / 16000 == pytest.approx(3.0, abs=0.05)
    # a 440 Hz tone survives resampling
    spectrum = np.abs(np.fft.rfft(audio.samples[:16000]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)


def test_no_audio_stream_and_corrupt_file(tmp_path):
    assert decode_audio(make_video(tmp_path / "mute.mp4", audio=False)) is None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match="junk.mp4: FFmpeg cannot read it as audio or video"):
        decode_audio(junk)


def test_wav_round_trip(tmp_path):
    samples = np.sin(np.linspace(0, 100, 16000)).astype(np.float32) * 0.5
    write_wav(tmp_path / "a.wav", samples)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and np.abs(back - samples).max() < 1e-4


def _clock(offset_s: float, duration_s: float) -> DeviceClock:
    return DeviceClock(device="d", offset_s=offset_s, drift_ppm=0.0, session_duration_s=duration_s)


def test_place_on_session_clock_shift_pad_trim():
    samples = np.arange(1, 11, dtype=np.float32)  # device samples 1..10 at "rate" 10 Hz
    # device started 0.3 s after t=0: three samples of silence first, then the audio, padded
    out = place_on_session_clock(samples, 10, _clock(0.3, 1.5))
    assert out.tolist() == [0, 0, 0, *range(1, 11), 0, 0]
    # device started 0.2 s before t=0: its first two samples are cut
    out = place_on_session_clock(samples, 10, _clock(-0.2, 0.5))
    assert out.tolist() == [3, 4, 5, 6, 7]
    # half a sample: interpolated
    out = place_on_session_clock(samples, 10, _clock(0.05, 0.3))
    assert out[1:].tolist() == pytest.approx([1.5, 2.5])
