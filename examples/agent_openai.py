"""A three-step agent through Cervella, written with the official `openai` package.

The agent plans a trip: it asks for the weather (a tool this script implements), then for a
packing list (a second tool), then for a final answer. Each step is one chat call with tools;
the pool answers with the small model when its tool call holds up and with Claude when it
does not, in the same OpenAI shape, so the loop below never knows which one answered. The
`x-cervella-*` headers say who did.

    CERVELLA_URL=http://127.0.0.1:8080 CERVELLA_API_KEY=... python examples/agent_openai.py

`CERVELLA_MODEL` picks the model (default `auto`, the classifier); `CERVELLA_PROMPT_SUFFIX`
is appended to the task, which is how the tests add `#sim` directives for the simulator.
"""

import json
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("CERVELLA_URL", "http://127.0.0.1:8080") + "/v1",
    api_key=os.environ.get("CERVELLA_API_KEY", "not-needed-on-loopback"),
)
MODEL = os.environ.get("CERVELLA_MODEL", "auto")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Today's forecast for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "packing_list",
            "description": "What to pack for a trip of some days under a forecast",
            "parameters": {
                "type": "object",
                "properties": {"days": {"type": "integer", "minimum": 1}, "forecast": {"type": "string"}},
                "required": ["days", "forecast"],
            },
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
    # Steps 1 and 2 must call their tool; step 3 answers in words.
    choices = [
        {"type": "function", "function": {"name": "weather"}},
        {"type": "function", "function": {"name": "packing_list"}},
        "auto",
    ]
    for step, choice in enumerate(choices, start=1):
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice=choice, max_tokens=300)
        reply = raw.parse()
        message = reply.choices[0].message
        who = f"model={reply.model} fallback={raw.headers.get('x-cervella-fallback')} reason={raw.headers.get('x-cervella-fallback-reason')}"
        if not message.tool_calls:
            print(f"step {step}: answer {who} finish={reply.choices[0].finish_reason} text={bool(message.content)}")
            return
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}
                    for call in message.tool_calls
                ],
            }
        )
        for call in message.tool_calls:
            result = run_tool(call.function.name, json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
            print(f"step {step}: called {call.function.name} {who}")
    print("the agent did not finish in three steps")


if __name__ == "__main__":
    main()
