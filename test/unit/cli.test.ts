/**
 * The `whalewatcher` command against a fake containerd: ls, inspect, help, version and usage
 * errors, with their output and exit codes.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { layer as realConnector } from "../../src/cli/Connector.ts"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { version } from "../../src/cli/Version.ts"
import { FakeContainerd } from "../../src/testing/index.ts"
import { fakeConnector, runCli } from "./cliHarness.ts"
import { shopScene } from "./shopScene.ts"

/** The shop and a second project, a container of none, one in an ignored namespace, and one without a process. */
const scene = () => {
  const fake = shopScene()
  fake.addContainer({ namespace: "default", id: "metrics", labels: { "com.docker.compose.project": "ops" } })
  fake.startTask({ namespace: "default", id: "metrics", pid: 4242 })
  fake.addContainer({ namespace: "lab", id: "scratch" })
  fake.startTask({ namespace: "lab", id: "scratch", pid: 103 })
  fake.addContainer({ namespace: "default", id: "created" })
  fake.addContainer({ namespace: "moby", id: "dockerd-managed", labels: { "com.docker.compose.project": "shop" } })
  fake.startTask({ namespace: "moby", id: "dockerd-managed", pid: 200 })
  return fake
}

describe("whalewatcher ls", () => {
  it.effect("prints tables grouped by project, named projects sorted, the unnamed project last", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["ls"], fakeConnector(scene()))
      assert.strictEqual(result.exitCode, ExitCode.Ok)
      assert.strictEqual(result.stderr, "")
      expect(result.stdout).toMatchInlineSnapshot(`
        "PROJECT ops
          ID           NAME            PID  STATE
          metrics      metrics        4242  running

        PROJECT shop
          ID           NAME            PID  STATE
          shop/db      shop/database   102  paused
          web          frontend        101  running

        NO PROJECT
          ID           NAME            PID  STATE
          lab/scratch  lab/scratch     103  running
        "
      `)
    }))

  it.effect("--json prints the array of examples/list.ts, sorted by id", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["ls", "--json"], fakeConnector(scene()))
      assert.strictEqual(result.exitCode, ExitCode.Ok)
      expect(result.stdout).toMatchInlineSnapshot(`
        "[{"id":"lab/scratch","name":"lab/scratch","project":"","pid":103,"paused":false,"labels":{}},{"id":"metrics","name":"metrics","project":"ops","pid":4242,"paused":false,"labels":{"com.docker.compose.project":"ops"}},{"id":"shop/db","name":"shop/database","project":"shop","pid":102,"paused":true,"labels":{"com.docker.compose.project":"shop","nerdctl/name":"database","tier":"back"}},{"id":"web","name":"frontend","project":"shop","pid":101,"paused":false,"labels":{"com.docker.compose.project":"shop","nerdctl/name":"frontend","tier":"front"}}]
        "
      `)
      assert.deepStrictEqual(
        (JSON.parse(result.stdout) as Array<{ id: string }>).map((container) => container.id),
        ["lab/scratch", "metrics", "shop/db", "web"]
      )
    }))

  it.effect("--all-namespaces includes the namespaces ignored by default", () =>
    Effect.gen(function*() {
      const ids = (args: ReadonlyArray<string>) =>
        Effect.map(
          runCli(args, fakeConnector(scene())),
          (result) => (JSON.parse(result.stdout) as Array<{ id: string }>).map((container) => container.id)
        )
      assert.deepStrictEqual(yield* ids(["ls", "--json", "--all-namespaces"]), [
        "lab/scratch",
        "metrics",
        "moby/dockerd-managed",
        "shop/db",
        "web"
      ])
      assert.deepStrictEqual(yield* ids(["-A", "ls", "--json", "--ignore-namespace", "lab"]), [
        "metrics",
        "moby/dockerd-managed",
        "shop/db",
        "web"
      ])
    }))

  it.effect("--namespace (repeatable) lists only those namespaces, before or after the subcommand", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["--namespace", "shop", "ls", "-n", "moby", "--json"], fakeConnector(scene()))
      assert.deepStrictEqual((JSON.parse(result.stdout) as Array<{ id: string }>).map((c) => c.id), [
        "moby/dockerd-managed",
        "shop/db"
      ])
    }))

  it.effect("--label KEY=VALUE and --label KEY filter, all of them at once", () =>
    Effect.gen(function*() {
      const ids = (args: ReadonlyArray<string>) =>
        Effect.map(
          runCli(["ls", "--json", ...args], fakeConnector(scene())),
          (result) => (JSON.parse(result.stdout) as Array<{ id: string }>).map((container) => container.id)
        )
      assert.deepStrictEqual(yield* ids(["--label", "com.docker.compose.project=shop"]), ["shop/db", "web"])
      assert.deepStrictEqual(yield* ids(["--label", "com.docker.compose.project=shop", "-l", "tier=front"]), ["web"])
      assert.deepStrictEqual(yield* ids(["--label", "tier"]), ["shop/db", "web"])
      assert.deepStrictEqual(yield* ids(["--label", "tier="]), [])
    }))

  it.effect("says so when nothing is alive, or nothing matches", () =>
    Effect.gen(function*() {
      const empty = yield* runCli(["ls"], fakeConnector(FakeContainerd.make()))
      assert.deepStrictEqual([empty.exitCode, empty.stdout], [0, "No containers are alive.\n"])
      const none = yield* runCli(["ls", "--label", "nope"], fakeConnector(scene()))
      assert.deepStrictEqual([none.exitCode, none.stdout], [0, "No alive container matches.\n"])
      const json = yield* runCli(["ls", "--json"], fakeConnector(FakeContainerd.make()))
      assert.strictEqual(json.stdout, "[]\n")
    }))

  it.effect("colours only when stdout is a terminal and NO_COLOR is not set", () =>
    Effect.gen(function*() {
      const piped = yield* runCli(["ls"], fakeConnector(scene()), { env: {} })
      assert.notInclude(piped.stdout, "\x1b")
      const terminal = yield* runCli(["ls"], fakeConnector(scene()), { tty: true, env: {} })
      assert.include(terminal.stdout, "\x1b[1mPROJECT shop\x1b[0m")
      assert.include(terminal.stdout, "\x1b[33mpaused\x1b[0m")
      const noColor = yield* runCli(["ls"], fakeConnector(scene()), { tty: true, env: { NO_COLOR: "1" } })
      assert.notInclude(noColor.stdout, "\x1b")
    }))

  it.effect("a bad --label or conflicting namespace flags are usage errors (exit 2)", () =>
    Effect.gen(function*() {
      const badLabel = yield* runCli(["ls", "--label", "=x"], fakeConnector(scene()))
      assert.deepStrictEqual(badLabel, {
        exitCode: ExitCode.Usage,
        stdout: "",
        stderr: "whalewatcher: --label =x: expected KEY=VALUE or KEY\n"
      })
      const conflict = yield* runCli(["-n", "shop", "-A", "ls"], fakeConnector(scene()))
      assert.deepStrictEqual(conflict, {
        exitCode: ExitCode.Usage,
        stdout: "",
        stderr: "whalewatcher: --namespace and --all-namespaces exclude each other\n"
      })
    }))
})

