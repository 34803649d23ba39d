/* mobilesam serve: the page. Plain JavaScript, talks only to the /v1 API of
 * the server that served it. Coordinates sent to the API are pixels of the
 * original image (rounded to whole pixels), whatever the display scale.
 *
 * Prediction requests go through one queue: at most one request in flight;
 * a hover asks for the latest cursor position only; a click (or any prompt
 * change) goes ahead of a pending hover; an answer is drawn only if no prompt
 * change happened since it was asked for, so a stale answer never replaces a
 * newer one. */
'use strict';

const $ = (id) => document.getElementById(id);
const el = {
  file: $('file'), prev: $('prev'), next: $('next'), list: $('imglist'),
  hover: $('hover'), multimask: $('multimask'), refine: $('refine'),
  undo: $('undo'), clear: $('clear'), keep: $('keep'), everything: $('everything'),
  zoom: $('zoom'), view: $('view'), stage: $('stage'), img: $('img'),
  cevery: $('cevery'), cobj: $('cobj'), ccur: $('ccur'), svg: $('prompts'),
  drop: $('drop'), cands: $('cands'), candlist: $('candlist'), objects: $('objects'),
  objcount: $('objcount'), noobj: $('noobj'), save: $('save'), exppng: $('exppng'),
  expcoco: $('expcoco'), expyolo: $('expyolo'), copycmd: $('copycmd'),
  cmdbox: $('cmdbox'), cmdseg: $('cmdseg'), cmdjson: $('cmdjson'),
  cmdprompts: $('cmdprompts'), status: $('status'), msg: $('msg'), coords: $('coords'),
  tokendlg: $('tokendlg'), tokeninput: $('tokeninput'), everyopts: $('everyopts'),
};

/* Colours of kept objects (RGB), then of "everything" masks. */
const PALETTE = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
  [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0],
  [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128],
];
const CUR_RGB = [30, 144, 255];
const HOVER_RGB = [120, 200, 255];

/* ---- state ---------------------------------------------------------- */
const S = {
  token: null,
  images: [],        // GET /v1/images entries (plus names of uploads)
  uploadNames: loadNames(),  // id -> file name of uploaded images (ids are content hashes)
  img: null,         // {id, width, height, name, path, encoder_ms, cached}
  perImage: {},      // id -> {objects, cur, nextColor}
  scale: 1,
  epoch: 0,          // bumped at every prompt change: older answers are stale
  q: { inflight: null, hover: null, click: null },
  hoverPt: null,
  drag: null,
  every: null,       // everything records shown, or null
  last: {},          // last timings for the status line
};
/* What the browser test reads: requests sent, click-to-draw latencies. */
const debug = { requests: [], latencies: [], draws: 0, errors: [] };
debug.state = () => S;
debug.image = () => imgState();
debug.idle = () => !S.q.inflight && !S.q.click && !S.q.hover;
window.msamDebug = debug;

function loadNames() {
  try { return JSON.parse(localStorage.getItem('msam-upload-names')) || {}; } catch (e) { return {}; }
}
function rememberName(id, name) {
  S.uploadNames[id] = name;
  try { localStorage.setItem('msam-upload-names', JSON.stringify(S.uploadNames)); } catch (e) { /* private mode */ }
}
function newObject() {
  return { points: [], labels: [], box: null, res: null, pick: 0, step: null, undo: [] };
}
function imgState() {
  if (!S.img) return null;
  let st = S.perImage[S.img.id];
  if (!st) st = S.perImage[S.img.id] = { objects: [], cur: newObject(), nextColor: 0 };
  return st;
}

/* ---- status line ----------------------------------------------------- */
let statusTimer = null;
function status(text, isError) {
  el.msg.textContent = text;
  el.status.classList.toggle('error', !!isError);
  if (isError) debug.errors.push(text);
}
function fmtMs(v) { return v == null ? '?' : (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ms'; }
function timingStatus() {
  const L = S.last, parts = [];
  if (S.img) parts.push(`${S.img.name} ${S.img.width}\u00d7${S.img.height}`);
  if (L.encoder_ms != null) parts.push(`encoder ${fmtMs(L.encoder_ms)}${L.cached ? ' (cached)' : ''}`);
  if (L.decoder_ms != null) parts.push(`decoder ${fmtMs(L.decoder_ms)}`);
  if (L.encode_ms != null) parts.push(`response ${fmtMs(L.encode_ms)}`);
  if (L.round_ms != null) parts.push(`round trip ${fmtMs(L.round_ms)}`);
  if (L.draw_ms != null) parts.push(`click to mask ${fmtMs(L.draw_ms)}`);
  if (L.note) parts.push(L.note);
  status(parts.join(' \u00b7 '));
}

/* ---- API ------------------------------------------------------------- */
class ApiError extends Error {
  constructor(msg, code) { super(msg); this.code = code; }
}
function askToken() {
  return new Promise((resolve) => {
    el.tokeninput.value = '';
    el.tokendlg.onclose = () => resolve(el.tokeninput.value.trim() || null);
    el.tokendlg.showModal();
  });
}
async function api(method, path, body, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (S.token) headers['Authorization'] = 'Bearer ' + S.token;
    let payload = body;
    if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer)) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    let r;
    try {
      r = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(`lost the server at ${location.host}: is mobilesam serve still running?`, 0);
    }
    if (r.status === 401 && attempt < 3) {
      const t = await askToken();
      if (!t) throw new ApiError('this server needs a token (mobilesam serve --token)', 401);
      S.token = t;
      sessionStorage.setItem('msam-token', t);
      continue;
    }
    if (!r.ok) {
      let m = `HTTP ${r.status}`;
      try { const j = await r.json(); if (j && j.error) m = j.error; } catch (e) { /* not JSON */ }
      throw new ApiError(m, r.status);
    }
    if (opts.raw) return r;
    return r.json();
  }
}

