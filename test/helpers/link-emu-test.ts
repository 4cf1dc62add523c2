// The link emulation stage's test hook (native/test/test_addon.cc linkEmuSchedule), typed.
import type { LinkEmuConfig } from '../../src/ports/binding.js';
import { nativeTest } from './native-test.js';

export interface LinkEmuSchedule {
  /** when each packet leaves the emulated link, ns after the start */
  at: BigUint64Array;
  /** 1 where the packet was lost */
  lost: Uint8Array;
  lostCount: number;
}

type WithLinkEmu = { linkEmuSchedule(config: LinkEmuConfig, offeredNs: BigUint64Array, len: Uint32Array): LinkEmuSchedule };

/** Runs the native stage over packets of len[i] bytes offered at offeredNs[i]. */
export function linkEmuSchedule(config: LinkEmuConfig, offeredNs: BigUint64Array, len: Uint32Array): LinkEmuSchedule {
  return (nativeTest as unknown as WithLinkEmu).linkEmuSchedule(config, offeredNs, len);
}
