/**
 * Date.now() read at most once per event-loop turn. Every replicated set needs the time twice (its HLC version
 * and its log entry); a busy node handles hundreds of sets per turn, and Date.now() is a V8 runtime call. The
 * value is at most one turn old: it expires in the same turn's check phase, and the loop does not block in
 * poll while an immediate is pending.
 */
let cached = 0;
let valid = false;

function expire(): void {
  valid = false;
}

export function turnNow(): number {
  if (!valid) {
    cached = Date.now();
    valid = true;
    setImmediate(expire);
  }
  return cached;
}
