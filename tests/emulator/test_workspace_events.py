"""Workspace Events v1 subscriptions through googleapiclient (workspaceevents.v1.json).

Delivery here is only recorded (no Pub/Sub: ``GET /_emulator/event_deliveries``);
``test_events_delivery.py`` publishes to the real Pub/Sub emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from tests.emulator.discovery_schema import validate_named
from tests.emulator.support import ALL_SCOPES, SCOPES, Harness, error_body, run, wait_for

A = "alice@example.com"
B = "bob@example.com"
TOPIC = "projects/meetsync-local/topics/workspace-events"
STARTED = "google.workspace.meet.conference.v2.started"
ENDED = "google.workspace.meet.conference.v2.ended"
JOINED = "google.workspace.meet.participant.v2.joined"
LEFT = "google.workspace.meet.participant.v2.left"
RECORDING = "google.workspace.meet.recording.v2.fileGenerated"
TRANSCRIPT = "google.workspace.meet.transcript.v2.fileGenerated"
ALL_TYPES = [STARTED, ENDED, JOINED, LEFT, RECORDING, TRANSCRIPT]
LIFECYCLE = "google.workspace.events.subscription.v1."
WEEK = 7 * 86400


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _space(h: Harness, owner: str = A) -> str:
    meet = h.meet(owner, h.credentials(owner, ALL_SCOPES))
    return str(run(meet.spaces().create(body={}))["name"])


def _body(target: str, types: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "targetResource": target,
        "eventTypes": ALL_TYPES if types is None else types,
        "notificationEndpoint": {"pubsubTopic": TOPIC},
        **extra,
    }


def _subscribe(events: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Create, check the long-running operation, answer the Subscription."""
    op = run(events.subscriptions().create(body=body))
    assert op["done"] is True
    assert op["name"].startswith("operations/")
    assert op["metadata"]["@type"].endswith("CreateSubscriptionMetadata")
    response: dict[str, Any] = op["response"]
    assert (
        response["@type"] == "type.googleapis.com/google.apps.events.subscriptions.v1.Subscription"
    )
    validate_named("workspaceevents", "Subscription", response)
    return {k: v for k, v in response.items() if k != "@type"}


def _types(h: Harness) -> list[str]:
    return [d["ce_type"] for d in h.event_deliveries()]


