// `iam` operator CLI. Every subcommand accepts --json and then prints one JSON document on stdout.
import { Command, CommanderError } from 'commander';
import { registerAuditCommands } from './commands/audit.ts';
import { registerClientsCommands } from './commands/clients.ts';
import { registerConfigCommands } from './commands/config.ts';
import { registerKeysCommands } from './commands/keys.ts';
import { registerMigrateCommands } from './commands/migrate.ts';
import { registerTenantsCommands } from './commands/tenants.ts';
import { registerUsersCommands } from './commands/users.ts';
import { runCommand } from './runtime.ts';

const program = new Command('iam')
  .description('InfraNotes IAM operator CLI')
  .option('-c, --config <file>', 'configuration file (default: $IAM_CONFIG, then configs/iam.yaml)')
  .option('--json', 'print exactly one JSON document on stdout')
  .showHelpAfterError()
  .exitOverride();
// Options such as --json are accepted after the subcommand too.
program.enablePositionalOptions(false);

registerConfigCommands(program, runCommand);
registerMigrateCommands(program, runCommand);
registerKeysCommands(program, runCommand);
registerAuditCommands(program, runCommand);
registerClientsCommands(program, runCommand);
registerUsersCommands(program, runCommand);
registerTenantsCommands(program, runCommand);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else throw err;
}
