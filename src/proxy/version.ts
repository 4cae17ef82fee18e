export const PROXY_VERSION = '0.1.0';
/** What `version` answers: memcached's number first, for clients that parse it. */
export const VERSION_STRING = `1.6.18-repcache-proxy-${PROXY_VERSION}`;
export const VERSION_REPLY = Buffer.from(`VERSION ${VERSION_STRING}\r\n`, 'latin1');
