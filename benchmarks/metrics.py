"""Evidence recall (by id or by character-span overlap), SQuAD exact match / token F1, ROUGE-L."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

Span = tuple[str, int, int]  # (doc_id, start, end)


def overlaps(a: Span, b: Span) -> bool:
    """True when two spans of the same document share at least one character."""
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def groups_hit(retrieved: Sequence[Span], gold: Sequence[Sequence[Span]], k: int) -> list[bool]:
    """For each gold group (alternative spans of one piece of evidence): is any of its spans
    overlapped by one of the first ``k`` retrieved spans?"""
    top = list(retrieved)[:k]
    return [any(overlaps(r, g) for r in top for g in group) for group in gold]


def recall_all(retrieved: Sequence[Span], gold: Sequence[Sequence[Span]], k: int) -> float:
    """1.0 when every gold group is hit within the top ``k`` (hotpot: "both golds")."""
    return float(all(groups_hit(retrieved, gold, k))) if gold else 0.0


def recall_any(retrieved: Sequence[Span], gold: Sequence[Sequence[Span]], k: int) -> float:
    """1.0 when at least one gold group is hit within the top ``k``."""
    return float(any(groups_hit(retrieved, gold, k)))


def covered(fact: Span, retrieved: Sequence[Span], share: float = 0.5) -> bool:
    """True when one retrieved span holds at least ``share`` of ``fact``'s characters."""
    doc_id, start, end = fact
    need = share * max(1, end - start)
    return any(r[0] == doc_id and min(end, r[2]) - max(start, r[1]) >= need for r in retrieved)


def fact_recall(retrieved: Sequence[Span], facts: Sequence[Span], k: int) -> float:
    """The share of gold ``facts`` that one of the first ``k`` retrieved spans covers (at least half
    of the fact: MultiHop-RAG's facts are sentences, a chunk boundary may cut one)."""
    top = list(retrieved)[:k]
    return sum(covered(f, top) for f in facts) / len(facts) if facts else 0.0


def all_docs(retrieved: Sequence[Span], gold_docs: Sequence[str], k: int) -> float:
    """1.0 when every gold document has a chunk among the first ``k`` retrieved."""
    top = {r[0] for r in list(retrieved)[:k]}
    return float(all(d in top for d in gold_docs)) if gold_docs else 0.0


def recall_by_id(retrieved_ids: Sequence[str], gold_ids: Sequence[str], k: int) -> float:
    """1.0 when any gold id is among the first ``k`` (de-duplicated) retrieved ids."""
    top = list(dict.fromkeys(retrieved_ids))[:k]
    return float(any(g in top for g in gold_ids))


# -- answers ---------------------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    return max((float(normalize_answer(prediction) == normalize_answer(a)) for a in answers), default=0.0)


def answer_contains(prediction: str, answers: Sequence[str]) -> float:
    """MultiHop-RAG's answer accuracy: a yes/no answer by the first yes or no the prediction says,
    any other answer by its normalised text occurring in the normalised prediction."""
    said = normalize_answer(prediction)
    for gold in answers:
        want = normalize_answer(gold)
        if want in ("yes", "no"):
            first = re.search(r"\b(yes|no)\b", said)
            if first and first.group(1) == want:
                return 1.0
        elif want and want in said:
            return 1.0
    return 0.0


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1 against the best-matching gold answer."""
    pred = normalize_answer(prediction).split()
    return max((_f1(pred, normalize_answer(a).split()) for a in answers), default=0.0)


def _lcs_length(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _rouge_tokens(text: str) -> list[str]:
    # As rouge-score does without stemming: lower case, runs of letters and digits.
    return re.findall(r"[a-z0-9]+", text.lower())


def rouge_l(prediction: str, answers: Sequence[str]) -> float:
    """ROUGE-L F1 (longest common subsequence of tokens), best over the gold answers."""
    pred = _rouge_tokens(prediction)
    best = 0.0
    for answer in answers:
        gold = _rouge_tokens(answer)
        lcs = _lcs_length(pred, gold) if pred and gold else 0
        if lcs:
            precision, recall = lcs / len(pred), lcs / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# -- paired comparison ---------------------------------------------------------------------------
def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """Mean of ``a - b`` over paired questions with a percentile bootstrap interval (questions
    resampled with replacement), and how many questions ``a`` wins, ties and loses.

    The seed is fixed so a report is reproducible."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError("paired scores need the same questions on both sides")
    if not a:
        raise ValueError("no paired questions to compare")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"diff": round(float(diff.mean()), 4), "low": round(float(low), 4), "high": round(float(high), 4),
            "wins": int((diff > 0).sum()), "ties": int((diff == 0).sum()), "losses": int((diff < 0).sum()),
            "n": len(diff)}
