/**
 * When the reader of our output goes away (`geosteer check map.yaml | head -3`), the next write to
 * stdout fails with EPIPE. A C tool dies of SIGPIPE there; Node ignores SIGPIPE and would crash with
 * a stack trace instead. We end the process quietly with status 0, as the pipeline asked for less.
 * A closed stderr only loses the diagnostics: the process finishes with its own status.
 *
 * serve and probe log through pino straight to fd 1, not through process.stdout: a log reader that
 * goes away drops their log lines, never their DNS answers or votes.
 */
export function endQuietlyOnClosedOutput(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    // After the first EPIPE, later writes fail as "destroyed": nothing more can reach that reader.
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
    throw e;
  });
}
