/**
 * The one error type of every test sandbox (containerd, Docker, Podman).
 * @internal
 */
import { type Cause, Schema } from "effect"

const SandboxErrorBase: Schema.Class<
  SandboxError,
  Schema.TaggedStruct<"SandboxError", {
    readonly operation: Schema.String
    readonly message: Schema.String
    readonly command: Schema.optionalKey<Schema.String>
    readonly stderr: Schema.optionalKey<Schema.String>
  }>,
  Cause.YieldableError
> = Schema.TaggedError<SandboxError>()("SandboxError", {
  operation: Schema.String,
  message: Schema.String,
  command: Schema.optionalKey(Schema.String),
  stderr: Schema.optionalKey(Schema.String)
})

/**
 * Anything the sandbox could not do: a missing tool, containerd not becoming ready, a failing `ctr`
 * command. `operation` names the sandbox operation (`"start"`, `"run"`, `"exec"`, ...), `command` the
 * command line that failed and `stderr` what it printed.
 *
 * @since 0.1.0
 * @category errors
 */
export class SandboxError extends SandboxErrorBase {}
