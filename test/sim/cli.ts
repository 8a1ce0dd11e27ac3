// npm run sim -- --seeds N --seed S [--members 3|5] [--verbose]
// Runs N simulated clusters from seed S; exits non-zero on the first violation, printing the
// seed and step so that `--seeds 1 --seed <seed>` replays it exactly.
import { parseArgs } from 'node:util';
import { runSeeds } from './seeds.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    members: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});
const count = Number(values.seeds);
const first = Number(values.seed);
const members = values.members === undefined ? undefined : (Number(values.members) as 3 | 5);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(first)) {
  console.error(
    '--seeds and --seed take whole numbers, for example: npm run sim -- --seeds 500 --seed 1',
  );
  process.exit(2);
}
const started = Date.now();
const outcome = runSeeds({
  first,
  count,
  ...(members === undefined ? {} : { members }),
  ...(values.verbose ? { log: (line: string) => console.log(line) } : {}),
});
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (outcome.violation !== null) {
  console.error(`VIOLATION ${outcome.violation.message}`);
  console.error(`replay: npm run sim -- --seeds 1 --seed ${outcome.violation.seed}`);
  process.exit(1);
}
console.log(JSON.stringify({ seeds: count, first, seconds: Number(seconds), ...outcome.totals }));
