//! Devices: list, inspect, rename, delete.

use axum::extract::State;
use ruma::{
    MilliSecondsSinceUnixEpoch, UInt,
    api::client::device::{
        Device, delete_device, delete_devices, get_device, get_devices, update_device,
    },
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{error::Result, service::Services, storage::DeviceRow};

fn device(row: DeviceRow) -> Device {
    let mut device = Device::new(row.device_id);
    device.display_name = row.display_name;
    device.last_seen_ts = UInt::new(row.created_ts.max(0) as u64).map(MilliSecondsSinceUnixEpoch);
    device
}

/// # `GET /_matrix/client/v3/devices`
pub async fn list(
    State(services): State<Services>,
    req: Ruma<get_devices::v3::Request>,
) -> Result<RumaResponse<get_devices::v3::Response>> {
    let devices = services.accounts.devices(&req.requester()?.user_id)?;
    Ok(get_devices::v3::Response::new(devices.into_iter().map(device).collect()).into())
}

/// # `GET /_matrix/client/v3/devices/{deviceId}`
pub async fn get(
    State(services): State<Services>,
    req: Ruma<get_device::v3::Request>,
) -> Result<RumaResponse<get_device::v3::Response>> {
    let row = services
        .accounts
        .devices(&req.requester()?.user_id)?
        .into_iter()
        .find(|row| row.device_id == req.body.device_id)
        .ok_or_else(|| crate::error::Error::not_found("No such device"))?;
    Ok(get_device::v3::Response::new(device(row)).into())
}

/// # `PUT /_matrix/client/v3/devices/{deviceId}`
pub async fn rename(
    State(services): State<Services>,
    req: Ruma<update_device::v3::Request>,
) -> Result<RumaResponse<update_device::v3::Response>> {
    let who = req.requester()?;
    services.accounts.rename_device(
        &who.user_id,
        &req.body.device_id,
        req.body.display_name.as_deref(),
    )?;
    Ok(update_device::v3::Response::new().into())
}

/// # `DELETE /_matrix/client/v3/devices/{deviceId}` (user-interactive auth)
pub async fn delete(
    State(services): State<Services>,
    req: Ruma<delete_device::v3::Request>,
) -> Result<RumaResponse<delete_device::v3::Response>> {
    let who = req.requester()?;
    services
        .accounts
        .require_password(&who.user_id, req.body.auth.as_ref())
        .await?;
    services
        .devices
        .delete_devices(&who.user_id, std::slice::from_ref(&req.body.device_id))?;
    Ok(delete_device::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/delete_devices` (user-interactive auth)
pub async fn delete_many(
    State(services): State<Services>,
    req: Ruma<delete_devices::v3::Request>,
) -> Result<RumaResponse<delete_devices::v3::Response>> {
    let who = req.requester()?;
    services
        .accounts
        .require_password(&who.user_id, req.body.auth.as_ref())
        .await?;
    services
        .devices
        .delete_devices(&who.user_id, &req.body.devices)?;
    Ok(delete_devices::v3::Response::new().into())
}
