import * as fs from 'node:fs';

/** A field of /proc/<pid>/status in kB ("VmHWM:   123456 kB"), in MB; null when absent. */
export function statusFieldMB(status: string, field: string): number | null {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return m ? Number(m[1]) / 1024 : null;
}

/** A memory field (VmRSS, VmHWM, ...) of a process, MB; null off Linux or once it is gone. */
export function procStatusMB(pid: number | 'self', field: string): number | null {
  try {
    return statusFieldMB(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), field);
  } catch {
    return null;
  }
}

/** Peak resident set size (VmHWM) of a process, MB. */
export function vmHwmMB(pid: number | 'self' = 'self'): number | null {
  return procStatusMB(pid, 'VmHWM');
}
