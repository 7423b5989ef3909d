#!/usr/local/bin/node
/* global process */
// The image's entry point, /usr/local/bin/erp-api [server|worker|migrate|audit|admin|backup|restore|drill|seed] [arguments…]. The base image
// has no shell, so this dispatches in Node and replaces itself (execve) with the command: signals reach the app.
const commands = {
  // instrument.js starts tracing (when OTEL_EXPORTER_OTLP_ENDPOINT is set) before the app loads its drivers.
  server: ['--import', './dist/instrument.js', 'dist/bin/server.js'],
  // The background job worker (invoice PDFs, outgoing mail), from the same build as the server.
  worker: ['--import', './dist/instrument.js', 'dist/bin/worker.js'],
  migrate: ['dist/bin/migrate.js'],
  audit: ['dist/bin/audit.js'],
  admin: ['dist/bin/admin.js'],
  backup: ['dist/bin/backup-cli.js'],
  restore: ['dist/bin/restore-cli.js'],
  drill: ['dist/bin/drill.js'],
  seed: ['dist/bin/seed.js'],
};
const [command = 'server', ...rest] = process.argv.slice(2);
const args = Object.hasOwn(commands, command) ? commands[command] : undefined;
if (args === undefined) {
  process.stderr.write(
    `erp-api: unknown command '${command}'; use server (default), worker, migrate, audit, admin, backup, restore, drill or seed\n`,
  );
  process.exit(64);
}
process.chdir('/srv/erp-api/app');
process.execve(process.execPath, [process.execPath, ...args, ...rest], process.env);
