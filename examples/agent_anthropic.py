"""The same three-step agent with the official `anthropic` package, against Cervella's
Anthropic-compatible `/v1/messages`: an agent written for Claude gets the small model where
its answers hold up, and Claude where they do not, without a change to its code.

    CERVELLA_URL=http://127.0.0.1:8080 CERVELLA_API_KEY=... python examples/agent_anthropic.py

`CERVELLA_MODEL` (default `auto`) and `CERVELLA_PROMPT_SUFFIX` as in agent_openai.py.
"""

import json
import os

import anthropic

client = anthropic.Anthropic(
    base_url=os.environ.get("CERVELLA_URL", "http://127.0.0.1:8080"),
    api_key=os.environ.get("CERVELLA_API_KEY", "not-needed-on-loopback"),
)
MODEL = os.environ.get("CERVELLA_MODEL", "auto")

TOOLS = [
    {
        "name": "weather",
        "description": "Today's forecast for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "packing_list",
        "description": "What to pack for a trip of some days under a forecast",
        "input_schema": {
            "type": "object",
            "properties": {"days": {"type": "integer", "minimum": 1}, "forecast": {"type": "string"}},
            "required": ["days", "forecast"],
        },
    },
]


def run_tool(name, arguments):
    if name == "weather":
        return {"city": arguments["city"], "forecast": "sunny", "high_c": 24}
    if name == "packing_list":
        return {"items": ["sunglasses", "hat"] if arguments["forecast"] == "sunny" else ["umbrella"], "days": arguments["days"]}
    raise ValueError(f"no tool {name}")


def main():
    task = "Plan what to pack for three days in Lisbon." + os.environ.get("CERVELLA_PROMPT_SUFFIX", "")
    messages = [{"role": "user", "content": task}]
    choices = [{"type": "tool", "name": "weather"}, {"type": "tool", "name": "packing_list"}, {"type": "auto"}]
    for step, choice in enumerate(choices, start=1):
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=300, messages=messages, tools=TOOLS, tool_choice=choice)
        reply = raw.parse()
        who = f"model={reply.model} fallback={raw.headers.get('x-cervella-fallback')} reason={raw.headers.get('x-cervella-fallback-reason')}"
        uses = [block for block in reply.content if block.type == "tool_use"]
        if not uses:
            print(f"step {step}: answer {who} stop={reply.stop_reason} text={any(b.type == 'text' and b.text for b in reply.content)}")
            return
        messages.append({"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in reply.content]})
        results = []
        for use in uses:
            results.append({"type": "tool_result", "tool_use_id": use.id, "content": json.dumps(run_tool(use.name, use.input))})
            print(f"step {step}: called {use.name} {who}")
        messages.append({"role": "user", "content": results})
    print("the agent did not finish in three steps")


if __name__ == "__main__":
    main()
