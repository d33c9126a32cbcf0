// Reads mocha's spec-reporter summary from a log and prints the CI line
// "tests: N passed, N failed, N skipped". Exits 1 when no summary was found.
import { readFileSync } from 'node:fs';

// Strip ANSI colours before matching.
const log = readFileSync(process.argv[2], 'utf8').replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
const count = (word) => {
  const m = [...log.matchAll(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'gm'))].at(-1);
  return m ? Number(m[1]) : undefined;
};
const passed = count('passing');
if (passed === undefined) {
  console.log('tests: 0 passed, 1 failed, 0 skipped');
  process.exit(1);
}
console.log(`tests: ${passed} passed, ${count('failing') ?? 0} failed, ${count('pending') ?? 0} skipped`);
