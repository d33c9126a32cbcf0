import { createLocalJWKSet, type JSONWebKeySet } from 'jose';

export type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * A jose key set for local verification, rebuilt only when the published JWKS changes. The key
 * service hands out a new JWKS object on every change (rotation, emergency revoke, end of a grace),
 * so an identity comparison is enough, and a verification never runs against a set that no longer
 * stands. `select` narrows what verifies (e.g. the access-token keys only); `onChange` lets callers
 * drop what they verified under the previous set.
 */
export function followKeySet(
  jwks: () => JSONWebKeySet,
  opts: { select?: (published: JSONWebKeySet) => JSONWebKeySet; onChange?: () => void } = {},
): () => LocalKeySet {
  let builtFor: JSONWebKeySet | undefined;
  let keySet: LocalKeySet | undefined;
  return () => {
    const published = jwks();
    if (published !== builtFor || !keySet) {
      builtFor = published;
      keySet = createLocalJWKSet(opts.select ? opts.select(published) : published);
      opts.onChange?.();
    }
    return keySet;
  };
}
