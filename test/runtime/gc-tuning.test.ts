import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const MODULE = join(import.meta.dirname, '..', '..', 'src', 'runtime', 'gc-tuning.ts');

/*
 * With --trace-pretenuring-statistics V8 prints, at each scavenge, the survival feedback of every allocation
 * site it tracks for pretenuring ("pretenuring: AllocationSite(…): (created, found, ratio) … => tenure").
 * The workload keeps everything one site creates alive across scavenges: with pretenuring on, V8 reports
 * that site (and decides to tenure it); with it off, V8 collects no such feedback and prints nothing. The
 * count of feedback lines, not the decision, is asserted: the decision depends on when scavenges fall.
 */
const WORKLOAD = `
  if (process.env.TUNING) await import(process.env.TUNING);
  const keep = [];
  const make = (i) => ({ i, list: [i], next: null });
  for (let i = 0; i < 1500000; i++) keep.push(make(i));
  process.stdout.write(String(keep.length) + '\\n');
`;

async function pretenuringFeedback(opts: { tuning: boolean; nodeFlags?: string[] }): Promise<number> {
  const { stdout } = await run(
    process.execPath,
    [...(opts.nodeFlags ?? []), '--trace-pretenuring', '--trace-pretenuring-statistics', '--input-type=module', '-e', WORKLOAD],
    { env: { ...process.env, TUNING: opts.tuning ? MODULE : '' }, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout.split('\n').filter((l) => /pretenuring: AllocationSite/.test(l)).length;
}

describe('V8 tuning (ADR-0020)', function () {
  this.timeout(60_000);

  it('V8 tracks a site whose objects survive scavenges for pretenuring (what the tuning turns off)', async () => {
    const sites = await pretenuringFeedback({ tuning: false });
    expect(sites).to.be.greaterThan(0);
  });

  it('with the tuning loaded, V8 collects no pretenuring feedback for the same workload', async () => {
    const sites = await pretenuringFeedback({ tuning: true });
    expect(sites).to.equal(0);
  });

  it('an explicit --allocation-site-pretenuring from the operator is kept', async () => {
    const sites = await pretenuringFeedback({ tuning: true, nodeFlags: ['--allocation-site-pretenuring'] });
    expect(sites).to.be.greaterThan(0);
  });

  it('reports which flags it applied, and none that the command line already decides', async () => {
    const { applyGcTuning, GC_FLAGS } = await import('../../src/runtime/gc-tuning.ts');
    expect(GC_FLAGS).to.deep.equal(['--no-allocation-site-pretenuring']);
    expect(applyGcTuning(['--allocation-site-pretenuring'])).to.deep.equal([]);
    expect(applyGcTuning(['--no-allocation-site-pretenuring'])).to.deep.equal([]);
    expect(applyGcTuning([])).to.deep.equal(['--no-allocation-site-pretenuring']);
  });
});
