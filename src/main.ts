// Service entry point: `npm start`. Loads and validates configuration first, so a bad value
// stops start-up with a message naming the key, before anything else happens.
// V8 settings first: they must hold before the service allocates anything (ADR-0020).
import './runtime/gc-tuning.ts';
import { type LoadedConfig, loadConfig } from './config/index.ts';
import { ConfigError } from './errors/index.ts';
import { startTracing } from './observability/tracing.ts';

function configFileArg(argv: string[]): string | undefined {
  const i = argv.indexOf('--config');
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
}

let loaded: LoadedConfig;
try {
  loaded = loadConfig({ file: configFileArg(process.argv.slice(2)) });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`iam: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}

const tracing = await startTracing(loaded.config);
// Imported after tracing so its instrumentations see every library load.
const { startService } = await import('./app.ts');
const { printWelcome } = await import('./bootstrap/welcome.ts');

try {
  const service = await startService(loaded);
  printWelcome(service);
  let firstSignalAt = 0;
  const shutdown = async (signal: string) => {
    if (firstSignalAt) {
      // Launchers (npm, shells, supervisors) often forward the same signal a moment later;
      // only a deliberate repeat (an impatient second Ctrl-C) cuts the drain short.
      if (Date.now() - firstSignalAt < 2_000) return;
      service.logger.warn({ signal }, 'second signal: exiting immediately');
      process.exit(1);
    }
    firstSignalAt = Date.now();
    const { drained } = await service.stop(`received ${signal}`);
    await tracing?.shutdown().catch(() => undefined);
    if (!drained) service.logger.warn('exiting after the drain deadline');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
} catch (err) {
  process.stderr.write(`iam: start-up failed: ${(err as Error).stack ?? err}\n`);
  await tracing?.shutdown().catch(() => undefined);
  process.exit(1);
}