def test_create_get_list_patch_delete(h: Harness) -> None:
    space = _space(h)
    events = h.events(A)
    sub = _subscribe(events, _body(f"//meet.googleapis.com/{space}", [STARTED, ENDED]))
    assert sub["state"] == "ACTIVE"
    assert sub["authority"] == sub["userAuthority"] == f"users/{h.user_id(A)}"
    assert sub["notificationEndpoint"] == {"pubsubTopic": TOPIC}
    assert "ttl" not in sub and "suspensionReason" not in sub
    assert _ts(sub["expireTime"]) - _ts(sub["createTime"]) == pytest.approx(WEEK, abs=1)
    assert run(events.subscriptions().get(name=sub["name"])) == sub

    [logged] = [r for r in h.requests_log() if r["method"] == "POST" and r["api"] == "events"]
    assert (logged["path"], logged["status"], logged["user"]) == ("/v1/subscriptions", 200, A)
    listed = run(events.subscriptions().list(filter=f'event_types:"{STARTED}"'))
    assert listed["subscriptions"] == [sub]
    both = run(
        events.subscriptions().list(
            filter=f'(event_types:"{JOINED}" OR event_types:"{ENDED}") AND '
            f'target_resource="//meet.googleapis.com/{space}"'
        )
    )
    assert both["subscriptions"] == [sub]
    assert run(events.subscriptions().list(filter=f'event_types:"{JOINED}"')) == {}
    with pytest.raises(HttpError) as no_type:
        run(events.subscriptions().list(filter=f'target_resource="//meet.googleapis.com/{space}"'))
    assert error_body(no_type.value)["error"]["status"] == "INVALID_ARGUMENT"

    patched = run(
        events.subscriptions().patch(name=sub["name"], updateMask="ttl", body={"ttl": "3600s"})
    )
    assert patched["done"] and patched["metadata"]["@type"].endswith("UpdateSubscriptionMetadata")
    renewed = patched["response"]
    validate_named("workspaceevents", "Subscription", renewed)
    assert _ts(renewed["expireTime"]) - _ts(renewed["updateTime"]) == pytest.approx(3600, abs=1)
    assert renewed["etag"] != sub["etag"]
    back_to_max = run(
        events.subscriptions().patch(name=sub["name"], updateMask="ttl", body={"ttl": "0s"})
    )["response"]
    assert _ts(back_to_max["expireTime"]) - _ts(back_to_max["updateTime"]) == pytest.approx(
        WEEK, abs=1
    )
    when = "2100-01-01T00:00:00Z"
    types_and_time = run(
        events.subscriptions().patch(
            name=sub["name"],
            updateMask="expireTime,eventTypes",
            body={"expireTime": _later(h, 3 * 86400), "eventTypes": [JOINED]},
        )
    )["response"]
    assert types_and_time["eventTypes"] == [JOINED]
    for mask, body in [
        ("ttl", {"ttl": f"{WEEK + 1}s"}),
        ("expire_time", {"expireTime": when}),
        ("targetResource", {"targetResource": "//meet.googleapis.com/spaces/x"}),
        ("eventTypes", {"eventTypes": ["google.workspace.chat.message.v1.created"]}),
        ("ttl", {"ttl": "soon"}),
    ]:
        with pytest.raises(HttpError) as bad:
            run(events.subscriptions().patch(name=sub["name"], updateMask=mask, body=body))
        assert error_body(bad.value)["error"]["status"] == "INVALID_ARGUMENT", mask

    stale = run(events.subscriptions().get(name=sub["name"]))["etag"]
    run(events.subscriptions().patch(name=sub["name"], body={"ttl": "7200s"}))
    with pytest.raises(HttpError) as aborted:
        run(events.subscriptions().delete(name=sub["name"], etag=stale))
    assert error_body(aborted.value)["error"]["status"] == "ABORTED"
    deleted = run(events.subscriptions().delete(name=sub["name"]))
    assert deleted["done"] and deleted["response"] == {
        "@type": "type.googleapis.com/google.protobuf.Empty"
    }
    assert run(events.operations().get(name=deleted["name"])) == deleted
    with pytest.raises(HttpError) as gone:
        run(events.subscriptions().get(name=sub["name"]))
    assert gone.value.resp.status == 404
    assert run(events.subscriptions().delete(name=sub["name"], allowMissing=True))["done"]
    with pytest.raises(HttpError) as missing:
        run(events.subscriptions().delete(name=sub["name"]))
    assert missing.value.resp.status == 404
    again = _subscribe(events, _body(f"//meet.googleapis.com/{space}"))
    assert again["name"] != sub["name"]


def _later(h: Harness, seconds: float) -> str:
    """An RFC 3339 time ``seconds`` after the emulator's now."""
    now = h.control("GET", "/clock")["now"]
    return datetime.fromtimestamp(now + seconds, UTC).isoformat()


def test_one_subscription_per_user_and_target(h: Harness) -> None:
    space = _space(h)
    events = h.events(A)
    target = f"//meet.googleapis.com/{space}"
    first = _subscribe(events, _body(target, [STARTED]))
    with pytest.raises(HttpError) as exists:
        run(events.subscriptions().create(body=_body(target, [ENDED])))
    assert exists.value.resp.status == 409
    err = error_body(exists.value)["error"]
    assert err["status"] == "ALREADY_EXISTS"
    assert err["details"][0]["metadata"] == {"current_subscription": first["name"]}
    with pytest.raises(HttpError) as checked:  # validateOnly checks the rule too
        run(events.subscriptions().create(body=_body(target), validateOnly=True))
    assert checked.value.resp.status == 409
    user_target = f"//cloudidentity.googleapis.com/users/{h.user_id(A)}"
    _subscribe(events, _body(user_target))
    # another user has their own (a user target: themself); a space they do not own is 403
    bob = h.events(B)
    _subscribe(bob, _body(f"//cloudidentity.googleapis.com/users/{h.user_id(B)}"))
    for target_resource, status in [
        (target, 403),
        (user_target, 403),
        ("//meet.googleapis.com/spaces/doesNotExist", 404),
        ("//chat.googleapis.com/spaces/AAAA", 400),
    ]:
        with pytest.raises(HttpError) as refused:
            run(bob.subscriptions().create(body=_body(target_resource)))
        assert refused.value.resp.status == status, target_resource
    with pytest.raises(HttpError) as foreign:
        run(bob.subscriptions().get(name=first["name"]))
    assert foreign.value.resp.status == 403


