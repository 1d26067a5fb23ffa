import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadClassifier } from '../inference/classifier.js';
import { makeMultiLabelRun, MULTI_LABEL_CLASSES } from '../testing/multiLabelRun.js';
import { explainFiles } from './explainImages.js';
import { loadGradCam } from './runGradCam.js';

// A multi-label run (one sigmoid per class) explains its most probable class: that class's
// own logit is the score, so its sigmoid is the class's probability.

test('multi-label run: Grad-CAM of the most probable class, whose score is the logit of its probability', async () => {
  const x = await makeMultiLabelRun();
  const explainer = await loadGradCam(x.run);
  const classifier = await loadClassifier(x.run);
  try {
    const explanations = await explainFiles(explainer, x.files);
    explanations.forEach((e, i) => {
      const p = x.probabilities[i];
      const top = p.indexOf(Math.max(...p));
      assert.equal(e.classIndex, top, `${x.files[i]}: the most probable class`);
      assert.equal(e.label, MULTI_LABEL_CLASSES[top]);
      assert.ok(Math.abs(1 / (1 + Math.exp(-e.score)) - p[top]) < 1e-4, `${x.files[i]}: sigmoid(score) is P(${e.label})`);
    });
    const [pred] = await classifier.predict(x.files[0], { explain: true });
    assert.equal(pred.explanation?.label, pred.label, 'the library explains the label it gives as most probable');
  } finally {
    await explainer.dispose();
    await classifier.dispose();
  }
});
