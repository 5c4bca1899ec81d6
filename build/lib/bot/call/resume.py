"""A call whose media stream drops picks up where it left off when the same call reconnects.

When each bot turn starts and ends, and when the stream closes, the call's
place is checkpointed in the store: its flow node, the flow's state (the conversation's
data; the live objects under ``_`` keys are rebuilt by the new stream) and the
context messages up to the last finished bot turn, so a resumed context never
holds a tool call without its result. When Twilio brings the call back
(server.py's TwiML ends with a ``<Redirect>`` to the voice webhook, which
connects a new stream), :func:`resume_node` re-enters the saved node, its
question led by the business's ``line_restored`` words.
"""

from __future__ import annotations

from typing import Any

from pipecat.flows import Flow, FlowConfig, FlowManager, NodeConfig
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
)

from bot.booking.business import Business
from bot.booking.spoken import spelled_code
from bot.booking.store import BookingStore
from bot.booking.tools import made_outcome
from bot.flowfile.syntax import SAY_LINE


def conversation_state(state: dict[str, Any]) -> dict[str, Any]:
    """The flow state worth keeping: everything but the live objects (keys starting with ``_``)."""
    return {key: value for key, value in state.items() if not key.startswith("_")}


class CallCheckpoints:
    """Saves where a call stands in its flow as each bot turn starts and ends, and once more when its stream closes."""

    def __init__(self, call_sid: str, store: BookingStore, flow_manager: FlowManager, context: LLMContext):
        self.call_sid = call_sid
        self._store = store
        self._flow_manager = flow_manager
        self._context = context
        self._settled_messages: list[dict] = []

    def attach(self, aggregators: LLMContextAggregatorPair) -> None:
        @aggregators.assistant().event_handler("on_assistant_turn_started")
        async def on_assistant_turn_started(_aggregator):
            # The flow may have moved on (a tool ran): a call cut while the bot says so (a worker killed,
            # no close to checkpoint at) resumes at the new node, not the one before the caller's answer.
            self.save()

        @aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def on_assistant_turn_stopped(_aggregator, _message):
            self._settled_messages = [m for m in self._context.get_messages() if isinstance(m, dict)]
            self.save()

    def save(self) -> None:
        node = self._flow_manager.current_node
        if node is None:  # the flow never started: there is nothing to resume
            return
        state = conversation_state(self._flow_manager.state)
        self._store.run_soon(self._store.save_call_state, self.call_sid, node, state, self._settled_messages)


def with_booking_made(saved: dict[str, Any], store: BookingStore, call_sid: str) -> dict[str, Any]:
    """The checkpoint, told of the booking the call made after it was saved.

    A checkpoint is written after each bot turn; a worker that dies between
    making the booking and finishing the turn that announces it (SIGKILL, a
    crash) leaves one from before the booking. Resumed from it as it is, the call
    would ask to book again; so the booking is read back from the store and the
    call resumes at its announcement, with its code.
    """
    if made_outcome(saved["state"]) is not None or not saved.get("saved_at"):
        return saved
    booking = store.booking_made_since(call_sid, saved["saved_at"])
    if booking is None:
        return saved
    made = {"booking_id": booking.id, "confirmation_code": booking.code,
            "confirmation_code_spelled": spelled_code(booking.code)}
    return {**saved, "state": {**saved["state"], **made}}


def _ends_call(node: NodeConfig) -> bool:
    return any(action.get("type") == "end_conversation" for action in node.get("post_actions", []))


def _resume_at(flow: Flow, saved: dict[str, Any]) -> str:
    """The saved node, unless the booking was made and the line dropped before the flow moved on to say so."""
    node, outcome = saved["node"], made_outcome(saved["state"])
    if outcome is None or _ends_call(flow.node(node)):
        return node
    for function in flow.config.nodes[node].functions or []:
        branch = function.transition_to
        if function.name == "confirm_booking" and isinstance(branch, FlowConfig.Branch):
            return branch.cases.get(outcome, node)
    return node


def resume_node(flow: Flow, saved: dict[str, Any], business: Business) -> NodeConfig:
    """The node a resumed call re-enters: the saved one, its ``Say:`` line led by the line-restored words.

    One reply, not two, so no pause falls between the apology and the
    question. The node's pre-actions ran when the call first entered it (a
    transfer, say) and are not repeated. The role message is set when a flow
    starts, so a call resumed elsewhere gets the initial node's again.
    """
    node: NodeConfig = dict(flow.node(_resume_at(flow, saved)))  # type: ignore[assignment]
    node.pop("pre_actions", None)
    if "role_message" not in node and (role := flow.initial_node.get("role_message")):
        node["role_message"] = role
    if line := business.line_restored:
        node["task_messages"] = [
            {**message, "content": SAY_LINE.sub(lambda say: f'Say: "{line} {say.group(1)}"', message["content"])}
            if isinstance(message.get("content"), str)
            else message
            for message in node["task_messages"]
        ]
    return node
