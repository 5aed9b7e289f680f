//! Server-side key backups: `/room_keys/version` and `/room_keys/keys`.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::{
    OwnedRoomId, UInt,
    api::client::backup::{
        RoomKeyBackup, add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session,
        create_backup_version, delete_backup_keys, delete_backup_keys_for_room,
        delete_backup_keys_for_session, delete_backup_version, get_backup_info, get_backup_keys,
        get_backup_keys_for_room, get_backup_keys_for_session, get_latest_backup_info,
        update_backup_version,
    },
    serde::Raw,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::{Error, Result},
    service::{Services, key_backup::key_backup_data},
    storage::BackupKeyRow,
};

/// # `POST /_matrix/client/v3/room_keys/version`
pub async fn create_version(
    State(services): State<Services>,
    req: Ruma<create_backup_version::v3::Request>,
) -> Result<RumaResponse<create_backup_version::v3::Response>> {
    let who = req.requester()?;
    let version = services
        .key_backup
        .create_backup(&who.user_id, req.body.algorithm.json())?;
    Ok(create_backup_version::v3::Response::new(version).into())
}

/// # `GET /_matrix/client/v3/room_keys/version`
pub async fn latest_version(
    State(services): State<Services>,
    req: Ruma<get_latest_backup_info::v3::Request>,
) -> Result<RumaResponse<get_latest_backup_info::v3::Response>> {
    let info = services
        .key_backup
        .backup_info(&req.requester()?.user_id, None)?;
    let count = UInt::new_saturating(info.count);
    Ok(get_latest_backup_info::v3::Response::new(
        Raw::from_json(info.algorithm),
        count,
        info.etag,
        info.version,
    )
    .into())
}

/// # `GET /_matrix/client/v3/room_keys/version/{version}`
pub async fn version(
    State(services): State<Services>,
    req: Ruma<get_backup_info::v3::Request>,
) -> Result<RumaResponse<get_backup_info::v3::Response>> {
    let info = services
        .key_backup
        .backup_info(&req.requester()?.user_id, Some(&req.body.version))?;
    let count = UInt::new_saturating(info.count);
    Ok(get_backup_info::v3::Response::new(
        Raw::from_json(info.algorithm),
        count,
        info.etag,
        info.version,
    )
    .into())
}

/// # `PUT /_matrix/client/v3/room_keys/version/{version}`
pub async fn update_version(
    State(services): State<Services>,
    req: Ruma<update_backup_version::v3::Request>,
) -> Result<RumaResponse<update_backup_version::v3::Response>> {
    let who = req.requester()?;
    services.key_backup.update_backup(
        &who.user_id,
        &req.body.version,
        req.body.algorithm.json(),
    )?;
    Ok(update_backup_version::v3::Response::new().into())
}

/// # `DELETE /_matrix/client/v3/room_keys/version/{version}`
pub async fn delete_version(
    State(services): State<Services>,
    req: Ruma<delete_backup_version::v3::Request>,
) -> Result<RumaResponse<delete_backup_version::v3::Response>> {
    services
        .key_backup
        .delete_backup(&req.requester()?.user_id, &req.body.version)?;
    Ok(delete_backup_version::v3::Response::new().into())
}

/// # `PUT /_matrix/client/v3/room_keys/keys`
pub async fn put_keys(
    State(services): State<Services>,
    req: Ruma<add_backup_keys::v3::Request>,
) -> Result<RumaResponse<add_backup_keys::v3::Response>> {
    let who = req.requester()?;
    let keys = req
        .body
        .rooms
        .iter()
        .flat_map(|(room, backup)| {
            backup
                .sessions
                .iter()
                .map(|(id, data)| (room.clone(), id.clone(), data.json()))
        })
        .collect();
    let (count, etag) =
        services
            .key_backup
            .put_backup_keys(&who.user_id, &req.body.version, keys)?;
    Ok(add_backup_keys::v3::Response::new(etag, UInt::new_saturating(count)).into())
}

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn put_room_keys(
    State(services): State<Services>,
    req: Ruma<add_backup_keys_for_room::v3::Request>,
) -> Result<RumaResponse<add_backup_keys_for_room::v3::Response>> {
    let who = req.requester()?;
    let b = &req.body;
    let keys = b
        .sessions
        .iter()
        .map(|(id, data)| (b.room_id.clone(), id.clone(), data.json()))
        .collect();
    let (count, etag) = services
        .key_backup
        .put_backup_keys(&who.user_id, &b.version, keys)?;
    Ok(add_backup_keys_for_room::v3::Response::new(etag, UInt::new_saturating(count)).into())
}

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn put_session_key(
    State(services): State<Services>,
    req: Ruma<add_backup_keys_for_session::v3::Request>,
) -> Result<RumaResponse<add_backup_keys_for_session::v3::Response>> {
    let who = req.requester()?;
    let b = &req.body;
    let keys = vec![(
        b.room_id.clone(),
        b.session_id.clone(),
        b.session_data.json(),
    )];
    let (count, etag) = services
        .key_backup
        .put_backup_keys(&who.user_id, &b.version, keys)?;
    Ok(add_backup_keys_for_session::v3::Response::new(etag, UInt::new_saturating(count)).into())
}

