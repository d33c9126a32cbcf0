import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'chai';
import { parse } from 'yaml';
import { repoRoot } from '../support/services.ts';

/*
 * Validates real responses against contracts/openapi/iam.openapi.yaml (OpenAPI 3.1, i.e. JSON
 * Schema 2020-12): the operation's response for the status (or `default`), by content type.
 */

type Json = Record<string, unknown>;

const doc = parse(readFileSync(join(repoRoot, 'contracts', 'openapi', 'iam.openapi.yaml'), 'utf8')) as Json;
const ajv = new Ajv2020({ strict: false, allErrors: true });
const addFormats = addFormatsModule as unknown as (a: Ajv2020) => void;
addFormats(ajv);
ajv.addSchema(doc, 'openapi');

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

function resolve(node: Json): { node: Json; ref: string[] } {
  const ref = node.$ref;
  if (typeof ref !== 'string') return { node, ref: [] };
  const parts = ref
    .replace(/^#\//, '')
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  let cur: unknown = doc;
  for (const p of parts) cur = (cur as Json)[p];
  return { node: cur as Json, ref: parts };
}

export function expectMatchesOpenApi(method: string, path: string, res: Response, body: unknown): void {
  const op = ((doc.paths as Json)[path] as Json | undefined)?.[method.toLowerCase()] as Json | undefined;
  expect(op, `${method} ${path} is not in the OpenAPI document`).to.not.equal(undefined);
  const responses = op?.responses as Json;
  const key = String(res.status) in responses ? String(res.status) : 'default';
  expect(responses[key], `no ${res.status} (or default) response for ${method} ${path}`).to.not.equal(undefined);
  const { node, ref } = resolve(responses[key] as Json);
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  const content = node.content as Json | undefined;
  expect(content?.[contentType], `${method} ${path} ${res.status}: content type ${contentType} not documented`).to.not.equal(undefined);
  const base = ref.length ? ref : ['paths', path, method.toLowerCase(), 'responses', key];
  const schemaRef = `openapi#/${pointer(...base, 'content', contentType, 'schema')}`;
  const validate = ajv.getSchema(schemaRef);
  if (!validate) throw new Error(`cannot compile ${schemaRef}`);
  const ok = validate(body);
  expect(
    ok,
    `${method} ${path} ${res.status} does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
  ).to.equal(true);
}
