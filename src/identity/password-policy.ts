import { createRequire } from 'node:module';
import { normalizePassword } from './password-hash.ts';

/**
 * Password rules of NIST SP 800-63B-4 §3.1.1.2 and ASVS 5.0 §6.2 (ADR-0012): a length window counted
 * in Unicode code points after NFKC normalisation, no composition rules, no truncation, and a
 * blocklist of common/breached passwords plus words from the account's own context.
 */

export type PasswordPolicyReason = 'too_short' | 'too_long' | 'common' | 'context';

/** A user-facing message ready for translation: a stable key, its parameters and the English default. */
export interface PolicyMessage {
  reason: PasswordPolicyReason;
  key: string;
  params: Record<string, number>;
  defaultMessage: string;
}

export type PasswordPolicyResult = { ok: true } | { ok: false; reasons: PasswordPolicyReason[]; messages: PolicyMessage[] };

export interface PasswordPolicyOptions {
  /** Minimum for an account whose password is its only factor (NIST: 15). */
  minLength: number;
  /** Minimum when the account has a second factor (NIST: at least 8). */
  minLengthWithMfa: number;
  /** Maximum accepted (at least 64). Longer passwords are refused, never truncated. */
  maxLength: number;
  /** Always a context word. */
  serviceName?: string;
}

/** Who the password belongs to: its words may not appear in it. */
export interface PasswordContext {
  email?: string | null;
  displayName?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  /** Further words (tenant name, username...). */
  extraWords?: readonly string[];
}

export const DEFAULT_PASSWORD_POLICY: Readonly<PasswordPolicyOptions> = Object.freeze({
  minLength: 15,
  minLengthWithMfa: 8,
  maxLength: 256,
  serviceName: 'infranotes',
});

/** The `auth.password_*` configuration keys as policy options. */
export function passwordPolicyFromConfig(auth: {
  password_min_length: number;
  password_min_length_with_mfa: number;
  password_max_length: number;
}): PasswordPolicyOptions {
  return {
    minLength: auth.password_min_length,
    minLengthWithMfa: auth.password_min_length_with_mfa,
    maxLength: auth.password_max_length,
    serviceName: DEFAULT_PASSWORD_POLICY.serviceName,
  };
}

/** Message catalogue (keys are stable; `{min}`/`{max}` are filled from `params`). */
export const PASSWORD_POLICY_MESSAGES: Readonly<Record<PasswordPolicyReason, { key: string; defaultMessage: string }>> = Object.freeze({
  too_short: { key: 'password.policy.too_short', defaultMessage: 'Use at least {min} characters.' },
  too_long: { key: 'password.policy.too_long', defaultMessage: 'Use at most {max} characters.' },
  common: {
    key: 'password.policy.common',
    defaultMessage: 'This password is too common or has appeared in a data breach. Choose another one.',
  },
  context: {
    key: 'password.policy.context',
    defaultMessage: 'Do not use your name, your email address or the name of the service in your password.',
  },
});

/** Words shorter than this are never context words (they would match by accident). */
const MIN_CONTEXT_WORD = 4;
/** A composition needs one list entry at least this long; a repeated unit shorter than twice this is weak. */
const MIN_PIECE = 4;

/** Unicode code points of the normalised password: what the length rules count. */
export function passwordLength(password: string): number {
  let n = 0;
  for (const _ of normalizePassword(password)) n++;
  return n;
}

/** The minimum length that applies to an account. */
export function minimumLength(opts: PasswordPolicyOptions, hasSecondFactor: boolean): number {
  return hasSecondFactor ? opts.minLengthWithMfa : opts.minLength;
}

/**
 * Checks a prospective password. Never throws; every applicable reason is reported (length
 * first), each with its message.
 */
export function checkPassword(
  password: string,
  opts: PasswordPolicyOptions = DEFAULT_PASSWORD_POLICY,
  input: { hasSecondFactor?: boolean; context?: PasswordContext } = {},
): PasswordPolicyResult {
  const normalised = normalizePassword(typeof password === 'string' ? password : '');
  const length = [...normalised].length;
  const min = minimumLength(opts, input.hasSecondFactor ?? false);
  const reasons: PasswordPolicyReason[] = [];
  if (length < min) reasons.push('too_short');
  if (length > opts.maxLength) reasons.push('too_long');
  // Over-long input is refused by length alone; scanning it would only cost time.
  if (length <= opts.maxLength && length > 0) {
    const variants = passwordVariants(normalised);
    if (isCommon(variants)) reasons.push('common');
    if (containsContextWord(variants, contextWords(input.context, opts.serviceName))) reasons.push('context');
  }
  if (reasons.length === 0) return { ok: true };
  return { ok: false, reasons, messages: policyMessages(reasons, { min, max: opts.maxLength }) };
}

