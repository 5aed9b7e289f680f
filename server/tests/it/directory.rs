use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, enc};

#[tokio::test]
async fn aliases_public_rooms_and_join_by_alias() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let room = s.create_room(&alice, json!({"visibility": "public", "room_alias_name": "lobby", "name": "The Lobby", "topic": "Say hi"})).await;

    // The alias resolves, and the room carries it as its canonical alias.
    let (status, resolved) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/directory/room/%23lobby%3Alocalhost",
            None,
            None,
        )
        .await;
    assert_eq!((status, &resolved["room_id"]), (200, &json!(room)));
    let (_, canonical) = s
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.canonical_alias",
                enc(&room)
            ),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(canonical["alias"], "#lobby:localhost");
    // Taken aliases are refused at creation.
    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/createRoom",
            Some(&bob),
            Some(json!({"room_alias_name": "lobby"})),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_ROOM_IN_USE"))
    );

    // Published in the directory, searchable.
    let (status, list) = s
        .call(Method::GET, "/_matrix/client/v3/publicRooms", None, None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["chunk"][0]["room_id"], room);
    assert_eq!(list["chunk"][0]["name"], "The Lobby");
    assert_eq!(list["chunk"][0]["num_joined_members"], 1);
    let (_, found) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/publicRooms",
            Some(&bob),
            Some(json!({"filter": {"generic_search_term": "LOBBY"}})),
        )
        .await;
    assert_eq!(found["chunk"].as_array().unwrap().len(), 1);
    let (_, none) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/publicRooms",
            Some(&bob),
            Some(json!({"filter": {"generic_search_term": "nothing"}})),
        )
        .await;
    assert_eq!(none["chunk"].as_array().unwrap().len(), 0);

    // Bob joins by alias; a second alias; only members list aliases.
    let (status, joined) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/join/%23lobby%3Alocalhost",
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!((status, &joined["room_id"]), (200, &json!(room)));
    let (status, _) = s
        .call(
            Method::PUT,
            "/_matrix/client/v3/directory/room/%23hall%3Alocalhost",
            Some(&bob),
            Some(json!({"room_id": room})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .call(
            Method::PUT,
            "/_matrix/client/v3/directory/room/%23hall%3Alocalhost",
            Some(&alice),
            Some(json!({"room_id": room})),
        )
        .await;
    assert_eq!(status, 409);
    let (_, aliases) = s
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/rooms/{}/aliases", enc(&room)),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(
        aliases["aliases"],
        json!(["#hall:localhost", "#lobby:localhost"])
    );

    // Bob (power 0) may not remove alice's alias nor unpublish; alice may remove bob's.
    let (status, _) = s
        .call(
            Method::DELETE,
            "/_matrix/client/v3/directory/room/%23lobby%3Alocalhost",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let vis = format!("/_matrix/client/v3/directory/list/room/{}", enc(&room));
    assert_eq!(
        s.call(
            Method::PUT,
            &vis,
            Some(&bob),
            Some(json!({"visibility": "private"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        s.call(
            Method::DELETE,
            "/_matrix/client/v3/directory/room/%23hall%3Alocalhost",
            Some(&alice),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.call(
            Method::PUT,
            &vis,
            Some(&alice),
            Some(json!({"visibility": "private"}))
        )
        .await
        .0,
        200
    );
    let (_, v) = s.call(Method::GET, &vis, None, None).await;
    assert_eq!(v["visibility"], "private");
    let (_, list) = s
        .call(Method::GET, "/_matrix/client/v3/publicRooms", None, None)
        .await;
    assert_eq!(list["chunk"].as_array().unwrap().len(), 0);

    let (status, _) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/directory/room/%23nope%3Alocalhost",
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn user_directory_finds_people_you_share_rooms_with() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    s.register("stranger").await;
    let room = s
        .create_room(&alice, json!({"invite": ["@bob:localhost"]}))
        .await;
    assert_eq!(
        s.call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
            Some(&bob),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let (status, res) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/user_directory/search",
            Some(&alice),
            Some(json!({"search_term": "bo"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(res["results"][0]["user_id"], "@bob:localhost");
    assert_eq!(res["results"][0]["display_name"], "bob");
    let (_, res) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/user_directory/search",
            Some(&alice),
            Some(json!({"search_term": "stranger"})),
        )
        .await;
    assert_eq!(
        res["results"].as_array().unwrap().len(),
        0,
        "no shared room, no public room"
    );
}
