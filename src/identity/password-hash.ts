import argon2 from 'argon2';

/** OWASP's argon2id baseline (m=19 MiB, t=2, p=1); sign-in makes these configurable. */
export const DEFAULT_ARGON2_PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export async function hashPassword(
  password: string,
  params = DEFAULT_ARGON2_PARAMS,
): Promise<{ hash: string; params: { m: number; t: number; p: number } }> {
  const hash = await argon2.hash(password, { type: argon2.argon2id, ...params });
  return { hash, params: { m: params.memoryCost, t: params.timeCost, p: params.parallelism } };
}
