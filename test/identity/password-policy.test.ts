import { expect } from 'chai';
import fc from 'fast-check';
import {
  checkPassword,
  commonPasswords,
  DEFAULT_PASSWORD_POLICY,
  foldLookalikes,
  normalizePassword,
  PASSWORD_POLICY_MESSAGES,
  type PasswordContext,
  type PasswordPolicyOptions,
  type PasswordPolicyReason,
  passwordLength,
  passwordPolicyFromConfig,
  passwordVariants,
} from '../../src/identity/index.ts';

const policy: PasswordPolicyOptions = { minLength: 15, minLengthWithMfa: 8, maxLength: 256, serviceName: 'infranotes' };

function reasons(password: string, input: { hasSecondFactor?: boolean; context?: PasswordContext } = {}, opts = policy) {
  const r = checkPassword(password, opts, input);
  return r.ok ? [] : r.reasons;
}

/** A password of `n` code points with no list word, run or repeat in it. */
function filler(n: number): string {
  const alphabet = 'qzjxvkwfhgbpmy'; // no vowels: no dictionary words
  return Array.from({ length: n }, (_, i) => alphabet[(i * 5 + Math.floor(i / 14)) % alphabet.length]).join('');
}

describe('password policy: length (NIST 800-63B-4, ASVS 6.2)', () => {
  const table: [string, string, { hasSecondFactor?: boolean }, PasswordPolicyReason[]][] = [
    ['14 code points, single factor', filler(14), {}, ['too_short']],
    ['15 code points, single factor', filler(15), {}, []],
    ['7 code points with a second factor', filler(7), { hasSecondFactor: true }, ['too_short']],
    ['8 code points with a second factor', filler(8), { hasSecondFactor: true }, []],
    ['8 code points without a second factor', filler(8), {}, ['too_short']],
    ['64 code points', filler(64), {}, []],
    ['256 code points (the configured maximum)', filler(256), {}, []],
    ['257 code points', filler(257), {}, ['too_long']],
    ['300 code points', filler(300), {}, ['too_long']],
  ];
  for (const [name, pw, input, expected] of table) {
    it(`${name} → ${expected.length ? expected.join(', ') : 'accepted'}`, () => {
      expect(reasons(pw, input)).to.deep.equal(expected);
    });
  }

  it('requires no composition: a 15-character lowercase passphrase passes', () => {
    expect(checkPassword('frog lamp quilt', policy)).to.deep.equal({ ok: true });
    expect(checkPassword('glimmerquokkavat', policy)).to.deep.equal({ ok: true });
    expect(checkPassword('correct horse battery', policy)).to.deep.equal({ ok: true });
  });

  it('counts Unicode code points after NFKC, not UTF-16 units', () => {
    // 15 astral code points are 30 UTF-16 units: accepted at 15, refused at 14.
    const emoji = ['🦊', '🐙', '🌵', '🍄', '🚲', '🎻', '🧲', '🪁', '🦉', '🌋', '🧩', '🪐', '🐢', '🥁', '🛶'];
    expect(reasons(emoji.join(''))).to.deep.equal([]);
    expect(reasons(emoji.slice(0, 14).join(''))).to.deep.equal(['too_short']);
    // e + COMBINING ACUTE composes to é under NFKC: 12 code points as typed, 8 as counted.
    const decomposed = `${'e\u0301'.repeat(4)}qzjx`;
    expect(passwordLength(decomposed)).to.equal(8);
    expect(reasons(`${decomposed}vkwfhgb`)).to.deep.equal([]); // 15 counted (19 typed)
    expect(reasons(`${decomposed}vkwfhg`)).to.deep.equal(['too_short']); // 14 counted (18 typed)
    // A ligature expands under NFKC.
    expect(passwordLength('\uFB01')).to.equal(2);
  });

  it('never truncates: a password differing only after position 72 is a different password', () => {
    const base = filler(80);
    expect(normalizePassword(base)).not.to.equal(normalizePassword(`${base.slice(0, 79)}x`));
  });

  it('takes its limits from the auth.* configuration', () => {
    const opts = passwordPolicyFromConfig({ password_min_length: 20, password_min_length_with_mfa: 10, password_max_length: 64 });
    expect(reasons(filler(19), {}, opts)).to.deep.equal(['too_short']);
    expect(reasons(filler(20), {}, opts)).to.deep.equal([]);
    expect(reasons(filler(9), { hasSecondFactor: true }, opts)).to.deep.equal(['too_short']);
    expect(reasons(filler(65), {}, opts)).to.deep.equal(['too_long']);
  });
});

describe('password policy: common and breached passwords', () => {
  it('loads the bundled common-password list once', () => {
    const a = commonPasswords();
    expect(a.size).to.be.greaterThan(40_000);
    expect(a.has('password')).to.equal(true);
    expect(commonPasswords()).to.equal(a);
  });

  const common = [
    'password12345678',
    'qwertyuiopasdfgh',
    'passwordpassword',
    'PASSWORDPASSWORD', // case is normalised
    'P@ssw0rdP@ssw0rd', // look-alikes are folded
    'pass word 1234 5678', // separators are ignored
    'ｐａｓｓｗｏｒｄ１２３４５６７８', // NFKC: full-width forms
    'iloveyou1234567!',
    'letmeinletmein12',
    'trustno1trustno1',
    'abc123abc123abc1',
    'aaaaaaaaaaaaaaaa',
    '1234567890123456',
    'abcdefghijklmnop',
    'zyxwvutsrqponmlk',
    '1q2w3e4r5t6y7u8i',
    'k7#Vk7#Vk7#Vk7#V', // a short unit repeated
    'q1w2e3r4', // with a second factor: on the list itself
  ];
  for (const pw of common) {
    it(`refuses ${JSON.stringify(pw)}`, () => {
      expect(reasons(pw, { hasSecondFactor: pw.length < 15 })).to.include('common');
    });
  }

  it('keeps three list words and strong random strings', () => {
    for (const pw of ['correct horse battery', 'tr0ub4dor&3 horse', 'Xk#9!mQ2$vL@7pR', 'zq8#plm vbt2 wx!']) {
      expect(reasons(pw), pw).to.deep.equal([]);
    }
  });
});

