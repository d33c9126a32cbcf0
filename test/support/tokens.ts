import { randomUUID } from 'node:crypto';
import { apiAudience, type IamService } from '../../src/app.ts';
import { signJwt } from '../../src/keys/index.ts';

/** An RFC 9068 access token for IAM's own API, signed by the instance's active access key. */
export async function mintApiToken(service: IamService, claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    service.keys.activeSigner('access'),
    { typ: 'at+jwt' },
    {
      iss: service.config.issuer,
      aud: apiAudience(service.config.issuer),
      sub: 'svc-billing',
      sub_type: 'workload',
      client_id: 'billing',
      scope: 'iam.permissions.register',
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      ...claims,
    },
  );
}
