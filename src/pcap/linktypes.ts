// Link-type names as tcpdump prints them ("link-type EN10MB (Ethernet)"), from the tcpdump.org
// LINKTYPE_ registry and libpcap's DLT names.

const NAMES: Record<number, [string, string]> = {
  0: ['NULL', 'BSD loopback'],
  1: ['EN10MB', 'Ethernet'],
  9: ['PPP', 'PPP'],
  101: ['RAW', 'Raw IP'],
  105: ['IEEE802_11', '802.11'],
  108: ['LOOP', 'OpenBSD loopback'],
  113: ['LINUX_SLL', 'Linux cooked v1'],
  127: ['IEEE802_11_RADIO', '802.11 plus radiotap header'],
  228: ['IPV4', 'Raw IPv4'],
  229: ['IPV6', 'Raw IPv6'],
  239: ['NFLOG', 'Linux netfilter log messages'],
  253: ['NETLINK', 'Linux netlink'],
  276: ['LINUX_SLL2', 'Linux cooked v2'],
};

export function linkTypeName(linkType: number): { short: string; long: string } {
  const n = NAMES[linkType];
  return n ? { short: n[0], long: n[1] } : { short: `LINKTYPE_${linkType}`, long: `link type ${linkType}` };
}
