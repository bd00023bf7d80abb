// charsmith generator runtime: the sampling specification of docs/export.md in plain
// JavaScript (ES2020, no dependencies). makeGenerator(meta, base64Weights) -> {sample, score,
// complete, info}. Same seed, same items as charsmith's Python reference of the spec.
function makeGenerator(M, b64) {
  "use strict";
  const CH = Array.from(M.chars), V = CH.length, H = M.hidden, L = M.layers, E = M.embed, K = M.categories.length;
  const G = (M.cell === "lstm" ? 4 : M.cell === "gru" ? 3 : 1) * H;
  const index = new Map();
  CH.forEach((c, i) => index.set(c, i));

  // ---- weights: little-endian float32 or float16, held as Float32Array (exact for both) and
  // read into float64 arithmetic; matrices transposed to (out, in) for the matrix-vector sums ----
  const bytes = decodeBase64(b64);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const P = {};
  for (const [name, shape, offset] of M.tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    let a;
    if (M.dtype === "float16") { a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = half(dv.getUint16(offset + 2 * i, true)); }
    else if (littleEndian) a = new Float32Array(bytes.buffer, bytes.byteOffset + offset, n);
    else { a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = dv.getFloat32(offset + 4 * i, true); }
    P[name] = shape.length === 2 && name !== "wte" ? transpose(a, shape[0], shape[1]) : a;
  }
  // Layer 0's input projection for every id: row v = b + x_v @ W_ih, in the spec's order.
  const table = new Float64Array(V * G);
  for (let v = 0; v < V; v++) {
    const row = table.subarray(v * G, (v + 1) * G);
    row.set(P["l0.b"]);
    if (E > 0) matvec(row, P.wte.subarray(v * E, (v + 1) * E), P["l0.W_ih"]);
    else { const WT = P["l0.W_ih"]; for (let j = 0; j < G; j++) row[j] += WT[j * V + v]; }
  }
  const Wih = [], Whh = [], B = [], Bhn = []; // per layer
  for (let l = 0; l < L; l++) { Wih.push(P[`l${l}.W_ih`]); Whh.push(P[`l${l}.W_hh`]); B.push(P[`l${l}.b`]); Bhn.push(P[`l${l}.b_hn`]); }
  const known = M.known ? decodeKnown(M.known) : null, utf8 = new TextEncoder();
  const nState = M.cell === "lstm" ? 2 : 1;
  // The step's matrix-vector sums run in WebAssembly (SIMD, same order and roundings: the
  // same numbers) where the runtime has it, else in plain JavaScript (matvec below).
  const fast = setupWasm();
  const xp = fast ? fast.view(G) : new Float64Array(G), gh = fast ? fast.view(G) : new Float64Array(G);
  const logits = fast ? fast.view(V) : new Float64Array(V);
  const mvIh = fast ? Wih.map((W, l) => l > 0 && fast.matrix(W, H, G)) : null;
  const mvHh = fast ? Whh.map((W) => fast.matrix(W, H, G)) : null, mvOut = fast ? fast.matrix(P.W_out, H, V) : null;
  const w = new Float64Array(V), order = Array.from({ length: V }, (_, i) => i);

  function decodeBase64(s) { // Node's Buffer is the fastest; browsers, Deno and Bun have atob
    if (typeof Buffer !== "undefined") { const b = Buffer.from(s, "base64"); return new Uint8Array(b.buffer, b.byteOffset, b.length).slice(); }
    const t = atob(s), out = new Uint8Array(t.length);
    for (let i = 0; i < t.length; i++) out[i] = t.charCodeAt(i);
    return out;
  }
  function half(h) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
    if (e === 0) return s * f * 5.960464477539063e-8; // 2**-24
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1024 + f) * Math.pow(2, e - 25);
  }
  function decodeKnown(s) {
    const b = decodeBase64(s), d = new DataView(b.buffer), a = new Uint32Array(b.length >> 2);
    for (let i = 0; i < a.length; i++) a[i] = d.getUint32(4 * i, true);
    return a;
  }
  // acc[j] += sum_i x[i] * W[i, j], i ascending, for W (in, out) given transposed (WT (out, in)):
  // each output's sum runs in a register; eight outputs at a time share the loads of x.
  function matvec(acc, x, WT) {
    const n = x.length, m = acc.length;
    let j = 0;
    for (; j + 8 <= m; j += 8) {
      let a0 = acc[j], a1 = acc[j + 1], a2 = acc[j + 2], a3 = acc[j + 3], a4 = acc[j + 4], a5 = acc[j + 5], a6 = acc[j + 6], a7 = acc[j + 7];
      let o = j * n;
      const end = o + n;
      for (let i = 0; o < end; i++, o++) {
        const xi = x[i];
        a0 += xi * WT[o]; a1 += xi * WT[o + n]; a2 += xi * WT[o + 2 * n]; a3 += xi * WT[o + 3 * n];
        a4 += xi * WT[o + 4 * n]; a5 += xi * WT[o + 5 * n]; a6 += xi * WT[o + 6 * n]; a7 += xi * WT[o + 7 * n];
      }
      acc[j] = a0; acc[j + 1] = a1; acc[j + 2] = a2; acc[j + 3] = a3; acc[j + 4] = a4; acc[j + 5] = a5; acc[j + 6] = a6; acc[j + 7] = a7;
    }
    for (; j < m; j++) {
      let a = acc[j];
      const o = j * n;
      for (let i = 0; i < n; i++) a += x[i] * WT[o + i];
      acc[j] = a;
    }
  }
  function transpose(W, rows, cols) {
    const T = new Float32Array(W.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) T[c * rows + r] = W[r * cols + c];
    return T;
  }
  // WebAssembly's mv (see charsmith/export/_wasm.py) over one memory: each matrix in groups of
  // eight outputs (float32), the vectors it adds into (padded to eight), one scratch input.
  // null when WebAssembly or its SIMD is missing (or globalThis.charsmithNoWasm is set).
  function setupWasm() {
    if (typeof WebAssembly !== "object" || globalThis.charsmithNoWasm || !M.wasm) return null;
    const pad = (m) => Math.ceil(m / 8) * 8;
    let bytes = 4096 + 3 * 8 * pad(Math.max(G, V)) + 8 * Math.max(H, 8);
    for (let l = 0; l < L; l++) bytes += 4 * H * pad(G) * (l > 0 ? 2 : 1);
    bytes += 4 * H * pad(V);
    let mem, mv;
    try {
      mem = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1 });
      mv = new WebAssembly.Instance(new WebAssembly.Module(decodeBase64(M.wasm)), { m: { mem } }).exports.mv;
    } catch (e) { return null; }
    let top = 0;
    const take = (n) => { const at = top; top += Math.ceil(n / 16) * 16; return at; };
    const xs = new Float64Array(mem.buffer, take(8 * Math.max(H, 8)), Math.max(H, 8));
    return {
      view(m) { return new Float64Array(mem.buffer, take(8 * pad(m)), pad(m)); },
      matrix(WT, n, m) { // WT (m, n) transposed -> groups of eight outputs, input by input
        const groups = pad(m) / 8, at = take(4 * n * pad(m)), f = new Float32Array(mem.buffer, at, n * pad(m));
        let o = 0;
        for (let g = 0; g < groups; g++) for (let i = 0; i < n; i++) for (let k = 0; k < 8; k++) {
          const j = 8 * g + k;
          f[o++] = j < m ? WT[j * n + i] : 0;
        }
        return { at, n, groups };
      },
      mv(acc, x, W) { xs.set(x); mv(acc.byteOffset, xs.byteOffset, W.at, W.n, W.groups); },
    };
  }
  function sigmoid(x) { return 1 / (1 + Math.exp(-x)); }

  // ---- the network, one row ----
  function zeroState() {
    const s = [];
    for (let l = 0; l < L; l++) { const t = []; for (let k = 0; k < nState; k++) t.push(new Float64Array(H)); s.push(t); }
    return s;
  }
  function categoryInput(cw) { // (b + x @ W_ih) is the table; this is e @ W_cat with e = cw @ cat
    if (!cw) return null;
    const e = new Float64Array(P.cat.length / K), v = new Float64Array(G);
    matvec(e, cw, P.cat);
    matvec(v, e, P.W_cat);
    return v;
  }
  function step(id, st, catv) { // feeds id; updates st in place; leaves the logits in `logits`
    for (let l = 0; l < L; l++) {
      if (l === 0) {
        const off = id * G;
        if (catv) for (let j = 0; j < G; j++) xp[j] = table[off + j] + catv[j];
        else for (let j = 0; j < G; j++) xp[j] = table[off + j];
      } else {
        xp.set(B[l]);
        if (fast) fast.mv(xp, st[l - 1][0], mvIh[l]); else matvec(xp, st[l - 1][0], Wih[l]);
      }
      gh.fill(0);
      const h = st[l][0];
      if (fast) fast.mv(gh, h, mvHh[l]); else matvec(gh, h, Whh[l]);
      if (M.cell === "gru") {
        const bhn = Bhn[l];
        for (let j = 0; j < H; j++) {
          const r = sigmoid(xp[j] + gh[j]), z = sigmoid(xp[H + j] + gh[H + j]);
          const n = Math.tanh(xp[2 * H + j] + r * (gh[2 * H + j] + bhn[j]));
          h[j] = n + z * (h[j] - n);
        }
      } else if (M.cell === "lstm") {
        const c = st[l][1];
        for (let j = 0; j < H; j++) {
          const i = sigmoid(xp[j] + gh[j]), f = sigmoid(xp[H + j] + gh[H + j]);
          const g = Math.tanh(xp[2 * H + j] + gh[2 * H + j]), o = sigmoid(xp[3 * H + j] + gh[3 * H + j]);
          c[j] = f * c[j] + i * g;
          h[j] = o * Math.tanh(c[j]);
        }
      } else {
        for (let j = 0; j < H; j++) h[j] = Math.tanh(xp[j] + gh[j]);
      }
    }
    logits.set(P.b_out);
    if (fast) fast.mv(logits, st[L - 1][0], mvOut); else matvec(logits, st[L - 1][0], P.W_out);
  }

  // ---- PRNG: xoshiro128** ----
  function rng(seed) {
    let x = seed >>> 0;
    const s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9E3779B9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85EBCA6B) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xC2B2AE35) >>> 0;
      s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    function next() {
      const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0, t = s[1] << 9;
      s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 11);
      return r;
    }
    return () => { const a = next() >>> 5, b = next() >>> 6; return (a * 67108864 + b) / 9007199254740992; };
  }
  function rotl(x, k) { return ((x << k) | (x >>> (32 - k))) >>> 0; }

  // ---- the draw: temperature, top-k, top-p, inverse CDF with one u ----
  function draw(u, T, topK, topP) {
    let m = -Infinity;
    for (let i = 0; i < V; i++) { w[i] = logits[i] / T; if (w[i] > m) m = w[i]; }
    for (let i = 0; i < V; i++) w[i] = Math.exp(w[i] - m);
    const byK = topK > 0 && topK < V;
    if (byK || topP < 1) {
      order.sort((a, b) => w[b] - w[a] || a - b);
      let kept = V;
      if (byK) { for (let r = topK; r < V; r++) w[order[r]] = 0; kept = topK; }
      if (topP < 1) {
        let total = 0; for (let i = 0; i < V; i++) total += w[i];
        let run = 0, r = 0;
        while (r < kept) { run += w[order[r]]; r++; if (run >= topP * total) break; }
        for (; r < kept; r++) w[order[r]] = 0;
      }
      for (let i = 0; i < V; i++) order[i] = i;
    }
    let total = 0; for (let i = 0; i < V; i++) total += w[i];
    const target = u * total;
    let run = 0, last = 0;
    for (let i = 0; i < V; i++) {
      if (w[i] > 0) { run += w[i]; last = i; if (run > target) return i; }
    }
    return last;
  }

  // ---- checks and conversions ----
  function fail(Kind, msg) { throw new Kind(msg); }
  function ids(text, what) {
    if (typeof text !== "string") fail(TypeError, `${what} must be a string`);
    const t = M.lowercase ? text.toLowerCase() : text, out = [], bad = [];
    for (const c of t) { const i = index.get(c); if (i === undefined || i === 0) bad.push(c); else out.push(i); }
    if (bad.length) fail(RangeError, `${what} ${JSON.stringify(t)} has characters the model never saw: ${JSON.stringify([...new Set(bad)].join(""))}`);
    return out;
  }
  function int(v, name, lo, dflt) {
    if (v === undefined || v === null) return dflt;
    if (!Number.isInteger(v) || v < lo) fail(RangeError, `${name} must be an integer >= ${lo}, got ${v}`);
    return v;
  }
  function controls(o) {
    const T = o.temperature === undefined ? 1 : o.temperature;
    if (typeof T !== "number" || !(T > 0) || !Number.isFinite(T)) fail(RangeError, `temperature must be a finite number > 0, got ${T}`);
    const topK = int(o.topK, "topK", 0, 0);
    const topP = o.topP === undefined ? 1 : o.topP;
    if (typeof topP !== "number" || !(topP > 0 && topP <= 1)) fail(RangeError, `topP must be in (0, 1], got ${topP}`);
    let seed = o.seed;
    if (seed === undefined || seed === null) seed = Math.floor(Math.random() * 4294967296);
    else if (!Number.isInteger(seed) || seed < 0 || seed > 4294967295) fail(RangeError, `seed must be an integer in [0, 2**32), got ${seed}`);
    return { T, topK, topP, u: rng(seed) };
  }
  function condition(category) { // a name or {name: weight} -> weights / max / sum, or null
    if (category === undefined || category === null) return null;
    if (!K) fail(RangeError, "this model has no categories");
    const spec = typeof category === "string" ? { [category]: 1 } : category, cw = new Float64Array(K);
    for (const [name, weight] of Object.entries(spec)) {
      const k = M.categories.indexOf(name);
      if (k < 0) fail(RangeError, `unknown category ${JSON.stringify(name)}; this model knows: ${M.categories.join(", ")}`);
      if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) fail(RangeError, `category weight of ${name} must be a finite number >= 0`);
      cw[k] = weight;
    }
    let m = 0; for (let k = 0; k < K; k++) if (cw[k] > m) m = cw[k];
    if (!(m > 0)) fail(RangeError, "category weights need a positive one");
    let total = 0; for (let k = 0; k < K; k++) { cw[k] /= m; total += cw[k]; }
    for (let k = 0; k < K; k++) cw[k] /= total;
    return cw;
  }
  function prior(u) { // a category id drawn from the training counts with u
    let total = 0; for (const c of M.counts) total += c;
    const target = u * total;
    let run = 0;
    for (let k = 0; k < K; k++) { run += M.counts[k]; if (M.counts[k] > 0 && run > target) return k; }
    return K - 1;
  }
  function oneHot(k) { const cw = new Float64Array(K); cw[k] = 1; return cw; }
  function fnv1a(text) {
    let h = 2166136261;
    for (const b of utf8.encode(text)) h = Math.imul(h ^ b, 16777619) >>> 0;
    return h;
  }
  function isKnown(text) {
    const h = fnv1a(text);
    let lo = 0, hi = known.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (known[mid] < h) lo = mid + 1; else hi = mid; }
    return lo < known.length && known[lo] === h;
  }

  // ---- the public functions ----
  function sample(o = {}) {
    if (M.mode !== "lines") fail(Error, "sample() writes list items, but this model learned running text; use complete()");
    const n = int(o.n, "n", 1, 10), c = controls(o);
    const pre = ids(o.prefix === undefined ? "" : o.prefix, "prefix");
    const minLen = int(o.minLen, "minLen", 1, 1), maxLen = int(o.maxLen, "maxLen", 1, 50);
    if (minLen > maxLen) fail(RangeError, `minLen (${minLen}) must not exceed maxLen (${maxLen})`);
    if (pre.length > maxLen) fail(RangeError, `the prefix is longer than maxLen (${maxLen})`);
    const fixed = condition(o.category), skipKnown = known && !o.allowKnown, seen = o.unique ? new Set() : null;
    const prefix = pre.map((i) => CH[i]).join(""), out = [], tries = 256 * n + 20000;
    // Every try of a category starts from the same primed state: computed once, copied per try.
    const primed = new Map(), st = zeroState();
    function prime(key, cw) {
      let p = primed.get(key);
      if (!p) {
        const catv = categoryInput(cw), s0 = zeroState();
        step(0, s0, catv);
        for (const i of pre) step(i, s0, catv);
        p = { catv, s0, logits: logits.slice() };
        primed.set(key, p);
      }
      for (let l = 0; l < L; l++) for (let k = 0; k < nState; k++) st[l][k].set(p.s0[l][k]);
      logits.set(p.logits);
      return p.catv;
    }
    for (let t = 0; t < tries && out.length < n; t++) {
      let catv = null;
      if (fixed) catv = prime(-1, fixed);
      else if (K) { const k = prior(c.u()); catv = prime(k, oneHot(k)); }
      else prime(-1, null);
      let item = prefix, len = pre.length, x;
      for (;;) {
        x = draw(c.u(), c.T, c.topK, c.topP);
        if (x === 0 || len >= maxLen) break;
        item += CH[x]; len++;
        step(x, st, catv);
      }
      if (x !== 0 || len < minLen || (skipKnown && isKnown(item)) || (seen && seen.has(item))) continue;
      if (seen) seen.add(item);
      out.push(item);
    }
    return out;
  }
  function logprob(seq, cw) {
    const catv = categoryInput(cw), st = zeroState();
    let total = 0, x = 0;
    for (const y of seq) {
      step(x, st, catv);
      let m = -Infinity; for (let i = 0; i < V; i++) if (logits[i] > m) m = logits[i];
      let s = 0; for (let i = 0; i < V; i++) s += Math.exp(logits[i] - m);
      total += logits[y] - m - Math.log(s);
      x = y;
    }
    return total;
  }
  function score(item, o = {}) {
    const seq = ids(item, "item");
    seq.push(0);
    const cw = condition(o.category);
    let lp;
    if (K && !cw) { // the mixture of the categories, weighted by their training counts
      let total = 0; for (const c of M.counts) total += c;
      const logs = M.counts.map((c, k) => logprob(seq, oneHot(k)) + Math.log(c / total));
      const m = Math.max(...logs);
      let s = 0; for (const v of logs) s += Math.exp(v - m);
      lp = m + Math.log(s);
    } else lp = logprob(seq, cw);
    const natsPerChar = -lp / seq.length;
    return { item: seq.slice(0, -1).map((i) => CH[i]).join(""), logprob: lp, nChars: seq.length, natsPerChar, bitsPerChar: natsPerChar / Math.LN2 };
  }
  function complete(prompt = "", length = 200, o = {}) {
    if (M.mode !== "text") fail(Error, "complete() continues running text, but this model writes list items; use sample()");
    const p = ids(prompt, "prompt"), n = int(length, "length", 0, 200), c = controls(o), st = zeroState();
    step(0, st, null);
    for (const i of p) step(i, st, null);
    let text = p.map((i) => CH[i]).join("");
    for (let t = 0; t < n; t++) {
      const x = draw(c.u(), c.T, c.topK, c.topP);
      text += CH[x];
      step(x, st, null);
    }
    return text;
  }
  const info = Object.freeze({ mode: M.mode, cell: M.cell, hidden: H, layers: L, chars: CH.join(""), categories: M.categories.slice(),
    lowercase: M.lowercase, dtype: M.dtype, engine: fast ? "webassembly" : "javascript", knownItems: known ? known.length : 0, charsmith: M.version });
  return { sample, score, complete, info };
}