def test_validation_scopes_and_quotas(h: Harness) -> None:
    space = _space(h)
    events = h.events(A)
    target = f"//meet.googleapis.com/{space}"
    for body in [
        {"eventTypes": [STARTED], "notificationEndpoint": {"pubsubTopic": TOPIC}},
        _body(target, []),
        _body(target, ["google.workspace.meet.conference.v2.paused"]),
        {**_body(target), "notificationEndpoint": {"pubsubTopic": "workspace-events"}},
        _body(target, payloadOptions={"includeResource": True}),
        _body(target, ttl="3600s", expireTime="2100-01-01T00:00:00Z"),
        _body(target, ttl=f"{WEEK + 60}s"),
    ]:
        with pytest.raises(HttpError) as bad:
            run(events.subscriptions().create(body=body))
        assert bad.value.resp.status == 400, body
    preview = run(events.subscriptions().create(body=_body(target), validateOnly=True))
    assert preview["response"]["state"] == "ACTIVE"
    with pytest.raises(HttpError) as not_created:
        run(events.subscriptions().get(name=preview["response"]["name"]))
    assert not_created.value.resp.status == 404

    no_meet = h.events(A, h.credentials(A, ["https://www.googleapis.com/auth/calendar"]))
    with pytest.raises(HttpError) as scope:
        run(no_meet.subscriptions().create(body=_body(target)))
    info = error_body(scope.value)["error"]["details"][0]
    assert info["metadata"] == {
        "service": "workspaceevents.googleapis.com",
        "method": "google.apps.events.subscriptions.v1.SubscriptionsService.CreateSubscription",
    }
    # meetings.space.created alone: only spaces made through the Meet API, not Calendar's
    created_only = h.events(A, h.credentials(A, SCOPES))
    user_sub = _subscribe(
        created_only, _body(f"//cloudidentity.googleapis.com/users/{h.user_id(A)}", [STARTED])
    )
    assert user_sub["state"] == "ACTIVE"

    h.advance(61)  # a fresh minute, then 2 writes a minute per user
    h.configure(events_writes_per_minute_per_user=2)
    run(events.subscriptions().delete(name=user_sub["name"]))
    _subscribe(events, _body(target))
    user_target = _body(f"//cloudidentity.googleapis.com/users/{h.user_id(A)}")
    with pytest.raises(HttpError) as quota:
        run(events.subscriptions().create(body=user_target))
    assert quota.value.resp.status == 429
    assert error_body(quota.value)["error"]["status"] == "RESOURCE_EXHAUSTED"
    h.advance(61)
    _subscribe(events, user_target)
    h.configure(events_reads_per_minute=1)
    run(events.subscriptions().list(filter=f'event_types:"{STARTED}"'))
    with pytest.raises(HttpError) as reads:
        run(events.subscriptions().list(filter=f'event_types:"{STARTED}"'))
    assert reads.value.resp.status == 429