/* ---- images ---------------------------------------------------------- */
function displayName(e) {
  return e.path != null ? e.path : (S.uploadNames[e.id] || (e.id ? 'upload ' + String(e.id).slice(0, 8) : '?'));
}
async function refreshList() {
  const j = await api('GET', '/v1/images');
  S.images = j.images || [];
  const cur = S.img ? S.img.id : null;
  el.list.textContent = '';
  if (!S.images.length) el.list.add(new Option('(no image)', ''));
  else if (!S.img) el.list.add(new Option('(pick an image)', '', true, true));
  S.images.forEach((e, i) => {
    const o = new Option((e.annotated ? '\u2713 ' : '\u2003') + displayName(e), String(i));
    if (S.img && ((e.id && e.id === cur) || (e.path != null && e.path === S.img.path))) o.selected = true;
    el.list.add(o);
  });
  updateButtons();
}
function currentIndex() {
  if (!S.img) return -1;
  return S.images.findIndex((e) => (e.id && e.id === S.img.id) || (e.path != null && e.path === S.img.path));
}

let openSeq = 0;
async function openEntry(i) {
  const e = S.images[i];
  if (!e) return;
  if (e.path != null) return openImage(() => api('POST', '/v1/images?path=' + encodeURIComponent(e.path), new Blob([])), e.path, e.path);
  return openImage(async () => ({ id: e.id, width: e.width, height: e.height, cached: true }), displayName(e), null);
}
async function openFile(f) {
  if (!f) return;
  const sent = await openImage(() => api('POST', '/v1/images', f), f.name, null, (j) => rememberName(j.id, f.name));
  if (sent) refreshList().catch(showError);
}
/* post: () => {id, width, height, encoder_ms, cached}. Returns true when opened. */
async function openImage(post, name, path, onId) {
  const seq = ++openSeq;
  status(`opening ${name}\u2026 (the encoder runs once per image)`);
  document.body.style.cursor = 'progress';
  try {
    const t0 = performance.now();
    const j = await post();
    if (onId) onId(j);
    const r = await api('GET', `/v1/images/${j.id}`, undefined, { raw: true });
    const blob = await r.blob();
    if (seq !== openSeq) return false;
    const url = URL.createObjectURL(blob);
    await new Promise((res, rej) => {
      el.img.onload = res;
      el.img.onerror = () => rej(new ApiError(`${name}: the browser cannot show this image`, 0));
      el.img.src = url;
    });
    if (S.imgUrl) URL.revokeObjectURL(S.imgUrl);
    S.imgUrl = url;
    S.img = { id: j.id, width: j.width, height: j.height, name, path };
    debug.opened = null;
    S.epoch++;
    S.q.hover = S.q.click = null;
    S.every = null;
    S.last = { encoder_ms: j.encoder_ms, cached: j.cached, note: `opened in ${fmtMs(performance.now() - t0)}` };
    for (const c of [el.cevery, el.cobj, el.ccur]) { c.width = j.width; c.height = j.height; }
    el.svg.setAttribute('viewBox', `0 0 ${j.width} ${j.height}`);
    el.stage.hidden = false;
    el.drop.hidden = true;
    const st = imgState();
    const entry = S.images.find((e) => (e.id && e.id === j.id) || (path != null && e.path === path));
    if (!st.objects.length && !st.loaded && entry && entry.annotated) {
      st.loaded = true;
      try {
        const a = await api('GET', `/v1/images/${j.id}/annotations`);
        for (const o of a.objects || []) {
          const p = o.prompt || {};
          st.objects.push({
            label: o.label || 'object', color: st.nextColor++, rle: o.rle,
            area: o.area != null ? o.area : rleStats(o.rle).area, bbox: o.bbox || rleStats(o.rle).bbox,
            score: o.score != null ? o.score : 1,
            prompt: { points: p.points || [], labels: p.labels || [], box: p.box || null },
            step: { body: promptJson(p), parent: null, pick: 0 },
            saved: true,
          });
        }
      } catch (e) { if (e.code !== 404) throw e; }
    }
    layout();
    drawObjects();
    drawCurrent();
    drawEverything();
    renderObjects();
    refreshSelection();
    timingStatus();
    debug.opened = name;
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.code) e.message = `${name}: ${e.message}`;  // which file, and why
    showError(e);
    return false;
  } finally {
    document.body.style.cursor = '';
  }
}
function refreshSelection() {
  const i = currentIndex();
  if (i >= 0) el.list.value = String(i);
  updateButtons();
}
function step(d) {
  if (!S.images.length) return;
  let i = currentIndex();
  i = i < 0 ? (d > 0 ? 0 : S.images.length - 1) : (i + d + S.images.length) % S.images.length;
  openEntry(i);
}

/* ---- layout and coordinates ----------------------------------------- */
function layout() {
  if (!S.img) return;
  const W = S.img.width, H = S.img.height;
  let s;
  if (el.zoom.value === 'fit') {
    const vw = el.view.clientWidth - 16, vh = el.view.clientHeight - 16;
    s = Math.max(0.01, Math.min(vw / W, vh / H, 8));
  } else {
    s = parseFloat(el.zoom.value);
  }
  S.scale = s;
  el.stage.style.width = W * s + 'px';
  el.stage.style.height = H * s + 'px';
  // centred when it fits, scrollable (from the top-left) when it does not
  el.stage.style.marginTop = Math.max(0, (el.view.clientHeight - H * s) / 2) + 'px';
  el.stage.style.marginLeft = Math.max(0, (el.view.clientWidth - W * s) / 2) + 'px';
  el.stage.classList.toggle('pixelated', s > 2);
  drawPrompts();
}
/* Image pixel under a mouse event, rounded to whole pixels, clamped. */
function imagePoint(ev) {
  const r = el.stage.getBoundingClientRect();
  const x = Math.round((ev.clientX - r.left) / S.scale);
  const y = Math.round((ev.clientY - r.top) / S.scale);
  return [Math.min(Math.max(x, 0), S.img.width), Math.min(Math.max(y, 0), S.img.height)];
}

