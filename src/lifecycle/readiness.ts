export type Phase = 'starting' | 'ready' | 'draining' | 'stopped';

export interface CheckResult {
  status: 'up' | 'down' | 'disabled';
  [detail: string]: unknown;
}

export interface DependencyCheck {
  name: string;
  /** A required dependency that is down makes the instance not ready. */
  required: boolean;
  check(): Promise<CheckResult>;
}

export interface ReadinessReport {
  status: 'ready' | 'not_ready' | 'draining';
  phase: Phase;
  checks: Record<string, CheckResult & { required: boolean }>;
}

const CHECK_TIMEOUT_MS = 1_500;

/** Tracks the lifecycle phase and the dependency probes behind `/ready`. */
export class Readiness {
  #phase: Phase = 'starting';
  readonly #checks: DependencyCheck[] = [];
  readonly #onReport: ((r: ReadinessReport) => void)[] = [];

  get phase(): Phase {
    return this.#phase;
  }
  setPhase(phase: Phase): void {
    this.#phase = phase;
  }
  add(check: DependencyCheck): void {
    this.#checks.push(check);
  }
  onReport(fn: (r: ReadinessReport) => void): void {
    this.#onReport.push(fn);
  }

  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      this.#checks.map(async (c) => {
        let result: CheckResult;
        try {
          result = await withTimeout(c.check(), CHECK_TIMEOUT_MS);
        } catch (err) {
          result = { status: 'down', error: (err as Error).message };
        }
        return [c.name, { ...result, required: c.required }] as const;
      }),
    );
    const checks = Object.fromEntries(entries);
    const healthy = entries.every(([, r]) => !r.required || r.status !== 'down');
    const status =
      this.#phase === 'draining' || this.#phase === 'stopped' ? 'draining' : this.#phase === 'ready' && healthy ? 'ready' : 'not_ready';
    const report: ReadinessReport = { status, phase: this.#phase, checks };
    for (const fn of this.#onReport) fn(report);
    return report;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        ok(v);
      },
      (e) => {
        clearTimeout(t);
        fail(e);
      },
    );
  });
}