def test_meet_events_reach_matching_subscriptions(h: Harness) -> None:
    space = _space(h)
    other = _space(h)
    events = h.events(A)
    _subscribe(events, _body(f"//meet.googleapis.com/{space}", [STARTED, JOINED, RECORDING]))
    h.space_call(space, "join", {"email": A})
    h.space_call(space, "join", {"phone": "+1 555-***-**01"})
    h.space_call(other, "join", {"email": A})  # not subscribed
    h.space_call(space, "end")
    h.space_call(space, "artifacts", {"kind": "recording"})
    h.space_call(space, "artifacts", {"kind": "transcript"})
    deliveries = wait_for(lambda: len(h.event_deliveries()) >= 4 and h.event_deliveries())
    assert [d["ce_type"] for d in deliveries] == [STARTED, JOINED, JOINED, RECORDING]
    view = h.control("GET", f"/spaces/{space.split('/')[1]}")
    record = view["conferences"][0]
    sessions = [p["sessions"][0]["name"] for p in record["participants"]]
    [recording] = [a["name"] for a in record["artifacts"] if a["kind"] == "recording"]
    assert [d["data"] for d in deliveries] == [
        {"conferenceRecord": {"name": record["name"]}},
        {"participantSession": {"name": sessions[0]}},
        {"participantSession": {"name": sessions[1]}},
        {"recording": {"name": recording}},
    ]
    first = deliveries[0]["attributes"]
    assert first["ce-source"] == f"//meet.googleapis.com/{space}"
    assert first["ce-subject"] == f"//meet.googleapis.com/{record['name']}"
    assert first["ce-specversion"] == "1.0" and first["content-type"] == "application/json"
    assert deliveries[1]["attributes"]["ce-subject"] == f"//meet.googleapis.com/{sessions[0]}"
    assert len({d["ce_id"] for d in deliveries}) == 4
    assert all(d["status"].startswith("error: no Pub/Sub") for d in deliveries)


def test_user_target_covers_owned_spaces(h: Harness) -> None:
    mine, bobs = _space(h), _space(h, B)
    readonly = h.events(A)
    _subscribe(readonly, _body(f"//cloudidentity.googleapis.com/users/{h.user_id(A)}", [STARTED]))
    h.space_call(mine, "join", {"email": A})
    h.space_call(bobs, "join", {"email": A})  # alice attends bob's space: not hers
    wait_for(lambda: h.event_deliveries(), what="a delivery")
    assert [d["attributes"]["ce-source"] for d in h.event_deliveries()] == [
        f"//meet.googleapis.com/{mine}"
    ]


def test_revoked_user_suspended_then_reactivated(h: Harness) -> None:
    space = _space(h)
    events = h.events(A)
    sub = _subscribe(events, _body(f"//meet.googleapis.com/{space}", [STARTED]))
    with pytest.raises(HttpError) as not_suspended:
        run(events.subscriptions().reactivate(name=sub["name"], body={}))
    assert error_body(not_suspended.value)["error"]["status"] == "FAILED_PRECONDITION"
    h.control("POST", f"/users/{A}/revoke")
    suspended = h.control("GET", f"/subscriptions/{sub['name'].split('/')[1]}")
    assert (suspended["state"], suspended["suspensionReason"]) == (
        "SUSPENDED",
        "USER_AUTHORIZATION_FAILURE",
    )
    [note] = wait_for(lambda: h.event_deliveries(), what="the suspended event")
    assert note["ce_type"] == LIFECYCLE + "suspended"
    assert (
        note["attributes"]["ce-source"]
        == note["attributes"]["ce-subject"]
        == (f"//workspaceevents.googleapis.com/{sub['name']}")
    )
    assert note["data"]["subscription"]["suspensionReason"] == "USER_AUTHORIZATION_FAILURE"
    validate_named("workspaceevents", "Subscription", note["data"]["subscription"])
    h.space_call(space, "join", {"email": A})  # a suspended subscription gets nothing
    with pytest.raises(RefreshError):  # the grant is dead: no token for the call
        run(events.subscriptions().get(name=sub["name"]))

    fresh = h.events(A)  # POST /users re-authorises, with a new refresh token
    got = run(fresh.subscriptions().get(name=sub["name"]))
    assert got["state"] == "SUSPENDED"
    op = run(fresh.subscriptions().reactivate(name=sub["name"], body={}))
    assert op["metadata"]["@type"].endswith("ReactivateSubscriptionMetadata")
    assert op["response"]["state"] == "ACTIVE" and "suspensionReason" not in op["response"]
    h.space_call(space, "leave")
    h.space_call(space, "join", {"email": A})
    wait_for(lambda: _types(h).count(STARTED) == 1, what="a started event after reactivation")
    assert _types(h) == [LIFECYCLE + "suspended", STARTED]