export function policyMessages(reasons: readonly PasswordPolicyReason[], limits: { min: number; max: number }): PolicyMessage[] {
  return reasons.map((reason) => {
    const { key, defaultMessage } = PASSWORD_POLICY_MESSAGES[reason];
    const params: Record<string, number> = reason === 'too_short' ? { min: limits.min } : reason === 'too_long' ? { max: limits.max } : {};
    return { reason, key, params, defaultMessage: defaultMessage.replace(/\{(\w+)\}/g, (_, k: string) => String(params[k] ?? '')) };
  });
}

// ---- blocklist ---------------------------------------------------------------------------------

/** Look-alike characters folded onto one letter (applied to list and password alike). */
const LEET: Readonly<Record<string, string>> = {
  '0': 'o',
  '1': 'i',
  '!': 'i',
  '|': 'i',
  l: 'i',
  '3': 'e',
  '4': 'a',
  '@': 'a',
  '5': 's',
  $: 's',
  '7': 't',
  '+': 't',
  '8': 'b',
  '9': 'g',
};
/** Folds look-alike characters onto one letter ("p@ssw0rd" → "password"); list and password alike. */
export const foldLookalikes = (s: string): string => s.replace(/[01345789!|l@$+]/g, (c) => LEET[c] ?? c);

interface Blocklist {
  plain: ReadonlySet<string>;
  folded: ReadonlySet<string>;
  /** Longest entry, in code points. */
  maxLength: number;
}
let blocklist: Blocklist | undefined;

/**
 * The common-passwords dictionary of `@zxcvbn-ts/language-common` (~49k entries from breach
 * corpora), lower-cased into a Set on first use — once per process.
 */
export function commonPasswords(): ReadonlySet<string> {
  return loadBlocklist().plain;
}

function loadBlocklist(): Blocklist {
  if (!blocklist) {
    const require = createRequire(import.meta.url);
    const { dictionary } = require('@zxcvbn-ts/language-common') as { dictionary: Record<string, string[]> };
    const plain = new Set<string>();
    for (const word of dictionary['passwords-common'] ?? []) plain.add(normalizePassword(word).toLowerCase());
    if (plain.size < 10_000) throw new Error('common-password list failed to load');
    const maxLength = Math.max(...[...plain].map((w) => [...w].length));
    blocklist = { plain, folded: new Set([...plain].map(foldLookalikes)), maxLength };
  }
  return blocklist;
}

export interface PasswordVariant {
  text: string;
  /** Look-alikes folded: compare against the folded list, and runs/repeats mean nothing. */
  folded: boolean;
}

/**
 * Forms of the (already normalised) password compared with the lists: lower-cased; without
 * separators and symbols when they are a minor part of it ("pass word-1234"); and each of those
 * with look-alikes folded ("p@ssw0rd").
 */
export function passwordVariants(normalised: string): PasswordVariant[] {
  const lower = normalised.toLowerCase();
  const bases = [lower];
  const stripped = lower.replace(/[^\p{L}\p{N}]+/gu, '');
  if (stripped !== lower && [...stripped].length >= MIN_PIECE && [...stripped].length * 3 >= [...lower].length * 2) {
    bases.push(stripped);
  }
  const out: PasswordVariant[] = [];
  const seen = new Set<string>();
  for (const text of bases) {
    for (const v of [
      { text, folded: false },
      { text: foldLookalikes(text), folded: true },
    ]) {
      const id = `${v.folded}:${v.text}`;
      if (!seen.has(id)) {
        seen.add(id);
        out.push(v);
      }
    }
  }
  return out;
}

function isCommon(variants: PasswordVariant[]): boolean {
  const lists = loadBlocklist();
  return variants.some(({ text, folded }) => isWeak([...text], folded ? lists.folded : lists.plain, lists.maxLength, !folded));
}

/**
 * A list entry; a run or repeat; the same unit typed twice or more ("abc123abc123abc1",
 * "k7#Vk7#Vk7#Vk7#V"); or at most three pieces of which one or two are list entries (one of at
 * least 4 characters) and the rest runs, repeats or one or two characters — "password" +
 * "12345678", "qwertyuiop" + "asdfgh", "letmein" + "letmein" + "12". Three list words
 * ("correct horse battery") pass. Runs and repeats count only before look-alikes are folded.
 */
