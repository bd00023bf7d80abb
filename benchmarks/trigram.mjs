// The baseline a game developer would write: a character trigram Markov chain in plain
// JavaScript, one per category, with interpolated Witten-Bell smoothing (as lang_trigram.py):
//   P(w | h) = (count(h, w) + types(h) * P(w | h')) / (count(h) + types(h)), trigram -> bigram -> unigram -> uniform.
// node trigram.mjs DATA.json NAMES  with DATA {"train": [[category, name], ...], "val": [[category, name], ...]}
// Prints {"val_nats_per_char", "first_ms", "first_cpu_ms", "names_per_s", "names_per_cpu_s"}: held-out loss (each name under its own
// category), the time from start to the first name (building the tables included), names/s.
import { readFileSync } from "node:fs";

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }; // ms
const t0 = performance.now(), c0 = cpu();
const data = JSON.parse(readFileSync(process.argv[2], "utf8"));
const START = "\u0002", END = "\u0003";

function chain(names, outcomes) {
  const followers = new Map(); // context -> Map(symbol -> count)
  const add = (h, w) => { let m = followers.get(h); if (!m) followers.set(h, (m = new Map())); m.set(w, (m.get(w) || 0) + 1); };
  for (const name of names) {
    const p = [START, START, ...name, END];
    for (let i = 2; i < p.length; i++) { add("", p[i]); add(p[i - 1], p[i]); add(p[i - 2] + p[i - 1], p[i]); }
  }
  const totals = new Map();
  for (const [h, m] of followers) { let n = 0; for (const c of m.values()) n += c; totals.set(h, [n, m.size]); }
  const uniform = 1 / outcomes.length;
  function prob(w, u, v) {
    let p = uniform;
    for (const h of ["", v, u + v]) {
      const t = totals.get(h);
      if (!t) break;
      p = ((followers.get(h).get(w) || 0) + t[1] * p) / (t[0] + t[1]);
    }
    return p;
  }
  function logprob(name) {
    const p = [START, START, ...name, END];
    let s = 0;
    for (let i = 2; i < p.length; i++) s += Math.log(prob(p[i], p[i - 2], p[i - 1]));
    return s;
  }
  // Sampling: the distribution over outcomes for each context seen, built on first use.
  const cdfs = new Map();
  function next(u, v, r) {
    const key = u + v;
    let cdf = cdfs.get(key);
    if (!cdf) {
      cdf = new Float64Array(outcomes.length);
      let run = 0;
      outcomes.forEach((w, i) => { run += prob(w, u, v); cdf[i] = run; });
      cdfs.set(key, cdf);
    }
    const target = r * cdf[cdf.length - 1];
    let lo = 0, hi = cdf.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] > target) hi = mid; else lo = mid + 1; }
    return outcomes[lo];
  }
  function sample(maxLen = 50) {
    for (;;) {
      let u = START, v = START, name = "";
      for (;;) {
        const w = next(u, v, Math.random());
        if (w === END) return name;
        name += w; u = v; v = w;
        if (name.length > maxLen) break;
      }
    }
  }
  return { logprob, sample };
}

const alphabet = [...new Set(data.train.concat(data.val).flatMap(([, s]) => [...s]))].sort();
const outcomes = [...alphabet, END];
const cats = [...new Set(data.train.map(([c]) => c))].sort();
const chains = new Map(cats.map((c) => [c, chain(data.train.filter(([k]) => k === c).map(([, s]) => s), outcomes)]));
const counts = cats.map((c) => data.train.filter(([k]) => k === c).length);
const total = counts.reduce((a, b) => a + b, 0);
function sample() {
  let r = Math.random() * total, k = 0;
  while (r >= counts[k] && k < counts.length - 1) { r -= counts[k]; k++; }
  return chains.get(cats[k]).sample();
}
sample();
const first = performance.now() - t0, firstCpu = cpu() - c0;
let nll = 0, nChars = 0;
for (const [c, s] of data.val) { nll -= chains.get(c).logprob(s); nChars += [...s].length + 1; }
const n = Number(process.argv[3]);
const t1 = performance.now(), c1 = cpu();
for (let i = 0; i < n; i++) sample();
const dt = (performance.now() - t1) / 1000, dc = (cpu() - c1) / 1000;
process.stdout.write(JSON.stringify({ val_nats_per_char: nll / nChars, first_ms: first, first_cpu_ms: firstCpu,
  names_per_s: n / dt, names_per_cpu_s: n / dc }));
