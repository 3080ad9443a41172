"""End to end: Chromium ↔ local gateway ↔ live Django, through the demo chat page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import expect

from tests.helpers.browser import browser, new_page, screenshot  # noqa: F401  (fixtures)
from tests.helpers.livestack import PASSWORD, demo_stack, make_user, wait_until  # noqa: F401
from wsapp.models import WebSocketSession, WebSocketToken

STATIC = Path(__file__).resolve().parent.parent / "wsapp" / "static" / "wsapp"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_through_admin(page, stack, username: str) -> None:
    """The demo redirects to the admin login and comes back after it."""
    page.goto(stack.url("/"))
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/$"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(stack.url("/"))


def sign_in_with_cookie(page, stack, user) -> None:
    """A non-staff user (the admin login refuses them): hand the browser a session."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": stack.url()}])
    page.goto(stack.url("/"))


def wait_connected(page) -> None:
    expect(page.locator("#ws-state")).to_have_attribute("data-ws-state", "open")
    expect(page.locator("#ws-state")).to_have_text("Connected")


def say(page, text: str) -> None:
    page.fill("#message-input", text)
    page.locator("#send-button").click()


def bodies(page):
    return page.locator("#messages .message .body")


def test_chat_between_two_browsers(demo_stack, new_page):
    alice = make_user("alice", staff=True)
    bob = make_user("bob")
    alice_page = new_page("alice")
    bob_page = new_page("bob")
    sign_in_through_admin(alice_page, demo_stack, "alice")
    sign_in_with_cookie(bob_page, demo_stack, bob)
    wait_connected(alice_page)
    wait_connected(bob_page)
    assert WebSocketSession.objects.filter(connected=True, channel_name="general").count() == 2

    # A message reaches the other user on the same channel (and the sender).
    say(alice_page, "hello from alice")
    expect(bodies(bob_page)).to_have_text(["hello from alice"])
    expect(bob_page.locator("#messages .message .user")).to_have_text(["alice"])
    expect(bodies(alice_page)).to_have_text(["hello from alice"])

    # Bob moves to #random: the server confirms and routing follows.
    bob_page.locator("button.channel[data-channel=random]").click()
    expect(bob_page.locator("#current-channel")).to_have_text("random")
    expect(bob_page.locator("#messages .channel-change")).to_have_text("You are now in #random")
    assert WebSocketSession.objects.get(user=bob, connected=True).channel_name == "random"
    say(alice_page, "only for general")
    expect(bodies(alice_page).last).to_have_text("only for general")
    # Bob's own message is delivered after anything the earlier broadcast could have
    # sent him, so once it shows, "only for general" would have shown too.
    say(bob_page, "bob on random")
    expect(bodies(bob_page)).to_have_text(["hello from alice", "bob on random"])
    expect(bodies(alice_page)).to_have_text(["hello from alice", "only for general"])

    # Django pushes to the channel through the @connections API.
    report = WebSocketSession.objects.filter(channel_name="random").send_message(
        {"type": "announcement", "message": "pushed from Django"}
    )
    assert report.delivered_count == 1, report.summary()
    expect(bob_page.locator("#messages .pushed")).to_have_text("pushed from Django")
    screenshot(bob_page, "chat-bob")

    # Closing the tab closes the socket; the gateway's $disconnect marks the session.
    bob_page.close()
    wait_until(
        lambda: not WebSocketSession.objects.filter(user=bob, connected=True).exists(),
        message="bob's session to be marked disconnected",
    )
    assert WebSocketSession.objects.get(user=bob).disconnected_on is not None
    assert WebSocketSession.objects.filter(user=alice, connected=True).count() == 1
    assert alice_page.js_errors == []
    assert bob_page.js_errors == []


