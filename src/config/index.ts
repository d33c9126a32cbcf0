export { type ConfigSource, type LoadedConfig, type LoadOptions, loadConfig } from './load.ts';
export { envName, leafPaths } from './paths.ts';
export { redactConfig } from './redact.ts';
export { type Config, configSchema, secretPaths } from './schema.ts';
