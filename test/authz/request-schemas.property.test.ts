import { expect } from 'chai';
import fc from 'fast-check';
import {
  batchCheckRequestSchema,
  checkRequestSchema,
  effectivePermissionsRequestSchema,
  runtimeRequestSchemas,
} from '../../src/authz/check-api.ts';

/*
 * The check API's request schemas are compiled (z.compile): a generated parser for valid requests,
 * the runtime parser for everything else. Over random requests — valid, nearly valid and malformed —
 * the compiled schema must answer exactly as the schema as written: same verdict, same output
 * (lower-cased ids, defaults), same issues.
 */

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });
const uuid = fc.oneof(
  fc
    .tuple(hex(8), hex(4), fc.constantFrom('4', '7', '9'), hex(3), fc.constantFrom('8', 'a', 'B', 'c'), hex(3), hex(12))
    .map(([a, b, v, c, w, d, e]) => `${a}-${b}-${v}${c}-${w}${d}-${e}`),
  fc.constantFrom('', 'not-a-uuid', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'),
);
const permission = fc.oneof(
  fc.constantFrom('docs.pages.read', 'iam.members.manage', 'a.b.c', 'a_b.c-d.e.f'),
  fc.constantFrom('Docs.pages.read', 'docs.read', '', '.a.b', `x.y.${'z'.repeat(130)}`),
  fc.string({ maxLength: 20 }),
);
const scope = fc.record(
  {
    type: fc.constantFrom('tenant', 'team', 'project', 'org', 'TEAM'),
    id: fc.oneof(uuid, fc.string({ maxLength: 6 }), fc.constant('x'.repeat(257))),
    extra: fc.constant(1),
  },
  { requiredKeys: ['type', 'id'] },
);
const principal = fc.oneof(
  fc.record({ type: fc.constantFrom('user', 'workload'), id: uuid }),
  fc.record({ type: fc.constantFrom('user', 'group', 1), id: fc.oneof(uuid, fc.integer()) }, { requiredKeys: [] }),
  fc.constantFrom(null, 'user', []),
);
const minRevision = fc.oneof(
  fc.nat(),
  fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.NaN, '3', null),
);
const base = {
  tenant_id: fc.oneof(uuid, fc.constant(42)),
  principal,
  min_revision: minRevision,
  extra: fc.constant('x'),
};
const validUuid = fc
  .tuple(hex(8), hex(4), fc.constantFrom('4', '7'), hex(3), fc.constantFrom('8', 'a', 'B'), hex(3), hex(12))
  .map(([a, b, v, c, w, d, e]) => `${a}-${b}-${v}${c}-${w}${d}-${e}`);
const validChain = fc
  .subarray(['tenant', 'team', 'project'] as const)
  .chain((types) =>
    fc.tuple(...types.map((type) => fc.record({ type: fc.constant(type), id: fc.string({ minLength: 1, maxLength: 8 }) }))),
  );
const valid = {
  tenant_id: validUuid,
  principal: fc.record({ type: fc.constantFrom('user', 'workload'), id: validUuid }),
  min_revision: fc.nat(),
  permission: fc.constantFrom('docs.pages.read', 'iam.members.manage', 'a.b.c', 'a_b.c-d.e.f'),
  scope_chain: validChain,
};
const chain = fc.oneof(fc.array(scope, { maxLength: 4 }), fc.constantFrom('tenant', null));
const checkRequest = fc.oneof(
  fc.record(valid, { requiredKeys: ['principal', 'permission'] }),
  fc.record({ ...base, permission, scope_chain: chain }, { requiredKeys: ['principal', 'permission'] }),
);
const batchRequest = fc.oneof(
  fc.record(
    {
      tenant_id: valid.tenant_id,
      principal: valid.principal,
      min_revision: valid.min_revision,
      checks: fc.array(fc.record({ permission: valid.permission, scope_chain: valid.scope_chain }, { requiredKeys: ['permission'] }), {
        minLength: 1,
        maxLength: 4,
      }),
    },
    { requiredKeys: ['principal', 'checks'] },
  ),
  fc.record(
    {
      ...base,
      checks: fc.oneof(
        fc.array(fc.record({ permission, scope_chain: chain }, { requiredKeys: ['permission'] }), { maxLength: 4 }),
        fc.constant(Array.from({ length: 101 }, () => ({ permission: 'a.b.c' }))),
      ),
    },
    { requiredKeys: ['principal', 'checks'] },
  ),
);
const effectiveRequest = fc.oneof(
  fc.record(
    { tenant_id: valid.tenant_id, principal: valid.principal, min_revision: valid.min_revision, scope_chain: valid.scope_chain },
    { requiredKeys: ['principal'] },
  ),
  fc.record({ ...base, scope_chain: chain }, { requiredKeys: ['principal'] }),
);

type Parser = { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { issues: unknown[] } } };

function sameAnswer(compiled: Parser, runtime: Parser, input: unknown): void {
  const a = compiled.safeParse(structuredClone(input));
  const b = runtime.safeParse(structuredClone(input));
  expect(a.success, JSON.stringify(input)).to.equal(b.success);
  if (b.success) expect(a.data, JSON.stringify(input)).to.deep.equal(b.data);
  else expect(a.error?.issues, JSON.stringify(input)).to.deep.equal(b.error?.issues);
}

describe('check API request schemas: compiled = as written', () => {
  it('Check: same verdict, output and issues over random requests', () => {
    fc.assert(
      fc.property(checkRequest, (r) => sameAnswer(checkRequestSchema, runtimeRequestSchemas.check, r)),
      { numRuns: 2000 },
    );
  });

  it('BatchCheck: same verdict, output and issues over random requests', () => {
    fc.assert(
      fc.property(batchRequest, (r) => sameAnswer(batchCheckRequestSchema, runtimeRequestSchemas.batchCheck, r)),
      { numRuns: 1000 },
    );
  });

  it('ListEffectivePermissions: same verdict, output and issues over random requests', () => {
    fc.assert(
      fc.property(effectiveRequest, (r) => sameAnswer(effectivePermissionsRequestSchema, runtimeRequestSchemas.effectivePermissions, r)),
      { numRuns: 1000 },
    );
  });

  it('the generators reach both verdicts (the comparison is not all failures)', () => {
    for (const [gen, schema] of [
      [checkRequest, checkRequestSchema],
      [batchRequest, batchCheckRequestSchema],
      [effectiveRequest, effectivePermissionsRequestSchema],
    ] as [fc.Arbitrary<unknown>, Parser][]) {
      const answers = fc.sample(gen, 500).map((r) => schema.safeParse(r).success);
      expect(answers.filter(Boolean).length).to.be.greaterThan(100);
      expect(answers.filter((ok) => !ok).length).to.be.greaterThan(100);
    }
  });
});
