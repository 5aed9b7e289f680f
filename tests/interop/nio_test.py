"""Interop: matrix-nio (Python) logs in to weft, sends and syncs.

Usage: python nio_test.py BASE_URL  (the test command starts a fresh weft)
"""

import asyncio
import sys

from nio import AsyncClient, LoginResponse, RoomCreateResponse, RoomSendResponse, SyncResponse

PASSWORD = "nio-password"


async def register(base: str, name: str) -> None:
    client = AsyncClient(base, name)
    try:
        # register() does the m.login.dummy flow for us.
        res = await client.register(name, PASSWORD)
        assert getattr(res, "user_id", None) == f"@{name}:localhost", res
    finally:
        await client.close()


async def main(base: str) -> None:
    await register(base, "nioalice")
    await register(base, "niobob")

    alice = AsyncClient(base, "@nioalice:localhost")
    bob = AsyncClient(base, "@niobob:localhost")
    try:
        for client in (alice, bob):
            res = await client.login(PASSWORD, device_name="nio")
            assert isinstance(res, LoginResponse), res

        created = await alice.room_create(name="nio room", invite=["@niobob:localhost"])
        assert isinstance(created, RoomCreateResponse), created
        room_id = created.room_id

        first = await bob.sync(timeout=0)
        assert isinstance(first, SyncResponse), first
        assert room_id in first.rooms.invite, "bob sees the invite"
        joined = await bob.join(room_id)
        assert getattr(joined, "room_id", None) == room_id, joined
        since = (await bob.sync(timeout=0)).next_batch

        bodies = [f"nio message {i}" for i in range(5)]
        for body in bodies:
            sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
            assert isinstance(sent, RoomSendResponse), sent

        received: list[str] = []
        for _ in range(20):
            res = await bob.sync(timeout=5000, since=since)
            assert isinstance(res, SyncResponse), res
            since = res.next_batch
            room = res.rooms.join.get(room_id)
            if room:
                received += [e.body for e in room.timeline.events if hasattr(e, "body")]
            if len(received) >= len(bodies):
                break
        assert received == bodies, received
        print("matrix-nio interop: ok")
    finally:
        await alice.close()
        await bob.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
