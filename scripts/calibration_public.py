"""Labelled outcomes from a public data set, for `scripts/calibrate-public`.

The UCI "Optical Recognition of Handwritten Digits" set (Alpaydin & Kaynak, 1998; bundled with
scikit-learn as `load_digits`, 1,797 8x8 images): a Gaussian naive Bayes classifier, fitted on
half of it, answers the other half. Naive Bayes is the textbook case of a confident and badly
calibrated model, as uncalibrated small-model confidence is: each answer becomes one labelled
outcome, its confidence features the classifier's top-class probability (`mean`) and its margin
over the runner-up (`tail`), good when the answer is right. Not an LLM: it measures the
calibration itself (maps, thresholds, held-out fallback rates) on confidences nobody chose.
"""

import json
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.naive_bayes import GaussianNB


def main():
    out = sys.argv[1]
    digits = load_digits()
    order = np.random.RandomState(0).permutation(len(digits.target))
    half = len(order) // 2
    fit, answer = order[:half], order[half:]
    model = GaussianNB().fit(digits.data[fit], digits.target[fit])
    probabilities = model.predict_proba(digits.data[answer])
    with open(out, "w") as f:
        for index, row in zip(answer, probabilities):
            ranked = np.sort(row)[::-1]
            predicted = int(np.argmax(row))
            top, margin = float(ranked[0]), float(ranked[0] - ranked[1])
            f.write(json.dumps({
                "id": f"digits-{index}", "source": "import", "tier": 1, "model": "gaussian-nb", "task_type": "digits",
                "features": {"mean": top, "tail": margin, "heuristic": 1},
                "good": predicted == int(digits.target[index]), "claude_good": True,
            }) + "\n")
    print(f"{len(answer)} outcomes written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