def test_bad_input_then_reconnect_then_sign_out(demo_stack, new_page):
    carol = make_user("carol", staff=True)
    page = new_page("carol")
    sign_in_through_admin(page, demo_stack, "carol")
    wait_connected(page)

    # Bad input comes back as a JSON error; the socket stays up.
    page.evaluate("window.demoChat.send('chat_message', {message: 'x'.repeat(1001)})")
    expect(page.locator("#chat-error")).to_contain_text("limited to 1000 characters")
    expect(page.locator("#ws-state")).to_have_attribute("data-ws-state", "open")

    # The server drops the socket: the client fetches a fresh token and rejoins the
    # channel it was moved to, not the one in the page's configuration.
    page.fill("#channel-input", "team-blue")
    page.locator("#channel-form button").click()
    expect(page.locator("#current-channel")).to_have_text("team-blue")
    first = WebSocketSession.objects.get(user=carol, connected=True)
    assert first.disconnect()
    expect(page.locator("#ws-state")).to_have_attribute("data-ws-state", "reconnecting")
    wait_connected(page)
    second = WebSocketSession.objects.get(user=carol, connected=True)
    assert second.connection_id != first.connection_id
    assert second.channel_name == "team-blue"
    assert WebSocketToken.objects.filter(user=carol, used=True).count() == 2

    # Signing out (in another tab) closes the socket; without a login there is no
    # token, so the client stops instead of retrying forever.
    other_tab = page.context.new_page()
    other_tab.goto(demo_stack.url("/"))
    other_tab.locator("form.inline button[type=submit]").click()
    expect(page.locator("#ws-state")).to_have_attribute("data-ws-state", "closed")
    expect(page.locator("#chat-error")).to_contain_text("Sign in")
    assert not WebSocketSession.objects.filter(user=carol, connected=True).exists()
    assert page.js_errors == []


def test_failed_token_requests_are_retried_before_any_handshake(demo_stack, new_page):
    dave = make_user("dave", staff=True)
    page = new_page("dave")
    token_answers: list[int] = []
    handshakes: list[str] = []

    def token_endpoint(route) -> None:
        # The first two token requests meet an overloaded site; later ones reach Django.
        if len(token_answers) < 2:
            token_answers.append(503)
            route.fulfill(status=503, content_type="application/json", body='{"error": "busy"}')
        else:
            token_answers.append(200)
            route.continue_()

    page.route("**/ws-token/", token_endpoint)
    page.on("websocket", lambda socket: handshakes.append(socket.url))
    sign_in_through_admin(page, demo_stack, "dave")
    wait_connected(page)

    assert token_answers == [503, 503, 200]
    # One handshake, with a token: no attempt was spent on a $connect bound to fail.
    assert len(handshakes) == 1
    assert "ws_token=" in handshakes[0]
    assert WebSocketToken.objects.filter(user=dave, used=True).count() == 1
    assert page.js_errors == []


def test_reconnect_jitter_is_a_fraction_of_the_current_delay(new_page):
    page = new_page("jitter")
    page.set_content("<!doctype html><title>client</title>")
    page.add_script_tag(
        path=str(STATIC / "vendor/reconnecting-websocket/reconnecting-websocket-iife.js")
    )
    page.add_script_tag(path=str(STATIC / "client.js"))

    delays = page.evaluate(
        """() => {
          const opts = {minDelay: 1000, maxDelay: 30000, growFactor: 1.5, jitter: 0.5};
          const at = (retry, random) => WsappClient.retryDelay(retry, opts, random);
          return {first: [at(1, 0), at(1, 1)], capped: [at(30, 0), at(30, 1)]};
        }"""
    )

    # Equal jitter by default: each wait lies between half and all of the nominal delay,
    # so clients at the 30 s cap spread over 15 s instead of half a second.
    assert delays == {"first": [500, 1000], "capped": [15000, 30000]}


def test_jitter_outside_zero_to_one_is_refused(new_page):
    page = new_page("bad-jitter")
    page.set_content("<!doctype html><title>client</title>")
    page.add_script_tag(
        path=str(STATIC / "vendor/reconnecting-websocket/reconnecting-websocket-iife.js")
    )
    page.add_script_tag(path=str(STATIC / "client.js"))

    message = page.evaluate(
        """() => {
          try {
            new WsappClient({url: "ws://127.0.0.1:9/x", jitter: 2, autoConnect: false});
          } catch (err) { return err.message; }
          return "accepted";
        }"""
    )

    assert "jitter" in message
