"""Scale-to-zero on this machine: resident memory of the local model host before load, loaded, and after one
idle window with the idle unloader running; plus the cold (reload) and warm latency of one short answer.

    python bench/endpoints/run.py [--window 2] [--n-ctx 8192]

Prints a Markdown table (RSS from /proc/self/status, VmRSS). Numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time

from docpipe_local.engines.llm import IdleUnloader, LocalLLM

PROMPT = [{"role": "user", "content": "In one sentence: why do bridges have expansion joints?"}]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=2.0, help="idle window in seconds (default 2)")
    parser.add_argument("--n-ctx", type=int, default=None, help="context size (default: the host's, 8192)")
    args = parser.parse_args()

    rows = [("process start", rss_mb(), "", "")]
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as LocalLLM.load sets it, before libgomp loads
    import jinja2.sandbox  # noqa: F401  the libraries stay imported after an unload: count them apart
    import llama_cpp  # noqa: F401

    llm = LocalLLM(n_ctx=args.n_ctx)
    rows.append(("libraries imported, model not loaded", rss_mb(), "", "False"))
    unloader = IdleUnloader(llm, window_s=args.window, interval_s=min(0.1, args.window / 4)).start()
    started = time.perf_counter()
    llm.generate(PROMPT, max_tokens=24, temperature=0)
    cold = time.perf_counter() - started
    rows.append(("loaded, after one answer (cold: load + generate)", rss_mb(), f"{cold:.2f}", str(llm.loaded)))
    started = time.perf_counter()
    llm.generate(PROMPT, max_tokens=24, temperature=0)
    warm = time.perf_counter() - started
    rows.append(("second answer (warm)", rss_mb(), f"{warm:.2f}", str(llm.loaded)))
    idle_from = time.monotonic()
    while llm.loaded and time.monotonic() - idle_from < args.window * 3:
        time.sleep(0.05)
    unloaded_after = time.monotonic() - idle_from
    rows.append((f"idle {args.window:g} s window passed (unloaded after {unloaded_after:.2f} s)", rss_mb(), "",
                 str(llm.loaded)))
    started = time.perf_counter()
    llm.generate(PROMPT, max_tokens=24, temperature=0)
    reload = time.perf_counter() - started
    rows.append(("next call reloads (load + generate)", rss_mb(), f"{reload:.2f}", str(llm.loaded)))
    unloader.stop()

    print(f"| local model host (SmolLM2-135M Q4_1, n_ctx {llm.n_ctx}) | RSS (MB) | seconds | loaded |")
    print("|---|---:|---:|---|")
    for name, rss, seconds, loaded in rows:
        print(f"| {name} | {rss:.0f} | {seconds} | {loaded} |")
    freed = rows[3][1] - rows[4][1]
    print(f"\nfreed by the idle unloader: {freed:.0f} MB of the {rows[3][1] - rows[1][1]:.0f} MB the loaded model added")


if __name__ == "__main__":
    main()