/* ---- masks: RLE decode and drawing ------------------------------------ */
/* COCO uncompressed RLE (column-major, first run = zeros) -> an ImageData of
 * colour rgb (alpha 255 in the mask, 0 elsewhere). */
function rleImage(ctx, rle, rgb) {
  const h = rle.size[0], w = rle.size[1], counts = rle.counts;
  const im = ctx.createImageData(w, h);
  const px = new Uint32Array(im.data.buffer);
  const c = (255 << 24 | rgb[2] << 16 | rgb[1] << 8 | rgb[0]) >>> 0; // little-endian RGBA
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i & 1) {
      let x = (p / h) | 0, y = p - x * h, left = n;
      while (left > 0) {
        const m = Math.min(left, h - y);
        let o = y * w + x;
        for (let k = 0; k < m; k++, o += w) px[o] = c;
        left -= m; x++; y = 0;
      }
    }
    p += n;
  }
  return im;
}
/* Area and tight box [x, y, w, h] (pycocotools toBbox) of an RLE. */
function rleStats(rle) {
  const h = rle.size[0], counts = rle.counts;
  let p = 0, area = 0, x0 = Infinity, x1 = -1, y0 = Infinity, y1 = -1;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if ((i & 1) && n > 0) {
      area += n;
      const a = p, b = p + n - 1, xa = (a / h) | 0, xb = (b / h) | 0;
      x0 = Math.min(x0, xa); x1 = Math.max(x1, xb);
      if (xa === xb) { y0 = Math.min(y0, a - xa * h); y1 = Math.max(y1, b - xb * h); } else { y0 = 0; y1 = h - 1; }
    }
    p += n;
  }
  if (!area) return { area: 0, bbox: [0, 0, 0, 0] };
  return { area, bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1] };
}
function drawObjects() {
  const ctx = el.cobj.getContext('2d');
  ctx.clearRect(0, 0, el.cobj.width, el.cobj.height);
  const st = imgState();
  if (!st || !st.objects.length) return;
  // Composite on a scratch canvas so that objects overlap instead of erase.
  const tmp = document.createElement('canvas');
  tmp.width = el.cobj.width; tmp.height = el.cobj.height;
  const tctx = tmp.getContext('2d');
  for (const o of st.objects) {
    tctx.putImageData(rleImage(tctx, o.rle, PALETTE[o.color % PALETTE.length]), 0, 0);
    ctx.drawImage(tmp, 0, 0);
  }
}
function drawEverything() {
  const ctx = el.cevery.getContext('2d');
  ctx.clearRect(0, 0, el.cevery.width, el.cevery.height);
  if (!S.every || !S.every.length) return;
  const tmp = document.createElement('canvas');
  tmp.width = el.cevery.width; tmp.height = el.cevery.height;
  const tctx = tmp.getContext('2d');
  // biggest first, so that small masks stay visible on top
  const recs = S.every.slice().sort((a, b) => b.area - a.area);
  recs.forEach((r, i) => {
    tctx.putImageData(rleImage(tctx, r.segmentation, PALETTE[(i * 7 + 3) % PALETTE.length]), 0, 0);
    ctx.drawImage(tmp, 0, 0);
  });
}
/* The current object's mask (or the hover mask), and the candidates. */
function drawCurrent(hoverRes) {
  const ctx = el.ccur.getContext('2d');
  const st = imgState();
  const cur = st && st.cur;
  if (hoverRes) {
    ctx.putImageData(rleImage(ctx, hoverRes.masks[0].rle, HOVER_RGB), 0, 0);
  } else if (cur && cur.res) {
    ctx.putImageData(rleImage(ctx, cur.res.masks[cur.pick].rle, CUR_RGB), 0, 0);
  } else {
    ctx.clearRect(0, 0, el.ccur.width, el.ccur.height);
  }
  debug.draws++;
  drawPrompts();
  renderCands(hoverRes ? null : cur && cur.res);
  updateButtons();
}
function renderCands(res) {
  if (!res || res.masks.length < 2) { el.cands.hidden = true; return; }
  el.cands.hidden = false;
  el.candlist.textContent = '';
  const cur = imgState().cur;
  res.masks.forEach((m, k) => {
    const d = document.createElement('div');
    d.className = 'cand' + (k === cur.pick ? ' picked' : '');
    const cv = document.createElement('canvas');
    const sc = Math.min(1, 120 / m.rle.size[1]);
    cv.width = Math.max(1, Math.round(m.rle.size[1] * sc));
    cv.height = Math.max(1, Math.round(m.rle.size[0] * sc));
    const full = document.createElement('canvas');
    full.width = m.rle.size[1]; full.height = m.rle.size[0];
    const fctx = full.getContext('2d');
    fctx.putImageData(rleImage(fctx, m.rle, [255, 255, 255]), 0, 0);
    cv.getContext('2d').drawImage(full, 0, 0, cv.width, cv.height);
    const t = document.createElement('div');
    t.textContent = `${k + 1}: ${m.score.toFixed(3)}`;
    d.append(cv, t);
    d.title = `mask ${k} (model order), predicted IoU ${m.score.toFixed(4)}, area ${m.area}`;
    d.onclick = () => pick(k);
    el.candlist.append(d);
  });
}
function pick(k) {
  const cur = imgState() && imgState().cur;
  if (!cur || !cur.res || k >= cur.res.masks.length || k === cur.pick) return;
  cur.pick = k;
  if (cur.step) cur.step.pick = k;
  drawCurrent();
}
const SVGNS = 'http://www.w3.org/2000/svg';
function drawPrompts() {
  const svg = el.svg;
  svg.textContent = '';
  const st = imgState();
  if (!st) return;
  const r = 6 / S.scale, sw = 1.5 / S.scale;
  const add = (tag, attrs) => {
    const n = document.createElementNS(SVGNS, tag);
    for (const k in attrs) n.setAttribute(k, attrs[k]);
    svg.append(n);
    return n;
  };
  // kept objects: their prompts, small, in their colour
  for (const o of st.objects) {
    const col = `rgb(${PALETTE[o.color % PALETTE.length].join(',')})`;
    const p = o.prompt || {};
    if (p.box) {
      add('rect', { x: p.box[0], y: p.box[1], width: p.box[2] - p.box[0], height: p.box[3] - p.box[1],
        fill: 'none', stroke: col, 'stroke-width': sw, 'stroke-dasharray': `${4 * sw} ${3 * sw}`, class: 'kept' });
    }
    (p.points || []).forEach((pt, i) => {
      add('circle', { cx: pt[0], cy: pt[1], r: r * 0.7, fill: col, stroke: p.labels && p.labels[i] === 0 ? '#000' : '#fff',
        'stroke-width': sw, class: 'kept' });
    });
  }
  const cur = st.cur;
  const box = S.drag && S.drag.box ? S.drag.box : cur.box;
  if (box) {
    add('rect', { x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1],
      fill: 'none', stroke: '#ffd21f', 'stroke-width': 2 * sw });
  }
  cur.points.forEach((p, i) => {
    add('circle', { cx: p[0], cy: p[1], r, fill: cur.labels[i] ? '#3ddc84' : '#ff4d4f',
      stroke: '#fff', 'stroke-width': sw, class: cur.labels[i] ? 'pos' : 'neg' });
  });
}

