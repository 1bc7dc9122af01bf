"""Drives `clambot mcp serve` with the official MCP Python SDK, as a desktop
client would: starts it over stdio, lists its tools, makes the calls in the
plan, and prints one JSON object with what came back (for host/tests/mcp_serve.rs).

usage: drive.py PLAN_JSON -- COMMAND [ARGS...]
PLAN_JSON: {"calls": [{"tool": NAME, "args": {...}}], "elicitation": "accept" | "decline" | "none"}
"""

import json
import os
import sys

import anyio
import mcp_types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    split = sys.argv.index("--")
    plan = json.loads(sys.argv[1])
    command, *args = sys.argv[split + 1 :]
    asked: list[str] = []

    async def answer(_context, params):
        asked.append(params.message)
        if plan.get("elicitation") == "accept":
            return types.ElicitResult(action="accept", content={"decision": "allow once"})
        return types.ElicitResult(action="decline")

    callback = None if plan.get("elicitation", "none") == "none" else answer
    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    out = {"calls": []}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=callback) as session:
            init = await session.initialize()
            out["server"] = init.server_info.name
            out["protocol"] = init.protocol_version
            out["tools"] = [tool.name for tool in (await session.list_tools()).tools]
            for call in plan["calls"]:
                result = await session.call_tool(call["tool"], call.get("args", {}))
                out["calls"].append(
                    {
                        "is_error": bool(result.is_error),
                        "structured": result.structured_content,
                        "text": [c.text for c in result.content if getattr(c, "type", "") == "text"],
                    }
                )
    out["asked"] = asked
    print(json.dumps(out))


anyio.run(main)
