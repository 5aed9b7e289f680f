//! Accounts and sessions: register, login, logout, whoami, password
//! change, deactivation.

use axum::extract::State;
use ruma::api::client::{
    account::{
        ThirdPartyIdRemovalStatus, change_password, deactivate, get_username_availability,
        register, whoami,
    },
    session::{get_login_types, login, logout, logout_all},
    uiaa::{AuthData, AuthFlow, AuthType, UiaaInfo, UserIdentifier},
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    config::Registration,
    error::{Error, ErrorKind, Result},
    service::{Services, ratelimit::Action},
};

/// # `POST /_matrix/client/v3/register`
///
/// User-interactive: the first call (without `auth`) gets a 401 with the
/// flows and a session; the client repeats it with the stage completed.
pub async fn register(
    State(services): State<Services>,
    Ruma {
        body, client_ip, ..
    }: Ruma<register::v3::Request>,
) -> Result<RumaResponse<register::v3::Response>> {
    services.rate_limit(Action::Register, &ip_key(client_ip))?;
    if body.kind == register::RegistrationKind::Guest {
        return Err(Error::new(
            ErrorKind::GuestAccessForbidden,
            "Guest accounts are not available",
        ));
    }
    let config = services.config();
    let stage = match config.registration {
        Registration::Closed => {
            return Err(Error::forbidden("Registration is disabled on this server"));
        }
        Registration::Open => AuthType::Dummy,
        Registration::Token => AuthType::RegistrationToken,
    };

    // Validate the name before the auth dance, so the client learns early.
    let user_id = match &body.username {
        Some(name) => services.accounts.new_user_id_for(name)?,
        None => services.accounts.new_user_id_for(&random_localpart())?,
    };
    if services.accounts.user_exists(&user_id)? {
        return Err(Error::new(
            ErrorKind::UserInUse,
            "That user ID is already taken",
        ));
    }

    let challenge = |error: Option<&str>| {
        let mut info = UiaaInfo::new(vec![AuthFlow::new(vec![stage.clone()])]);
        info.session = Some(services.accounts.uia().start());
        info.params = serde_json::value::to_raw_value(&serde_json::json!({})).ok();
        if let Some(message) = error {
            info.auth_error = Some(Box::new(ruma::api::error::StandardErrorBody::new(
                ruma::api::error::ErrorKind::Forbidden,
                message.to_owned(),
            )));
        }
        Error::Uiaa(Box::new(info))
    };
    let Some(auth) = &body.auth else {
        return Err(challenge(None));
    };
    // A client may complete a single-stage flow in its first request, without
    // a session (matrix-nio does; Synapse and Conduit accept it). A session it
    // names must be one we handed out.
    let session_ok = auth
        .session()
        .is_none_or(|s| services.accounts.uia().is_valid(s));
    let stage_ok = match (auth, &stage) {
        (AuthData::Dummy(_), AuthType::Dummy) => true,
        (AuthData::RegistrationToken(t), AuthType::RegistrationToken) => config
            .registration_tokens
            .iter()
            .any(|valid| constant_time_eq(valid, &t.token)),
        _ => false,
    };
    if !session_ok || !stage_ok {
        return Err(challenge(Some("Authentication stage not completed")));
    }

    let password = body.password.clone().filter(|p| !p.is_empty());
    if password.is_none() {
        return Err(Error::new(
            ErrorKind::MissingParam,
            "A password is required",
        ));
    }
    if !services
        .accounts
        .create_account(&user_id, password, false)
        .await?
    {
        return Err(Error::new(
            ErrorKind::UserInUse,
            "That user ID is already taken",
        ));
    }
    if let Some(session) = auth.session() {
        services.accounts.uia().finish(session);
    }
    tracing::info!(%user_id, "registered");

    let mut response = register::v3::Response::new(user_id.clone());
    if !body.inhibit_login {
        let session = services.accounts.new_device_session(
            &user_id,
            body.device_id.clone(),
            body.initial_device_display_name.as_deref(),
        )?;
        response.access_token = Some(session.access_token);
        response.device_id = Some(session.device_id);
    }
    Ok(response.into())
}