/* ---- predictions ---------------------------------------------------- */
function promptBody(cur, extra) {
  const b = {};
  const pts = cur.points.slice(), lbl = cur.labels.slice();
  if (extra) { pts.push(extra); lbl.push(1); }
  if (pts.length) { b.points = pts; b.labels = lbl; }
  if (cur.box) b.box = cur.box.slice();
  return b;
}
/* A prompt change of the current object: ask for its mask. */
function requestPrompt(t0) {
  S.epoch++;
  S.q.hover = null;
  const cur = imgState().cur;
  if (!cur.points.length && !cur.box) {  // nothing left: no mask
    cur.res = null; cur.step = null; cur.pick = 0;
    drawCurrent();
    return;
  }
  S.q.click = { t0: t0 != null ? t0 : performance.now() };
  pump();
}
function requestHover(pt) {
  S.q.hover = pt;
  pump();
}
async function pump() {
  const q = S.q;
  if (q.inflight || !S.img) return;
  const st = imgState(), cur = st.cur;
  let job;
  if (q.click) {
    const body = promptBody(cur);
    body.multimask = el.multimask.checked;
    let parent = null;
    if (el.refine.checked && cur.res) {
      body.mask_input = cur.res.result;
      if (cur.res.masks.length > 1) body.mask_index = cur.pick;
      parent = cur.step;
    }
    job = { kind: 'click', body, t0: q.click.t0, parent };
    q.click = null;
  } else if (q.hover) {
    if (!el.hover.checked || cur.points.length || cur.box) { q.hover = null; return; }
    job = { kind: 'hover', body: promptBody(cur, q.hover), pt: q.hover };
    job.body.multimask = false;
    q.hover = null;
  } else {
    return;
  }
  job.epoch = S.epoch;
  job.id = S.img.id;
  q.inflight = job;
  debug.requests.push({ kind: job.kind, body: JSON.parse(JSON.stringify(job.body)) });
  if (debug.requests.length > 2000) debug.requests.splice(0, 1000);
  try {
    const t1 = performance.now();
    const res = await api('POST', `/v1/images/${job.id}/predict`, job.body);
    const t2 = performance.now();
    if (!S.img || job.id !== S.img.id) return;  // another image by now
    if (job.promote && job.promote.epoch === S.epoch) {
      // a click on the hovered pixel came while this hover was on its way:
      // the same request, so its answer is the click's
      applyClick({ kind: 'click', body: job.body, t0: job.promote.t0, parent: null }, res, t1, t2);
    } else if (job.epoch !== S.epoch) {
      return;  // stale: the prompt changed since
    } else if (job.kind === 'hover') {
      const c = imgState().cur;
      if (q.click || c.points.length || c.box) return;  // a click is coming
      S.hoverShown = { pt: job.pt, body: job.body, res, id: job.id, epoch: job.epoch, t1, t2 };
      setTimings(res, t1, t2);
      S.last.draw_ms = null;
      if (S.hoverPt) drawCurrent(res);  // unless the cursor left the image
    } else {
      applyClick(job, res, t1, t2);
    }
    timingStatus();
  } catch (e) {
    showError(e);
  } finally {
    q.inflight = null;
    if (q.click || q.hover) pump();
  }
}
function setTimings(res, t1, t2) {
  S.last.decoder_ms = res.decoder_ms;
  S.last.encode_ms = res.encode_ms;
  S.last.round_ms = t2 - t1;
  S.last.note = null;
}
/* The answer to the current object's prompt: its mask, drawn. */
function applyClick(job, res, t1, t2) {
  const c = imgState().cur;
  setTimings(res, t1, t2);
  c.res = res;
  c.pick = 0;
  if (res.masks.length > 1) {  // start from the best-scoring mask
    for (let k = 1; k < res.masks.length; k++) if (res.masks[k].score > res.masks[c.pick].score) c.pick = k;
  }
  c.step = { body: job.body, parent: job.parent, pick: c.pick };
  drawCurrent();
  const t3 = performance.now();
  S.last.draw_ms = t3 - job.t0;
  debug.latencies.push({ click_to_draw_ms: t3 - job.t0, wait_ms: t1 - job.t0, round_ms: t2 - t1,
    decoder_ms: res.decoder_ms, encode_ms: res.encode_ms, draw_ms: t3 - Math.max(t2, job.t0),
    result: res.result, via_hover: !!job.via_hover });
  if (debug.latencies.length > 2000) debug.latencies.splice(0, 1000);
  timingStatus();
}

