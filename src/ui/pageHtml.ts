/**
 * The page of `tlkit ui`: static markup; everything it shows is filled in by its typed
 * modules (src/ui/page/*.ts, compiled to dist/ui/page/ by `npm run build`). Libraries
 * come from the server itself (/vendor/), never from a CDN.
 */
export function pageHtml(): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tlkit ui</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/vendor/uPlot.min.css">
<script src="/vendor/tf-core.min.js"></script>
<script src="/vendor/tf-backend-cpu.min.js"></script>
<script src="/vendor/tf-layers.min.js"></script>
<script type="importmap">{ "imports": { "uplot": "/vendor/uPlot.esm.js" } }</script>
<style>
:root { --accent: #1f6feb; --muted: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { background: #24292f; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1rem; align-items: baseline; }
header h1 { font-size: 1.2rem; margin: 0; }
header span { color: #bbb; font-size: .85rem; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1rem; padding: 1rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; min-width: 0; }
section h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
/* The runs table has ten columns: its own row, and a scroll bar rather than cut-off columns on a narrow screen. */
#runs-section { grid-column: 1 / -1; }
#runs { overflow-x: auto; }
#runs td { white-space: nowrap; }
section h2 small { color: var(--muted); font-weight: normal; }
label { font-size: .85rem; color: #333; }
input[type=text], input[type=number], select { padding: .25rem .4rem; border: 1px solid #bbb; border-radius: 4px; font: inherit; }
button { padding: .3rem .8rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; font: inherit; }
button.secondary { background: #fff; color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
.row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin: .3rem 0; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: .4rem .8rem; }
.grid label { display: flex; flex-direction: column; gap: .15rem; }
.grid label.check { justify-content: flex-end; }
.grid label.off { opacity: .45; }
#train-form details { margin: .4rem 0; border-top: 1px solid #eee; padding-top: .3rem; }
#train-form summary { cursor: pointer; font-size: .9rem; color: #333; }
#train-form details .grid { margin-top: .4rem; }
.message { font-size: .85rem; min-height: 1.2em; margin: .3rem 0; white-space: pre-wrap; }
.error { color: #b42318; }
.ok { color: #1a7f37; }
table { border-collapse: collapse; font-size: .85rem; margin: .3rem 0; }
th, td { border-bottom: 1px solid #eee; padding: .2rem .5rem; text-align: left; }
td.num, th.num { text-align: right; }
#thumbs { display: grid; grid-template-columns: repeat(auto-fill, 64px); gap: 4px; margin: .4rem 0; }
#thumbs img, .loss img { width: 64px; height: 64px; object-fit: cover; border-radius: 3px; background: #eee; image-rendering: pixelated; }
#problems li { font-size: .85rem; }
progress { width: 100%; height: 1rem; }
.charts { display: flex; flex-wrap: wrap; gap: .5rem; }
#drop { border: 2px dashed #aaa; border-radius: 8px; padding: 1rem; text-align: center; }
#drop.over { border-color: var(--accent); background: #f0f6fc; }
img.gradcam { display: block; max-width: 240px; max-height: 240px; min-width: 96px; margin: .3rem auto; image-rendering: pixelated; }
img.gradcam[hidden] { display: none; }
.loss img.gradcam { width: 64px; height: 64px; min-width: 0; margin: 2px 0 0; }
.loss button { padding: 0 .3rem; font-size: .7rem; }
#try-preview { max-width: 160px; max-height: 160px; min-width: 96px; display: block; margin: .5rem auto; image-rendering: pixelated; }
.bar { background: var(--accent); height: .7rem; border-radius: 2px; }
.cm td { text-align: center; min-width: 3rem; }
/* multi-label: a label's threshold marked on its bar; the labels given in bold */
.track { position: relative; }
.threshold { position: absolute; top: -.15rem; height: 1rem; border-left: 2px solid #d62728; }
tr.given td { font-weight: 600; }
.loss { display: inline-flex; flex-direction: column; font-size: .7rem; margin: 2px; width: 70px; }
#try-result { display: none; }
#probabilities table { width: 100%; }
#probabilities td:last-child { width: 60%; }
.loss span { line-height: 1.2; }
/* the dataset map: dots by label or split, outliers ringed, the lasso, the hover card */
#map-section { grid-column: 1 / -1; }
.map-body { display: flex; gap: 1rem; flex-wrap: wrap; align-items: flex-start; }
#map-plot { position: relative; max-width: 100%; }
#map-svg { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); cursor: crosshair; touch-action: none; user-select: none; }
#map-svg circle { stroke: #fff; stroke-width: .6; fill-opacity: .85; }
#map-svg circle.outlier { stroke: #111; stroke-width: 1.4; }
#map-svg circle.selected { stroke: #000; stroke-width: 1.6; r: 4.5; fill-opacity: 1; }
#map-svg circle.hover { stroke: #000; stroke-width: 2; r: 6; }
#map-lasso { fill: rgba(31, 111, 235, .08); stroke: var(--accent); stroke-width: 1.5; stroke-dasharray: 5 3; pointer-events: none; }
.tip { position: absolute; z-index: 2; width: 180px; background: #fff; border: 1px solid #999; border-radius: 6px; padding: 4px; font-size: .75rem; box-shadow: 0 2px 8px rgba(0,0,0,.25); pointer-events: none; word-break: break-all; }
.tip[hidden] { display: none; }
.tip img { display: block; width: 170px; height: 170px; object-fit: contain; background: #eee; }
.muted { color: var(--muted); }
#map-legend div { font-size: .85rem; margin: .2rem 0; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 50%; margin-right: .4rem; vertical-align: middle; }
.swatch.ring { border: 2px solid #111; background: #fff; }
.outlier-list { display: flex; flex-wrap: wrap; gap: 4px; }
.outlier-item { display: inline-flex; flex-direction: column; width: 120px; padding: 2px; background: #fff; color: #222; border: 1px solid var(--line); font-size: .7rem; text-align: left; word-break: break-all; }
.outlier-item img { width: 114px; height: 80px; object-fit: cover; background: #eee; }
/* the Review panel: a card an image, its reasons as tags, the journal with undo */
#review { grid-column: 1 / -1; }
.review-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: .5rem; }
.review-item { border: 1px solid var(--line); border-radius: 6px; padding: .35rem; font-size: .75rem; display: flex; flex-direction: column; gap: .2rem; }
.review-item img { width: 100%; height: 140px; object-fit: cover; border-radius: 4px; background: #eee; }
.review-file { color: var(--muted); word-break: break-all; }
.review-item button { padding: .1rem .4rem; font-size: .75rem; }
.reason { display: inline-block; border-radius: 3px; padding: 0 .3rem; margin-right: .2rem; background: #eef; }
.reason-top-loss { background: #fde2e1; } .reason-duplicate, .reason-tiny { background: #fff3c4; } .reason-outlier { background: #e2f0ff; }
#review-journal { font-size: .8rem; } #review-journal li.undone { color: var(--muted); text-decoration: line-through; }
</style>
</head>
<body>
<header><h1>tlkit ui</h1><span>transfer learning on your own machine</span></header>
<main>
<section id="data">
  <h2>1. Data</h2>
  <div class="row">
    <input type="text" id="data-path" list="data-recent" placeholder="/path/to/data (train/ validation/ test/, or class folders)" size="44">
    <datalist id="data-recent"></datalist>
    <label><input type="checkbox" id="data-create"> create</label>
    <button id="data-open">Open</button>
  </div>
  <div id="data-message" class="message"></div>
  <div id="data-counts"></div>
  <ul id="problems"></ul>
  <div class="row">
    <label>Images of <select id="thumb-split"></select> <select id="thumb-class"></select></label>
    <button class="secondary" id="thumb-prev">&lsaquo;</button><span id="thumb-page" class="message"></span><button class="secondary" id="thumb-next">&rsaquo;</button>
  </div>
  <div id="thumbs"></div>
  <details>
    <summary>Upload images into a class folder</summary>
    <div class="row">
      <input type="text" id="upload-class" placeholder="class name">
      <select id="upload-split"><option value="train">train</option><option value="validation">validation</option><option value="test">test</option><option value="">(class folders directly)</option></select>
      <input type="file" id="upload-files" accept="image/jpeg,image/png,image/gif,image/bmp" multiple>
      <button id="upload-go">Upload</button>
    </div>
  </details>
</section>

<section id="train">
  <h2>2. Train</h2>
  <form id="train-form" autocomplete="off"></form>
  <div class="row"><button id="train-start">Start training</button><button id="train-stop" class="secondary" disabled>Stop</button></div>
  <div id="train-message" class="message"></div>
  <progress id="progress" max="1" value="0"></progress>
  <div id="progress-text" class="message"></div>
  <div class="charts"><div id="chart-loss"></div><div id="chart-accuracy"></div></div>
</section>

<section id="runs-section">
  <h2>Runs <small>select one for results; tick several to compare</small></h2>
  <div id="runs"></div>
  <div id="compare-chart"></div>
</section>

<section id="results">
  <h2>3. Results <small id="results-run"></small></h2>
  <div class="row"><button id="evaluate" class="secondary" disabled>Evaluate</button><span id="results-message" class="message"></span></div>
  <div id="confusion"></div>
  <div id="per-class"></div>
  <div id="top-losses"></div>
</section>

<section id="review">
  <h2>Review <small id="review-run"></small></h2>
  <p class="message muted">The images of the selected run to look at first: its top losses per class, its most uncertain answers, check-data's findings, the map's outliers. Every action is journaled in the data folder and can be undone.</p>
  <div class="row"><button id="review-load" class="secondary" disabled>Build the review queue</button><button id="review-undo" class="secondary" disabled>Undo last</button><span id="review-message" class="message"></span></div>
  <div id="review-items"></div>
  <details open><summary>Journal</summary><ul id="review-journal"></ul></details>
</section>

<section id="try">
  <h2>4. Try it <small>in this page, with TensorFlow.js</small></h2>
  <div id="drop">Drop an image here, or <input type="file" id="try-file" accept="image/*"> <button id="webcam" class="secondary">Webcam</button></div>
  <video id="webcam-video" width="160" height="120" hidden></video>
  <div id="try-message" class="message"></div>
  <img id="try-preview" alt="">
  <div id="probabilities"></div>
  <div class="row"><button id="try-why" class="secondary" hidden title="Where the model found the evidence for its answer (Grad-CAM, computed by the server)">Why?</button></div>
  <img id="try-gradcam" class="gradcam" alt="" hidden>
  <pre id="try-result"></pre>
</section>

<section id="export">
  <h2>5. Take it away</h2>
  <div class="row" id="export-buttons"></div>
  <div id="export-message" class="message"></div>
  <ul id="export-files"></ul>
</section>

<section id="map-section">
  <h2>Map of the dataset <small>the selected run's images by its base's features (UMAP); hover, click or lasso to review</small></h2>
  <div class="row">
    <button id="map-show" class="secondary">Map the dataset</button>
    <label>Seed <input type="number" id="map-seed" value="42" min="0" style="width:6rem"></label>
    <label>Colour by <select id="map-colour"><option value="label">label</option><option value="split">split</option></select></label>
    <button id="map-refresh" class="secondary" title="Compute the map again (after images moved, or with another seed)">Recompute</button>
  </div>
  <div id="map-message" class="message"></div>
  <div class="map-body">
    <div id="map-plot"></div>
    <div><div id="map-legend"></div><div id="map-selection" class="message"></div></div>
  </div>
  <div id="map-outliers"></div>
</section>
</main>
<script type="module" src="/page/main.js"></script>
</body>
</html>
`;
}
