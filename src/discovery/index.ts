/**
 * Finding the container engines of a host: their processes, sockets, versions and IDs.
 *
 * @since 0.1.0
 */
/** Finds containerd, dockerd and the podman API service on a Linux host, probed. */
export * as Discovery from "./Discovery.ts"
