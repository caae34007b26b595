// Where a server's CPU went, from a `node --cpu-prof` profile (TENANCY_BENCH_PROF_DIR=<dir> on
// bench/router.js or bench/sdk.js writes one per server):
//   node bench/cpuprofile-summary.js <file.cpuprofile> [--from <s>] [--to <s>] [--calls <n>] [--top <k>]
// prints busy share per second (to find the window of one figure), then for the window: time
// by package or project file (each sample charged to the nearest JavaScript frame, so native
// and WebAssembly work counts for the package that called it), and by function. With --calls,
// also microseconds per call.
import { readFileSync } from 'node:fs';

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/cpuprofile-summary.js <file.cpuprofile> [--from s] [--to s] [--calls n] [--top k]');
  process.exit(2);
}
const flag = (name, fallback) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : fallback;
};
const from = flag('from', 0) * 1e6;
const to = flag('to', Number.POSITIVE_INFINITY) * 1e6;
const calls = flag('calls', 0);
const top = flag('top', 30);

const prof = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const idle = new Set(prof.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));

/** The package (`fastify`, `@electric-sql/pglite`) or project file (`dist/ai/model-router.js`) of a frame. */
function ownerOf(frame) {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') && functionName !== '(anonymous)' ? functionName : undefined;
  const pkg = url.match(/node_modules\/((@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1];
  const own = url.match(/\/(dist|bench|src)\/(.*)$/);
  if (own) return `${own[1]}/${own[2]}`;
  return undefined; // node: internals and wasm: charged to their JavaScript caller
}

const perSecond = [];
const byOwner = new Map();
const byFunction = new Map();
let windowUs = 0;
let busyUs = 0;
let t = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const d = prof.timeDeltas[i] ?? 0;
  t += d;
  const id = prof.samples[i];
  const s = Math.floor(t / 1e6);
  perSecond[s] ??= { all: 0, busy: 0 };
  perSecond[s].all += d;
  if (!idle.has(id)) perSecond[s].busy += d;
  if (t < from || t > to) continue;
  windowUs += d;
  if (idle.has(id)) continue;
  busyUs += d;
  let owner = '(native, no JavaScript caller)';
  let fn = owner;
  for (let x = id; x !== undefined; x = parent.get(x)) {
    const frame = nodes.get(x).callFrame;
    const o = ownerOf(frame);
    if (o) {
      owner = o;
      fn = `${o}:${frame.functionName || '(anonymous)'}:${frame.lineNumber + 1}`;
      break;
    }
  }
  byOwner.set(owner, (byOwner.get(owner) ?? 0) + d);
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + d);
}

console.log(
  'busy share per second:',
  perSecond.map((x, s) => `${s}:${x ? Math.round((100 * x.busy) / x.all) : 0}%`).join(' '),
);
console.log(
  `window ${(from / 1e6).toFixed(1)}-${Number.isFinite(to) ? (to / 1e6).toFixed(1) : 'end'} s: ` +
    `${(windowUs / 1e3).toFixed(0)} ms, busy ${(busyUs / 1e3).toFixed(0)} ms` +
    (calls ? `, ${(busyUs / calls).toFixed(0)} us per call over ${calls} calls` : ''),
);
const line = ([name, us]) =>
  `${(us / 1e3).toFixed(0).padStart(7)} ms ${((100 * us) / busyUs).toFixed(1).padStart(5)}%` +
  (calls ? ` ${(us / calls).toFixed(1).padStart(7)} us/call` : '') +
  `  ${name}`;
const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
console.log('\nby package or project file (share of busy time):');
for (const e of sorted(byOwner)) console.log(line(e));
console.log('\nby function (nearest JavaScript frame):');
for (const e of sorted(byFunction)) console.log(line(e));
