import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const MODULE = join(import.meta.dirname, '..', '..', 'src', 'runtime', 'gc-tuning.ts');

/*
 * V8 reports its pretenuring decisions with --trace-pretenuring(-statistics). The workload keeps most of what one
 * allocation site creates alive across scavenges, which is what makes V8 pretenure that site.
 */
const WORKLOAD = `
  if (process.env.TUNING) await import(process.env.TUNING);
  const keep = [];
  const make = (i) => ({ i, list: [i], next: null });
  for (let round = 0; round < 30; round++) {
    for (let i = 0; i < 200000; i++) keep.push(make(i));
    if (keep.length > 1e6) keep.length = 0;
  }
`;

async function pretenuringDecisions(opts: { tuning: boolean; nodeFlags?: string[] }): Promise<number> {
  const { stdout } = await run(
    process.execPath,
    [...(opts.nodeFlags ?? []), '--trace-pretenuring', '--trace-pretenuring-statistics', '--input-type=module', '-e', WORKLOAD],
    { env: { ...process.env, TUNING: opts.tuning ? MODULE : '' }, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout.split('\n').filter((l) => /=> tenure/.test(l)).length;
}

describe('V8 tuning (ADR-0020)', function () {
  this.timeout(60_000);

  it('V8 pretenures a site whose objects survive scavenges (the behaviour the tuning turns off)', async () => {
    const tenured = await pretenuringDecisions({ tuning: false });
    expect(tenured).to.be.greaterThan(0);
  });

  it('with the tuning loaded, V8 makes no pretenuring decision for the same workload', async () => {
    const tenured = await pretenuringDecisions({ tuning: true });
    expect(tenured).to.equal(0);
  });

  it('an explicit --allocation-site-pretenuring from the operator is kept', async () => {
    const tenured = await pretenuringDecisions({ tuning: true, nodeFlags: ['--allocation-site-pretenuring'] });
    expect(tenured).to.be.greaterThan(0);
  });

  it('reports which flags it applied, and none that the command line already decides', async () => {
    const { applyGcTuning, GC_FLAGS } = await import('../../src/runtime/gc-tuning.ts');
    expect(GC_FLAGS).to.deep.equal(['--no-allocation-site-pretenuring']);
    expect(applyGcTuning(['--allocation-site-pretenuring'])).to.deep.equal([]);
    expect(applyGcTuning(['--no-allocation-site-pretenuring'])).to.deep.equal([]);
    expect(applyGcTuning([])).to.deep.equal(['--no-allocation-site-pretenuring']);
  });
});