describe("whalewatcher inspect", () => {
  it.effect("shows a container found by name, labels included", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["inspect", "frontend"], fakeConnector(scene()))
      assert.strictEqual(result.exitCode, ExitCode.Ok)
      expect(result.stdout).toMatchInlineSnapshot(`
        "ID         web
        NAME       frontend
        PROJECT    shop
        NAMESPACE  default
        PID        101
        STATE      running
        LABELS     com.docker.compose.project=shop
                   nerdctl/name=frontend
                   tier=front
        "
      `)
    }))

  it.effect("--json by display ID", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["inspect", "shop/db", "--json"], fakeConnector(scene()))
      assert.strictEqual(result.exitCode, ExitCode.Ok)
      expect(result.stdout).toMatchInlineSnapshot(`
        "{"id":"shop/db","name":"shop/database","project":"shop","namespace":"shop","pid":102,"paused":true,"labels":{"com.docker.compose.project":"shop","nerdctl/name":"database","tier":"back"}}
        "
      `)
    }))

  it.effect("not found and processless: a clear message and exit 1", () =>
    Effect.gen(function*() {
      const missing = yield* runCli(["inspect", "nothing"], fakeConnector(scene()))
      assert.deepStrictEqual(missing, {
        exitCode: ExitCode.NotFound,
        stdout: "",
        stderr: "whalewatcher: no container named or with ID \"nothing\"\n"
      })
      const processless = yield* runCli(["inspect", "created", "--json"], fakeConnector(scene()))
      assert.deepStrictEqual(processless, {
        exitCode: ExitCode.NotFound,
        stdout: "",
        stderr:
          "whalewatcher: container \"created\" has no running process: it was created and never started, or it has exited\n"
      })
    }))

  it.effect("a container in an ignored namespace is not found unless its namespace is selected", () =>
    Effect.gen(function*() {
      const hidden = yield* runCli(["inspect", "moby/dockerd-managed"], fakeConnector(scene()))
      assert.strictEqual(hidden.exitCode, ExitCode.NotFound)
      // It says where the container is and how to include it.
      expect(hidden.stderr).toMatchInlineSnapshot(`
        "whalewatcher: no container named or with ID "moby/dockerd-managed" in the namespaces watched
          container "moby/dockerd-managed" lives in containerd namespace "moby": it is ignored by default; add -A (--all-namespaces) or -n moby to include it
        "
      `)
      const notSelected = yield* runCli(["-n", "default", "inspect", "shop/db"], fakeConnector(scene()))
      assert.strictEqual(notSelected.exitCode, ExitCode.NotFound)
      expect(notSelected.stderr).toMatchInlineSnapshot(`
        "whalewatcher: no container named or with ID "shop/db" in the namespaces watched
          container "shop/db" lives in containerd namespace "shop": it is not among the --namespace flags; add -n shop
        "
      `)
      const missing = yield* runCli(["inspect", "nowhere"], fakeConnector(scene()))
      assert.strictEqual(missing.exitCode, ExitCode.NotFound)
      assert.strictEqual(missing.stderr, 'whalewatcher: no container named or with ID "nowhere"\n')
      const shown = yield* runCli(["-A", "inspect", "moby/dockerd-managed", "--json"], fakeConnector(scene()))
      assert.strictEqual(shown.exitCode, ExitCode.Ok)
      assert.strictEqual((JSON.parse(shown.stdout) as { pid: number }).pid, 200)
    }))

  it.effect("no argument: usage error", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["inspect"], fakeConnector(scene()))
      assert.deepStrictEqual(result, {
        exitCode: ExitCode.Usage,
        stdout: "",
        stderr: "whalewatcher: Missing required argument: name-or-id\n  Run 'whalewatcher inspect --help' for usage.\n"
      })
    }))
})

