export const ETHERTYPE: number;
export function frameLen(i: number): number;
export function frame(i: number): Buffer;
export function seqOf(buf: Buffer): number;
export function writePcap(path: string, frames: Buffer[]): void;
export function readPcap(path: string): { data: Buffer; tsNs: bigint }[];
export function addon(): unknown;
export function arg(name: string, dflt?: string): string | undefined;