fn random_localpart() -> String {
    use rand::Rng;
    format!("u{}", rand::rng().random_range(100_000_000u64..999_999_999))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    // Comparing fixed-length digests hides the secret's length and content.
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// # `GET /_matrix/client/v3/login`
pub async fn login_types(
    _: Ruma<get_login_types::v3::Request>,
) -> Result<RumaResponse<get_login_types::v3::Response>> {
    Ok(
        get_login_types::v3::Response::new(vec![get_login_types::v3::LoginType::Password(
            Default::default(),
        )])
        .into(),
    )
}

/// # `POST /_matrix/client/v3/login`
pub async fn login(
    State(services): State<Services>,
    Ruma {
        body, client_ip, ..
    }: Ruma<login::v3::Request>,
) -> Result<RumaResponse<login::v3::Response>> {
    services.rate_limit(Action::Login, &ip_key(client_ip))?;
    let login::v3::LoginInfo::Password(password) = &body.login_info else {
        return Err(Error::with_status(
            ErrorKind::Unknown,
            http::StatusCode::BAD_REQUEST,
            "Only m.login.password is supported",
        ));
    };
    #[allow(deprecated)]
    let name = match (&password.identifier, &password.user) {
        (Some(UserIdentifier::Matrix(id)), _) => id.user.clone(),
        (None, Some(user)) => user.clone(),
        _ => {
            return Err(Error::forbidden(
                "Only user identifiers (m.id.user) are supported",
            ));
        }
    };
    let Ok(user_id) = services.accounts.user_id_for(&name) else {
        services
            .accounts
            .waste_password_check(password.password.clone())
            .await?;
        return Err(Error::forbidden("Invalid username or password"));
    };
    services
        .accounts
        .check_password_limited(&user_id, password.password.clone())
        .await?;
    let session = services.accounts.new_device_session(
        &user_id,
        body.device_id.clone(),
        body.initial_device_display_name.as_deref(),
    )?;
    tracing::info!(%user_id, device_id = %session.device_id, "logged in");
    Ok(login::v3::Response::new(session.user_id, session.access_token, session.device_id).into())
}

/// # `POST /_matrix/client/v3/logout`
pub async fn logout(
    State(services): State<Services>,
    req: Ruma<logout::v3::Request>,
) -> Result<RumaResponse<logout::v3::Response>> {
    services.devices.logout(req.requester()?)?;
    Ok(logout::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/account/whoami`
pub async fn whoami(req: Ruma<whoami::v3::Request>) -> Result<RumaResponse<whoami::v3::Response>> {
    let who = req.requester()?;
    let mut response = whoami::v3::Response::new(who.user_id.clone(), false);
    response.device_id = Some(who.device_id.clone());
    Ok(response.into())
}

/// # `POST /_matrix/client/v3/logout/all`
pub async fn logout_all(
    State(services): State<Services>,
    req: Ruma<logout_all::v3::Request>,
) -> Result<RumaResponse<logout_all::v3::Response>> {
    services.devices.logout_all(&req.requester()?.user_id)?;
    Ok(logout_all::v3::Response::new().into())
}

/// # `GET /_matrix/client/v3/register/available`
pub async fn username_available(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_username_availability::v3::Request>,
) -> Result<RumaResponse<get_username_availability::v3::Response>> {
    let user_id = services.accounts.new_user_id_for(&body.username)?;
    if services.accounts.user_exists(&user_id)? {
        return Err(Error::new(
            ErrorKind::UserInUse,
            "That user ID is already taken",
        ));
    }
    Ok(get_username_availability::v3::Response::new(true).into())
}

/// # `POST /_matrix/client/v3/account/password` (user-interactive auth)
pub async fn password(
    State(services): State<Services>,
    req: Ruma<change_password::v3::Request>,
) -> Result<RumaResponse<change_password::v3::Response>> {
    let who = req.requester()?;
    services
        .accounts
        .require_password(&who.user_id, req.body.auth.as_ref())
        .await?;
    services
        .devices
        .change_password(
            &who.user_id,
            Some(&who.device_id),
            req.body.new_password.clone(),
            req.body.logout_devices,
        )
        .await?;
    Ok(change_password::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/account/deactivate` (user-interactive auth)
pub async fn deactivate(
    State(services): State<Services>,
    req: Ruma<deactivate::v3::Request>,
) -> Result<RumaResponse<deactivate::v3::Response>> {
    let who = req.requester()?;
    services
        .accounts
        .require_password(&who.user_id, req.body.auth.as_ref())
        .await?;
    services.devices.deactivate(&who.user_id).await?;
    Ok(deactivate::v3::Response::new(ThirdPartyIdRemovalStatus::NoSupport).into())
}

/// The rate-limit key of a client address (all unknown addresses share one bucket).
fn ip_key(ip: Option<std::net::IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}
