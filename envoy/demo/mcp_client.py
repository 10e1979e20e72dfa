#!/usr/bin/env python3
"""A small MCP client (official `mcp` SDK, Streamable HTTP) for the Tollgate demo.

    mcp_client.py --token "$TOKEN" list
    mcp_client.py --token "$TOKEN" call echo '{"text": "hi"}'

--url defaults to http://localhost:10000/mcp (Envoy in front of envoy/demo/mcp_server.py;
/mcp/json gets JSON answers instead of SSE). Prints tool names, a tool's text
result, or the JSON-RPC error the gateway (or the server) answered with.
"""
import argparse
import json
import sys

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


async def run(args) -> int:
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=15) as http:
        async with streamable_http_client(args.url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                if args.command == "list":
                    for tool in tools:
                        print(f"{tool.name:20} {tool.description}")
                    return 0
                try:
                    result = await session.call_tool(args.tool, json.loads(args.arguments))
                except MCPError as err:
                    code = (err.data or {}).get("code", "") if isinstance(err.data, dict) else ""
                    print(f"JSON-RPC error {err.code} {code}: {err.message}")
                    return 1
                for item in result.content:
                    print(getattr(item, "text", item))
                return 1 if result.is_error else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:10000/mcp")
    parser.add_argument("--token")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    call = sub.add_parser("call")
    call.add_argument("tool")
    call.add_argument("arguments", nargs="?", default="{}")
    return anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
