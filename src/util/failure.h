/* failure.h - the one failure vocabulary of censorscope: OONI's failure strings.
 *
 * Every error a step can meet (errno, getaddrinfo, DNS rcode, OpenSSL, parser) is mapped here,
 * in one place, to the string OONI archives (spec df-007-errors, probe-cli netxlite/errno.go).
 * The list is an X-macro (libuv style): code, archived string. */
#ifndef CS_FAILURE_H
#define CS_FAILURE_H

#include <stddef.h>

#define CS_FAILURE_MAP(X)                                                                          \
  X(NONE, NULL)                                                                                    \
  /* system errors (errno) */                                                                      \
  X(CONNECTION_REFUSED, "connection_refused")                                                      \
  X(CONNECTION_RESET, "connection_reset")                                                          \
  X(HOST_UNREACHABLE, "host_unreachable")                                                          \
  X(TIMED_OUT, "timed_out")                                                                        \
  X(ADDRESS_FAMILY_NOT_SUPPORTED, "address_family_not_supported")                                  \
  X(ADDRESS_IN_USE, "address_in_use")                                                              \
  X(ADDRESS_NOT_AVAILABLE, "address_not_available")                                                \
  X(ALREADY_CONNECTED, "already_connected")                                                        \
  X(BAD_ADDRESS, "bad_address")                                                                    \
  X(BAD_FILE_DESCRIPTOR, "bad_file_descriptor")                                                    \
  X(CONNECTION_ABORTED, "connection_aborted")                                                      \
  X(CONNECTION_ALREADY_IN_PROGRESS, "connection_already_in_progress")                              \
  X(DESTINATION_ADDRESS_REQUIRED, "destination_address_required")                                  \
  X(INTERRUPTED, "interrupted")                                                                    \
  X(INVALID_ARGUMENT, "invalid_argument")                                                          \
  X(MESSAGE_SIZE, "message_size")                                                                  \
  X(NETWORK_DOWN, "network_down")                                                                  \
  X(NETWORK_RESET, "network_reset")                                                                \
  X(NETWORK_UNREACHABLE, "network_unreachable")                                                    \
  X(NO_BUFFER_SPACE, "no_buffer_space")                                                            \
  X(NO_PROTOCOL_OPTION, "no_protocol_option")                                                      \
  X(NOT_A_SOCKET, "not_a_socket")                                                                  \
  X(NOT_CONNECTED, "not_connected")                                                                \
  X(OPERATION_WOULD_BLOCK, "operation_would_block")                                                \
  X(PERMISSION_DENIED, "permission_denied")                                                        \
  X(PROTOCOL_NOT_SUPPORTED, "protocol_not_supported")                                              \
  X(WRONG_PROTOCOL_TYPE, "wrong_protocol_type")                                                    \
  /* generic */                                                                                    \
  X(EOF_ERROR, "eof_error")                                                                        \
  X(GENERIC_TIMEOUT, "generic_timeout_error")                                                      \
  X(CONNECTION_ALREADY_CLOSED, "connection_already_closed")                                        \
  /* DNS */                                                                                        \
  X(DNS_NXDOMAIN, "dns_nxdomain_error")                                                            \
  X(DNS_NO_ANSWER, "dns_no_answer")                                                                \
  X(DNS_REFUSED, "dns_refused_error")                                                              \
  X(DNS_SERVFAIL, "dns_servfail_error")                                                            \
  X(DNS_SERVER_MISBEHAVING, "dns_server_misbehaving")                                              \
  X(DNS_NON_RECOVERABLE, "dns_non_recoverable_failure")                                            \
  X(DNS_TEMPORARY_FAILURE, "dns_temporary_failure")                                                \
  X(DNS_WRONG_QUERY_ID, "dns_reply_with_wrong_query_id")                                           \
  X(DNS_BOGON, "dns_bogon_error")                                                                  \
  /* TLS */                                                                                        \
  X(SSL_INVALID_HOSTNAME, "ssl_invalid_hostname")                                                  \
  X(SSL_UNKNOWN_AUTHORITY, "ssl_unknown_authority")                                                \
  X(SSL_INVALID_CERTIFICATE, "ssl_invalid_certificate")                                            \
  X(SSL_FAILED_HANDSHAKE, "ssl_failed_handshake")                                                  \
  /* HTTP */                                                                                       \
  X(HTTP_INVALID_REDIRECT_LOCATION_HOST, "http_invalid_redirect_location_host")                    \
  X(HTTP_REQUEST_FAILED, "http_request_failed")                                                    \
  X(HTTP_UNEXPECTED_STATUS_CODE, "http_unexpected_status_code")                                    \
  X(JSON_PARSE_ERROR, "json_parse_error")                                                          \
  /* unclassified: archived as "unknown_failure: <detail>" */                                      \
  X(UNKNOWN, "unknown_failure")

typedef enum {
#define CS_FAILURE_ENUM(code, str) CS_FAIL_##code,
  CS_FAILURE_MAP(CS_FAILURE_ENUM)
#undef CS_FAILURE_ENUM
      CS_FAIL__COUNT
} cs_failure;

/* The archived OONI string, or NULL for CS_FAIL_NONE. Never NULL for other codes. */
const char *cs_failure_str(cs_failure f);

/* Maps an errno value (Linux) to a failure code; unknown errnos map to CS_FAIL_UNKNOWN. */
cs_failure cs_failure_from_errno(int err);

/* Maps a getaddrinfo() return code (and errno for EAI_SYSTEM) to a failure code. */
cs_failure cs_failure_from_gai(int gai_rc, int err);

/* "unknown_failure: <detail>" for a CONSTANT detail (a string literal that holds no address,
 * so nothing to scrub), built at compile time; the literals it makes may be concatenated with
 * more literals or used as printf formats. A detail from the network or the system goes
 * through cs_failure_unknown() instead. */
#define CS_FAILURE_UNKNOWN_CONST(detail) "unknown_failure: " detail
#define CS_FAILURE_OOM CS_FAILURE_UNKNOWN_CONST("out of memory")

/* Writes "unknown_failure: <detail>" (detail scrubbed of IP addresses, OONI style) into out.
 * Returns out. */
char *cs_failure_unknown(char *out, size_t outlen, const char *detail);

/* Replaces every IPv4/IPv6 address literal in s, in place, with 'x' characters of the same
 * length, so the string never grows (cap is not used; OONI's "[scrubbed]" replacement is done
 * on whole measurements by cs_probe_scrub). */
void cs_scrub_addresses(char *s, size_t cap);

#endif
