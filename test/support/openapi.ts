import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { repoRoot } from './services.ts';

/*
 * Validates real responses against contracts/openapi/iam.openapi.yaml: the operation must be
 * documented, the status must be one of its responses (2xx explicitly, errors may fall to
 * `default`), the media type must be a documented one and the body must match its schema
 * (JSON Schema 2020-12, as OpenAPI 3.1 uses). Documented ETag / IAM-Authz-Revision / Location
 * headers of a success must be present and well-formed.
 */

type Json = Record<string, unknown>;
const DOC_ID = 'iam-openapi';
const doc = parse(readFileSync(join(repoRoot, 'contracts', 'openapi', 'iam.openapi.yaml'), 'utf8')) as Json & {
  paths: Record<string, Record<string, Json>>;
  components: Json & { responses: Record<string, Json>; headers: Record<string, Json> };
};

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: DOC_ID, components: doc.components });

/** Document-relative refs (`#/components/…`) made absolute, so inline schemas compile too. */
function absolute(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(absolute);
  if (schema && typeof schema === 'object') {
    return Object.fromEntries(
      Object.entries(schema).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${DOC_ID}${v}` : absolute(v),
      ]),
    );
  }
  return schema;
}

const compiled = new Map<string, ValidateFunction>();
function validatorFor(key: string, schema: unknown): ValidateFunction {
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(absolute(schema) as object);
    compiled.set(key, v);
  }
  return v;
}

function deref<T extends Json>(node: T): T {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  const [, , section, name] = ref.split('/');
  return (doc.components as Record<string, Record<string, T>>)[section as string]?.[name as string] as T;
}

const templates = Object.keys(doc.paths).map((template) => ({
  template,
  regex: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  literals: template.split('/').filter((s) => s && !s.startsWith('{')).length,
}));

export function findTemplate(path: string): string | undefined {
  const matches = templates.filter((t) => t.regex.test(path)).sort((a, b) => b.literals - a.literals);
  return matches[0]?.template;
}

export interface ObservedResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
}

/** Throws with a readable message when the response does not match the contract. */
export function assertMatchesOpenApi(method: string, url: string, res: ObservedResponse): void {
  const path = new URL(url, 'http://x').pathname;
  const template = findTemplate(path);
  const where = `${method.toUpperCase()} ${path} → ${res.status}`;
  if (!template) throw new Error(`${where}: path not in the OpenAPI document`);
  const operation = doc.paths[template]?.[method.toLowerCase()] as Json | undefined;
  if (!operation) throw new Error(`${where}: operation not in the OpenAPI document (${template})`);
  const responses = operation.responses as Record<string, Json>;
  const explicit = responses[String(res.status)];
  if (!explicit && res.status < 400) throw new Error(`${where}: status not documented for ${template}`);
  const response = deref((explicit ?? responses.default) as Json);
  if (!response) throw new Error(`${where}: no documented response`);
  const content = response.content as Record<string, { schema: unknown }> | undefined;
  const mediaType = res.headers.get('content-type')?.split(';')[0]?.trim();
  if (!content) {
    if (res.body !== undefined) throw new Error(`${where}: documented without a body, got ${mediaType}`);
  } else {
    const media = mediaType ? content[mediaType] : undefined;
    if (!media) throw new Error(`${where}: media type ${mediaType} not documented (${Object.keys(content).join(', ')})`);
    const validate = validatorFor(`${template} ${method} ${explicit ? res.status : 'default'} ${mediaType}`, media.schema);
    if (!validate(res.body)) {
      throw new Error(
        `${where}: body does not match the schema:\n${ajv.errorsText(validate.errors, { separator: '\n' })}\n${JSON.stringify(res.body)}`,
      );
    }
  }
  const headers = (response.headers ?? {}) as Record<string, Json>;
  for (const [name, spec] of Object.entries(headers)) {
    const value = res.headers.get(name);
    if (value === null) {
      if (res.status < 300 && ['ETag', 'IAM-Authz-Revision', 'Location'].includes(name))
        throw new Error(`${where}: header ${name} missing`);
      continue;
    }
    const schema = (deref(spec) as { schema?: unknown }).schema;
    if (schema && !validatorFor(`header ${template} ${name}`, schema)(value)) throw new Error(`${where}: header ${name}: ${value}`);
  }
}