/* ---- object editing ------------------------------------------------- */
function snapshot(cur) {
  cur.undo.push({ points: cur.points.slice(), labels: cur.labels.slice(), box: cur.box,
    res: cur.res, pick: cur.pick, step: cur.step });
}
/* A first positive click on the pixel whose hover mask is shown (or on its
 * way) asks the same question as that hover: {points: [pt], labels: [1],
 * multimask: false}. Its answer is taken instead of asking again. */
function fromHover(cur, pt, label, t0) {
  if (label !== 1 || cur.points.length || cur.box || el.multimask.checked) return false;
  const same = (p) => p && p[0] === pt[0] && p[1] === pt[1];
  const h = S.hoverShown, f = S.q.inflight;
  const shown = h && h.id === S.img.id && h.epoch === S.epoch && same(h.pt) && !S.q.click;
  const flying = f && f.kind === 'hover' && f.id === S.img.id && f.epoch === S.epoch && same(f.pt);
  if (!shown && !flying) return false;
  snapshot(cur);
  cur.points.push(pt);
  cur.labels.push(1);
  S.epoch++;
  S.q.hover = null;
  debug.requests.push({ kind: 'click', body: JSON.parse(JSON.stringify((shown ? h : f).body)), via: 'hover' });
  drawPrompts();
  if (shown) applyClick({ kind: 'click', body: h.body, t0, parent: null, via_hover: true }, h.res, h.t1, h.t2);
  else f.promote = { epoch: S.epoch, t0 };
  return true;
}
function addPoint(pt, label, t0) {
  const cur = imgState().cur;
  if (fromHover(cur, pt, label, t0)) return;
  snapshot(cur);
  cur.points.push(pt);
  cur.labels.push(label);
  drawPrompts();
  requestPrompt(t0);
}
function setBox(box, t0) {
  const cur = imgState().cur;
  snapshot(cur);
  cur.box = box;
  drawPrompts();
  requestPrompt(t0);
}
function undo() {
  const st = imgState();
  if (!st) return;
  const cur = st.cur;
  const u = cur.undo.pop();
  if (!u) return;
  S.epoch++;  // an answer still on its way is for the undone prompt
  S.q.click = null;
  Object.assign(cur, u);
  drawCurrent();
}
function clearCurrent() {
  const st = imgState();
  if (!st) return;
  S.epoch++;
  S.q.click = S.q.hover = null;
  st.cur = newObject();
  drawCurrent();
}
function keep() {
  const st = imgState();
  if (!st || !st.cur.res) { status('nothing to keep: click the image first'); return; }
  const cur = st.cur, m = cur.res.masks[cur.pick];
  const prev = st.objects.length ? st.objects[st.objects.length - 1].label : 'object';
  st.objects.push({
    label: prev, color: st.nextColor++, rle: m.rle, area: m.area, bbox: m.bbox, score: m.score,
    prompt: { points: cur.points.slice(), labels: cur.labels.slice(), box: cur.box },
    step: cur.step, saved: false,
  });
  S.epoch++;
  S.q.click = null;
  st.cur = newObject();
  drawObjects();
  drawCurrent();
  renderObjects();
}
function renderObjects() {
  const st = imgState();
  el.objects.textContent = '';
  const objs = st ? st.objects : [];
  el.noobj.hidden = objs.length > 0;
  el.objcount.textContent = objs.length ? `(${objs.length})` : '';
  objs.forEach((o, i) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    const c = PALETTE[o.color % PALETTE.length];
    sw.className = 'sw';
    sw.style.background = `rgb(${c.join(',')})`;
    const inp = document.createElement('input');
    inp.type = 'text';
    inp.value = o.label;
    inp.title = 'label (objects with the same label share a class)';
    inp.oninput = () => { o.label = inp.value; o.saved = false; };
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${o.area} px`;
    const del = document.createElement('button');
    del.textContent = '\u2715';
    del.title = 'delete this object';
    del.className = 'del';
    del.onclick = () => { st.objects.splice(i, 1); drawObjects(); drawPrompts(); renderObjects(); };
    li.append(sw, inp, meta, del);
    el.objects.append(li);
  });
  updateButtons();
}
function updateButtons() {
  const st = imgState();
  const n = st ? st.objects.length : 0;
  for (const b of [el.exppng, el.expcoco, el.expyolo]) b.disabled = !n;
  el.save.disabled = !st;  // saving no object records "nothing here" (and clears an earlier save)
  el.copycmd.disabled = !st || (!n && !st.cur.res);
  el.keep.disabled = !st || !st.cur.res;
  el.undo.disabled = !st || !st.cur.undo.length;
  el.clear.disabled = !st;
  el.everything.disabled = !S.img;
  el.prev.disabled = el.next.disabled = S.images.length < 2;
  if (!el.cmdbox.hidden) fillCommands();
}

/* ---- classes, save and export --------------------------------------- */
/* Class index per object: the order in which distinct labels first appear. */
function classes(objs) {
  const names = [];
  const ids = objs.map((o) => {
    const l = (o.label || 'object').trim() || 'object';
    let k = names.indexOf(l);
    if (k < 0) { k = names.length; names.push(l); }
    return k;
  });
  return { names, ids };
}
function promptJson(p) {
  const o = {};
  if (p.points && p.points.length) { o.points = p.points; o.labels = p.labels; }
  if (p.box) o.box = p.box;
  return o;
}
async function save() {
  const st = imgState();
  const { ids } = classes(st.objects);
  const body = { objects: st.objects.map((o, i) => ({ label: o.label, class: ids[i], prompt: promptJson(o.prompt), rle: o.rle })) };
  status('saving\u2026');
  try {
    const j = await api('PUT', `/v1/images/${S.img.id}/annotations`, body);
    st.objects.forEach((o) => { o.saved = true; });
    const files = j.files || [];
    status(`saved ${j.saved} object${j.saved === 1 ? '' : 's'}: ${files.join(', ')}`);
    refreshList().catch(showError);
  } catch (e) {
    showError(e);
  }
}
function stem() {
  const n = S.img.name.split('/').pop();
  const d = n.lastIndexOf('.');
  return d > 0 ? n.slice(0, d) : n;
}
function download(name, data, type) {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}
function cocoJson() {
  const st = imgState();
  const { names, ids } = classes(st.objects);
  return {
    info: { description: 'mobilesam serve', version: '1.0' },
    images: [{ id: 1, file_name: S.img.name.split('/').pop(), width: S.img.width, height: S.img.height }],
    annotations: st.objects.map((o, i) => ({
      id: i + 1, image_id: 1, category_id: ids[i], segmentation: o.rle,
      area: o.area, bbox: o.bbox, iscrowd: 0, score: o.score,
    })),
    categories: names.map((n, k) => ({ id: k, name: n })),
  };
}
function exportCoco() {
  download(`${stem()}_coco.json`, JSON.stringify(cocoJson()), 'application/json');
  status(`exported ${stem()}_coco.json`);
}
/* Asks the server again for the object's mask in another format (the same
 * prompt gives the same mask; the writers are those of the CLI). */
async function replay(o, format) {
  if (!o.step) throw new ApiError('this object has no prompt to replay', 0);
  const body = Object.assign({}, o.step.body, { format });
  const j = await api('POST', `/v1/images/${S.img.id}/predict`, body);
  return j.masks[o.step.pick || 0];
}
async function exportPng() {
  const st = imgState();
  try {
    status('exporting PNG\u2026');
    const files = [];
    for (let i = 0; i < st.objects.length; i++) {
      files.push({ name: `${stem()}_${i}_0.png`, data: await maskPng(st.objects[i].rle) });
    }
    if (files.length === 1) download(files[0].name, new Blob([files[0].data], { type: 'image/png' }));
    else download(`${stem()}_masks.zip`, zip(files));
    status(`exported ${files.length === 1 ? files[0].name : stem() + '_masks.zip'}`);
  } catch (e) { showError(e); }
}
/* The kept mask as seg writes it: 8-bit grayscale PNG, 0 / 255. */
async function maskPng(rle) {
  const h = rle.size[0], w = rle.size[1], counts = rle.counts;
  const raw = new Uint8Array((w + 1) * h);  // filter byte 0, then the row
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i & 1) {
      for (let k = p; k < p + n; k++) {
        const x = (k / h) | 0, y = k - x * h;
        raw[y * (w + 1) + 1 + x] = 255;
      }
    }
    p += n;
  }
  const z = new Uint8Array(await new Response(new Blob([raw]).stream()
    .pipeThrough(new CompressionStream('deflate'))).arrayBuffer());
  const chunk = (type, data) => {
    const t = new TextEncoder().encode(type);
    const out = new Uint8Array(12 + data.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, data.length);
    out.set(t, 4);
    out.set(data, 8);
    dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w); dv.setUint32(4, h);
  ihdr[8] = 8;  // bit depth; colour type 0 (gray), no interlace
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', z),
    chunk('IEND', new Uint8Array(0))];
  const png = new Uint8Array(parts.reduce((s, q) => s + q.length, 0));
  let o = 0;
  for (const q of parts) { png.set(q, o); o += q.length; }
  return png;
}
async function exportYolo() {
  const st = imgState();
  try {
    status('exporting YOLO\u2026');
    const { ids } = classes(st.objects);
    const W = S.img.width, H = S.img.height;
    const lines = [];
    for (let i = 0; i < st.objects.length; i++) {
      const o = st.objects[i], m = await replay(o, 'polygon');
      if (m.area !== o.area || String(m.bbox) !== String(o.bbox)) {
        throw new ApiError(`object ${i + 1}: its prompt no longer gives its mask here; Save writes its YOLO label`, 0);
      }
      const poly = (m.polygons || [])[0];  // the outline (largest contour), in pixels
      if (!poly || poly.length < 6) continue;  // a pixel or a line: no polygon, as batch
      lines.push(`${ids[i]} ${poly.map((v, k) => fixed6(v, k % 2 ? H : W)).join(' ')}`);
    }
    download(`${stem()}.txt`, lines.join('\n') + (lines.length ? '\n' : ''), 'text/plain');
    status(`exported ${stem()}.txt (${lines.length} polygon${lines.length === 1 ? '' : 's'})`);
  } catch (e) { showError(e); }
}
/* v / d (integers) with 6 decimals as C's printf("%.6f", (double)v / d)
 * writes it: the double's exact value rounded, ties (only possible for a
 * dyadic v / d) to even; toFixed rounds those up. So the file equals the
 * one `batch` writes. */
function fixed6(v, d) {
  const x = v / d;
  const gcd = (a, b) => (b ? gcd(b, a % b) : a);
  const den = d / gcd(Math.abs(v), d);
  if ((den & (den - 1)) === 0 && (v * 1e7) % d === 0 && Math.abs((v * 1e7) / d) % 10 === 5) {
    let q = Math.floor((v * 1e6) / d);
    if (q % 2) q++;
    return (q / 1e6).toFixed(6);
  }
  return x.toFixed(6);
}
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(d) {
  let c = 0xFFFFFFFF;
  for (let i = 0; i < d.length; i++) c = CRC_TABLE[(c ^ d[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}
/* A .zip of stored (uncompressed) files. */
function zip(files) {
  const crc = crc32;
  const enc = new TextEncoder();
  const parts = [], central = [];
  let off = 0;
  for (const f of files) {
    const name = enc.encode(f.name), c = crc(f.data);
    const h = new DataView(new ArrayBuffer(30));
    h.setUint32(0, 0x04034b50, true); h.setUint16(4, 20, true); h.setUint16(8, 0, true);
    h.setUint32(14, c, true); h.setUint32(18, f.data.length, true); h.setUint32(22, f.data.length, true);
    h.setUint16(26, name.length, true);
    parts.push(h, name, f.data);
    const ch = new DataView(new ArrayBuffer(46));
    ch.setUint32(0, 0x02014b50, true); ch.setUint16(4, 20, true); ch.setUint16(6, 20, true);
    ch.setUint32(16, c, true); ch.setUint32(20, f.data.length, true); ch.setUint32(24, f.data.length, true);
    ch.setUint16(28, name.length, true); ch.setUint32(42, off, true);
    central.push(ch, name);
    off += 30 + name.length + f.data.length;
  }
  const csize = central.reduce((s, p) => s + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
  end.setUint32(12, csize, true); end.setUint32(16, off, true);
  return new Blob([...parts, ...central, end], { type: 'application/zip' });
}

/* ---- copy as command ------------------------------------------------- */
function shq(s) { return /^[A-Za-z0-9_.,\/:=+-]+$/.test(s) ? s : `'${String(s).replace(/'/g, `'\\''`)}'`; }
function num(v) { return String(+(+v).toFixed(3)); }
function segArgs(body) {
  const a = [];
  (body.points || []).forEach((p, i) => {
    a.push('--point', `${num(p[0])},${num(p[1])}`);
  });
  (body.labels || []).forEach((l) => a.push('--label', String(l)));
  if (body.box) a.push('--box', body.box.map(num).join(','));
  return a;
}
/* The chain of steps (mask_input parents first) that made an object. */
function chain(stepObj) {
  const c = [];
  for (let s = stepObj; s; s = s.parent) c.unshift(s);
  return c;
}
/* Lines that write the logits of every refine parent of `steps`' last step,
 * as obj<tag>_step<k>.npy; `null` when a parent was a multimask pick (the
 * CLI's --mask-input takes one mask). */
