import { AppError, problemCatalogue, problemTypeUri } from './app-error.ts';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  request_id?: string;
  invalid_params?: { name: string; reason: string }[];
  [extension: string]: unknown;
}

/** Serialises any thrown value as an RFC 7807 problem; unknown errors become an opaque 500. */
export function toProblem(err: unknown, instance?: string, requestId?: string): ProblemDocument {
  const e = err instanceof AppError ? err : new AppError('internal', { cause: err });
  const doc: ProblemDocument = {
    ...(e.expose ? e.extensions : {}),
    type: problemTypeUri(e.code),
    title: problemCatalogue[e.code].title,
    status: e.status,
    code: e.code,
  };
  if (e.expose && e.detail) doc.detail = e.detail;
  if (e.expose && e.invalidParams) doc.invalid_params = e.invalidParams;
  if (instance) doc.instance = instance;
  if (requestId) doc.request_id = requestId;
  return doc;
}
