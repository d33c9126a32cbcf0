import type { Knex } from 'knex';

export interface ChainVerification {
  chain_id: string;
  ok: boolean;
  events: number;
  broken_seq: number | null;
  problem: string | null;
}

/** Recomputes every audit hash chain (or one tenant's) and reports the first broken link of each. */
export async function verifyAuditChains(db: Knex, tenantId?: string): Promise<ChainVerification[]> {
  const chains = tenantId ? [tenantId] : ((await db('audit_chain_heads').orderBy('chain_id').pluck('chain_id')) as string[]);
  const results: ChainVerification[] = [];
  for (const chainId of chains) {
    const { rows } = await db.raw('select * from iam_audit_verify_chain(?)', [chainId]);
    const r = rows[0];
    results.push({ chain_id: chainId, ok: r.ok, events: Number(r.events), broken_seq: r.broken_seq, problem: r.problem });
  }
  return results;
}