describe("help, version and usage errors", () => {
  it.effect("--help documents the commands, examples, exit codes and environment", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["--help"], fakeConnector(scene()))
      assert.strictEqual(result.exitCode, ExitCode.Ok)
      expect(result.stdout).toMatchInlineSnapshot(`
        "DESCRIPTION
          Shows the containers alive on a host, from containerd, Docker or Podman: a list, one container's details, their lifecycle events, or a live view that follows every change.

        USAGE
          whalewatcher <subcommand> [flags]

        FLAGS
          --engine choice          the engine: containerd, or the Docker Engine API of Docker or Podman (choices: containerd, docker, podman)
          --address PATH           the engine's socket (a unix:// prefix is fine); default: containerd: $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock; docker: $DOCKER_HOST, else /var/run/docker.sock; podman: $CONTAINER_HOST, else /run/podman/podman.sock
          --namespace, -n NS       only this containerd namespace (repeat for more; containerd only)
          --all-namespaces, -A     also the namespaces ignored by default (moby, plugins.moby, k8s.io)
          --ignore-namespace NS    leave out this namespace too (repeat for more)

        GLOBAL FLAGS
          --help, -h       Show help information
          --version, -v    Show version information

        SUBCOMMANDS
          ls         the alive containers, grouped by project
          watch      a live view of the containers, until Ctrl-C
          events     lifecycle events as they happen
          inspect    one container's details

        EXAMPLES
          # the alive containers, grouped by compose project
          whalewatcher ls

          # another containerd, every namespace
          whalewatcher --address /run/k3s/containerd/containerd.sock ls -A

          # Docker's containers (Podman's: --engine podman)
          whalewatcher --engine docker ls

          # a live view until Ctrl-C
          whalewatcher watch

          # a ready line, then one JSON line per change
          whalewatcher watch --json

          # one container, labels included
          whalewatcher inspect web --json

          # lifecycle events of one namespace
          whalewatcher events -n shop

        EXIT CODES
          0  success (watch and events: ended by Ctrl-C or SIGTERM)
          1  inspect: no such container, or it has no running process
          2  usage error: unknown command or flag, bad or conflicting values
          3  engine unavailable: no socket, permission denied, not listening, connection lost
          4  the engine refused a request, or an unexpected error

        ENVIRONMENT
          CONTAINERD_ADDRESS  containerd's socket when --address is not given (default /run/containerd/containerd.sock)
          DOCKER_HOST         Docker's socket when --address is not given (default /var/run/docker.sock)
          CONTAINER_HOST      Podman's socket when --address is not given (default /run/podman/podman.sock)
          NO_COLOR            no colours, even on a terminal
        "
      `)
    }))

  it.effect("ls --help", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["ls", "--help"], fakeConnector(scene()))
      assert.strictEqual(result.exitCode, ExitCode.Ok)
      expect(result.stdout).toMatchInlineSnapshot(`
        "DESCRIPTION
          Lists the alive containers (running or paused), grouped by compose project; containers of no project come last.

        USAGE
          whalewatcher ls [flags]

        FLAGS
          --json                     print a JSON array of {id, name, project, pid, paused, labels}, sorted by id
          --label, -l KEY[=VALUE]    only containers with this label (and value); repeat to require several

        INHERITED FLAGS
          --engine choice          the engine: containerd, or the Docker Engine API of Docker or Podman (choices: containerd, docker, podman)
          --address PATH           the engine's socket (a unix:// prefix is fine); default: containerd: $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock; docker: $DOCKER_HOST, else /var/run/docker.sock; podman: $CONTAINER_HOST, else /run/podman/podman.sock
          --namespace, -n NS       only this containerd namespace (repeat for more; containerd only)
          --all-namespaces, -A     also the namespaces ignored by default (moby, plugins.moby, k8s.io)
          --ignore-namespace NS    leave out this namespace too (repeat for more)

        GLOBAL FLAGS
          --help, -h       Show help information
          --version, -v    Show version information

        EXAMPLES
          # tables per project
          whalewatcher ls

          # the names, for a script
          whalewatcher ls --json | jq -r '.[].name'

          # one project, in every namespace
          whalewatcher ls -A --label com.docker.compose.project=shop

        EXIT CODES
          0  success (watch and events: ended by Ctrl-C or SIGTERM)
          1  inspect: no such container, or it has no running process
          2  usage error: unknown command or flag, bad or conflicting values
          3  engine unavailable: no socket, permission denied, not listening, connection lost
          4  the engine refused a request, or an unexpected error

        ENVIRONMENT
          CONTAINERD_ADDRESS  containerd's socket when --address is not given (default /run/containerd/containerd.sock)
          DOCKER_HOST         Docker's socket when --address is not given (default /var/run/docker.sock)
          CONTAINER_HOST      Podman's socket when --address is not given (default /run/podman/podman.sock)
          NO_COLOR            no colours, even on a terminal
        "
      `)
    }))

  it.effect("--version prints the package version, which is package.json's and deno.json's", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["--version"], fakeConnector(scene()))
      assert.deepStrictEqual(result, { exitCode: ExitCode.Ok, stdout: `whalewatcher ${version}\n`, stderr: "" })
      const root = fileURLToPath(new URL("../..", import.meta.url))
      for (const manifest of ["package.json", "deno.json"]) {
        const declared = (JSON.parse(fs.readFileSync(path.join(root, manifest), "utf8")) as { version: string }).version
        assert.strictEqual(version, declared, manifest)
      }
    }))

  it.effect("unknown subcommands and flags: a short message on stderr, exit 2", () =>
    Effect.gen(function*() {
      const subcommand = yield* runCli(["lss"], fakeConnector(scene()))
      assert.strictEqual(subcommand.exitCode, ExitCode.Usage)
      assert.strictEqual(subcommand.stdout, "")
      expect(subcommand.stderr).toMatchInlineSnapshot(`
        "whalewatcher: Unknown subcommand "lss" for "whalewatcher"

          Did you mean this?
            ls
          Run 'whalewatcher --help' for usage.
        "
      `)
      const flag = yield* runCli(["ls", "--bogus"], fakeConnector(scene()))
      assert.deepStrictEqual(flag, {
        exitCode: ExitCode.Usage,
        stdout: "",
        stderr: "whalewatcher: Unrecognized flag: --bogus in command whalewatcher ls\n  Run 'whalewatcher ls --help' for usage.\n"
      })
    }))
})

