//! Room aliases, the public room directory and the user directory.

use axum::extract::State;
use ruma::api::client::{
    alias::{create_alias, delete_alias, get_alias},
    directory::{
        get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
    },
    room::{Visibility, aliases},
    user_directory::search_users,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::Services,
};

/// # `PUT /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn set_alias(
    State(services): State<Services>,
    req: Ruma<create_alias::v3::Request>,
) -> Result<RumaResponse<create_alias::v3::Response>> {
    services.directory.create_alias(
        &req.requester()?.user_id,
        &req.body.room_alias,
        &req.body.room_id,
    )?;
    Ok(create_alias::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn get_alias(
    State(services): State<Services>,
    req: Ruma<get_alias::v3::Request>,
) -> Result<RumaResponse<get_alias::v3::Response>> {
    let room_id = services.directory.resolve_alias(&req.body.room_alias)?;
    Ok(get_alias::v3::Response::new(room_id, vec![services.config().server_name.clone()]).into())
}

/// # `DELETE /_matrix/client/v3/directory/room/{roomAlias}`
pub async fn delete_alias(
    State(services): State<Services>,
    req: Ruma<delete_alias::v3::Request>,
) -> Result<RumaResponse<delete_alias::v3::Response>> {
    services
        .directory
        .delete_alias(&req.requester()?.user_id, &req.body.room_alias)?;
    Ok(delete_alias::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/rooms/{roomId}/aliases`
pub async fn room_aliases(
    State(services): State<Services>,
    req: Ruma<aliases::v3::Request>,
) -> Result<RumaResponse<aliases::v3::Response>> {
    let list = services
        .directory
        .room_aliases(&req.requester()?.user_id, &req.body.room_id)?;
    Ok(aliases::v3::Response::new(list).into())
}

/// # `PUT /_matrix/client/v3/directory/list/room/{roomId}`
pub async fn set_visibility(
    State(services): State<Services>,
    req: Ruma<set_room_visibility::v3::Request>,
) -> Result<RumaResponse<set_room_visibility::v3::Response>> {
    let published = match req.body.visibility {
        Visibility::Public => true,
        Visibility::Private => false,
        _ => return Err(Error::invalid_param("visibility must be public or private")),
    };
    services
        .directory
        .set_published(&req.requester()?.user_id, &req.body.room_id, published)?;
    Ok(set_room_visibility::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/directory/list/room/{roomId}`
pub async fn get_visibility(
    State(services): State<Services>,
    req: Ruma<get_room_visibility::v3::Request>,
) -> Result<RumaResponse<get_room_visibility::v3::Response>> {
    let visibility = if services.directory.is_published(&req.body.room_id)? {
        Visibility::Public
    } else {
        Visibility::Private
    };
    Ok(get_room_visibility::v3::Response::new(visibility).into())
}

fn page<T: Clone>(
    items: &[T],
    since: Option<&str>,
    limit: Option<ruma::UInt>,
) -> Result<(Vec<T>, Option<String>, Option<String>)> {
    let start: usize = match since {
        Some(token) => token
            .strip_prefix('p')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::invalid_param("Invalid since token"))?,
        None => 0,
    };
    let limit = limit.map_or(100, |l| u64::from(l).clamp(1, 500) as usize);
    let end = (start + limit).min(items.len());
    let chunk = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    let next = (end < items.len()).then(|| format!("p{end}"));
    let prev = (start > 0).then(|| format!("p{}", start.saturating_sub(limit)));
    Ok((chunk, next, prev))
}

/// # `GET /_matrix/client/v3/publicRooms`
pub async fn public_rooms(
    State(services): State<Services>,
    req: Ruma<get_public_rooms::v3::Request>,
) -> Result<RumaResponse<get_public_rooms::v3::Response>> {
    let rooms = services.directory.public_rooms(None)?;
    let (chunk, next, prev) = page(&rooms, req.body.since.as_deref(), req.body.limit)?;
    let mut response = get_public_rooms::v3::Response::new(chunk);
    response.next_batch = next;
    response.prev_batch = prev;
    response.total_room_count_estimate = ruma::UInt::new(rooms.len() as u64);
    Ok(response.into())
}

/// # `POST /_matrix/client/v3/publicRooms`
pub async fn public_rooms_filtered(
    State(services): State<Services>,
    req: Ruma<get_public_rooms_filtered::v3::Request>,
) -> Result<RumaResponse<get_public_rooms_filtered::v3::Response>> {
    req.requester()?;
    let rooms = services
        .directory
        .public_rooms(req.body.filter.generic_search_term.as_deref())?;
    let (chunk, next, prev) = page(&rooms, req.body.since.as_deref(), req.body.limit)?;
    let mut response = get_public_rooms_filtered::v3::Response::new();
    response.chunk = chunk;
    response.next_batch = next;
    response.prev_batch = prev;
    response.total_room_count_estimate = ruma::UInt::new(rooms.len() as u64);
    Ok(response.into())
}

/// # `POST /_matrix/client/v3/user_directory/search`
pub async fn search(
    State(services): State<Services>,
    req: Ruma<search_users::v3::Request>,
) -> Result<RumaResponse<search_users::v3::Response>> {
    let who = req.requester()?;
    let limit = u64::from(req.body.limit).clamp(1, 100) as usize;
    let (users, limited) =
        services
            .directory
            .search_users(&who.user_id, &req.body.search_term, limit)?;
    let results = users
        .into_iter()
        .map(|u| {
            let mut user = search_users::v3::User::new(u.user_id);
            user.display_name = u.displayname;
            user.avatar_url = u.avatar_url.map(Into::into);
            user
        })
        .collect();
    Ok(search_users::v3::Response::new(results, limited).into())
}