function parentLines(img, steps, tag) {
  const lines = [];
  for (let k = 0; k < steps.length - 1; k++) {
    const s = steps[k];
    if (s.body.multimask) return null;
    const a = ['mobilesam', 'seg', img, ...segArgs(s.body)];
    if (k > 0) a.push('--mask-input', `${tag}_step${k - 1}.npy`);
    a.push('--logits', `${tag}_step${k}.npy`);
    lines.push(a.join(' '));
  }
  return lines;
}
function buildCommands() {
  const st = imgState();
  const img = shq(S.img.path != null ? S.img.path : S.img.name);
  const out = { seg: '', json: '', prompts: '' };
  // the current object, else the last kept one
  const target = st.cur.res ? { step: st.cur.step, what: 'the current object' }
    : st.objects.length ? { step: st.objects[st.objects.length - 1].step, what: `object ${st.objects.length}` } : null;
  if (target && target.step) {
    const steps = chain(target.step), last = steps[steps.length - 1];
    const pre = parentLines(img, steps, 'obj');
    if (!pre) {
      out.seg = `# ${target.what} was refined from a multimask pick: the CLI cannot replay that chain`;
    } else {
      const a = ['mobilesam', 'seg', img, ...segArgs(last.body)];
      if (steps.length > 1) a.push('--mask-input', `obj_step${steps.length - 2}.npy`);
      if (last.body.multimask) a.push('--multimask');
      a.push('-o', 'mask.png');
      out.seg = [`# ${target.what}` + (last.body.multimask ? `: the picked mask is mask_0_${last.pick}.png` : ': mask.png'), ...pre, a.join(' ')].join('\n');
    }
  }
  if (st.objects.length) {
    const objs = [], pre = [];
    let multi = false, broken = false;
    st.objects.forEach((o, i) => {
      if (!o.step) { objs.push(promptJson(o.prompt)); return; }
      const steps = chain(o.step), last = steps[steps.length - 1];
      if (last.body.multimask) multi = true;
      const p = promptJson(last.body);
      if (steps.length > 1) {
        const pl = parentLines(img, steps, `obj${i}`);
        if (!pl) broken = true; else pre.push(...pl);
        p.mask_input = `obj${i}_step${steps.length - 2}.npy`;
      }
      objs.push(p);
    });
    out.json = '[' + objs.map((o) => JSON.stringify(o)).join(',\n ') + ']';  // one object a line
    const lines = [];
    if (broken) lines.push('# an object was refined from a multimask pick: the CLI cannot replay it');
    if (multi) {
      lines.push('# --multimask writes 3 masks per object; the picked ones: ' +
        st.objects.map((o, i) => `obj_${i}_${o.step ? o.step.pick : 0}.png`).join(' '));
    }
    lines.push(...pre);
    const a = ['mobilesam', 'seg', img, '--prompts', 'objects.json'];
    if (multi) a.push('--multimask');
    a.push('-o', 'obj.png');
    lines.push(a.join(' ') + (st.objects.length === 1 && !multi ? '   # one object: obj.png' : '   # obj_<object>_<mask>.png'));
    out.prompts = lines.join('\n');
  }
  return out;
}
/* The side panel's commands; kept up to date while it is shown. */
function fillCommands() {
  if (!S.img) return null;
  const c = buildCommands();
  el.cmdseg.value = c.seg || '# no current object';
  el.cmdjson.value = c.json || '[]';
  el.cmdprompts.value = c.prompts || '# keep objects (Enter) for the --prompts command';
  return c;
}
async function copyCommand() {
  el.cmdbox.hidden = false;
  const c = fillCommands();
  if (!c) return;
  const text = [c.seg, c.json && `cat > objects.json <<'EOF'\n${c.json}\nEOF`, c.prompts].filter(Boolean).join('\n');
  try {
    await navigator.clipboard.writeText(text);
    status('copied the commands to the clipboard (also shown in the side panel)');
  } catch (e) {
    status('the commands are in the side panel (the clipboard is not available here)');
  }
}

