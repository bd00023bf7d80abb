// Drives an exported js generator for the tests: node export_node.mjs MODULE.js JOB.json
// JOB: {"score": [[item, category|null], ...], "sample": [options, ...], "complete": [[prompt, length, options], ...]}
// Prints {"score": [logprob, ...], "sample": [[item, ...], ...], "complete": [text, ...]} as JSON.
// With CHARSMITH_NO_WASM=1 in the environment, the module runs its plain JavaScript path.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

if (process.env.CHARSMITH_NO_WASM === "1") globalThis.charsmithNoWasm = true;
const gen = await import(pathToFileURL(process.argv[2]).href);
const job = JSON.parse(readFileSync(process.argv[3], "utf8"));
const out = {
  score: (job.score || []).map(([item, category]) => gen.score(item, category === null ? {} : { category }).logprob),
  sample: (job.sample || []).map((o) => gen.sample(o)),
  complete: (job.complete || []).map(([prompt, length, o]) => gen.complete(prompt, length, o)),
};
process.stdout.write(JSON.stringify(out));
