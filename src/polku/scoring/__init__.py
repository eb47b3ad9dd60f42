"""Lead and account scoring: rule points, a learned model, buying-group roll-up, reasons.

Pure functions over ``polku.analytics.tables.Tables`` and plain values; no I/O except
``load_scoring_rules`` (reads the workspace YAML) and ``save_model``/``load_model``.

- Rules: ``load_scoring_rules`` / ``parse_scoring_rules`` -> ``ScoringRules``.
- Rescore everyone: ``score_contacts(tables, rules, as_of)`` -> ``ContactScores``;
  accounts: ``score_accounts(scores)``.
- One event at a time: ``new_state`` / ``state_from_touches``, ``apply_event``,
  ``read_score`` -> ``ScoreCard``; accounts: ``account_card``.
- Predictive: ``train_model(tables, rules)`` -> ``TrainedModel`` (``.predict``,
  ``.report``); ``save_model`` / ``load_model``.
"""

from polku.scoring.account import AccountCard, AccountScores, Coverage, Member, account_card, score_accounts
from polku.scoring.card import ScoreCard
from polku.scoring.errors import ModelFileError, NotEnoughHistory
from polku.scoring.features import FeatureSpec, features_at
from polku.scoring.match import Touch
from polku.scoring.model import LeadScoreModel, LinearLeadModel
from polku.scoring.persist import load_model, read_header, save_model
from polku.scoring.reasons import Reason
from polku.scoring.report import Metrics, TrainingReport
from polku.scoring.rescore import ContactScores, score_contacts
from polku.scoring.rules import (
    DEFAULT_SCORING_YAML,
    Decay,
    EngagementRule,
    FitRule,
    ScoringRules,
    default_rules,
    load_scoring_rules,
    parse_scoring_rules,
)
from polku.scoring.state import (
    ContactState,
    apply_event,
    new_state,
    read_score,
    rules_key,
    set_traits,
    state_from_touches,
)
from polku.scoring.trained import ModelScores, TrainedModel
from polku.scoring.training import train_model

__all__ = [
    "DEFAULT_SCORING_YAML",
    "AccountCard",
    "AccountScores",
    "ContactScores",
    "ContactState",
    "Coverage",
    "Decay",
    "EngagementRule",
    "FeatureSpec",
    "FitRule",
    "LeadScoreModel",
    "LinearLeadModel",
    "Member",
    "Metrics",
    "ModelFileError",
    "ModelScores",
    "NotEnoughHistory",
    "Reason",
    "ScoreCard",
    "ScoringRules",
    "Touch",
    "TrainedModel",
    "TrainingReport",
    "account_card",
    "apply_event",
    "default_rules",
    "features_at",
    "load_model",
    "load_scoring_rules",
    "new_state",
    "parse_scoring_rules",
    "read_header",
    "read_score",
    "rules_key",
    "save_model",
    "score_accounts",
    "score_contacts",
    "set_traits",
    "state_from_touches",
    "train_model",
]