/// Session ID → key data, for one room's keys.
fn sessions(
    rows: Vec<BackupKeyRow>,
) -> Result<BTreeMap<String, Raw<ruma::api::client::backup::KeyBackupData>>> {
    rows.into_iter()
        .map(|row| {
            Ok((
                row.session_id.clone(),
                Raw::from_json(key_backup_data(&row)?),
            ))
        })
        .collect()
}

/// # `GET /_matrix/client/v3/room_keys/keys`
pub async fn get_keys(
    State(services): State<Services>,
    req: Ruma<get_backup_keys::v3::Request>,
) -> Result<RumaResponse<get_backup_keys::v3::Response>> {
    let rows = services.key_backup.backup_keys(
        &req.requester()?.user_id,
        &req.body.version,
        None,
        None,
    )?;
    let mut by_room: BTreeMap<OwnedRoomId, Vec<BackupKeyRow>> = BTreeMap::new();
    for row in rows {
        by_room.entry(row.room_id.clone()).or_default().push(row);
    }
    let rooms = by_room
        .into_iter()
        .map(|(room, rows)| Ok((room, RoomKeyBackup::new(sessions(rows)?))))
        .collect::<Result<_>>()?;
    Ok(get_backup_keys::v3::Response::new(rooms).into())
}

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn get_room_keys(
    State(services): State<Services>,
    req: Ruma<get_backup_keys_for_room::v3::Request>,
) -> Result<RumaResponse<get_backup_keys_for_room::v3::Response>> {
    let b = &req.body;
    let rows = services.key_backup.backup_keys(
        &req.requester()?.user_id,
        &b.version,
        Some(&b.room_id),
        None,
    )?;
    Ok(get_backup_keys_for_room::v3::Response::new(sessions(rows)?).into())
}

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn get_session_key(
    State(services): State<Services>,
    req: Ruma<get_backup_keys_for_session::v3::Request>,
) -> Result<RumaResponse<get_backup_keys_for_session::v3::Response>> {
    let b = &req.body;
    let rows = services.key_backup.backup_keys(
        &req.requester()?.user_id,
        &b.version,
        Some(&b.room_id),
        Some(&b.session_id),
    )?;
    let row = rows
        .first()
        .ok_or_else(|| Error::not_found("No key for this session"))?;
    Ok(
        get_backup_keys_for_session::v3::Response::new(Raw::from_json(key_backup_data(row)?))
            .into(),
    )
}

/// # `DELETE /_matrix/client/v3/room_keys/keys`
pub async fn delete_keys(
    State(services): State<Services>,
    req: Ruma<delete_backup_keys::v3::Request>,
) -> Result<RumaResponse<delete_backup_keys::v3::Response>> {
    let (count, etag) = services.key_backup.delete_backup_keys(
        &req.requester()?.user_id,
        &req.body.version,
        None,
        None,
    )?;
    Ok(delete_backup_keys::v3::Response::new(etag, UInt::new_saturating(count)).into())
}

/// # `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn delete_room_keys(
    State(services): State<Services>,
    req: Ruma<delete_backup_keys_for_room::v3::Request>,
) -> Result<RumaResponse<delete_backup_keys_for_room::v3::Response>> {
    let b = &req.body;
    let (count, etag) = services.key_backup.delete_backup_keys(
        &req.requester()?.user_id,
        &b.version,
        Some(&b.room_id),
        None,
    )?;
    Ok(delete_backup_keys_for_room::v3::Response::new(etag, UInt::new_saturating(count)).into())
}

/// # `DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn delete_session_key(
    State(services): State<Services>,
    req: Ruma<delete_backup_keys_for_session::v3::Request>,
) -> Result<RumaResponse<delete_backup_keys_for_session::v3::Response>> {
    let b = &req.body;
    let user = &req.requester()?.user_id;
    let (count, etag) = services.key_backup.delete_backup_keys(
        user,
        &b.version,
        Some(&b.room_id),
        Some(&b.session_id),
    )?;
    Ok(delete_backup_keys_for_session::v3::Response::new(etag, UInt::new_saturating(count)).into())
}
