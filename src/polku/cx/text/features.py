"""Cheap text features for the fast models (hashed word unigrams and character 5-grams) and their classifier.

Stateless (nothing to fit or ship), so any text gets the same features in any process.
Word unigrams carry most of the sentiment; character 5-grams within words catch Finnish
inflection (``toimitus``/``toimituksen``) and typos.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

N_FEATURES: Final = 2**18
CHAR_WEIGHT: Final = 0.5
_WORDS: Final = HashingVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", n_features=N_FEATURES,
                                  alternate_sign=False)
_CHARS: Final = HashingVectorizer(analyzer="char_wb", ngram_range=(5, 5), n_features=N_FEATURES,
                                  alternate_sign=False)


def fast_features(texts: Sequence[str]) -> sp.csr_matrix:
    """One sparse row per text: L2-normalised word counts next to down-weighted character 5-grams."""
    return sp.hstack([_WORDS.transform(texts), CHAR_WEIGHT * _CHARS.transform(texts)], format="csr")


class SparseLinear:
    """Multinomial logistic regression over only the hashed columns its training rows use.

    Hashing spreads a few thousand distinct n-grams over 2^19 columns; fitting on the used
    columns alone gives the same model at a small fraction of the optimiser's work. BLAS runs
    on one thread here: the vectors are small, and on a busy machine extra BLAS threads made
    the fit twenty times slower.
    """

    def __init__(self, c: float = 10.0, max_iter: int = 5000) -> None:
        self.c = c
        self.max_iter = max_iter

    def fit(self, x: sp.csr_matrix, y: Sequence[str]) -> SparseLinear:
        """Learn from rows ``x`` (of ``fast_features``) and their labels."""
        self.columns_ = np.unique(x.indices)
        self.select_ = sp.csr_matrix((np.ones(len(self.columns_)), (self.columns_, np.arange(len(self.columns_)))),
                                     shape=(x.shape[1], len(self.columns_)))
        with threadpool_limits(limits=1, user_api="blas"):
            self.model_ = LogisticRegression(C=self.c, max_iter=self.max_iter).fit(
                x @ self.select_, np.asarray(y, dtype=object))
        self.classes_ = [str(c) for c in self.model_.classes_]
        return self

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        """Class probabilities of the rows of ``x`` (in the order of ``classes_``)."""
        with threadpool_limits(limits=1, user_api="blas"):
            return self.model_.predict_proba(x @ self.select_)  # type: ignore[no-any-return]

    def predict(self, x: sp.csr_matrix) -> np.ndarray:
        """The most probable class of each row."""
        return np.array(self.classes_, dtype=object)[self.predict_proba(x).argmax(axis=1)]
