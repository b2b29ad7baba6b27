/**
 * report.html of a classifier RSFT run: one self-contained page (inline SVG and CSS, no script,
 * no network) with the accuracy comparison, the acceptance statistics, the weight histogram
 * with the envelope M marked, the training curves and the stage timings.
 *
 * renderReport(data) returns the page (the pipeline stages it with the other run files and
 * commits them together); writeReport(outDir, data) writes outDir/report.html atomically.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import type { Curve, Metrics, ReportData } from './types.js';

const COLORS: Record<string, string> = {
  pretrained: '#8a8f98',
  rsft: '#d9480f',
  uniform: '#1c7ed6',
  weighted: '#7048e8',
  targetOnly: '#2b8a3e',
  pretrain: '#495057',
  'domain classifier': '#0c8599',
};
const PALETTE = ['#e67700', '#5c940d', '#c2255c', '#1864ab', '#862e9c', '#364fc7'];

function colorOf(name: string, i: number): string {
  return COLORS[name] ?? PALETTE[i % PALETTE.length];
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fin = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A number for display: 4 significant digits, n/a when not finite. */
function num(v: number, digits = 4): string {
  if (!fin(v)) return 'n/a';
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

const pct = (v: number) => (fin(v) ? `${(100 * v).toFixed(2)}%` : 'n/a');

/** Round SVG coordinates (keeps the page small). */
const r2 = (v: number) => Math.round(v * 100) / 100;

/** "Nice" tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

interface Frame {
  w: number;
  h: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const plotW = (f: Frame) => f.w - f.left - f.right;
const plotH = (f: Frame) => f.h - f.top - f.bottom;

function svgOpen(f: Frame, label: string): string {
  return `<svg width="${f.w}" height="${f.h}" viewBox="0 0 ${f.w} ${f.h}" role="img" aria-label="${esc(label)}">`;
}

// ---- accuracy bars ----------------------------------------------------------------------

function accuracyChart(runs: [string, Metrics][]): string {
  const shown = runs.filter(([, m]) => fin(m.accuracy));
  if (shown.length === 0) return '<p class="muted">No labeled test set: accuracies are not available.</p>';
  const f: Frame = { w: 640, h: 60 + 44 * shown.length, left: 110, right: 70, top: 20, bottom: 40 };
  const lo = Math.max(0, Math.floor(Math.min(...shown.map(([, m]) => m.accuracy)) * 10 - 1) / 10);
  const hi = 1;
  const x = (v: number) => f.left + ((v - lo) / (hi - lo)) * plotW(f);
  let s = svgOpen(f, 'accuracy on the test set');
  for (const t of ticks(lo, hi, 5)) {
    s += `<line x1="${r2(x(t))}" x2="${r2(x(t))}" y1="${f.top}" y2="${f.h - f.bottom}" class="grid"/>`;
    s += `<text x="${r2(x(t))}" y="${f.h - f.bottom + 16}" text-anchor="middle" class="tick">${esc(pct(t).replace('.00', ''))}</text>`;
  }
  const bh = 28;
  shown.forEach(([name, m], i) => {
    const y = f.top + 8 + i * 44;
    s += `<text x="${f.left - 8}" y="${y + bh / 2 + 4}" text-anchor="end" class="lab">${esc(name)}</text>`;
    s += `<rect x="${f.left}" y="${y}" width="${r2(Math.max(0, x(m.accuracy) - f.left))}" height="${bh}" fill="${colorOf(name, i)}"/>`;
    s += `<text x="${r2(x(m.accuracy) + 6)}" y="${y + bh / 2 + 4}" class="val">${esc(pct(m.accuracy))}</text>`;
  });
  s += `<text x="${f.left + plotW(f) / 2}" y="${f.h - 6}" text-anchor="middle" class="axis">accuracy on the target test set (axis starts at ${esc(pct(lo).replace('.00', ''))})</text>`;
  return s + '</svg>';
}

// ---- weight histogram -------------------------------------------------------------------

export interface Histogram {
  log: boolean;
  /** bin edges in w units (bins + 1) */
  edges: number[];
  counts: number[];
  /** weights <= 0 (not shown on a log axis) */
  zeros: number;
}

