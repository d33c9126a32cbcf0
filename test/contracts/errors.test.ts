import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { problemCatalogue } from '../../src/errors/index.ts';
import { repoRoot } from '../support/services.ts';

// Keeps contracts/errors.md and the error catalogue in step, so the documented contract cannot drift.
describe('contracts/errors.md', () => {
  const doc = readFileSync(join(repoRoot, 'contracts', 'errors.md'), 'utf8');
  const rows = [...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [m[1], Number(m[2])]);

  it('documents every catalogue code with its status, and nothing else', () => {
    const catalogue = Object.entries(problemCatalogue).map(([code, { status }]) => [code, status]);
    expect(rows).to.have.deep.members(catalogue);
    expect(rows).to.have.length(catalogue.length);
  });

  it('names the problem type URI scheme the service emits', () => {
    expect(doc).to.include('urn:infranotes:iam:problem:');
  });
});