describe("engine errors", () => {
  it.effect("no socket at the path: says where the path came from and what to check (exit 3)", () =>
    Effect.gen(function*() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "wwcli-"))
      const missing = path.join(directory, "containerd.sock")
      try {
        const fromFlag = yield* runCli(["--address", missing, "ls"], realConnector)
        assert.deepStrictEqual(fromFlag, {
          exitCode: ExitCode.EngineUnavailable,
          stdout: "",
          stderr: `whalewatcher: no containerd socket at ${missing} (given with --address)\n` +
            "  Is containerd running? Is the path right?\n"
        })
        const fromEnvironment = yield* runCli(["inspect", "web"], realConnector, {
          env: { CONTAINERD_ADDRESS: `unix://${missing}` }
        })
        assert.strictEqual(fromEnvironment.exitCode, ExitCode.EngineUnavailable)
        assert.strictEqual(
          fromEnvironment.stderr.split("\n")[0],
          `whalewatcher: no containerd socket at ${missing} (from CONTAINERD_ADDRESS)`
        )
      } finally {
        fs.rmSync(directory, { recursive: true, force: true })
      }
    }))

  it.effect("a socket file nobody listens on (exit 3)", () =>
    Effect.gen(function*() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "wwcli-"))
      const stale = path.join(directory, "containerd.sock")
      try {
        // A unix socket bound and closed again leaves its file behind, like a crashed containerd.
        yield* Effect.promise(() => leaveStaleSocket(stale))
        const result = yield* runCli(["--address", stale, "events"], realConnector)
        assert.deepStrictEqual(result, {
          exitCode: ExitCode.EngineUnavailable,
          stdout: "",
          stderr: `whalewatcher: nothing listens on the containerd socket ${stale} (connection refused)\n` +
            "  Is containerd running? A crashed containerd leaves its socket file behind.\n"
        })
      } finally {
        fs.rmSync(directory, { recursive: true, force: true })
      }
    }))

  it.effect("an error status from containerd (exit 4)", () =>
    Effect.gen(function*() {
      const fake = scene()
      fake.failNext("Namespaces.List", 8 /* ResourceExhausted */, "too many requests")
      const result = yield* runCli(["ls"], fakeConnector(fake))
      assert.strictEqual(result.exitCode, ExitCode.Failed)
      expect(result.stderr).toMatchInlineSnapshot(`
        "whalewatcher: Namespaces.List at /run/containerd/containerd.sock failed with ResourceExhausted: too many requests
        "
      `)
    }))
})

