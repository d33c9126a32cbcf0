/**
 * The CSP set before the engine runs, for the pages it renders itself (the `form_post` response
 * mode, the no-session logout submit, the account-switch submit on resume): it adds the hash of
 * its one inline script to `script-src`, so no other script can run. No `form-action`: those
 * forms post to the client. Our own pages (views/) replace it with their nonce-based policy.
 */
export const ENGINE_CSP = "default-src 'none'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";