/* ---- everything ------------------------------------------------------ */
async function everything() {
  if (!S.img) return;
  if (S.every) { S.every = null; drawEverything(); status('everything: hidden'); return; }
  const id = S.img.id;
  let opts = {};
  try {
    const t = el.everyopts.value.trim();
    if (t) opts = JSON.parse(t);
    if (!opts || typeof opts !== 'object' || Array.isArray(opts)) throw new Error('expected an object');
  } catch (e) {
    status(`everything options: not a JSON object (${e.message})`, true);
    return;
  }
  el.everything.disabled = true;
  status('segment everything: running (seconds)\u2026');
  try {
    const t0 = performance.now();
    const recs = await api('POST', `/v1/images/${id}/everything`, opts);
    if (!S.img || S.img.id !== id) return;
    S.every = recs;
    drawEverything();
    status(`everything: ${recs.length} mask${recs.length === 1 ? '' : 's'} in ${fmtMs(performance.now() - t0)} (click Everything again to hide)`);
  } catch (e) {
    showError(e);
  } finally {
    el.everything.disabled = !S.img;
  }
}

/* ---- errors ---------------------------------------------------------- */
function showError(e) {
  const m = e && e.message ? e.message : String(e);
  status(m, true);
}

/* ---- events ---------------------------------------------------------- */
el.stage.addEventListener('contextmenu', (ev) => ev.preventDefault());
el.stage.addEventListener('mousedown', (ev) => {
  if (!S.img) return;
  ev.preventDefault();
  const t0 = performance.now();
  if (ev.button === 2) { addPoint(imagePoint(ev), 0, t0); return; }
  if (ev.button !== 0) return;
  S.drag = { start: imagePoint(ev), x: ev.clientX, y: ev.clientY, box: null, shift: ev.shiftKey };
});
window.addEventListener('mousemove', (ev) => {
  if (!S.img) return;
  const d = S.drag;
  if (d) {
    if (!d.box && Math.hypot(ev.clientX - d.x, ev.clientY - d.y) < 5) return;
    const p = imagePoint(ev), a = d.start;
    d.box = [Math.min(a[0], p[0]), Math.min(a[1], p[1]), Math.max(a[0], p[0]), Math.max(a[1], p[1])];
    drawPrompts();
  }
});
window.addEventListener('mouseup', (ev) => {
  const d = S.drag;
  if (!d || ev.button !== 0) return;
  S.drag = null;
  const t0 = performance.now();
  if (d.box) setBox(d.box, t0);
  else addPoint(d.start, d.shift || ev.shiftKey ? 0 : 1, t0);
});
el.stage.addEventListener('mousemove', (ev) => {
  if (!S.img) return;
  const p = imagePoint(ev);
  el.coords.textContent = `x ${p[0]}, y ${p[1]}`;
  S.hoverPt = p;
  if (!S.drag) requestHover(p);
});
el.stage.addEventListener('mouseleave', () => {
  S.hoverPt = null;
  S.q.hover = null;
  el.coords.textContent = '';
  const st = imgState();
  if (st && !st.cur.res) drawCurrent();  // drop the hover mask
});