function isWeak(cps: string[], list: ReadonlySet<string>, maxLength: number, runsCount: boolean): boolean {
  const n = cps.length;
  if (list.has(cps.join(''))) return true;
  if (runsCount && isTrivial(cps)) return true;
  const period = smallestPeriod(cps);
  if (period > 0) {
    const unit = cps.slice(0, period);
    if (period < 2 * MIN_PIECE || isWeak(unit, list, maxLength, runsCount)) return true;
  }
  // runEnd[i]: the longest trivial piece starting at i ends before runEnd[i] (a prefix of a run is a run).
  const runEnd = new Array<number>(n).fill(0);
  if (runsCount) {
    for (let i = 0; i < n; i++) {
      let j = Math.max(runEnd[i - 1] ?? 0, i + 1);
      while (j < n && isTrivial(cps.slice(i, j + 1))) j++;
      runEnd[i] = j;
    }
  }
  // Breadth-first over (position, pieces, list pieces, has a list piece >= 4): at most 3 pieces.
  const key = (pieces: number, listed: number, long: boolean) => pieces * 8 + listed * 2 + Number(long);
  const states: Set<number>[] = Array.from({ length: n + 1 }, () => new Set<number>());
  states[0]?.add(key(0, 0, false));
  for (let i = 0; i < n; i++) {
    for (const st of states[i] ?? []) {
      const pieces = st >> 3;
      const listed = (st >> 1) & 3;
      const long = (st & 1) === 1;
      if (pieces === 3) continue;
      if (listed < 2) {
        for (let len = 1; len <= maxLength && i + len <= n; len++) {
          if (list.has(cps.slice(i, i + len).join(''))) states[i + len]?.add(key(pieces + 1, listed + 1, long || len >= MIN_PIECE));
        }
      }
      for (let j = i + 1; j <= (runEnd[i] ?? 0); j++) states[j]?.add(key(pieces + 1, listed, long));
    }
  }
  return [...(states[n] ?? [])].some((st) => (st & 1) === 1);
}

/** Smallest p <= n/2 with cps[i] = cps[i - p] throughout, else 0. */
function smallestPeriod(cps: string[]): number {
  for (let p = 1; p <= cps.length / 2; p++) {
    let ok = true;
    for (let i = p; i < cps.length && ok; i++) ok = cps[i] === cps[i - p];
    if (ok) return p;
  }
  return 0;
}

/**
 * One short unit repeated ("aaaa…", "abcabc…"), a run of consecutive characters ("abcd…",
 * "9876…"), or (as a piece) one or two characters.
 */
function isTrivial(chars: string[]): boolean {
  const cps = chars.map((c) => c.codePointAt(0) ?? 0);
  if (cps.length <= 2) return true;
  for (let unit = 1; unit <= 4 && unit < cps.length; unit++) {
    if (cps.every((c, i) => c === cps[i % unit])) return true;
  }
  for (const step of [1, -1]) {
    if (cps.every((c, i) => i === 0 || isNext(cps[i - 1] as number, c, step))) return true;
  }
  return false;
}

const ZERO = 0x30;
const isDigit = (c: number) => c >= ZERO && c <= ZERO + 9;
/** Consecutive code points; digits wrap (…8 9 0 1…). */
function isNext(prev: number, c: number, step: number): boolean {
  if (c - prev === step) return true;
  return isDigit(prev) && isDigit(c) && (prev - ZERO + step + 10) % 10 === c - ZERO;
}

// ---- context words -----------------------------------------------------------------------------

function contextWords(ctx: PasswordContext | undefined, serviceName: string | undefined): string[] {
  const words = new Set<string>();
  const add = (raw: string | null | undefined, split: boolean) => {
    if (!raw) return;
    const w = normalizePassword(raw).toLowerCase();
    const parts = split ? [w, ...w.split(/[^\p{L}\p{N}]+/u), w.replace(/[^\p{L}\p{N}]+/gu, '')] : [w];
    for (const p of parts) if ([...p].length >= MIN_CONTEXT_WORD) words.add(p);
  };
  add(serviceName, true);
  if (ctx?.email) {
    const at = ctx.email.lastIndexOf('@');
    const local = at >= 0 ? ctx.email.slice(0, at) : ctx.email;
    add(local.split('+')[0], true);
    add(local, true);
    if (at >= 0) for (const label of ctx.email.slice(at + 1).split('.')) add(label, true);
  }
  add(ctx?.displayName, true);
  add(ctx?.givenName, true);
  add(ctx?.familyName, true);
  for (const w of ctx?.extraWords ?? []) add(w, true);
  return [...words];
}

function containsContextWord(variants: PasswordVariant[], words: string[]): boolean {
  if (words.length === 0) return false;
  const folded = words.map(foldLookalikes);
  return variants.some(({ text, folded: isFolded }) => (isFolded ? folded : words).some((w) => text.includes(w)));
}
