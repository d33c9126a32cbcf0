import type Provider from 'oidc-provider';
import type { ClientCache } from '../clients/index.ts';

type FindClient = (id: string) => Promise<unknown>;

/**
 * Serves the engine's built `Client` objects from our client cache.
 *
 * Why this seam exists: with adapter-backed clients, oidc-provider's `Client.find` reads the
 * adapter on every request, then JSON-serialises and hashes the metadata to find its built
 * client (lib/models/client.js `find`). That is most of the per-request cost of a database-backed
 * client. Here a built client is kept per cached client record: when the cache replaces the record
 * (TTL, or a change notified by any instance) the next lookup builds afresh through the engine's
 * own `find`, so validation and semantics stay the engine's. Install on every Provider instance.
 */
export function installCachedClientLookup(provider: Provider, cache: ClientCache): void {
  const Client = provider.Client as unknown as { find: FindClient };
  if (typeof Client.find !== 'function') {
    throw new Error('oidc-provider Client.find is missing: the engine changed, review src/oidc/client-lookup.ts');
  }
  const original = Client.find.bind(Client);
  const built = new WeakMap<object, Promise<unknown>>();
  Client.find = async (id: string) => {
    if (typeof id !== 'string' || !id.length) return undefined;
    const found = await cache.get(id);
    if (!found?.usable) return undefined;
    let client = built.get(found.client);
    if (!client) {
      client = original(id);
      built.set(found.client, client);
      // A failed build must not be remembered.
      client.catch(() => built.delete(found.client));
    }
    return client;
  };
}