describe('password policy: context words', () => {
  const context: PasswordContext = {
    email: 'john.smith+work@acme-corp.example.com',
    displayName: 'Johnny Smith',
    givenName: 'Al',
    familyName: 'Kowalczyk',
  };
  const table: [string, boolean][] = [
    ['zq8#plm kowalczyk vbt', true], // family name
    ['zq8#plm SMITH vbt2 wx', true], // email local part / display name, any case
    ['zq8#plm johnny vbt2 wx', true], // display name
    ['zq8#plm acme vbt2 wx!', true], // email domain label
    ['zq8#plm example vbt2 w', true], // email domain label
    ['zq8#plm infranotes vbt', true], // the service name, always
    ['zq8#plm 1nfran0tes vbt', true], // ... with look-alikes
    ['zq8#plm al vbt2 wx!kr', false], // a word shorter than 4 is ignored
    ['zq8#plm com vbt2 wx!k', false], // "com" is too short to count
    ['zq8#plm vbt2 wx!kraqm', false],
  ];
  for (const [pw, refused] of table) {
    it(`${JSON.stringify(pw)} → ${refused ? 'context' : 'accepted'}`, () => {
      expect(reasons(pw, { context }).includes('context')).to.equal(refused);
    });
  }

  it('reports every reason at once, with translatable messages', () => {
    const r = checkPassword('smith', policy, { context: { familyName: 'Smith' } });
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.reasons).to.deep.equal(['too_short', 'common', 'context']);
    expect(r.messages.map((m) => m.key)).to.deep.equal(['password.policy.too_short', 'password.policy.common', 'password.policy.context']);
    expect(r.messages[0]).to.deep.include({ params: { min: 15 }, defaultMessage: 'Use at least 15 characters.' });
    const long = checkPassword(filler(300), policy);
    expect(long.ok === false && long.messages[0]).to.deep.include({
      key: 'password.policy.too_long',
      defaultMessage: 'Use at most 256 characters.',
    });
    for (const m of Object.values(PASSWORD_POLICY_MESSAGES)) expect(m.key).to.match(/^password\.policy\.[a-z_]+$/);
  });
});

describe('password policy: properties', () => {
  const plain = commonPasswords();
  const folded = new Set([...plain].map(foldLookalikes));
  const listWordIn = (text: string, set: ReadonlySet<string>) => {
    const cps = [...text];
    for (let i = 0; i < cps.length; i++) {
      for (let j = i + 4; j <= Math.min(cps.length, i + 24); j++) if (set.has(cps.slice(i, j).join(''))) return true;
    }
    return false;
  };
  const periodic = (cps: string[]) => {
    for (let p = 1; p <= cps.length / 2; p++) if (cps.every((c, i) => i < p || c === cps[i - p])) return true;
    return false;
  };
  const digit = (v: number) => v >= 0x30 && v <= 0x39;
  const run = (cps: string[]) => {
    const c = cps.map((x) => x.codePointAt(0) ?? 0);
    return [1, -1].some((d) =>
      c.every((v, i) => {
        const prev = c[i - 1] as number;
        return i === 0 || v - prev === d || (digit(prev) && digit(v) && (prev - 0x30 + d + 10) % 10 === v - 0x30);
      }),
    );
  };
  /** Contains no list word (in any of the forms the policy compares) and is no run or repeat. */
  const clean = (s: string) =>
    passwordVariants(normalizePassword(s)).every(
      (v) => !listWordIn(v.text, v.folded ? folded : plain) && (v.folded || (!periodic([...v.text]) && !run([...v.text]))),
    );

  it('accepts any string of 15..256 code points that contains no list word', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme', minLength: 15, maxLength: 60 }),
          fc.string({ unit: 'binary', minLength: 15, maxLength: 120 }),
        ),
        (s) => {
          const n = passwordLength(s);
          fc.pre(n >= 15 && n <= 256 && clean(s));
          expect(checkPassword(s, policy)).to.deep.equal({ ok: true });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses any password that contains a context word', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'bcdfghjkmnpqrstvwxz'), minLength: 4, maxLength: 12 }),
        fc.string({ unit: 'grapheme', minLength: 0, maxLength: 20 }),
        fc.string({ unit: 'grapheme', minLength: 0, maxLength: 20 }),
        (word, before, after) => {
          const r = checkPassword(`${before}${word.toUpperCase()}${after}`, policy, { context: { familyName: word } });
          expect(r.ok === false && r.reasons).to.include('context');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.boolean(), fc.string({ maxLength: 40 }), (s, mfa, word) => {
        const r = checkPassword(s, DEFAULT_PASSWORD_POLICY, { hasSecondFactor: mfa, context: { email: word, displayName: word } });
        expect(r.ok === true || (r.reasons.length > 0 && r.messages.length === r.reasons.length)).to.equal(true);
      }),
      { numRuns: 300 },
    );
    expect(() => checkPassword(undefined as unknown as string)).not.to.throw();
  });
});
