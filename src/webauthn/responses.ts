import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';

/**
 * Shape checks of what the browser posts back, before any of it reaches the verifier or the
 * database: base64url strings of bounded size, the credential type, and nothing else kept.
 */
const b64url = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/);

/** A credential id is 16–1023 bytes (WebAuthn; the table's check constraint): at most 1364 base64url characters. */
const credentialId = b64url(1_364);
const extensions = z.record(z.string(), z.unknown()).optional().default({});
const attachment = z.enum(['platform', 'cross-platform']).optional();

const registrationSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(8_192),
    attestationObject: b64url(32_768),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  authenticatorAttachment: attachment,
  clientExtensionResults: extensions,
});

const authenticationSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(8_192),
    authenticatorData: b64url(8_192),
    signature: b64url(2_048),
    userHandle: z.preprocess((v) => (v === null || v === '' ? undefined : v), b64url(88).optional()),
  }),
  authenticatorAttachment: attachment,
  clientExtensionResults: extensions,
});

/** Accepts the object or its JSON text (a form field); null when it is not a registration response. */
export function parseRegistrationResponse(input: unknown): RegistrationResponseJSON | null {
  const r = registrationSchema.safeParse(fromJson(input));
  return r.success ? (r.data as RegistrationResponseJSON) : null;
}

/** Accepts the object or its JSON text (a form field); null when it is not an authentication response. */
export function parseAuthenticationResponse(input: unknown): AuthenticationResponseJSON | null {
  const r = authenticationSchema.safeParse(fromJson(input));
  return r.success ? (r.data as AuthenticationResponseJSON) : null;
}

function fromJson(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  if (input.length > 65_536) return null;
  try {
    return JSON.parse(input);
  } catch {
    return null;
  }
}

/**
 * A stable label for why the verifier refused a response, for the audit record. The verifier's
 * messages quote the challenge and the claimed origin, so they are matched here and never
 * logged or stored.
 */
export function classifyVerifierError(err: unknown): string {
  const m = err instanceof Error ? err.message : '';
  const rules: [RegExp, string][] = [
    [/^Unexpected (registration|authentication) response challenge/, 'challenge_mismatch'],
    [/^Custom challenge verifier/, 'challenge_mismatch'],
    [/^Unexpected (registration|authentication) response origin/, 'origin_mismatch'],
    [/^(Unexpected top origin|Unexpected cross-origin|Detected cross-origin)/, 'origin_mismatch'],
    [/^Unexpected RP ID hash/, 'rp_id_mismatch'],
    [/^User verification/, 'user_verification_missing'],
    [/^User (presence|not present)/, 'user_presence_missing'],
    [/^Unexpected (registration|authentication) response type/, 'wrong_type'],
    [/^Unexpected public key alg/, 'unsupported_algorithm'],
  ];
  return rules.find(([re]) => re.test(m))?.[1] ?? 'malformed';
}
