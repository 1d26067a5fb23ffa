"""scikit-learn's figures for bench/multiLabelSklearn.ts, on the matrices it writes.

Argument: a JSON file {cases: [{k, probs: [[...]...], truth: [[...]...], thresholds: [...]}]}.
Prints one JSON line: {sklearn, cases: [{ap: [...], microF1, macroF1, exactMatch, hammingLoss}]}.
A class with no positive gets ap null (scikit-learn warns and its value is left out of mAP).
"""
import json, sys, warnings
import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, hamming_loss

warnings.simplefilter("ignore")  # the no-positive warnings are expected on some classes
cases = json.load(open(sys.argv[1]))["cases"]
out = []
for c in cases:
    p = np.array(c["probs"], dtype=np.float64)
    y = np.array(c["truth"], dtype=np.int64)
    predicted = (p >= np.array(c["thresholds"])).astype(np.int64)
    ap = [float(average_precision_score(y[:, j], p[:, j])) if y[:, j].any() else None for j in range(y.shape[1])]
    out.append({
        "ap": ap,
        "microF1": float(f1_score(y, predicted, average="micro", zero_division=0)),
        "macroF1": float(f1_score(y, predicted, average="macro", zero_division=0)),
        "exactMatch": float(accuracy_score(y, predicted)),
        "hammingLoss": float(hamming_loss(y, predicted)),
    })
print(json.dumps({"sklearn": sklearn.__version__, "cases": out}))
