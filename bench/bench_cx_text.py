"""Feedback-text benchmark: sentiment and topics for 100,000 texts, end to end, on the CPU.

    python bench/bench_cx_text.py            # 100,000 texts, e5 sample 2,000
    python bench/bench_cx_text.py --quick    # 5,000 texts, e5 sample 300 (checks the script)

Texts come from ``polku.cx.text.synth`` (generated English and Finnish B2B feedback with an
NPS answer each; none of them is a labelled held-out sentence). The timed run is
``analyse`` (default model ``auto``) plus ``report`` (the topic table with NPS effects), in
this process, with no embedding cache: every embedding is computed in the run.

Reference, in the same process: e5 alone on ``REFERENCE`` distinct texts that were not in
the sample (texts/s), from which the time to embed every distinct text (what the e5 model
alone would need) is extrapolated; the ratio is that over the measured time. The same e5 run
gives the agreement of the run's labels (from the fast model distilled from e5) with e5's
own labels on texts outside the sample, and VADER's speed on the English texts is noted.

``run(quick)`` returns rows with benchmark/target/measured/reference (and more) for
bench/run.py; ``main()`` prints them as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Final

FULL_TEXTS: Final = 100_000
QUICK_TEXTS: Final = 5_000
FULL_SAMPLE: Final = 2_000
QUICK_SAMPLE: Final = 300
REFERENCE: Final = 500
TARGET_S: Final = 300.0
SEED: Final = 7


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Generate the texts, time sentiment + topics end to end, and measure the e5 reference."""
    import numpy as np

    from polku.cx.text.analyse import analyse
    from polku.cx.text.embed import e5_embed
    from polku.cx.text.report import report
    from polku.cx.text.sentiment import e5_sentiment, vader_sentiment
    from polku.cx.text.synth import feedback_texts
    from polku.cx.text.topics import themes

    n, sample = (QUICK_TEXTS, QUICK_SAMPLE) if quick else (FULL_TEXTS, FULL_SAMPLE)
    started = time.perf_counter()
    frame = feedback_texts(n, seed=SEED)
    log(f"generated {n:,} texts in {time.perf_counter() - started:.1f} s")

    e5_embed(["warm-up: load the model"])  # model loading (about 0.1 s) is not what we measure
    wall, cpu = time.perf_counter(), time.process_time()
    analysis = analyse(frame, model="auto", sample=sample, seed=SEED)
    result = report(analysis, frame)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load = os.getloadavg()[0]  # the machine is shared: other work slows the e5 part
    log(f"analyse + report: {wall:.1f} s wall, {cpu:.1f} s CPU; stages {result['seconds']}")

    # reference: e5 alone on distinct texts outside the sample
    distinct = analysis.distinct
    outside = np.flatnonzero(~distinct["embedded"].to_numpy())
    rng = np.random.default_rng(SEED)
    pick = np.sort(rng.choice(outside, size=min(REFERENCE, len(outside)), replace=False)) if len(outside) else outside
    texts = distinct["text"].to_numpy()[pick].tolist()
    t0 = time.perf_counter()
    embeddings = e5_embed(texts)
    e5_s = time.perf_counter() - t0
    e5_rate = len(texts) / e5_s if texts else float("nan")
    all_e5_s = len(distinct) / e5_rate if texts else float("nan")
    agree = float(np.mean(e5_sentiment(embeddings).labels == distinct["label"].to_numpy()[pick])) if texts else float("nan")
    theme, confidence = themes(embeddings)
    sure = confidence >= 0.4
    topic_agree = float(np.mean(theme[sure] == distinct["topic"].to_numpy()[pick][sure])) if sure.any() else float("nan")

    english = frame.loc[frame["language"] == "en", "text"].tolist()
    t0 = time.perf_counter()
    vader_sentiment(english, ["en"] * len(english))
    vader_rate = len(english) / (time.perf_counter() - t0)

    truth = frame["sentiment"].to_numpy()
    intended = float(np.mean(analysis.texts["label"].to_numpy() == truth))
    in_theme = analysis.texts["topic"].isin(frame["topic"].unique()).to_numpy()
    topic_intended = float(np.mean(analysis.texts["topic"].to_numpy()[in_theme] == frame["topic"].to_numpy()[in_theme]))
    drags = ", ".join(f"{d['topic']} ({d['effect']:+.0f})" for d in result["drags"] if d["measure"] == "nps") or "none"
    log(f"e5 reference {e5_rate:.1f} texts/s; agreement with e5 outside the sample {agree:.3f}")
    details = {
        "texts": n, "distinct": len(distinct), "embedded": analysis.embedded, "wall_s": wall, "cpu_s": cpu,
        "stages": result["seconds"], "e5_texts_per_s": e5_rate, "e5_all_distinct_s": all_e5_s,
        "agreement_with_e5": agree, "topic_agreement_with_e5": topic_agree, "intended_accuracy": intended,
        "topic_intended_accuracy": topic_intended, "topic_share_in_themes": float(in_theme.mean()),
        "vader_texts_per_s": vader_rate, "topics": len(result["topics"]), "nps_drags": drags, "load_average": load,
    }
    return [
        {
            "benchmark": f"feedback text: sentiment + topics + report for {n:,} texts ({len(distinct):,} distinct), "
                         f"model auto, e5 sample {analysis.embedded:,}",
            "target": f"< {TARGET_S / 60:.0f} min",
            "measured": f"{wall:.1f} s wall ({n / wall:,.0f} texts/s), {cpu:.1f} s CPU, load average {load:.1f}",
            "reference": f"e5 alone: {e5_rate:.1f} texts/s, so all {len(distinct):,} distinct texts would take "
                         f"{all_e5_s / 60:.1f} min",
            "ratio": f"{all_e5_s / wall:.1f}x faster than e5 on every distinct text",
            "verdict": "pass" if wall < TARGET_S else "FAIL",
            "details": details,
        },
        {
            "benchmark": "feedback text: agreement on the generated texts (not an accuracy claim; see docs/cx-text.md)",
            "target": "-",
            "measured": f"labels = e5's on {agree:.1%} of {len(texts)} distinct texts outside the sample; "
                        f"= the generator's intended label on {intended:.1%}",
            "reference": f"topic = e5's confident theme on {topic_agree:.1%}; = the intended topic on "
                         f"{topic_intended:.1%} of texts in a theme ({in_theme.mean():.0%}); NPS drags: {drags}",
            "ratio": f"VADER: {vader_rate:,.0f} English texts/s",
            "verdict": "info",
            "details": {},
        },
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark rows as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_TEXTS:,} texts instead of {FULL_TEXTS:,}")
    rows = run(quick=parser.parse_args(argv).quick)
    keys = ["benchmark", "target", "measured", "reference", "ratio", "verdict"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    print()
    print(rows[0]["details"])
    return 0 if rows[0]["verdict"] == "pass" else 1


if __name__ == "__main__":
    raise SystemExit(main())
