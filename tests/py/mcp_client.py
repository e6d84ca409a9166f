"""A scriptable MCP client built on the official Python SDK, for polyclaw's end-to-end tests.

Usage:
    python mcp_client.py (--stdio -- CMD ARGS... | --http URL [--header K=V]...)
                         [--mode legacy|auto|2026-07-28] [--timeout SECONDS]
                         [--sampling-reply TEXT] [--elicit-reply JSON] [--elicit-replies JSON]
                         [--log-level LEVEL]

Reads a JSON array of operations from stdin, runs them in order over ONE session, and prints one
JSON object per operation and line on stdout:

    {"op": "list_tools", "ok": true, "result": {...}}
    {"op": "call_tool", "ok": false, "error": {"code": -32602, "message": "..."}}

Results are the SDK's result models dumped with
`model_dump(mode="json", by_alias=True, exclude_none=True)`.

Operations:
    {"op": "session"}                        negotiated protocolVersion, serverInfo, capabilities
    {"op": "list_tools"}                     (all list ops accept an optional "cursor")
    {"op": "call_tool", "name": N, "arguments": {...}, "progress": true}
                                             with "progress", the call's progress notifications
                                             are added to the line as "progress": [...]
    {"op": "list_resources"}
    {"op": "list_resource_templates"}
    {"op": "read_resource", "uri": U}
    {"op": "list_prompts"}
    {"op": "get_prompt", "name": N, "arguments": {...}}
    {"op": "wait_tools_changed", "timeout": 5}
                                             ok when notifications/tools/list_changed arrived since
                                             the session started or since the last such wait
    {"op": "set_log_level", "level": "debug"} logging/setLevel (handshake-era sessions)
    {"op": "logs"}                           notifications/message received so far
    {"op": "notifications"}                  every server notification received so far
    {"op": "server_requests"}                sampling/elicitation requests the client answered
    {"op": "sleep", "seconds": S}
    {"op": "ping"}

Connection modes (--mode, default legacy): `legacy` is the `initialize` handshake (2025-11-25 and
older); `auto` is the SDK's default (probe `server/discover`, fall back to `initialize`);
`2026-07-28` adopts the stateless revision without a probe (capabilities then read as empty). On
2026-07-28 sessions the client opens a `subscriptions/listen` stream for tool-list changes (when
the server advertises `tools.listChanged`, or always with the pinned mode), so
`wait_tools_changed` works in both eras; logging there is opt-in per request (`--log-level`).
The client is the SDK's `Client` (a `ClientSession` over `stdio_client` or
`streamable_http_client`), which also drives 2026-07-28 `input_required` rounds through the
sampling and elicitation callbacks. Stdio servers inherit this process's whole environment.
Set MCP_CLIENT_TRACEBACK=1 for a traceback when the session cannot be opened.

`--sampling-reply TEXT` offers the sampling capability and answers every sampling/createMessage
with TEXT; `--elicit-reply JSON` offers elicitation and accepts every request with that content;
`--elicit-replies JSON` offers elicitation and answers the requests in turn with the results of a
JSON array (`{"action": "accept", "content": {...}}`, `{"action": "decline"}`, ...; the last one
answers every request after it).

Exit status: 0 once the session is open (even if operations fail), 1 when the connection or the
handshake fails, 2 on bad usage or a bad operations document.
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
import traceback
import warnings
from contextlib import AsyncExitStack
from typing import Any, NoReturn

import anyio
import anyio.abc
import mcp_types as types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import BaseModel

# Sampling, logging and roots are deprecated in 2026-07-28; the tests use them on purpose.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

MODES = ("legacy", "auto", "2026-07-28")

# Python 3.10 (the SDK's floor) has no built-in exception groups; anyio's are then plain errors.
ExceptionGroups: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(builtins, "BaseExceptionGroup", None),) if isinstance(t, type)
)


def dump(value: Any) -> Any:
    """JSON-ready form of an SDK model (or of plain data)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def error_json(exc: BaseException) -> dict[str, Any]:
    """The `error` member of a failed operation's line."""
    if isinstance(exc, ExceptionGroups) and len(exc.exceptions) == 1:
        return error_json(exc.exceptions[0])
    if isinstance(exc, MCPError):
        out: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            out["data"] = exc.data
        return out
    return {"code": None, "message": f"{type(exc).__name__}: {exc}"}


