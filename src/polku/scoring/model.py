"""The predictive lead-score model, as scikit-learn estimators.

``LinearLeadModel`` is a standardised logistic regression over the features of
``polku.scoring.features`` (counts on a log scale, traits one-hot). It is linear on
purpose: a contact's log-odds is the average contact's plus one term per feature, so
every prediction splits exactly into per-feature contributions a salesperson can read.

``LeadScoreModel`` calibrates it with a sigmoid (or isotonic) map learned on predictions
the linear model did not train on: the latest period's, or out-of-fold ones. Both follow
the estimator contract: ``__init__`` stores hyperparameters, ``fit`` returns ``self``,
learned state ends in ``_``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_predict
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted


def _frame(X: Any) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError("the lead-score models take a pandas DataFrame of named features")
    return X


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


class LinearLeadModel(ClassifierMixin, BaseEstimator):
    """Logistic regression on standardised features; exact per-feature contributions."""

    def __init__(self, C: float = 0.3, log_counts: bool = True, max_iter: int = 2000) -> None:
        self.C = C
        self.log_counts = log_counts
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> LinearLeadModel:
        """Learn the encoding, the scaling and the coefficients."""
        X = _frame(X)
        cat = [c for c in X.columns if _is_categorical(X[c])]
        num = [c for c in X.columns if c not in cat]
        logs = [c for c in num if self.log_counts and bool((X[c] >= 0).all())]
        plain = [c for c in num if c not in logs]
        self.encoder_ = ColumnTransformer(
            [
                ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one"), logs),
                ("num", "passthrough", plain),
                ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat),
            ],
            verbose_feature_names_out=False,
        )
        encoded = self.encoder_.fit_transform(X).astype(np.float64)
        self.scaler_ = StandardScaler().fit(encoded, sample_weight=sample_weight)
        self.linear_ = LogisticRegression(C=self.C, max_iter=self.max_iter)
        self.linear_.fit(self.scaler_.transform(encoded), np.asarray(y), sample_weight=sample_weight)
        self.classes_ = self.linear_.classes_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.source_ = self._sources(cat)
        return self

    def _sources(self, cat: list[str]) -> npt.NDArray[np.object_]:
        """For each encoded column, the input feature it came from."""
        out: list[str] = []
        for name, _, cols in self.encoder_.transformers_:
            if name == "cat":
                enc = self.encoder_.named_transformers_["cat"]
                out += [c for c, cats in zip(cat, enc.categories_, strict=True) for _ in cats]
            elif name != "remainder":
                out += list(cols)
        return np.asarray(out, dtype=object)

    def _scaled(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        check_is_fitted(self, "linear_")
        X = _frame(X)[list(self.feature_names_in_)]
        return self.scaler_.transform(self.encoder_.transform(X).astype(np.float64))

    def decision_function(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The log-odds of each row."""
        scaled = self._scaled(X)
        return self.linear_.decision_function(scaled)

    def predict_proba(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Class probabilities (not calibrated beyond what logistic regression gives)."""
        scaled = self._scaled(X)
        return self.linear_.predict_proba(scaled)

    def predict(self, X: pd.DataFrame) -> npt.NDArray[Any]:
        """The more likely class."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row and input feature: its share of the log-odds, against the average contact.

        Row sums plus ``intercept()`` give ``decision_function``.
        """
        terms = self._scaled(X) * self.linear_.coef_[0]
        out = pd.DataFrame(terms, columns=self.source_, index=_frame(X).index)
        return out.T.groupby(level=0, sort=False).sum().T[list(self.feature_names_in_)]

    def intercept(self) -> float:
        """The log-odds of a contact whose every feature is at the training average."""
        check_is_fitted(self, "linear_")
        return float(self.linear_.intercept_[0])

    def importance(self) -> pd.Series:
        """Each input feature's weight: the largest absolute standardised coefficient among
        its encoded columns, signed (a global view of what the model learned)."""
        check_is_fitted(self, "linear_")
        coef = pd.Series(self.linear_.coef_[0], index=self.source_)
        picked = coef.groupby(level=0, sort=False).agg(lambda s: s.iloc[int(np.argmax(np.abs(s.to_numpy())))])
        return picked[list(self.feature_names_in_)]


class _Calibration:
    """A monotone map from log-odds to probability, learned from held-out predictions:
    Platt's sigmoid (a one-feature logistic regression) or isotonic regression."""

    def __init__(self, method: str, logits: npt.NDArray[np.float64], y: npt.NDArray[Any],
                 sample_weight: npt.NDArray[np.float64] | None) -> None:
        self.method = method
        if method == "sigmoid":
            self.model: Any = LogisticRegression(C=1e6, max_iter=1000).fit(logits[:, None], y, sample_weight=sample_weight)
        else:
            self.model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                logits, y, sample_weight=sample_weight
            )

    def __call__(self, logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self.method == "sigmoid":
            return self.model.predict_proba(logits[:, None])[:, 1]
        return np.asarray(self.model.predict(logits), dtype=np.float64)


class LeadScoreModel(ClassifierMixin, BaseEstimator):
    """``LinearLeadModel`` with calibrated probabilities.

    With ``time`` (e.g. each row's cutoff) the calibration is learned on the latest period
    and the linear model on the earlier ones: time-later data judge the probabilities, as
    they will be used. Without it, on out-of-fold predictions (``cv`` folds, grouped by
    ``groups`` so a contact's rows stay together) while the linear model sees every row.
    """

    def __init__(
        self, C: float = 0.3, log_counts: bool = True, calibration: Literal["sigmoid", "isotonic"] | None = "sigmoid",
        cv: int = 3, max_iter: int = 2000, random_state: int = 0,
    ) -> None:
        self.C = C
        self.log_counts = log_counts
        self.calibration = calibration
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def _base(self) -> LinearLeadModel:
        return LinearLeadModel(C=self.C, log_counts=self.log_counts, max_iter=self.max_iter)

    def fit(
        self, X: pd.DataFrame, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None, time: npt.ArrayLike | None = None,
    ) -> LeadScoreModel:
        """Fit the linear model and its calibration (see the class docstring)."""
        X = _frame(X)
        y = np.asarray(y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.calibrator_: _Calibration | None = None
        later = self._later_slice(y, time)
        if self.calibration is None:
            self.base_ = self._base().fit(X, y, sample_weight=w)
        elif later is not None:
            early = ~later
            self.base_ = self._base().fit(X[early], y[early], sample_weight=None if w is None else w[early])
            logits = self.base_.decision_function(X[later])
            self.calibrator_ = _Calibration(self.calibration, logits, y[later], None if w is None else w[later])
        else:
            logits = cross_val_predict(
                self._base(), X, y, groups=None if groups is None else np.asarray(groups),
                cv=self._folds(groups), method="decision_function",
                params=None if w is None else {"sample_weight": w},
            )
            self.calibrator_ = _Calibration(self.calibration, logits, y, w)
            self.base_ = self._base().fit(X, y, sample_weight=w)
        self.classes_ = self.base_.classes_
        self.feature_names_in_ = self.base_.feature_names_in_
        self.n_features_in_ = self.base_.n_features_in_
        return self

    def _folds(self, groups: npt.ArrayLike | None) -> Any:
        if groups is not None:
            return GroupKFold(n_splits=self.cv)
        return StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)

    @staticmethod
    def _later_slice(y: npt.NDArray[Any], time: npt.ArrayLike | None) -> npt.NDArray[np.bool_] | None:
        """Rows of the latest time, when they can calibrate (both classes) and earlier rows
        remain to learn from; else None."""
        if time is None:
            return None
        t = np.asarray(time)
        later = t == t.max()
        if later.all() or len(np.unique(y[later])) < 2 or len(np.unique(y[~later])) < 2:
            return None
        return later

    def predict_proba(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Calibrated class probabilities."""
        check_is_fitted(self, "base_")
        if self.calibrator_ is None:
            return self.base_.predict_proba(X)
        p = self.calibrator_(self.base_.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> npt.NDArray[Any]:
        """The more likely class."""
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def decision_function(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The uncalibrated log-odds (the calibration maps it monotonically to a probability)."""
        check_is_fitted(self, "base_")
        return self.base_.decision_function(X)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature log-odds contributions (see ``LinearLeadModel.contributions``)."""
        check_is_fitted(self, "base_")
        return self.base_.contributions(X)

    def importance(self) -> pd.Series:
        """Signed standardised weight of each input feature."""
        check_is_fitted(self, "base_")
        return self.base_.importance()
