/**
 * The words the decision core decides with. They live here, in the core, so the core depends on nothing
 * outside `core/`; the endpoint layer reports in these words (a type-only import, no code).
 */

/** Name of an endpoint as configured (which one is really primary is the servers' word). */
export type EndpointName = 'primary' | 'backup';
/** Role as the server reports it. */
export type RoleName = 'primary' | 'backup' | 'unknown';
/** CTI link state as the server reports it. */
export type LinkState = 'up' | 'down' | 'unknown';