def describe(exc: BaseException) -> str:
    """A one-line description of a connection failure, unwrapping anyio's exception groups."""
    while isinstance(exc, ExceptionGroups) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mcp_client.py",
        description="Run a JSON list of MCP operations (stdin) over one session; one JSON line each.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stdio", action="store_true", help="spawn the server given after `--`")
    target.add_argument("--http", metavar="URL", help="streamable HTTP endpoint")
    parser.add_argument("--header", action="append", default=[], metavar="K=V", help="HTTP header (repeatable)")
    parser.add_argument("--mode", choices=MODES, default="legacy", help="protocol negotiation (default: legacy)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request read timeout in seconds")
    parser.add_argument("--sampling-reply", metavar="TEXT", help="offer sampling; answer with TEXT")
    parser.add_argument("--elicit-reply", metavar="JSON", help="offer elicitation; accept with this content")
    parser.add_argument(
        "--elicit-replies", metavar="JSON", help="offer elicitation; answer in turn with these results"
    )
    parser.add_argument("--log-level", metavar="LEVEL", help="2026-07-28 per-request log opt-in level")
    parser.add_argument("command", nargs="*", help="with --stdio: the server command, after `--`")
    args = parser.parse_args(argv)
    if args.stdio and not args.command:
        parser.error("--stdio needs the server command after `--`")
    if args.http and args.command:
        parser.error("a server command only goes with --stdio")
    if args.header and not args.http:
        parser.error("--header only goes with --http")
    for header in args.header:
        if "=" not in header:
            parser.error(f"--header wants K=V, got {header!r}")
    if args.elicit_reply is not None:
        try:
            content = json.loads(args.elicit_reply)
        except json.JSONDecodeError as e:
            parser.error(f"--elicit-reply is not JSON: {e}")
        if not isinstance(content, dict):
            parser.error("--elicit-reply must be a JSON object")
        args.elicit_content = content
    args.elicit_results = None
    if args.elicit_replies is not None:
        try:
            results = json.loads(args.elicit_replies)
        except json.JSONDecodeError as e:
            parser.error(f"--elicit-replies is not JSON: {e}")
        if not isinstance(results, list) or not results or not all(isinstance(r, dict) for r in results):
            parser.error("--elicit-replies must be a non-empty JSON array of objects")
        args.elicit_results = results
    return args


def read_operations() -> list[dict[str, Any]]:
    try:
        ops = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        usage_error(f"stdin is not a JSON document: {e}")
    if not isinstance(ops, list) or not all(isinstance(op, dict) and isinstance(op.get("op"), str) for op in ops):
        usage_error('stdin must be a JSON array of {"op": ...} objects')
    return ops