describe("--engine docker and podman", () => {
  it.effect("Docker: a missing socket names dockerd and DOCKER_HOST; Podman: CONTAINER_HOST (exit 3)", () =>
    Effect.gen(function*() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "wwcli-"))
      const missing = path.join(directory, "docker.sock")
      try {
        const docker = yield* runCli(["--engine", "docker", "ls"], realConnector, { env: { DOCKER_HOST: `unix://${missing}` } })
        assert.deepStrictEqual(docker, {
          exitCode: ExitCode.EngineUnavailable,
          stdout: "",
          stderr: `whalewatcher: no Docker socket at ${missing} (from DOCKER_HOST)\n  Is dockerd running? Is the path right?\n`
        })
        const podman = yield* runCli(["--engine", "podman", "--address", missing, "watch"], realConnector, {
          env: { DOCKER_HOST: "unix:///elsewhere.sock" }
        })
        assert.strictEqual(podman.exitCode, ExitCode.EngineUnavailable)
        assert.strictEqual(podman.stderr.split("\n")[0], `whalewatcher: no Podman socket at ${missing} (given with --address)`)
        const stale = path.join(directory, "podman.sock")
        yield* Effect.promise(() => leaveStaleSocket(stale))
        const notListening = yield* runCli(["--engine", "podman", "inspect", "web"], realConnector, {
          env: { CONTAINER_HOST: stale }
        })
        assert.strictEqual(notListening.exitCode, ExitCode.EngineUnavailable)
        assert.include(notListening.stderr, `nothing listens on the Podman socket ${stale}`)
      } finally {
        fs.rmSync(directory, { recursive: true, force: true })
      }
    }))

  it.effect("DOCKER_HOST with another scheme than unix:// is a usage error, never a dial (exit 2)", () =>
    Effect.gen(function*() {
      const result = yield* runCli(["--engine", "docker", "ls"], realConnector, { env: { DOCKER_HOST: "tcp://10.0.0.1:2375" } })
      assert.deepStrictEqual(result, {
        exitCode: ExitCode.Usage,
        stdout: "",
        stderr: "whalewatcher: DOCKER_HOST tcp://10.0.0.1:2375: only unix:// addresses (or socket paths) are supported\n"
      })
      const flag = yield* runCli(["--engine", "podman", "--address", "ssh://host", "ls"], realConnector)
      assert.strictEqual(flag.exitCode, ExitCode.Usage)
      assert.include(flag.stderr, "--address ssh://host: only unix:// addresses")
    }))

  it.effect("namespace flags apply to containerd only (exit 2); an unknown engine is a usage error", () =>
    Effect.gen(function*() {
      for (const flags of [["-n", "shop"], ["-A"], ["--ignore-namespace", "x"]]) {
        const result = yield* runCli(["--engine", "docker", ...flags, "ls"], realConnector)
        assert.strictEqual(result.exitCode, ExitCode.Usage, flags.join(" "))
        assert.match(result.stderr, /applies to containerd only; Docker has no namespaces/)
      }
      const unknown = yield* runCli(["--engine", "cri-o", "ls"], realConnector)
      assert.strictEqual(unknown.exitCode, ExitCode.Usage)
      assert.include(unknown.stderr, "cri-o")
    }))
})

const leaveStaleSocket = async (socketPath: string): Promise<void> => {
  const net = await import("node:net")
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  // close() unlinks the socket file; keep a copy of it by linking it first.
  fs.linkSync(socketPath, `${socketPath}.kept`)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  fs.renameSync(`${socketPath}.kept`, socketPath)
}
