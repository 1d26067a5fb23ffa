import type { ExportMetadata } from './metadata.js';
import { TFJS_SCRIPTS } from './tfjsBundles.js';

/** The folder of TensorFlow.js files an export carries beside index.html (no CDN: the page works offline), and its first script (core). */
export const TFJS_DIR = 'tfjs';
export const TFJS_FILE = TFJS_SCRIPTS[0];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/**
 * index.html beside an exported tfjs (or Teachable Machine) model: choose or drop an
 * image; the browser decodes it with its EXIF orientation applied, the page resizes it
 * with tlkit's exact rule (bilinear, half-pixel centres) and shows every class
 * probability, most probable first (multi-label: with each label's threshold, those at or
 * above it ticked and named in #status, the #result JSON giving `labels`). Serve the folder over http (e.g.
 * `python3 -m http.server`); `?backend=cpu` picks a tfjs backend (one that cannot start here is
 * named in #backend, with why and the backend used instead). TensorFlow.js comes from
 * tfjs/ beside it (no network needed); an error (tfjs or the model not loading) is shown
 * in #status. The result is also left as JSON in #result (what tlkit's browser test reads).
 */
export function browserPage(meta: ExportMetadata): string {
  // multi-label: every label with its probability, those at or above their thresholds marked
  const heading = meta.labelMode === 'multi-label' ? `${meta.labels.join(', ')} (multi-label)` : meta.labels.join(' vs ');
  const title = `${heading} (tlkit ${meta.format} export)`;
  // </script> cannot occur in JSON.stringify output of these strings once '<' is escaped.
  const embedded = JSON.stringify(meta).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
${TFJS_SCRIPTS.map((name) => `<script src="${TFJS_DIR}/${name}"></script>\n`).join('')}<style>
body { font-family: system-ui, sans-serif; max-width: 720px; margin: 2rem auto; padding: 0 1rem; color: #222; }
#drop { border: 2px dashed #aaa; border-radius: 8px; padding: 1.5rem; text-align: center; }
#drop.over { border-color: #1f77b4; background: #f0f6fc; }
#preview { max-width: 100%; max-height: 320px; display: block; margin: 1rem auto; }
table { border-collapse: collapse; width: 100%; } td { padding: .25rem .5rem; border-bottom: 1px solid #eee; }
.bar { background: #1f77b4; height: .8rem; }
.track { position: relative; } .threshold { position: absolute; top: -.15rem; height: 1.1rem; border-left: 2px solid #d62728; }
tr.given td:first-child { font-weight: 600; } tr.given td:first-child::before { content: '\\2713  '; color: #2ca02c; }
#result { display: none; }
#status.error { color: #b00020; font-weight: 600; }
#quantization { color: #555; font-size: .9rem; }
#backend.warning { color: #8a5300; }
</style>
</head>
<body>
<h1>${escapeHtml(heading)}</h1>
<div id="drop">Drop an image here, or <input type="file" id="file" accept="image/*"></div>
<p id="quantization"></p>
<p id="backend"></p>
<p id="status">Loading the model ...</p>
<img id="preview" alt="">
<table id="probabilities"></table>
<pre id="result"></pre>
<script>
const META = ${embedded};
const params = new URLSearchParams(location.search);
const statusEl = document.getElementById('status');
function fail(message) {
  statusEl.textContent = 'Error: ' + message;
  statusEl.className = 'error';
}
const agreement = META.agreement;
if (agreement) {
  document.getElementById('quantization').textContent = META.quantization + ' weights: ' + (agreement.measured
    ? (agreement.compared === 'label set' ? 'the same label set' : 'the same label') + ' as the unquantized model on ' + (agreement.labelAgreement * 100).toFixed(2) + '% of ' + agreement.images + ' validation images (largest probability difference ' + agreement.maxProbabilityDifference.toFixed(4) + ').'
    : 'not checked against the unquantized model (' + agreement.reason + ')');
}
// Start the backend the address asks for: '' when it runs, else why not (tfjs falls back to its best one).
async function startBackend(name) {
  const known = Object.keys(tf.engine().registryFactory);
  if (!known.includes(name)) return "this page's TensorFlow.js has no such backend (it has " + known.join(', ') + ')';
  try {
    return (await tf.setBackend(name)) ? '' : 'it failed to start in this browser';
  } catch (e) {
    return 'it failed to start in this browser (' + e.message + ')';
  }
}
const ready = (async () => {
  if (typeof tf === 'undefined' || typeof tf.loadLayersModel === 'undefined') {
    throw new Error('TensorFlow.js did not load: ${TFJS_DIR}/${TFJS_FILE}, which the export carries, must stay beside index.html.');
  }
  // the wasm backend's binaries are in tfjs/ too
  if (tf.wasm) tf.wasm.setWasmPaths('${TFJS_DIR}/');
  const requested = params.get('backend');
  const why = requested ? await startBackend(requested) : '';
  await tf.ready();
  const running = tf.getBackend();
  if (requested && running !== requested) {
    // Never silently: the page names the backend it runs on instead, and why.
    const note = document.getElementById('backend');
    note.textContent = 'The backend "' + requested + '" asked for in the address (?backend=' + requested + ') cannot run: ' + why + '. Running on ' + running + ' instead.';
    note.className = 'warning';
  }
  let model;
  try {
    model = await tf.loadLayersModel('model.json');
  } catch (e) {
    throw new Error('the model did not load (' + e.message + '). ' + (location.protocol === 'file:'
      ? 'A page opened from a file cannot read model.json: serve the folder over http, e.g. python3 -m http.server.'
      : 'model.json and the weights it lists must be beside index.html.'));
  }
  statusEl.textContent = 'Model loaded (' + running + (requested && running !== requested ? ', not ' + requested + ': see above' : '') + '). Choose an image.';
  return model;
})();
ready.catch((e) => fail(e.message));

// Every class probability of one image file, most probable first.
async function classify(blob) {
  const model = await ready;
  // createImageBitmap decodes with the EXIF orientation applied (as tlkit does by default).
  const bitmap = await createImageBitmap(blob);
  const [h, w] = META.imageSize;
  const values = tf.tidy(() => {
    // functional ops only: tfjs-core's browser bundle does not add chained ops (x.mul(...)) to tensors
    const pixels = tf.cast(tf.browser.fromPixels(bitmap), 'float32');
    // The exact resize of tlkit predict: bilinear, alignCorners false, halfPixelCenters true.
    const resized = tf.image.resizeBilinear(pixels, [h, w], false, true);
    const input = tf.expandDims(tf.add(tf.mul(resized, META.input.scale), META.input.offset), 0);
    return Array.from(model.predict(input).dataSync());
  });
  bitmap.close();
  if (META.labelMode === 'multi-label') {
    // independent sigmoids: every label at or above its threshold is given (possibly none)
    const all = values.map((p, i) => ({ label: META.labels[i], probability: p, threshold: META.thresholds[i], given: p >= META.thresholds[i], i }));
    const labels = all.filter((x) => x.given).map((x) => x.label);
    const probabilities = all.sort((a, b) => b.probability - a.probability || a.i - b.i)
      .map(({ label, probability, threshold, given }) => ({ label, probability, threshold, given }));
    return { labels, probabilities };
  }
  const scores = values.length === 1 ? [1 - values[0], values[0]] : values;
  const probabilities = scores.map((p, i) => ({ label: META.labels[i], probability: p, i }))
    .sort((a, b) => b.probability - a.probability || a.i - b.i)
    .map(({ label, probability }) => ({ label, probability }));
  return { label: probabilities[0].label, probability: probabilities[0].probability, probabilities };
}

async function show(file) {
  statusEl.className = '';
  statusEl.textContent = 'Classifying ' + file.name + ' ...';
  document.getElementById('preview').src = URL.createObjectURL(file);
  try {
    const r = await classify(file);
    const multi = META.labelMode === 'multi-label';
    document.getElementById('probabilities').innerHTML = r.probabilities.map((p) =>
      '<tr' + (p.given ? ' class="given"' : '') + '><td>' + p.label.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]) + '</td><td>' + (p.probability * 100).toFixed(2) +
      '%' + (multi ? ' (threshold ' + (p.threshold * 100).toFixed(1) + '%)' : '') + '</td><td style="width:50%"><div class="track"><div class="bar" style="width:' + (p.probability * 100).toFixed(1) + '%"></div>' +
      (multi ? '<div class="threshold" style="left:' + (p.threshold * 100).toFixed(1) + '%"></div>' : '') + '</div></td></tr>').join('');
    document.getElementById('result').textContent = JSON.stringify(r);
    statusEl.textContent = file.name + ': ' + (multi ? (r.labels.length ? r.labels.join(', ') : 'no label reaches its threshold') : r.label);
  } catch (e) {
    fail(e.message);
  }
}

document.getElementById('file').addEventListener('change', (e) => { if (e.target.files[0]) show(e.target.files[0]); });
const drop = document.getElementById('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) show(e.dataTransfer.files[0]); });
</script>
</body>
</html>
`;
}
