/**
 * The HTML and text shells of every mail. Self-contained: inline styles only, no images, no
 * remote resources, no scripts or forms — a mail client has nothing to fetch and nothing to run.
 * Everything interpolated into HTML goes through `escapeHtml`.
 */
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

export interface MailBody {
  lang: string;
  subject: string;
  preheader: string;
  greeting: string;
  paragraphs: string[];
  action: { label: string; url: string };
  linkFallback: string;
  afterAction: string[];
  footer: string;
}

/** Plain-text part: the link on a line of its own so every client makes it clickable. */
export function renderText(b: MailBody): string {
  return [
    b.greeting,
    '',
    ...b.paragraphs.flatMap((p) => [p, '']),
    `${b.action.label}:`,
    b.action.url,
    '',
    ...b.afterAction.flatMap((p) => [p, '']),
    '-- ',
    b.footer,
    '',
  ].join('\n');
}

const P = 'margin:0 0 16px 0;font-size:16px;line-height:24px;color:#1f2328;';

/** HTML part; every argument is plain text and is escaped here. */
export function renderHtml(b: MailBody): string {
  const e = escapeHtml;
  const url = e(b.action.url);
  const paras = (ps: string[]) => ps.map((p) => `<p style="${P}">${e(p)}</p>`).join('\n');
  return `<!doctype html>
<html lang="${e(b.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${e(b.subject)}</title>
</head>
<body style="margin:0;padding:0;background:#f6f8fa;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;">
<div style="display:none;max-height:0;overflow:hidden;">${e(b.preheader)}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f6f8fa;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border:1px solid #d0d7de;border-radius:6px;">
<tr><td style="padding:32px 32px 16px 32px;">
<p style="${P}">${e(b.greeting)}</p>
${paras(b.paragraphs)}
<p style="margin:24px 0;"><a href="${url}" rel="noreferrer" style="display:inline-block;padding:12px 20px;background:#0969da;color:#ffffff;font-size:16px;font-weight:600;text-decoration:none;border-radius:6px;">${e(b.action.label)}</a></p>
<p style="margin:0 0 8px 0;font-size:14px;line-height:20px;color:#59636e;">${e(b.linkFallback)}</p>
<p style="margin:0 0 24px 0;font-size:14px;line-height:20px;word-break:break-all;"><a href="${url}" rel="noreferrer" style="color:#0969da;">${url}</a></p>
${paras(b.afterAction)}
</td></tr>
<tr><td style="padding:16px 32px 24px 32px;border-top:1px solid #d0d7de;font-size:12px;line-height:18px;color:#59636e;">${e(b.footer)}</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;
}
