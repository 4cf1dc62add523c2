// Test-only hooks live in build/Release/nmcap_test.node, never in the shipped addon or the
// public API.
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import { native } from '../../src/ports/binding.js';
import { nativeTest } from '../helpers/native-test.js';

describe('test hooks', () => {
  it('are not exported by the shipped addon, nor by the public index', () => {
    expect(Object.keys(native).sort()).toEqual(['CaptureSession', 'DirectFile', 'PcapRecordWalker', 'Port', 'ReplaySession', 'TraceFeed', 'encodeEpbs', 'epbByteOrder', 'filter', 'names', 'pageOffset']);
    for (const hook of ['netmapTest', 'encodeEpb', 'ppsDeadlines', 'pacerSimulate', 'linkEmuSchedule', 'traceWalk']) {
      expect(hook in native).toBe(false);
      expect(hook in api).toBe(false);
    }
  });

  it('are in the test addon', () => {
    expect(Object.keys(nativeTest).sort()).toEqual(['encodeEpb', 'linkEmuSchedule', 'netmapTest', 'pacerSimulate', 'ppsDeadlines', 'spinProbe', 'traceWalk']);
  });
});
