// Node speed of an exported js generator: node export_speed.mjs MODULE.js NAMES
// Prints {"first_ms", "first_cpu_ms", "names_per_s", "names_per_cpu_s", "chars_per_name"}: the time
// from the start of loading the file to the first name (parse, weight decoding, first sample),
// then names/s over NAMES names; each in wall-clock time and in this process's CPU time (which a
// busy machine distorts less).
import { pathToFileURL } from "node:url";

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }; // ms
const t0 = performance.now(), c0 = cpu();
const gen = await import(pathToFileURL(process.argv[2]).href);
gen.sample({ n: 1, seed: 1 });
const first = performance.now() - t0, firstCpu = cpu() - c0;
const n = Number(process.argv[3]);
const t1 = performance.now(), c1 = cpu();
const names = gen.sample({ n, seed: 2, allowKnown: true });
const dt = (performance.now() - t1) / 1000, dc = (cpu() - c1) / 1000;
process.stdout.write(JSON.stringify({ first_ms: first, first_cpu_ms: firstCpu, names_per_s: names.length / dt,
  names_per_cpu_s: names.length / dc,
  chars_per_name: names.reduce((a, s) => a + s.length, 0) / names.length }));
