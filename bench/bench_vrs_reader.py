"""The pipeline's VRS reader against projectaria-tools alone, on the real Aria Gen 1 recording.

Input: the shared fixtures' real recording (`../shared/fixtures/real/aria/gen1_aea/recording.vrs`,
0.4 s: 8 RGB frames 1408×1408 JPEG, 4 microphone records of 7 channels at 48 kHz). It is short,
so each pass is repeated and the best of several runs is kept.

Prints:
  * speed: every RGB frame decoded to an array plus the microphones mixed to mono, with
    `egoinstruct.media.reader.open_recording` against the same work written directly on
    projectaria-tools' data provider (target ratio <= 1.3), and frames and audio apart;
  * streaming: the memory a pass over the frames adds beyond the opened recording, in frames'
    worth (1408×1408×3 bytes), against keeping every frame, which is what a reader that does not
    stream would need; a streaming reader stays near 1–2 frames whatever the recording's length.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from egoinstruct.media.reader import open_recording
from egoinstruct.media.vrs import native_output_to_log

from common import run_child, timed

VRS = Path(os.environ.get("EGOINSTRUCT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / (
    "fixtures/real/aria/gen1_aea/recording.vrs")
PASSES = 20  # passes over the 0.4 s file per timed run
ROUNDS = 7
CHANNELS = [0, 2]  # the Gen 1 channels the device audio mixes (config media.aria_mic_channels)


def projectaria_alone(path: Path, frames: bool = True, audio: bool = True) -> None:
    """The reference: the same frames and mono audio with projectaria-tools' API only."""
    import cv2
    from projectaria_tools.core import data_provider

    with native_output_to_log():  # the pipeline's reader silences the same start-up lines
        provider = data_provider.create_vrs_data_provider(str(path))
    if frames:
        rgb = provider.get_stream_id_from_label("camera-rgb")
        for index in range(provider.get_num_data(rgb)):
            cv2.cvtColor(provider.get_image_data_by_index(rgb, index)[0].to_numpy_array(), cv2.COLOR_RGB2BGR)
    if audio:
        mic = provider.get_stream_id_from_label("mic")
        blocks = []
        for index in range(provider.get_num_data(mic)):
            data, _ = provider.get_audio_data_by_index(mic, index)
            raw = np.asarray(data.data, dtype=np.int64).reshape(-1, 7)
            blocks.append((raw[:, CHANNELS].mean(axis=1) / data.max_amplitude).astype(np.float32))
        np.concatenate(blocks)


def pipeline_reader(path: Path, frames: bool = True, audio: bool = True) -> None:
    reader = open_recording(path)
    if frames:
        for _, frame in reader.frames():
            frame.to_bgr()
    if audio:
        reader.audio(48_000)  # the native rate: the same samples as the reference, placed on the device clock


def repeated(fn, path: Path, **parts: bool):
    return lambda: [fn(path, **parts) for _ in range(PASSES)]


STREAM_CODE = """
import resource
from egoinstruct.media.reader import open_recording
reader = open_recording({path!r})
stamps = reader.frame_timestamps_ns
first = next(iter(reader.frames()))[1].to_bgr()  # libraries and the JPEG decoder warmed up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kept = []
for _ in range(3):
    for _, frame in reader.frames():
        image = frame.to_bgr()
        if {keep}:
            kept.append(image)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
RESULT = {{"growth_mib": after - before, "frames": len(kept) or 3 * len(stamps), "frame_mib": first.nbytes / 2**20}}
"""


def main() -> None:
    if not VRS.exists():
        sys.exit(f"{VRS}: the shared real Aria recording is missing (set EGOINSTRUCT_SHARED to the shared folder)")
    print(f"input: {VRS} (real Aria Gen 1, 0.4 s: 8 RGB frames 1408x1408, 7-channel 48 kHz audio); "
          f"{PASSES} passes per run, best of {ROUNDS} interleaved runs")
    for label, parts in (("frames + audio", {}), ("frames only", {"audio": False}), ("audio only", {"frames": False})):
        # interleaved rounds, best of each: a busy machine slows both alike
        rounds = [(timed(repeated(projectaria_alone, VRS, **parts), repeats=1),
                   timed(repeated(pipeline_reader, VRS, **parts), repeats=1)) for _ in range(ROUNDS)]
        reference, ours = min(r for r, _ in rounds), min(o for _, o in rounds)
        target = "target <= 1.3" if not parts else "for reference"
        print(f"{label:15s} projectaria-tools alone {reference / PASSES * 1e3:7.1f} ms/pass   "
              f"pipeline reader {ours / PASSES * 1e3:7.1f} ms/pass   ratio {ours / reference:.2f} ({target})")

    streamed = run_child(STREAM_CODE.format(path=str(VRS), keep=False))
    kept = run_child(STREAM_CODE.format(path=str(VRS), keep=True))
    frame = streamed["frame_mib"]
    print(f"streaming: 3 passes over {streamed['frames'] // 3} frames ({frame:.1f} MiB each) add "
          f"{streamed['growth_mib']:.1f} MiB to the peak = {streamed['growth_mib'] / frame:.1f} frames' worth; "
          f"keeping the {kept['frames']} frames adds {kept['growth_mib']:.1f} MiB = {kept['growth_mib'] / frame:.1f} "
          "frames' worth (a streaming reader stays near 1-2 frames, independent of the recording's length)")


if __name__ == "__main__":
    main()
