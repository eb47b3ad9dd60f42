"""Readable topic labels: the words that set one group of texts apart from the others (class-based TF-IDF).

Words are folded to a five-letter stem so that inflected Finnish forms (``lasku``, ``laskun``,
``laskut``) and English plurals count together; a stem is shown as its most frequent form.
Common English and Finnish function words are left out.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from typing import Final

import numpy as np

STEM: Final = 5
_WORD: Final = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
STOPWORDS: Final = frozenset(
    # English
    "the and was were are is been being have has had for with not our you your they them their this that these "
    "those there then than from into onto about after before again also all any can could would should will "
    "did does doing done just very too more most much many some such only own same other what which who whom "
    "why how when where while here out over under off once both each few nor its it's itself himself herself "
    "we us me my mine him his her she he one two three four five six ten every even still yet ever never got "
    "get gets getting make made makes let lets like well really quite always ask asked asking please thanks "
    "thank said say says way lot lots it's don't didn't doesn't isn't wasn't weren't can't won't i'm we're "
    "you're they're i've we've you've had been because since though although whether per via etc also"
    # Finnish
    " oli olla ole ollut olleet ovat olemme olette olen olin olivat oltiin olisi olisivat ei eikä emme eivät "
    "en et että ettei jotta kun kuin mutta myös tai sekä vain jo niin nyt vielä sitten siitä sen sitä siinä "
    "siihen sille sillä mitä mikä mitään minkään joka jonka jota jossa jolla joita jotka joiden kaikki kaiken "
    "kaikkea meille meidän meitä meillä meiltä me te teidän teille teitä teillä teiltä he heidän hän hänen "
    "minä minun minulle sinä se ne niiden niitä näin nämä tämä tämän tätä tässä tästä tuo tuon aina koko "
    "kanssa ilman ennen jälkeen aivan todella erittäin hyvin vähän paljon liian kiitos kiitoksia myös ihan "
    "voisi voisiko voitteko voiko saada saimme saatiin piti pitää kaikkea joten vaikka koska kuitenkin mukaan "
    "asti kautta yli alle noin taas uudestaan enää edes".split()
)


def stem(word: str) -> str:
    """The counting key of a word: its first five letters, case-folded."""
    return word.casefold()[:STEM]


def keywords(texts: Sequence[str], groups: Sequence[Hashable], weights: Sequence[int] | None = None,
             top: int = 5) -> dict[Hashable, list[str]]:
    """For each group, the ``top`` words that are frequent in it and rare in the others.

    Score of a stem in a group: (weighted texts of the group that contain it) × log(1 + A / total),
    with A the mean number of stem occurrences per group, the class-based TF-IDF of BERTopic.
    """
    w = np.ones(len(texts), dtype=np.int64) if weights is None else np.asarray(weights)
    per_group: dict[Hashable, Counter[str]] = defaultdict(Counter)
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for text, group, weight in zip(texts, groups, w, strict=True):
        seen = set()
        for word in _WORD.findall(text.casefold()):
            if word in STOPWORDS:
                continue
            key = stem(word)
            forms[key][word] += int(weight)
            seen.add(key)
        for key in seen:
            per_group[group][key] += int(weight)
    total: Counter[str] = Counter()
    for counts in per_group.values():
        total.update(counts)
    mean = sum(total.values()) / max(len(per_group), 1)
    out: dict[Hashable, list[str]] = {}
    for group, counts in per_group.items():
        ranked = sorted(counts, key=lambda k: (-counts[k] * np.log1p(mean / total[k]), k))
        out[group] = [forms[k].most_common(1)[0][0] for k in ranked[:top]]
    return out
