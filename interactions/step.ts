import type { Context } from 'koa';
import type { Flow } from './flow.ts';

export type StepHandler = (ctx: Context, flow: Flow) => Promise<void>;

/**
 * One page of the interaction, mounted at `<prefix>/interaction/:uid/<path>` (the entry at
 * `<prefix>/interaction/:uid`). The framework runs before every handler: it loads the
 * interaction (`Flow`), and for POST parses the form and checks the CSRF token — a handler never
 * sees a request that failed those. Adding a sign-in method means adding a step module and
 * listing it in `interactions/index.ts`.
 */
export interface Step {
  path: string;
  get?: StepHandler;
  post?: StepHandler;
}

/** The submitted form (urlencoded, parsed by the framework). */
export function formField(ctx: Context, name: string, maxLength = 1024): string | undefined {
  const body = (ctx.request as { body?: unknown }).body;
  const value = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' && value.length <= maxLength ? value : undefined;
}
