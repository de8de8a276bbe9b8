"""The scoring benchmark's bookkeeping: each option against float32 torch over the same rows."""

import time

from benchmarks import scoring_speed


class Scorer:
    """Scores a row by its length; ``flip`` reverses the ranking, ``shift`` moves every score."""

    def __init__(self, flip=False, shift=0.0):
        self.flip, self.shift = flip, shift

    def count_tokens(self, text):
        return len(text.split())

    def render(self, prompt):
        return prompt

    def continuation_logprobs(self, prompts, continuation, *, batch_size=None):
        time.sleep(0.002)  # a measurable time
        return [(-1 if self.flip else 1) * len(p) + self.shift for p in prompts]


def test_each_option_is_timed_and_held_against_the_exact_scores(monkeypatch):
    exact = Scorer()
    monkeypatch.setattr(scoring_speed, "options", lambda _: [("exact", exact, 8), ("close", Scorer(shift=0.01), None),
                                                             ("flipped", Scorer(flip=True), 8)])
    rows = [("why?", ["a b", "a b c d"]), ("how?", ["x", "x y z"])]
    got = {r["option"]: r for r in scoring_speed.measure(rows, exact)}
    assert got["exact"]["tokens"] == (2 + 1) + (4 + 1) + (1 + 1) + (3 + 1) and got["exact"]["same_rankings"] == 2
    assert got["close"]["same_rankings"] == 2 and got["close"]["max_score_difference"] == 0.01
    assert got["flipped"]["same_rankings"] == 0 and got["flipped"]["tokens_per_s"] > 0
    result = {"rows": list(got.values()), "native_bf16": False, "environment": {"cpus": 2, "date": "today"}}
    table = scoring_speed.markdown(result)
    assert "| flipped |" in table and "| 0/2 |" in table and "native bfloat16: no" in table