def test_revoking_the_authorizing_grant_suspends(h: Harness) -> None:
    space = _space(h)
    events = h.events(A)
    sub = _subscribe(events, _body(f"//meet.googleapis.com/{space}", [STARTED]))
    sub_id = sub["name"].split("/")[1]
    grant_id = h.control("GET", f"/subscriptions/{sub_id}")["grant_id"]
    assert grant_id
    for grant in h.control("GET", f"/oauth/grants?email={A}"):
        if grant["id"] != grant_id:
            h.control("POST", f"/oauth/grants/{grant['id']}/revoke")
    assert h.control("GET", f"/subscriptions/{sub_id}")["state"] == "ACTIVE"
    h.control("POST", f"/oauth/grants/{grant_id}/revoke")  # the user removes the app
    assert h.control("GET", f"/subscriptions/{sub_id}")["state"] == "SUSPENDED"
    forced = h.http.post(
        f"{h.url}/_emulator/subscriptions/{sub_id}/suspend", json={"reason": "OTHER"}
    )
    assert forced.status_code == 409  # already suspended


def test_control_suspension_reasons(h: Harness) -> None:
    space = _space(h)
    events = h.events(A)
    sub = _subscribe(events, _body(f"//meet.googleapis.com/{space}", [STARTED]))
    sub_id = sub["name"].split("/")[1]
    bad = h.http.post(f"{h.url}/_emulator/subscriptions/{sub_id}/suspend", json={"reason": "BORED"})
    assert bad.status_code == 400
    view = h.control(
        "POST", f"/subscriptions/{sub_id}/suspend", {"reason": "ENDPOINT_PERMISSION_DENIED"}
    )
    assert view["suspensionReason"] == "ENDPOINT_PERMISSION_DENIED"
    got = run(events.subscriptions().get(name=sub["name"]))
    assert got["state"] == "SUSPENDED"
    assert (
        run(events.subscriptions().reactivate(name=sub["name"], body={}))["response"]["state"]
        == "ACTIVE"
    )


def test_lifecycle_follows_the_emulator_clock(h: Harness) -> None:
    space = _space(h)
    events = h.events(A)
    sub = _subscribe(events, _body(f"//meet.googleapis.com/{space}", [STARTED], ttl="86400s"))
    h.advance(12 * 3600 - 5)
    assert _types(h) == []
    h.advance(10)
    wait_for(lambda: _types(h) == [LIFECYCLE + "expirationReminder"], what="12 h reminder")
    renewed = run(events.subscriptions().patch(name=sub["name"], updateMask="ttl", body={}))
    assert _ts(renewed["response"]["expireTime"]) > _ts(sub["expireTime"])
    h.advance(WEEK - 3600 + 10)  # past the renewed reminders (12 h, 1 h), not the expiry
    wait_for(lambda: len(_types(h)) == 3, what="the renewed subscription's reminders")
    assert _types(h) == [LIFECYCLE + "expirationReminder"] * 3
    assert run(events.subscriptions().get(name=sub["name"]))["state"] == "ACTIVE"
    h.advance(3600)
    wait_for(lambda: len(_types(h)) == 4, what="the expired event")
    expired = h.event_deliveries()[-1]
    assert expired["ce_type"] == LIFECYCLE + "expired"
    assert expired["data"]["subscription"]["name"] == sub["name"]
    assert expired["data"]["subscription"]["state"] == "DELETED"
    with pytest.raises(HttpError) as gone:
        run(events.subscriptions().get(name=sub["name"]))
    assert gone.value.resp.status == 404
    assert h.control("GET", "/subscriptions") == []
    _subscribe(events, _body(f"//meet.googleapis.com/{space}", [STARTED]))
