// Text forms of MAC, IPv4 and IPv6 addresses, both ways: the pcap layer's parsers and printers
// (one home for the address formats), with the harness's error code.
import { HarnessError, HarnessErrorCode, PcapWriteError } from '../errors.js';
import { hexOctets, ipv4String, ipv6String } from '../pcap/bytes.js';
import { parseHexOctets, parseIpv4, parseIpv6 } from '../pcap/encode.js';

function asHarnessError<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof PcapWriteError) throw new HarnessError(HarnessErrorCode.BAD_PACKET, `"${what}" is ${e.message.replace(/:.*$/, '')}`);
    throw e;
  }
}

/** "aa:bb:cc:dd:ee:ff" (or with dashes) */
export const parseMac = (text: string): Uint8Array => asHarnessError(text, () => parseHexOctets(text, 6));
export const parseIPv4 = (text: string): Uint8Array => asHarnessError(text, () => parseIpv4(text));
export const parseIPv6 = (text: string): Uint8Array => asHarnessError(text, () => parseIpv6(text));

export const macText = (d: Uint8Array, p: number): string => hexOctets(d, p, 6);
export const ipv4Text = ipv4String;
/** RFC 5952 form */
export const ipv6Text = ipv6String;
