"""A tier registered in a test, with no other module touched, reaches the model within its share, is listed in
the context report, gets a slider in the settings panel, and (being standalone) reaches MCP's get_context."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from assistant.context.tiers import Offer, Tier, TierRequest, register, tier_shares, unregister
from assistant.context.tiers.base import listed_section
from assistant.mcp.context_block import context_block
from assistant.pipeline.turn import TurnFinished
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.web.render import context_report
from assistant.web.settings_panel import checked, share_sliders
from memory.recall import RecalledItem

MakeRuntime = Callable[..., Runtime]
HOURS = [f"{hour:02d}:00 sunny spells over Tromsø, {hour % 7 + 3} degrees, light wind" for hour in range(24)]


class WeatherTier(Tier):
    name = "weather"
    title = "today's weather"
    priority = 4
    default_share = 0.05
    standalone = True
    heading = "## Today's weather (hour by hour)"

    async def candidates(self, request: TierRequest) -> Offer:
        items = [RecalledItem(id=f"weather:{n}", kind="memory", text=t, reason="forecast") for n, t in enumerate(HOURS)]
        return Offer(self, [listed_section(self, items, request, tag=None)])


@pytest.fixture
def weather() -> Iterator[None]:
    register(WeatherTier)
    try:
        yield
    finally:
        unregister(WeatherTier.name)


async def test_a_registered_tier_reaches_the_model_within_its_share_and_the_report(
    make_runtime: MakeRuntime, weather: None
) -> None:
    model = FakeChatModel(["ok", "ok"])
    runtime = make_runtime(model, max_input_tokens=2048, answer_tokens=256, short_term_turns=20)
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    for index in range(20):  # a conversation long enough to take all the room the other tiers leave
        text = f"Message {index}: " + " ".join(["we talked about the trip north and what to pack"] * 8)
        await runtime.conversations.append_message(thread, "user" if index % 2 == 0 else "assistant", text)

    events = [event async for event in runtime.pipeline.run(thread, "Will I need an umbrella today?")]
    finished = events[-1]
    assert isinstance(finished, TurnFinished)

    system = model.received[-1][0].content
    assert f"## Today's weather (hour by hour)\n[1] {HOURS[0]}\n[2] {HOURS[1]}" in system
    report = finished.report
    assert [t.name for t in report.tiers] == ["system", "message", "short_term", "long_term", "documents", "weather"]
    tier = report.tier("weather")
    assert [i.text for i in tier.items] == [f"[{n}] {h}" for n, h in enumerate(HOURS[: len(tier.items)], start=1)]
    # Within its budget (its share, plus what the conversation left): a few hours, not the whole day.
    assert 0 < tier.used <= tier.budget < report.budget / 8 and tier.dropped
    assert report.used <= report.budget
    assert "### Today's weather\n- *memory*" in context_report(report)  # /context shows it under its title

    # The share decides how much it gets: a user's larger share (as the settings panel stores it) gets more hours.
    larger = runtime.turn_pipeline(shares=tier_shares(runtime.settings, {"weather": 0.6}))
    events = [event async for event in larger.run(thread, "And tomorrow morning?")]
    assert isinstance(events[-1], TurnFinished)
    more = events[-1].report.tier("weather")
    assert len(more.items) > len(tier.items) and more.used <= more.budget
    assert f"[{len(more.items)}] {HOURS[len(more.items) - 1]}" in model.received[-1][0].content


async def test_a_registered_tier_has_a_share_slider_and_reaches_get_context(
    make_runtime: MakeRuntime, weather: None
) -> None:
    assert ("weather", "Budget share: today's weather", "share_weather") in share_sliders()
    shares, _, problems = checked({"share_weather": "0.2", "share_core": 0.1})
    assert shares == {"weather": 0.2, "core": 0.1} and not problems
    assert checked({"share_weather": 2})[2]  # the same 0..1 rule as the settings' shares

    runtime = make_runtime(FakeChatModel(["ok"]))
    user = await runtime.conversations.ensure_user("ann")
    block = await context_block(runtime, user.id, "umbrella today?", 300)
    assert "## Today's weather (hour by hour)\n[1] 00:00 sunny spells" in block["text"]
    assert block["tokens"] <= 300 and block["items"][0]["id"] == "weather:0"