/** Histogram of the weights: log-spaced bins when the positive weights span 2+ decades. */
export function weightHistogram(w: Float64Array, bins = 40): Histogram {
  let mn = Infinity, mx = -Infinity, zeros = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (!Number.isFinite(v)) continue;
    if (v <= 0) {
      zeros++;
      continue;
    }
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  if (!(mx >= mn)) return { log: false, edges: [0, 1], counts: [zeros], zeros: 0 };
  const log = mx / mn >= 100;
  let lo: number, hi: number;
  if (log) {
    lo = Math.log10(mn);
    hi = Math.log10(mx);
  } else {
    lo = zeros > 0 ? 0 : mn;
    hi = mx;
  }
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
    if (!log && lo < 0) lo = 0;
  }
  const edges: number[] = [];
  for (let b = 0; b <= bins; b++) {
    const e = lo + ((hi - lo) * b) / bins;
    edges.push(log ? 10 ** e : e);
  }
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (!Number.isFinite(v)) continue;
    if (log && v <= 0) continue;
    const t = ((log ? Math.log10(v) : v) - lo) / (hi - lo);
    counts[Math.min(bins - 1, Math.max(0, Math.floor(t * bins)))]++;
  }
  return { log, edges, counts, zeros: log ? zeros : 0 };
}

function weightChart(w: Float64Array, M: number): string {
  if (w.length === 0) return '<p class="muted">No weights.</p>';
  const hgm = weightHistogram(w);
  const f: Frame = { w: 640, h: 300, left: 60, right: 20, top: 24, bottom: 48 };
  const e0 = hgm.edges[0], e1 = hgm.edges[hgm.edges.length - 1];
  const tx = (v: number) => (hgm.log ? Math.log10(v) : v);
  const x = (v: number) => f.left + ((tx(v) - tx(e0)) / (tx(e1) - tx(e0))) * plotW(f);
  const cmax = Math.max(1, ...hgm.counts);
  const y = (c: number) => f.top + plotH(f) * (1 - c / cmax);
  let s = svgOpen(f, 'histogram of the importance weights over the pool');
  for (const t of ticks(0, cmax, 4)) {
    s += `<line x1="${f.left}" x2="${f.w - f.right}" y1="${r2(y(t))}" y2="${r2(y(t))}" class="grid"/>`;
    s += `<text x="${f.left - 6}" y="${r2(y(t) + 4)}" text-anchor="end" class="tick">${esc(num(t))}</text>`;
  }
  const xt = hgm.log
    ? ticks(Math.ceil(Math.log10(e0) - 1e-9), Math.floor(Math.log10(e1) + 1e-9), 6).filter(Number.isInteger).map((p) => 10 ** p)
    : ticks(e0, e1, 6);
  for (const t of xt) {
    if (t < e0 * (1 - 1e-9) || t > e1 * (1 + 1e-9)) continue;
    s += `<line x1="${r2(x(t))}" x2="${r2(x(t))}" y1="${f.h - f.bottom}" y2="${f.h - f.bottom + 5}" class="axisline"/>`;
    s += `<text x="${r2(x(t))}" y="${f.h - f.bottom + 18}" text-anchor="middle" class="tick">${esc(num(t, 3))}</text>`;
  }
  hgm.counts.forEach((c, i) => {
    if (c === 0) return;
    const a = x(hgm.edges[i]), b = x(hgm.edges[i + 1]);
    const over = fin(M) && hgm.edges[i] >= M;
    s += `<rect x="${r2(a)}" y="${r2(y(c))}" width="${r2(Math.max(0.5, b - a - 0.5))}" height="${r2(f.top + plotH(f) - y(c))}" class="${over ? 'binover' : 'bin'}"><title>${esc(`${num(hgm.edges[i], 3)} – ${num(hgm.edges[i + 1], 3)}: ${c} rows`)}</title></rect>`;
  });
  s += `<line x1="${f.left}" x2="${f.w - f.right}" y1="${f.h - f.bottom}" y2="${f.h - f.bottom}" class="axisline"/>`;
  if (fin(M) && M > 0) {
    const mx = Math.min(f.w - f.right, Math.max(f.left, x(M)));
    s += `<line x1="${r2(mx)}" x2="${r2(mx)}" y1="${f.top - 6}" y2="${f.h - f.bottom}" class="mline"/>`;
    const anchor = mx > f.left + plotW(f) * 0.8 ? 'end' : 'start';
    s += `<text x="${r2(mx + (anchor === 'end' ? -5 : 5))}" y="${f.top + 6}" text-anchor="${anchor}" class="mlab">M = ${esc(num(M))}</text>`;
  }
  s += `<text x="${f.left + plotW(f) / 2}" y="${f.h - 8}" text-anchor="middle" class="axis">w = p_target(x) / p_source(x) over the pool${hgm.log ? ' (log scale)' : ''}</text>`;
  s += `<text transform="translate(14 ${f.top + plotH(f) / 2}) rotate(-90)" text-anchor="middle" class="axis">pool rows</text>`;
  s += '</svg>';
  if (hgm.zeros > 0) s += `<p class="muted">${hgm.zeros} rows with w = 0 are not shown on the log axis.</p>`;
  return s;
}