el.file.addEventListener('change', () => { openFile(el.file.files[0]); el.file.value = ''; });
el.view.addEventListener('dragover', (ev) => { ev.preventDefault(); el.view.classList.add('dragover'); });
el.view.addEventListener('dragleave', () => el.view.classList.remove('dragover'));
el.view.addEventListener('drop', (ev) => {
  ev.preventDefault();
  el.view.classList.remove('dragover');
  const f = ev.dataTransfer.files[0];
  if (f) openFile(f);
});
el.list.addEventListener('change', () => { el.list.blur(); if (el.list.value !== '') openEntry(+el.list.value); });
el.prev.onclick = () => step(-1);
el.next.onclick = () => step(1);
el.undo.onclick = undo;
el.clear.onclick = clearCurrent;
el.keep.onclick = keep;
el.everything.onclick = everything;
el.save.onclick = save;
el.exppng.onclick = exportPng;
el.expcoco.onclick = exportCoco;
el.expyolo.onclick = exportYolo;
el.copycmd.onclick = copyCommand;
el.zoom.onchange = () => { el.zoom.blur(); layout(); };
el.multimask.onchange = () => { const st = imgState(); if (st && (st.cur.points.length || st.cur.box)) requestPrompt(); };
window.addEventListener('resize', layout);
window.addEventListener('keydown', (ev) => {
  const t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (t && (t.tagName === 'INPUT' && t.type !== 'checkbox' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) {
    if (ev.key === 'Enter' && t.tagName === 'INPUT' && !t.closest('dialog')) t.blur();  // label done
    return;
  }
  const k = ev.key;
  if (k === 'n') step(1);
  else if (k === 'p') step(-1);
  else if (k === 'z') undo();
  else if (k === 'Enter') keep();
  else if (k === 'Escape') clearCurrent();
  else if (k === 'm') { el.multimask.checked = !el.multimask.checked; el.multimask.onchange(); }
  else if (k === '1' || k === '2' || k === '3') pick(+k - 1);
  else return;
  ev.preventDefault();
});

/* ---- start ----------------------------------------------------------- */
(async function start() {
  // The token comes from the URL fragment (never the query string, which
  // servers and proxies log), then leaves the address bar.
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    S.token = decodeURIComponent(m[1]);
    sessionStorage.setItem('msam-token', S.token);
    history.replaceState(null, '', location.pathname);
  } else {
    S.token = sessionStorage.getItem('msam-token');
  }
  try {
    const h = await api('GET', '/v1/health');
    await refreshList();
    const model = h.model ? `${h.model.type || ''} ${h.model.id || ''}`.trim() : '';
    status(`mobilesam ${h.version || ''} \u00b7 model ${model} \u00b7 ${h.threads} threads \u00b7 ` +
      (S.images.some((e) => e.path != null) ? `${S.images.length} images in the folder: pick one (n / p)` : 'open an image'));
    document.body.dataset.ready = '1';
  } catch (e) {
    showError(e);
    document.body.dataset.ready = 'error';
  }
  updateButtons();
})();
