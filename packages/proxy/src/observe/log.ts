/**
 * Upstream failures can come by the thousand when an upstream dies under load: `rateLimitedLog(log)` logs at most
 * 20 of them a second (prefixed `[proxy] `) and then says how many more were not logged.
 */
export function rateLimitedLog(log: (line: string) => void): (message: string) => void {
  let errorWindow = 0;
  let errorsInWindow = 0;
  let suppressed = 0;
  const logError = (message: string) => {
    const now = Date.now();
    if (now - errorWindow >= 1000) {
      if (suppressed > 0) log(`[proxy] (${suppressed} more upstream errors not logged)`);
      errorWindow = now;
      errorsInWindow = 0;
      suppressed = 0;
    }
    if (++errorsInWindow <= 20) log(`[proxy] ${message}`);
    else suppressed++;
  };
  return logError;
}
