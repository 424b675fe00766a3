"""Transcription: real-time factor, and overhead against calling faster-whisper directly.

Prints, for the instructor's head-camera audio of one 60 s demo session (synthetic espeak-ng
dialogue with work sounds, generated once into bench/.cache):
  * the real-time factor (processing time / audio time) of the transcription stage
    (egoinstruct.speech.asr.Transcriber.transcribe: silero VAD, whisperx batched ASR, word
    times), models loaded beforehand;
  * the same for faster-whisper called directly on the same audio with the same model,
    compute type, threads, language, beam, decoding options, VAD and word timestamps — the
    reference, measured in this run — and the ratio stage / reference (target <= 1.15);
  * the diarization step's cost against the transcription stage's, as a ratio: the two-wearer
    level diarizer (the default when both wearers' tracks have audio) and the offline diarizer
    (embeddings + clustering on one track, roles by level), each best-of-3 on the same session,
    speech regions given (the VAD runs once for both steps);
  * for information: the whole per-session job (diarization and roles included) on all of the
    session's tracks, and the model load times.
Both sides are timed best-of-3, alternating, so load from other processes hits them alike.
Settings: the ``speech`` section of config/config.yaml.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import CACHE, timed

SESSION = "bench01"
THREADS = int(os.environ.get("BENCH_THREADS", "2"))


def demo_session(duration_s: int = 60) -> Path:
    """One demo session (all devices), cached."""
    from egoinstruct.demo import DemoSettings, generate_session, procedure_for
    from egoinstruct.settings.workflow import defaults_for

    root = CACHE / f"demo_{duration_s}s"
    if not (root / SESSION / "truth" / "dialogue.tsv").exists():
        root.mkdir(parents=True, exist_ok=True)
        generate_session(SESSION, procedure_for(0), root, defaults_for(DemoSettings, duration_s=duration_s))
    return root / SESSION


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"CPU threads of both sides (default $BENCH_THREADS or 2: {THREADS})")
    parser.add_argument("--duration-s", type=int, default=60, help="length of the demo session (default 60)")
    args = parser.parse_args(argv)
    threads = args.threads

    import torch
    from faster_whisper import WhisperModel

    from egoinstruct.media.audio import decode_audio
    from egoinstruct.settings.workflow import default_settings
    from egoinstruct.speech.session import SessionAudio, SpeechModels, transcribe_session

    torch.set_num_threads(threads)
    folder = demo_session(args.duration_s)
    tracks = {}
    for device in ("instructor_aria", "learner_aria", "exo_gopro"):
        decoded = decode_audio(folder / f"{device}.mp4")
        assert decoded is not None
        tracks[device] = decoded.samples
    n = min(len(t) for t in tracks.values())
    tracks = {d: t[:n] for d, t in tracks.items()}  # device clocks differ by < 3 s; fine for timing
    audio = tracks["instructor_aria"]
    seconds = len(audio) / 16000

    settings = default_settings().speech  # the speech section of config/config.yaml
    start = time.perf_counter()
    models = SpeechModels(settings, threads=threads)
    ours_load = time.perf_counter() - start
    transcriber = models.transcriber
    asr = settings.asr
    start = time.perf_counter()
    reference_model = WhisperModel(transcriber.source.location, device=asr.device, compute_type=asr.compute_type,
                                   cpu_threads=threads)
    reference_load = time.perf_counter() - start
    options = transcriber.pipeline.options  # whisperx's effective decoding options

    def ours() -> None:
        transcriber.transcribe(audio)

    def reference() -> None:
        segments, _ = reference_model.transcribe(
            audio, language=transcriber.language, beam_size=asr.beam_size, best_of=options.best_of,
            patience=options.patience, length_penalty=options.length_penalty,
            temperature=list(options.temperatures), compression_ratio_threshold=options.compression_ratio_threshold,
            log_prob_threshold=options.log_prob_threshold, no_speech_threshold=options.no_speech_threshold,
            condition_on_previous_text=options.condition_on_previous_text, word_timestamps=True, vad_filter=True,
        )
        list(segments)  # decoding is lazy

    ours(), reference()  # warm-up: first-call allocations, lazily built tokenizers
    best_ours, best_reference = float("inf"), float("inf")
    for _ in range(3):
        best_ours = min(best_ours, timed(ours, 1))
        best_reference = min(best_reference, timed(reference, 1))
    result = transcriber.transcribe(audio)
    print(f"audio: {seconds:.1f} s (demo session {SESSION}, instructor head camera), {threads} threads, "
          f"model {transcriber.source.description}, {asr.compute_type}, beam {asr.beam_size}")
    print(f"reference: faster-whisper transcribe (VAD, word timestamps): {best_reference:.2f} s  "
          f"RTF {best_reference / seconds:.3f}")
    print(f"transcription stage (VAD + whisperx batched ASR + {result.alignment} word times): {best_ours:.2f} s  "
          f"RTF {best_ours / seconds:.3f}  ratio {best_ours / best_reference:.2f} (target <= 1.15)")
    print("  split of one run: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.seconds.items()))

    from egoinstruct.speech.diarize import speaker_count
    from egoinstruct.speech.level import level_diarize
    from egoinstruct.speech.roles import assign_roles
    from egoinstruct.speech.session import union_regions
    from egoinstruct.speech.vad import speech_regions

    wearers = {"instructor": tracks["instructor_aria"], "learner": tracks["learner_aria"]}
    regions = {role: speech_regions(track, 16000, settings.vad, asr.chunk_size_s) for role, track in wearers.items()}
    both = union_regions(*regions.values())
    level_s = timed(lambda: level_diarize(wearers, both, settings.level_diarizer, settings.roles), 3)

    def offline() -> None:
        result = models.diarizer(wearers["instructor"], regions["instructor"], speaker_count(2, settings.speakers))
        assign_roles(result.turns, result.centroids, wearers, settings.roles, regions)

    offline_s = timed(offline, 3)
    print(f"diarization, level (two wearers): {level_s:.2f} s  ratio to transcription {level_s / best_ours:.3f}; "
          f"{models.diarizer.method} diarizer + roles: {offline_s:.2f} s  ratio {offline_s / best_ours:.3f}")

    session = SessionAudio(SESSION, tracks, {"instructor_aria": "instructor", "learner_aria": "learner",
                                             "exo_gopro": "exo"}, "instructor_aria")
    job = timed(lambda: transcribe_session(session, settings, threads, models), 1)
    print(f"whole transcribe job on the session (VAD, level diarization with roles, ASR, words): "
          f"{job:.2f} s  RTF {job / seconds:.3f} (for information)")
    print(f"model load: stage {ours_load:.1f} s (whisperx, diarizer), faster-whisper {reference_load:.1f} s "
          f"(for information; once per job)")


if __name__ == "__main__":
    main()
