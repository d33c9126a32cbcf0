import { randomBytes } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Knex } from 'knex';
import { AppError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';
import { type AuthThrottle, type FactorGuard, validIp } from '../security/index.ts';
import type { KeyValueStore } from '../store/types.ts';
import {
  type AuthenticationChallenge,
  CHALLENGE_TTL_MS,
  newChallenge,
  saveAuthenticationChallenge,
  saveRegistrationChallenge,
  takeAuthenticationChallenge,
  takeRegistrationChallenge,
} from './challenges.ts';
import { audit, credentialIdHash, lockActiveUser, UUID, type WebAuthnContext } from './context.ts';
import {
  type CredentialRow,
  MAX_CREDENTIALS_PER_USER,
  type PasskeySummary,
  printableLine,
  sanitizeCredentialName,
  sanitizeTransports,
  toSummary,
} from './credentials.ts';
import type { RelyingParty } from './relying-party.ts';
import { classifyVerifierError, parseAuthenticationResponse, parseRegistrationResponse } from './responses.ts';

/** COSE algorithms offered and accepted, in order of preference: ES256, EdDSA (Ed25519), RS256. */
export const SUPPORTED_ALGORITHMS = [-7, -8, -257] as const;
/** Bytes of a new WebAuthn user handle (the table allows 16–64). */
export const USER_HANDLE_BYTES = 32;

/**
 * `passkey`: a discoverable credential with user verification, usable for passwordless sign-in.
 * `security_key`: a second factor after the password; discoverability and verification preferred.
 */
export type RegistrationKind = 'passkey' | 'security_key';

export interface StartRegistrationInput {
  userId: string;
  /** The account name the authenticator shows (usually the email). */
  userName: string;
  displayName?: string;
  kind?: RegistrationKind;
}

export interface FinishRegistrationInput {
  userId: string;
  /** What `startRegistration()` in the browser returned: the object, or its JSON text from a form field. */
  response: unknown;
  name?: string;
}

export type FinishRegistrationResult = { ok: true; passkey: PasskeySummary } | { ok: false; reason: 'invalid' | 'expired' };

export interface StartAuthenticationInput {
  /** Set for a known user (second factor, re-authentication): only their credentials are allowed. Absent: discoverable / conditional UI. */
  userId?: string;
  /** Default: `required` without a user (passwordless), `preferred` with one. */
  userVerification?: 'required' | 'preferred';
}

export interface StartAuthenticationResult {
  options: PublicKeyCredentialRequestOptionsJSON;
  /** Keep it server-side in the interaction; `finishAuthentication` needs it. Single use, 5 minutes. */
  challengeHandle: string;
}

export interface FinishAuthenticationInput {
  challengeHandle: string;
  /** What `startAuthentication()` in the browser returned: the object, or its JSON text from a form field. */
  response: unknown;
  /** Passwordless sign-in must pass true. A challenge started with `userVerification: 'required'` requires it anyway. */
  requireUserVerification: boolean;
}

/** RFC 8176 values a passkey assertion contributes: the key kind, and `mfa` when the user was verified. */
export type PasskeyAmr = 'hwk' | 'swk' | 'mfa';

export type PasskeyFailureReason = 'invalid' | 'expired' | 'rate_limited' | 'limiter_unavailable' | 'locked';

export type FinishAuthenticationResult =
  | {
      ok: true;
      userId: string;
      /** The credential's row id (uuid). */
      credentialId: string;
      userVerified: boolean;
      amr: PasskeyAmr[];
      backupEligible: boolean;
      backedUp: boolean;
      /** The signature counter went backwards (a risk signal that was accepted for a synced passkey). */
      counterRegression: boolean;
    }
  | { ok: false; reason: PasskeyFailureReason; retryAfterSeconds?: number };

export interface PasskeyService {
  readonly relyingParty: RelyingParty;
  startRegistration(db: Knex, store: KeyValueStore, input: StartRegistrationInput): Promise<PublicKeyCredentialCreationOptionsJSON>;
  finishRegistration(
    db: Knex,
    store: KeyValueStore,
    input: FinishRegistrationInput,
    ctx?: WebAuthnContext,
  ): Promise<FinishRegistrationResult>;
  startAuthentication(db: Knex, store: KeyValueStore, input?: StartAuthenticationInput): Promise<StartAuthenticationResult>;
  finishAuthentication(
    db: Knex,
    store: KeyValueStore,
    input: FinishAuthenticationInput,
    ctx?: WebAuthnContext,
  ): Promise<FinishAuthenticationResult>;
}

export interface PasskeyServiceOptions {
  relyingParty: RelyingParty;
  /** The brute-force throttle (per source before a credential is known). */
  throttle: AuthThrottle;
  /** The factor guard (throttle + durable lockout, factor `webauthn`) around every assertion of a known credential. */
  guard: FactorGuard;
  logger?: Logger;
}

const FACTOR = 'webauthn' as const;
const ZERO_AAGUID = '00000000-0000-0000-0000-000000000000';

/** Display strings for the authenticator: one printable line, bounded. */
const cleanUserString = (v: string | undefined, max: number): string => (typeof v === 'string' ? printableLine(v, max) : '');

export const amrFor = (backupEligible: boolean, userVerified: boolean): PasskeyAmr[] => [
  backupEligible ? 'swk' : 'hwk',
  ...(userVerified ? (['mfa'] as const) : []),
];

/**
 * The passkey ceremonies (ADR-0014) on `@simplewebauthn/server`. Registration and
 * authentication are each a start/finish pair around the browser's WebAuthn call; challenges are
 * single-use in the short-lived store, and every finish is audited (never with the challenge or
 * the response). Callers show one generic message for every `{ ok: false }` except the
 * throttling reasons.
 */
export function createPasskeyService(opts: PasskeyServiceOptions): PasskeyService {
  const { relyingParty: rp, throttle, guard, logger } = opts;

  const assertAvailable = () => {
    if (!rp.available) throw new AppError('unavailable', { detail: 'passkeys are not available on this issuer' });
  };

  const auditTx = (db: Knex, ctx: WebAuthnContext, e: Parameters<typeof audit>[2]) => db.transaction((trx) => audit(trx, ctx, e));

  async function startRegistration(
    db: Knex,
    store: KeyValueStore,
    input: StartRegistrationInput,
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    assertAvailable();
    const kind: RegistrationKind = input.kind ?? 'passkey';
    const userName = cleanUserString(input.userName, 128);
    if (!userName) throw new AppError('validation_failed', { invalidParams: [{ name: 'userName', reason: 'must not be empty' }] });
    const displayName = cleanUserString(input.displayName, 128) || userName;

    const { handle, existing } = await db.transaction(async (trx) => {
      const user = await lockActiveUser(trx, input.userId);
      if (!user) throw new AppError('not_found', { detail: 'user not found' });
      let handle = user.webauthn_user_handle;
      if (!handle) {
        // Random, not derived from the user id: it is stored on authenticators and must not identify the person elsewhere.
        handle = randomBytes(USER_HANDLE_BYTES);
        await trx('users').where({ id: user.id }).update({ webauthn_user_handle: handle });
      }
      const existing: Pick<CredentialRow, 'credential_id' | 'transports'>[] = await trx('webauthn_credentials')
        .where({ user_id: user.id })
        .select('credential_id', 'transports');
      if (existing.length >= MAX_CREDENTIALS_PER_USER) {
        throw new AppError('conflict', { detail: `at most ${MAX_CREDENTIALS_PER_USER} passkeys per account` });
      }
      return { handle, existing };
    });

    const requireUserVerification = kind === 'passkey';
    const options = await generateRegistrationOptions({
      rpName: rp.rpName,
      rpID: rp.rpID,
      userName,
      userDisplayName: displayName,
      userID: new Uint8Array(handle),
      challenge: newChallenge(),
      timeout: CHALLENGE_TTL_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({
        id: c.credential_id.toString('base64url'),
        ...(c.transports.length > 0 ? { transports: c.transports } : {}),
      })),
      authenticatorSelection:
        kind === 'passkey'
          ? { residentKey: 'required', requireResidentKey: true, userVerification: 'required' }
          : { residentKey: 'preferred', userVerification: 'preferred' },
      supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
      ...(kind === 'security_key' ? { preferredAuthenticatorType: 'securityKey' as const } : {}),
    });
    await saveRegistrationChallenge(store, {
      challenge: options.challenge,
      userId: input.userId.toLowerCase(),
      userHandle: handle.toString('base64url'),
      requireUserVerification,
    });
    return options;
  }

  async function finishRegistration(
    db: Knex,
    store: KeyValueStore,
    input: FinishRegistrationInput,
    ctx: WebAuthnContext = {},
  ): Promise<FinishRegistrationResult> {
    if (!UUID.test(input.userId)) return { ok: false, reason: 'expired' };
    const userId = input.userId.toLowerCase();
    const action = 'mfa.webauthn.registered';
    const fail = async (reason: string, extra: Record<string, unknown> = {}) => {
      await auditTx(db, ctx, { action, outcome: 'failure', userId, details: { reason, ...extra } });
      return { ok: false, reason: reason === 'challenge_missing' ? 'expired' : 'invalid' } as const;
    };

    // Consumed first, whatever follows: a challenge serves one finish attempt only.
    const rec = await takeRegistrationChallenge(store, userId);
    if (!rec) return fail('challenge_missing');
    const response = parseRegistrationResponse(input.response);
    if (!response) return fail('malformed');

    let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verification = await verifyRegistrationResponse({
        response,
        expectedChallenge: rec.challenge,
        expectedOrigin: [...rp.origins],
        expectedRPID: rp.rpID,
        requireUserPresence: true,
        requireUserVerification: rec.requireUserVerification,
        supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
      });
    } catch (err) {
      return fail(classifyVerifierError(err));
    }
    if (!verification.verified) return fail('attestation_invalid');
    const info = verification.registrationInfo;
    const credentialId = Buffer.from(info.credential.id, 'base64url');
    if (credentialId.length < 16 || credentialId.length > 1023) return fail('malformed');

    const backupEligible = info.credentialDeviceType === 'multiDevice';
    const transports = sanitizeTransports(response.response.transports);
    const name = sanitizeCredentialName(input.name);
    const aaguid = info.aaguid && info.aaguid !== ZERO_AAGUID ? info.aaguid : null;

    return db.transaction(async (trx): Promise<FinishRegistrationResult> => {
      const failTx = async (reason: string, extra: Record<string, unknown> = {}) => {
        await audit(trx, ctx, { action, outcome: 'failure', userId, details: { reason, ...extra } });
        return { ok: false, reason: 'invalid' } as const;
      };
      const user = await lockActiveUser(trx, userId);
      if (!user) return failTx('user_inactive');
      if (user.webauthn_user_handle?.toString('base64url') !== rec.userHandle) return failTx('user_handle_changed');
      const count = await trx('webauthn_credentials').where({ user_id: userId }).count<{ n: string }[]>({ n: '*' }).first();
      if (Number(count?.n ?? 0) >= MAX_CREDENTIALS_PER_USER) return failTx('too_many_credentials');

      // Credential ids are unique across all users: a duplicate changes nothing and is refused.
      const [row]: CredentialRow[] = await trx('webauthn_credentials')
        .insert({
          user_id: userId,
          credential_id: credentialId,
          public_key: Buffer.from(info.credential.publicKey),
          counter: info.credential.counter,
          transports,
          aaguid,
          name,
          device_type: info.credentialDeviceType,
          backup_eligible: backupEligible,
          backed_up: info.credentialBackedUp,
        })
        .onConflict('credential_id')
        .ignore()
        .returning('*');
      if (!row) return failTx('duplicate_credential', { credential_id_hash: credentialIdHash(credentialId) });

      await audit(trx, ctx, {
        action,
        outcome: 'success',
        userId,
        details: {
          credential_id: row.id,
          fmt: info.fmt,
          aaguid,
          device_type: info.credentialDeviceType,
          backed_up: info.credentialBackedUp,
          user_verified: info.userVerified,
          transports,
        },
      });
      return { ok: true, passkey: toSummary(row) };
    });
  }

  async function startAuthentication(
    db: Knex,
    store: KeyValueStore,
    input: StartAuthenticationInput = {},
  ): Promise<StartAuthenticationResult> {
    assertAvailable();
    const userId = input.userId?.toLowerCase();
    let allowCredentials: { id: string; transports?: string[] }[] = [];
    if (userId !== undefined) {
      const rows: Pick<CredentialRow, 'credential_id' | 'transports'>[] = UUID.test(userId)
        ? await db('webauthn_credentials as c')
            .join('users as u', 'u.id', 'c.user_id')
            .where({ 'c.user_id': userId, 'u.status': 'active' })
            .orderBy('c.created_at')
            .select('c.credential_id', 'c.transports')
        : [];
      if (rows.length === 0) throw new AppError('not_found', { detail: 'no passkey registered' });
      allowCredentials = rows.map((c) => ({
        id: c.credential_id.toString('base64url'),
        ...(c.transports.length > 0 ? { transports: c.transports } : {}),
      }));
    }
    const userVerification = input.userVerification ?? (userId === undefined ? 'required' : 'preferred');
    const options = await generateAuthenticationOptions({
      rpID: rp.rpID,
      allowCredentials,
      challenge: newChallenge(),
      timeout: CHALLENGE_TTL_MS,
      userVerification,
    });
    const challengeHandle = await saveAuthenticationChallenge(store, {
      challenge: options.challenge,
      ...(userId !== undefined ? { userId } : {}),
      requireUserVerification: userVerification === 'required',
    });
    return { options, challengeHandle };
  }

  /** The verification of one assertion by a known credential; runs inside the factor guard. */
  async function verifyAssertion(
    db: Knex,
    row: CredentialRow,
    rec: AuthenticationChallenge,
    response: AuthenticationResponseJSON,
    requireUserVerification: boolean,
    ctx: WebAuthnContext,
  ): Promise<FinishAuthenticationResult> {
    const action = 'auth.webauthn.verified';
    const userId = row.user_id;
    const fail = async (reason: string, extra: Record<string, unknown> = {}) => {
      await auditTx(db, ctx, {
        action,
        outcome: 'failure',
        userId: rec.userId ?? userId,
        details: { reason, credential_id: row.id, ...extra },
      });
      return { ok: false, reason: 'invalid' } as const;
    };

    // A second-factor ceremony accepts only the credentials it offered.
    if (rec.userId !== undefined && rec.userId !== userId) return fail('credential_not_allowed');
    const user: { status: string; webauthn_user_handle: Buffer | null } | undefined = await db('users')
      .where({ id: userId })
      .first('status', 'webauthn_user_handle');
    if (user?.status !== 'active') return fail('user_inactive');
    const userHandle = response.response.userHandle;
    if (userHandle !== undefined) {
      if (userHandle !== user.webauthn_user_handle?.toString('base64url')) return fail('user_handle_mismatch');
    } else if (rec.userId === undefined) {
      // Discoverable sign-in: the authenticator must say whose credential it is.
      return fail('user_handle_missing');
    }

    let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge: rec.challenge,
        expectedOrigin: [...rp.origins],
        expectedRPID: rp.rpID,
        credential: {
          id: row.credential_id.toString('base64url'),
          publicKey: new Uint8Array(row.public_key),
          // The counter rule is ours (below, under a row lock); the verifier's own check throws on every regression.
          counter: 0,
          transports: row.transports,
        },
        requireUserVerification,
      });
    } catch (err) {
      return fail(classifyVerifierError(err));
    }
    const info = verification.authenticationInfo;
    if (!verification.verified) return fail('bad_signature');
    // WebAuthn §7.2: backup eligibility is fixed at creation; a change means a different authenticator.
    const backupEligible = info.credentialDeviceType === 'multiDevice';
    if (backupEligible !== row.backup_eligible) return fail('backup_eligibility_changed');

    return db.transaction(async (trx): Promise<FinishAuthenticationResult> => {
      const locked: Pick<CredentialRow, 'id' | 'counter' | 'backup_eligible'> | undefined = await trx('webauthn_credentials')
        .where({ id: row.id, user_id: userId })
        .forUpdate()
        .first('id', 'counter', 'backup_eligible');
      if (!locked) {
        await audit(trx, ctx, { action, outcome: 'failure', userId, details: { reason: 'unknown_credential', credential_id: row.id } });
        return { ok: false, reason: 'invalid' };
      }
      const stored = Number(locked.counter);
      const received = info.newCounter;
      // Counters of 0 mean "not implemented" (synced passkeys); otherwise each use must count up.
      const regression = (received > 0 || stored > 0) && received <= stored;
      if (regression) {
        const decision = locked.backup_eligible ? 'accepted' : 'rejected';
        await audit(trx, ctx, {
          action: 'auth.webauthn.counter_regression',
          outcome: 'failure',
          userId,
          details: {
            credential_id: row.id,
            stored_counter: stored,
            received_counter: received,
            backup_eligible: locked.backup_eligible,
            decision,
          },
        });
        logger?.warn(
          { user_id: userId, credential_id: row.id, stored_counter: stored, received_counter: received, decision },
          'passkey signature counter went backwards (possible cloned authenticator)',
        );
        if (decision === 'rejected') {
          await audit(trx, ctx, { action, outcome: 'failure', userId, details: { reason: 'counter_regression', credential_id: row.id } });
          return { ok: false, reason: 'invalid' };
        }
      }
      await trx('webauthn_credentials')
        .where({ id: row.id })
        .update({
          counter: trx.raw('greatest(counter, ?::bigint)', [received]),
          backed_up: info.credentialBackedUp,
          last_used_at: trx.fn.now(),
        });
      const amr = amrFor(locked.backup_eligible, info.userVerified);
      await audit(trx, ctx, {
        action,
        outcome: 'success',
        userId,
        details: {
          credential_id: row.id,
          user_verified: info.userVerified,
          backed_up: info.credentialBackedUp,
          amr,
          discoverable: rec.userId === undefined,
          ...(regression ? { counter_regression: true } : {}),
        },
      });
      return {
        ok: true,
        userId,
        credentialId: row.id,
        userVerified: info.userVerified,
        amr,
        backupEligible: locked.backup_eligible,
        backedUp: info.credentialBackedUp,
        counterRegression: regression,
      };
    });
  }

  async function finishAuthentication(
    db: Knex,
    store: KeyValueStore,
    input: FinishAuthenticationInput,
    ctx: WebAuthnContext = {},
  ): Promise<FinishAuthenticationResult> {
    const action = 'auth.webauthn.verified';
    const ip = validIp(ctx.ip);

    // Per source first, before anything is looked up (fails closed when the store is down).
    if (ip) {
      const decision = await throttle.check({ factor: FACTOR, ip });
      if (!decision.allowed) {
        const refused = decision.reason === 'unavailable' ? 'limiter_unavailable' : 'rate_limited';
        await auditTx(db, ctx, {
          action: 'auth.attempt.refused',
          outcome: 'failure',
          details: {
            factor: FACTOR,
            reason: refused,
            ...(decision.retryAfterSeconds !== undefined ? { retry_after_s: decision.retryAfterSeconds } : {}),
          },
        });
        return decision.retryAfterSeconds !== undefined
          ? { ok: false, reason: refused, retryAfterSeconds: decision.retryAfterSeconds }
          : { ok: false, reason: refused };
      }
    }
    const failEarly = async (userId: string | undefined, reason: string, extra: Record<string, unknown> = {}) => {
      await auditTx(db, ctx, { action, outcome: 'failure', userId, details: { reason, ...extra } });
      if (ip) await throttle.recordFailure({ factor: FACTOR, ip });
      return { ok: false, reason: reason === 'challenge_missing' ? 'expired' : 'invalid' } as const;
    };

    const rec = await takeAuthenticationChallenge(store, input.challengeHandle);
    if (!rec) return failEarly(undefined, 'challenge_missing');
    const response = parseAuthenticationResponse(input.response);
    if (!response) return failEarly(rec.userId, 'malformed');
    const rawId = Buffer.from(response.id, 'base64url');
    const row: CredentialRow | undefined =
      rawId.length >= 16 && rawId.length <= 1023 ? await db('webauthn_credentials').where({ credential_id: rawId }).first() : undefined;
    if (!row) return failEarly(rec.userId, 'unknown_credential', { credential_id_hash: credentialIdHash(rawId) });

    const requireUv = input.requireUserVerification || rec.requireUserVerification;
    const result = await guard.run(
      db,
      {
        factor: FACTOR,
        userId: rec.userId ?? row.user_id,
        ip,
        userAgent: ctx.userAgent,
        requestId: ctx.requestId,
        tenantId: ctx.tenantId,
      },
      () => verifyAssertion(db, row, rec, response, requireUv, ctx),
    );
    if ('refused' in result) {
      return result.retryAfterSeconds !== undefined
        ? { ok: false, reason: result.refused, retryAfterSeconds: result.retryAfterSeconds }
        : { ok: false, reason: result.refused };
    }
    return result;
  }

  return { relyingParty: rp, startRegistration, finishRegistration, startAuthentication, finishAuthentication };
}