// ---- training curves --------------------------------------------------------------------

/** At most `max` points: the mean of consecutive groups (keeps the shape, drops the noise). */
function thin(points: { step: number; loss: number }[], max = 300): { step: number; loss: number }[] {
  const ok = points.filter((p) => fin(p.step) && fin(p.loss));
  if (ok.length <= max) return ok;
  const g = Math.ceil(ok.length / max);
  const out: { step: number; loss: number }[] = [];
  for (let i = 0; i < ok.length; i += g) {
    const part = ok.slice(i, i + g);
    out.push({ step: part[part.length - 1].step, loss: part.reduce((a, p) => a + p.loss, 0) / part.length });
  }
  return out;
}

function curveChart(title: string, curves: { curve: Curve; color: string }[]): string {
  const f: Frame = { w: 660, h: 260, left: 60, right: 150, top: 28, bottom: 44 };
  const series = curves.map(({ curve, color }) => ({ name: curve.name, color, pts: thin(curve.points) })).filter((c) => c.pts.length > 0);
  if (series.length === 0) return '';
  const all = series.flatMap((c) => c.pts);
  const x0 = Math.min(...all.map((p) => p.step)), x1 = Math.max(...all.map((p) => p.step), x0 + 1);
  let y0 = Math.min(...all.map((p) => p.loss)), y1 = Math.max(...all.map((p) => p.loss));
  if (y1 - y0 < 1e-9) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  y0 = Math.max(0, y0 - 0.05 * (y1 - y0));
  const x = (v: number) => f.left + ((v - x0) / (x1 - x0)) * plotW(f);
  const y = (v: number) => f.top + plotH(f) * (1 - (v - y0) / (y1 - y0));
  let s = svgOpen(f, `training loss: ${title}`);
  s += `<text x="${f.left}" y="16" class="ctitle">${esc(title)}</text>`;
  for (const t of ticks(y0, y1, 4)) {
    if (t < y0 || t > y1) continue;
    s += `<line x1="${f.left}" x2="${f.w - f.right}" y1="${r2(y(t))}" y2="${r2(y(t))}" class="grid"/>`;
    s += `<text x="${f.left - 6}" y="${r2(y(t) + 4)}" text-anchor="end" class="tick">${esc(num(t, 3))}</text>`;
  }
  for (const t of ticks(x0, x1, 5)) {
    if (t < x0 || t > x1) continue;
    s += `<text x="${r2(x(t))}" y="${f.h - f.bottom + 16}" text-anchor="middle" class="tick">${esc(num(t))}</text>`;
  }
  s += `<line x1="${f.left}" x2="${f.w - f.right}" y1="${f.h - f.bottom}" y2="${f.h - f.bottom}" class="axisline"/>`;
  series.forEach((c, i) => {
    const d = c.pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${r2(x(p.step))} ${r2(y(p.loss))}`).join('');
    s += `<path d="${d}" fill="none" stroke="${c.color}" stroke-width="1.6"/>`;
    const ly = f.top + 6 + i * 18;
    s += `<line x1="${f.w - f.right + 10}" x2="${f.w - f.right + 28}" y1="${ly}" y2="${ly}" stroke="${c.color}" stroke-width="3"/>`;
    s += `<text x="${f.w - f.right + 33}" y="${ly + 4}" class="lab">${esc(c.name)}</text>`;
  });
  s += `<text x="${f.left + plotW(f) / 2}" y="${f.h - 8}" text-anchor="middle" class="axis">optimizer step</text>`;
  s += `<text transform="translate(14 ${f.top + plotH(f) / 2}) rotate(-90)" text-anchor="middle" class="axis">training loss</text>`;
  return s + '</svg>';
}

function curvesSection(curves: Curve[]): string {
  if (curves.length === 0) return '<p class="muted">No training curves were recorded.</p>';
  const solo = new Set(['pretrain', 'domain classifier']);
  const fine = curves.filter((c) => !solo.has(c.name));
  let out = '';
  if (fine.length > 0) out += curveChart('fine-tuning runs (same rows budget, same epochs)', fine.map((c, i) => ({ curve: c, color: colorOf(c.name, i) })));
  for (const c of curves.filter((c) => solo.has(c.name))) out += curveChart(c.name, [{ curve: c, color: colorOf(c.name, 0) }]);
  return out;
}

// ---- page --------------------------------------------------------------------------------

function table(rows: [string, string][]): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212529;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 12px 3px 0;text-align:left;vertical-align:top}th{font-weight:600;color:#495057}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#868e96}.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
svg{display:block;margin:8px 0;max-width:100%;height:auto}
svg .grid{stroke:#e9ecef}svg .axisline{stroke:#868e96}svg .tick{font-size:11px;fill:#868e96}
svg .lab{font-size:12px;fill:#343a40}svg .val{font-size:12px;fill:#212529;font-weight:600}
svg .axis{font-size:12px;fill:#495057}svg .ctitle{font-size:13px;font-weight:600;fill:#343a40}
svg .bin{fill:#4dabf7}svg .binover{fill:#ff8787}svg .mline{stroke:#e03131;stroke-width:2;stroke-dasharray:5 3}svg .mlab{font-size:12px;fill:#e03131;font-weight:600}
code{background:#f1f3f5;padding:0 3px;border-radius:3px}
`;

/** The report page as a string (self-contained: inline CSS and SVG, no script, no links out). */
export function renderReport(data: ReportData): string {
  const s = data.summary;
  const a = s.acceptance;
  const runs: [string, Metrics][] = [['pretrained', s.pretrained], ['rsft', s.rsft]];
  for (const [k, m] of Object.entries(s.baselines ?? {})) if (m) runs.push([k, m]);
  const M = fin(data.M) ? data.M : a.M;

  const metricRows = runs
    .map(([k, m]) => {
      const delta = fin(m.accuracy) && fin(s.pretrained.accuracy) && k !== 'pretrained' ? `${m.accuracy >= s.pretrained.accuracy ? '+' : ''}${(100 * (m.accuracy - s.pretrained.accuracy)).toFixed(2)} pts` : '';
      return `<tr><th>${esc(k)}</th><td class="n">${esc(pct(m.accuracy))}</td><td class="n">${esc(num(m.loss))}</td><td class="n">${esc(delta)}</td></tr>`;
    })
    .join('');

  let wmin = Infinity, wmax = -Infinity, wsum = 0, wsq = 0, nfin = 0;
  for (const v of data.weights) {
    if (!Number.isFinite(v)) continue;
    nfin++;
    wsum += v;
    wsq += v * v;
    if (v < wmin) wmin = v;
    if (v > wmax) wmax = v;
  }
  const ess = wsq > 0 ? (wsum * wsum) / wsq : NaN;

  const timingRows = Object.entries(s.timings ?? {})
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td class="n">${esc(fin(v) ? `${v.toFixed(2)} s` : 'n/a')}</td></tr>`)
    .join('');
  const notes = (s.notes ?? []).map((n) => `<li>${esc(n)}</li>`).join('');
  const config = s.config === undefined ? '' : `<h2>Configuration</h2><pre>${esc(JSON.stringify(s.config, null, 2))}</pre>`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rsft run report</title>
<style>${CSS}</style>
</head>
<body>
<h1>Rejection-sampling fine-tuning: run report</h1>
<p class="muted">Pool rows were accepted with probability min(w, M) / M, w = p_target(x) / p_source(x); the pretrained model was fine-tuned on the accepted rows and compared with baselines trained on the same number of rows for the same epochs.</p>

<h2>Accuracy on the target test set</h2>
<div class="row">
${accuracyChart(runs)}
<table><tr><th>model</th><th class="n">accuracy</th><th class="n">loss</th><th class="n">vs pretrained</th></tr>${metricRows}</table>
</div>

<h2>Acceptance</h2>
<div class="row">
${table([
  ['accepted', `${a.accepted}`],
  ['proposals', `${a.proposals}`],
  ['acceptance rate', pct(a.rate)],
  ['expected rate (mean of min(w, M) / M)', pct(a.expectedRate)],
  ['envelope M', num(a.M)],
  ['envelope violations (w > M, clipped)', `${a.clipped} of ${data.weights.length} pool rows (${pct(data.weights.length ? a.clipped / data.weights.length : NaN)})`],
])}
${table([
  ['pool rows', `${data.weights.length}`],
  ['w min / max', `${num(wmin)} / ${num(wmax)}`],
  ['w mean', num(nfin ? wsum / nfin : NaN)],
  ['effective sample size (Σw)² / Σw²', num(ess)],
])}
</div>
<p class="muted">Rows with w above M are accepted with probability 1 instead of w / M, so they are slightly under-represented: a little bias traded for a usable acceptance rate.</p>

<h2>Importance weights over the pool</h2>
${weightChart(data.weights, M)}

<h2>Training curves</h2>
${curvesSection(data.curves ?? [])}

<h2>Time per stage</h2>
<table>${timingRows}</table>
${notes ? `<h2>Notes</h2><ul>${notes}</ul>` : ''}
${config}
</body>
</html>
`;
}

/** Write outDir/report.html atomically. */
export function writeReport(outDir: string, data: ReportData): void {
  writeFileAtomic(join(outDir, 'report.html'), () => renderReport(data));
}
