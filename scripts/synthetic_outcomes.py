"""Writes a synthetic labelled-outcomes set whose true calibration curve is known.

The construction of CalibratorTests, as JSONL for `cervella calibrate` (docs/ROUTING.md, "How
well it works"): 4,000 outcomes per task type, each answer with a latent quality q uniform in
0..1 that the `tail` signal reads exactly and the other signals read squashed or noisy; the
answer is good with probability q² (`summary`) or a steep sigmoid of q (`commit`).

    python3 scripts/synthetic_outcomes.py > synthetic.jsonl
    cervella calibrate --outcomes synthetic.jsonl --target-fallback-rate 0.25
"""

import json
import math
import random


def main():
    random.seed(1)
    truths = [("summary", lambda q: q * q), ("commit", lambda q: 1 / (1 + math.exp(-10 * (q - 0.6))))]
    for task_type, truth in truths:
        for index in range(4000):
            q = random.random()
            noise = (random.random() - 0.5) * 0.3

            def clamp(value):
                return max(0.0, min(1.0, value))

            features = {
                "tokens": 100, "chars": 400, "mean": clamp(0.7 + 0.3 * q + noise * 0.5), "p25": clamp(q * 0.9 + noise),
                "p10": clamp(q * 0.8 + noise), "p05": clamp(q * 0.7 + noise), "min": clamp(q * 0.5 + noise), "tail": q,
                "heuristic": 0.6 if random.random() < 0.1 else 1.0, "signals": [],
            }
            print(json.dumps({
                "id": f"{task_type}-{index}", "tier": 1, "task_type": task_type, "features": features,
                "good": random.random() < truth(q), "claude_good": random.random() < 0.95,
            }))


if __name__ == "__main__":
    main()
