"""Saving and loading a trained model, with its versions, training window and report.

The file holds two pickles in a row: a small header of plain values (format, versions,
training window, features, metrics), then the model. ``read_header`` reads only the
first, so a model can be described without loading it, and ``load_model`` checks the
header before unpickling the estimator. As with any pickle (scikit-learn's own advice),
load only files you trust, with the scikit-learn version that wrote them.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import sklearn

from polku.scoring.errors import ModelFileError
from polku.scoring.trained import TrainedModel
from polku.scoring.training import MODEL_FORMAT


def header(trained: TrainedModel) -> dict[str, Any]:
    """The plain description saved in front of a model."""
    r = trained.report
    return {
        "format": MODEL_FORMAT,
        "versions": dict(trained.versions),
        "trained_at": trained.trained_at.isoformat(),
        "as_of": trained.as_of.isoformat(),
        "horizon_days": r.horizon_days,
        "target_stage": r.target_stage,
        "train_cutoffs": [c.isoformat() for c in r.train_cutoffs],
        "holdout_cutoff": r.holdout_cutoff.isoformat(),
        "refit_cutoffs": [c.isoformat() for c in r.refit_cutoffs],
        "feature_names": trained.feature_names,
        "report": r.as_dict(),
    }


def save_model(trained: TrainedModel, path: Path) -> None:
    """Write the model (header first) to ``path``, replacing it only once fully written."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(header(trained), f, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(trained, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def read_header(path: Path) -> dict[str, Any]:
    """The header of a saved model, without loading the model."""
    try:
        with path.open("rb") as f:
            head = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise ModelFileError(f"{path}: not a Polku model file ({exc})") from exc
    if not isinstance(head, dict) or "format" not in head:
        raise ModelFileError(f"{path}: not a Polku model file")
    return head


def load_model(path: Path) -> TrainedModel:
    """A saved model; refuses other formats and other scikit-learn versions with a clear error."""
    head = read_header(path)
    if head["format"] != MODEL_FORMAT:
        raise ModelFileError(f"{path}: model format {head['format']}, this Polku reads {MODEL_FORMAT}; retrain")
    saved = head.get("versions", {}).get("scikit-learn")
    if saved != sklearn.__version__:
        raise ModelFileError(
            f"{path}: trained with scikit-learn {saved}, this is {sklearn.__version__}; retrain the model"
        )
    with path.open("rb") as f:
        pickle.load(f)
        trained = pickle.load(f)
    if not isinstance(trained, TrainedModel):
        raise ModelFileError(f"{path}: not a Polku model file")
    return trained
