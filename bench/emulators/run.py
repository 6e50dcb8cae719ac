"""bench/emulators: the speed targets the unit tests used to assert, measured here as ratios against the raw
engine in the same run (a test on a busy machine must not fail for being slow; a benchmark says how fast).

    .venv/bin/python bench/emulators/run.py [--rounds 3]

- Translate: TranslateText through a boto3 client and the emulator (long-lived null-flush Apertium pipelines),
  en->es direct and en->fr through Spanish, against the one-shot `apertium -u eng-spa` command on the same
  text (what each request cost before the pipelines). Also the words per second, for the README.
- Polly: SynthesizeSpeech (MP3) through a boto3 client and the emulator, against espeak-ng + sox run directly
  on the same text (the emulator's own overhead: SSML, marks, billing, the client). Also the real-time factor
  (seconds of work per second of speech).

Medians over the rounds, after one warm-up call each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import boto3

from docpipe_local.emulators.base import EmulatorHub
from docpipe_local.emulators.polly import PollyEmulator
from docpipe_local.emulators.translate import TranslateEmulator

PARAGRAPH = ("The committee approved the new budget for the regional transport network. "
             "Revenue from tickets rose by twelve percent, and the bridge repairs finished early. ") * 20
SPEECH = ("The inspection of the old bridge found no structural damage, and the report was approved today. "
          * 30)[:2990]


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def translate_rows(rounds: int, emulator: TranslateEmulator) -> list[str]:
    words = len(PARAGRAPH.split())
    client = boto3.client("translate", region_name="us-east-1")

    def emulated(target: str) -> None:
        emulator.hops.clear()  # the emulator keeps recent hops: each round translates anew, not from them
        client.translate_text(Text=PARAGRAPH, SourceLanguageCode="en", TargetLanguageCode=target)

    def one_shot() -> None:
        subprocess.run(["apertium", "-u", "eng-spa"], input=PARAGRAPH.encode(), capture_output=True, check=True)

    emulated("es"), emulated("fr"), one_shot()  # warm-up: pipelines started, files in the page cache
    direct = statistics.median(timed(lambda: emulated("es")) for _ in range(rounds))
    pivot = statistics.median(timed(lambda: emulated("fr")) for _ in range(rounds))
    baseline = statistics.median(timed(one_shot) for _ in range(rounds))
    return [f"| translate en->es | {words / direct:,.0f} words/s | {words / baseline:,.0f} words/s "
            f"(`apertium -u eng-spa`) | **{baseline / direct:.1f}x** |",
            f"| translate en->fr (via es) | {words / pivot:,.0f} words/s | the same one-shot en->es | "
            f"**{baseline / pivot:.1f}x** |"]


def polly_rows(rounds: int, emulator: PollyEmulator) -> list[str]:
    client = boto3.client("polly", region_name="us-east-1")

    def emulated() -> None:
        client.synthesize_speech(Text=SPEECH, VoiceId="Joanna", OutputFormat="mp3")["AudioStream"].read()

    def raw(folder: Path) -> None:
        wav, mp3 = folder / "speech.wav", folder / "speech.mp3"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav)], input=SPEECH.encode(), check=True,
                       capture_output=True)
        subprocess.run(["sox", "-q", str(wav), "-r", "22050", "-c", "1", "-C", "48", "-t", "mp3", str(mp3)],
                       check=True, capture_output=True)

    with tempfile.TemporaryDirectory() as folder:
        emulated(), raw(Path(folder))
        before = dict(emulator.stats)
        seconds = statistics.median(timed(emulated) for _ in range(rounds))
        audio = (emulator.stats["audio_seconds"] - before["audio_seconds"]) / rounds
        baseline = statistics.median(timed(lambda: raw(Path(folder))) for _ in range(rounds))
    return [f"| polly MP3, {len(SPEECH)} characters | {seconds:.2f} s for {audio:.0f} s of speech (real-time "
            f"factor {seconds / audio:.3f}) | {baseline:.2f} s (espeak-ng + sox) | **{seconds / baseline:.2f}x** "
            f"the raw engines' time |"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)
    polly, translate = PollyEmulator(), TranslateEmulator()
    hub = EmulatorHub()
    hub.register(translate)
    hub.register(polly)
    with hub:
        rows = translate_rows(args.rounds, translate) + polly_rows(args.rounds, polly)
    print("| what | emulator | raw engine, same run | ratio |\n|---|---|---|---|")
    print("\n".join(rows))
    print("\ntargets: translate >= 2x the one-shot command direct, >= 1x through Spanish; polly real-time factor "
          "<= 0.2 and <= 1.5x the raw engines' time")


if __name__ == "__main__":
    main()
