import type { Connection } from './connection';
import { ConsulUnavailableError, TlsCertificateError } from './errors';

/**
 * Node's codes for a server certificate that failed verification: OpenSSL's verify results, and
 * its own host name check. A failure here is about trust, never about whether the agent runs.
 */
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const TESTING_ONLY =
  'For testing only, verify: false (CONSUL_HTTP_SSL_VERIFY=false) skips the check.';

/** What to change, by why the certificate was not trusted. */
function advice(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH')
    return 'Address the agent by a host name or IP address its certificate names, or give it a certificate that names this one.';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return "Renew the agent's certificate (or check this machine's clock).";
  return "Give the CA that signed the agent's certificate as the ca option (PEM), or the path to it in CONSUL_CACERT.";
}

/**
 * The typed error for a request whose TLS handshake failed on the server's certificate, or
 * undefined when `code` is no such failure. `detail` is Node's own text (it names the host,
 * never the token).
 */
export function untrustedCertificate(
  what: string,
  connection: Connection,
  code: string | undefined,
  detail: string | undefined,
): TlsCertificateError | undefined {
  if (code === undefined || !UNTRUSTED.has(code)) return undefined;
  return new TlsCertificateError(
    `${what}: the TLS certificate of Consul at ${connection.display} was not trusted (${code}${detail ? `: ${detail.trim()}` : ''}), so nothing was sent. ${advice(code)} ${TESTING_ONLY}`,
    code,
  );
}

/** Codes of a socket closed before any answer came. */
const CLOSED_EARLY = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/**
 * TLS spoken to a port that answers plain HTTP: the handshake reads the HTTP answer as a TLS
 * record. Something answered, so "is the agent running" would mislead.
 */
export function notTls(
  what: string,
  connection: Connection,
  code: string | undefined,
): ConsulUnavailableError | undefined {
  if (
    !connection.secure ||
    !/^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG)$/.test(code ?? '')
  )
    return undefined;
  return new ConsulUnavailableError(
    `${what}: Consul at ${connection.display} answered, but not in TLS (${code}): the address is https:// and the agent there serves plain HTTP. Use an http:// address (and leave CONSUL_HTTP_SSL unset).`,
  );
}

/**
 * A hint for a failure that may be a client and an agent disagreeing about TLS: plain HTTP sent
 * to a TLS port (Node's TLS server closes the socket without a word; Consul answers 400, see
 * `plainToTlsPort`), or a TLS agent that wants a client certificate none was given for.
 */
export function tlsMismatchHint(connection: Connection, code: string | undefined): string {
  if (code === undefined) return '';
  const refusedCert = /^ERR_SSL_\w*ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|HANDSHAKE_FAILURE)$/;
  if (!CLOSED_EARLY.has(code) && !refusedCert.test(code)) return '';
  if (!connection.secure)
    return ' If the agent serves HTTPS on that port, use an https:// address (or CONSUL_HTTP_SSL=true).';
  if (connection.tls.cert === undefined)
    return ' If the agent requires client certificates (verify_incoming), give cert and key (CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY).';
  return '';
}

/** Consul's own answer (Go's HTTP server) to plain HTTP sent to its HTTPS port. */
export function plainToTlsPort(reason: string | undefined): string {
  return reason?.includes('HTTP request to an HTTPS server')
    ? ' The agent serves HTTPS there: use an https:// address (or CONSUL_HTTP_SSL=true).'
    : '';
}
