export const SLOWNESS_ENV: string;
export function measureSlowness(): number;
export function slowness(): number;
export function scaled(ms: number): number;
export function eventually(cond: () => boolean | Promise<boolean>, what: string, ms?: number, everyMs?: number): Promise<void>;
