// nmcap/harness: a packet regression harness for switches and network functions, run from vitest.
export * from './addresses.js';
export * from './checksum.js';
export * from './tag.js';
export * from './build.js';
export * from './decode.js';
export { HarnessError, HarnessErrorCode } from '../errors.js';
export * from './expect.js';
export * from './normalize.js';
export * from './order.js';
export * from './match.js';
export * from './track.js';
export * from './report.js';
export * from './artifact.js';
export * from './counters.js';
export * from './ports.js';
export * from './settle.js';
export * from './session.js';