def usage_error(message: str) -> NoReturn:
    print(f"mcp_client.py: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


class Driver:
    """One session's state: received notifications and answered server requests."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.notifications: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.tools_changed = anyio.Event()

    # --- callbacks -------------------------------------------------------------------------

    async def on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            print(f"mcp_client.py: transport error: {describe(message)}", file=sys.stderr, flush=True)
            return
        data = dump(message)
        self.notifications.append(data)
        if data.get("method") == "notifications/tools/list_changed":
            self.tools_changed.set()

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(dump(params))

    async def on_sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.server_requests.append({"method": "sampling/createMessage", "params": dump(params)})
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=self.args.sampling_reply),
            model="polyclaw-test-driver",
            stop_reason="endTurn",
        )

    async def on_elicit(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.server_requests.append({"method": "elicitation/create", "params": dump(params)})
        results = self.args.elicit_results
        if results is not None:
            reply = results.pop(0) if len(results) > 1 else results[0]
            return types.ElicitResult(**reply)
        return types.ElicitResult(action="accept", content=self.args.elicit_content)

    # --- connection --------------------------------------------------------------------------

    def client(self, stack: AsyncExitStack) -> Client:
        args = self.args
        server: Any
        if args.stdio:
            # The SDK passes only HOME, PATH, etc. to a child by default; the tests configure
            # servers through the environment, so hand down all of it.
            server = StdioServerParameters(command=args.command[0], args=args.command[1:], env=dict(os.environ))
        else:
            headers = dict(h.split("=", 1) for h in args.header)
            http = create_mcp_http_client(headers=headers or None)
            server = streamable_http_client(args.http, http_client=http)
            stack.push_async_callback(http.aclose)
        return Client(
            server,
            mode=args.mode,
            read_timeout_seconds=args.timeout,
            cache=None,
            message_handler=self.on_message,
            logging_callback=self.on_log,
            log_level=args.log_level,
            sampling_callback=self.on_sampling if args.sampling_reply is not None else None,
            elicitation_callback=(
                self.on_elicit if args.elicit_reply is not None or args.elicit_results is not None else None
            ),
            client_info=types.Implementation(name="polyclaw-tests-py-driver", version="0.1.0"),
        )

    async def listen_tools(self, client: Client, task_status: anyio.abc.TaskStatus[None]) -> None:
        """On 2026-07-28 sessions, tool-list changes arrive only through `subscriptions/listen`."""
        try:
            async with client.listen(tools_list_changed=True) as sub:
                task_status.started()
                async for _event in sub:
                    self.notifications.append({"method": "notifications/tools/list_changed"})
                    self.tools_changed.set()
        except Exception as e:  # a failed listen must not end the session
            print(f"mcp_client.py: subscriptions/listen failed: {describe(e)}", file=sys.stderr, flush=True)
            task_status.started()

    # --- operations ----------------------------------------------------------------------------

    async def run_op(self, client: Client, op: dict[str, Any], line: dict[str, Any]) -> None:
        """Run one operation, storing its outcome in `line` (which keeps progress on failure)."""
        name = op["op"]
        match name:
            case "session":
                line["result"] = {
                    "protocolVersion": client.protocol_version,
                    "serverInfo": dump(client.server_info),
                    "capabilities": dump(client.server_capabilities),
                    "instructions": client.instructions,
                }
            case "list_tools":
                line["result"] = dump(await client.list_tools(cursor=op.get("cursor")))
            case "call_tool":
                progress: list[dict[str, Any]] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    entry: dict[str, Any] = {"progress": value}
                    if total is not None:
                        entry["total"] = total
                    if message is not None:
                        entry["message"] = message
                    progress.append(entry)

                want_progress = bool(op.get("progress"))
                if want_progress:
                    line["progress"] = progress
                result = await client.call_tool(
                    op["name"],
                    op.get("arguments") or {},
                    progress_callback=on_progress if want_progress else None,
                )
                line["result"] = dump(result)
            case "list_resources":
                line["result"] = dump(await client.list_resources(cursor=op.get("cursor")))
            case "list_resource_templates":
                line["result"] = dump(await client.list_resource_templates(cursor=op.get("cursor")))
            case "read_resource":
                line["result"] = dump(await client.read_resource(op["uri"]))
            case "list_prompts":
                line["result"] = dump(await client.list_prompts(cursor=op.get("cursor")))
            case "get_prompt":
                line["result"] = dump(await client.get_prompt(op["name"], op.get("arguments")))
            case "wait_tools_changed":
                with anyio.move_on_after(float(op.get("timeout", 5))):
                    await self.tools_changed.wait()
                if not self.tools_changed.is_set():
                    raise TimeoutError("no notifications/tools/list_changed received")
                self.tools_changed = anyio.Event()
                line["result"] = {}
            case "set_log_level":
                line["result"] = dump(await client.set_logging_level(op.get("level", "debug")))
            case "logs":
                line["result"] = list(self.logs)
            case "notifications":
                line["result"] = list(self.notifications)
            case "server_requests":
                line["result"] = list(self.server_requests)
            case "sleep":
                await anyio.sleep(float(op.get("seconds", 0)))
                line["result"] = {}
            case "ping":
                line["result"] = dump(await client.send_ping())
            case _:
                raise ValueError(f"unknown op {name!r}")

    async def run(self, ops: list[dict[str, Any]]) -> int:
        async with AsyncExitStack() as stack:
            try:
                client = await stack.enter_async_context(self.client(stack))
            except Exception as e:
                print(f"mcp_client.py: could not open the session: {describe(e)}", file=sys.stderr, flush=True)
                if os.environ.get("MCP_CLIENT_TRACEBACK"):
                    traceback.print_exc()
                return 1
            async with anyio.create_task_group() as tg:
                # A pinned 2026-07-28 session skips server/discover, so its capabilities are unknown.
                tools = client.server_capabilities.tools
                advertised = tools is not None and bool(tools.list_changed)
                if client.protocol_version == "2026-07-28" and (advertised or self.args.mode == "2026-07-28"):
                    await tg.start(self.listen_tools, client)
                for op in ops:
                    line: dict[str, Any] = {"op": op["op"], "ok": True}
                    try:
                        await self.run_op(client, op, line)
                    except Exception as e:
                        line["ok"] = False
                        line.pop("result", None)
                        line["error"] = error_json(e)
                    print(json.dumps(line), flush=True)
                tg.cancel_scope.cancel()
        return 0


def main() -> int:
    args = parse_args(sys.argv[1:])
    ops = read_operations()
    try:
        return anyio.run(Driver(args).run, ops)
    except Exception as e:  # a failure while closing the session, after all the lines
        print(f"mcp_client.py: error while closing the session: {describe(e)}", file=sys.stderr, flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
