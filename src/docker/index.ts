/**
 * The Docker engine client, for dockerd and for Podman's Docker-compatible API: the connection
 * (HTTP/1.1 over the engine's unix socket, through effect's HttpClient) and the EngineClient.
 *
 * @since 0.1.0
 */
/** The connection to one Docker Engine API: socket, API version negotiation, typed errors. */
export * as DockerConnection from "./DockerConnection.ts"
/** The Docker / Podman EngineClient: list, inspect and lifecycle events. */
export * as DockerEngine from "./DockerEngine.ts"
/** An effect HttpClient over a unix socket that works in Node, Deno and Bun. */
export * as UnixSocketHttpClient from "./UnixSocketHttpClient.ts"
