//! Media messages and the content repository.
//!
//! What an `m.image`, `m.video`, `m.audio` or `m.file` event carries ([`Media`]), what we
//! send after an upload ([`MediaDraft`]), the requests that upload and fetch the bytes (all
//! downloads use the authenticated `/_matrix/client/v1/media` endpoints, so the browser layer
//! fetches with the access token — no service worker), and the words the UI shows for sizes,
//! durations and limits.

use std::fmt;

use ruma::{
    ServerName,
    api::client::{
        authenticated_media::{get_content, get_content_thumbnail, get_media_config},
        media::create_content,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    endpoint::{self, parse},
    requests::target,
};

/// An `mxc://server/id` content URI, validated: the server name by the spec's grammar, the
/// media ID to `A-Z a-z 0-9 _ -` (anything else could walk a path).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mxc {
    pub server_name: String,
    pub media_id: String,
}

impl Mxc {
    /// Parses `mxc://server/id`; `None` for anything else.
    pub fn parse(uri: &str) -> Option<Self> {
        let (server_name, media_id) = uri.strip_prefix("mxc://")?.split_once('/')?;
        let id_ok = !media_id.is_empty()
            && media_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        (id_ok && <&ServerName>::try_from(server_name).is_ok()).then(|| Self {
            server_name: server_name.to_owned(),
            media_id: media_id.to_owned(),
        })
    }
}

impl fmt::Display for Mxc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mxc://{}/{}", self.server_name, self.media_id)
    }
}

/// How a media message is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    File,
}

impl MediaKind {
    /// The kind for a `msgtype`, if it is a media one.
    pub fn from_msgtype(msgtype: &str) -> Option<Self> {
        Some(match msgtype {
            "m.image" => Self::Image,
            "m.video" => Self::Video,
            "m.audio" => Self::Audio,
            "m.file" => Self::File,
            _ => return None,
        })
    }

    pub fn msgtype(self) -> &'static str {
        match self {
            Self::Image => "m.image",
            Self::Video => "m.video",
            Self::Audio => "m.audio",
            Self::File => "m.file",
        }
    }

    /// How to send a file of type `mimetype`: browsers show these image, video and audio
    /// types themselves; everything else (SVG included, which can carry script) is a file.
    pub fn for_mimetype(mimetype: &str) -> Self {
        let mimetype = mimetype.split(';').next().unwrap_or_default().trim();
        match mimetype {
            "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" => Self::Image,
            "video/mp4" | "video/webm" | "video/ogg" | "video/quicktime" => Self::Video,
            "audio/mpeg" | "audio/mp4" | "audio/x-m4a" | "audio/m4a" | "audio/aac" | "audio/ogg" | "audio/webm" | "audio/wav"
            | "audio/x-wav" | "audio/wave" | "audio/flac" | "audio/opus" => Self::Audio,
            _ => Self::File,
        }
    }
}

/// The media of a received (or locally echoed) message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Media {
    pub kind: MediaKind,
    pub source: Mxc,
    /// The file's name (the event's `body` unless a `filename` says otherwise).
    pub filename: String,
    /// Text sent with the file (MSC2530: `body` when it differs from `filename`).
    pub caption: Option<String>,
    pub mimetype: Option<String>,
    pub size: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub thumbnail: Option<Mxc>,
    pub blurhash: Option<String>,
}

/// `info` of a media message. Parsed apart from the event (see [`Media::from_content`]) so
/// that a sender's odd `info` costs only the details, never the message.
#[derive(Debug, Default, Deserialize)]
struct InfoIn {
    mimetype: Option<String>,
    size: Option<u64>,
    w: Option<u32>,
    h: Option<u32>,
    duration: Option<u64>,
    thumbnail_url: Option<String>,
    #[serde(rename = "xyz.amorgan.blurhash")]
    blurhash: Option<String>,
}

impl Media {
    /// The media of an `m.room.message`, if it is a media message with a valid `url`.
    pub(crate) fn from_content(
        msgtype: Option<&str>,
        body: &str,
        url: Option<&str>,
        filename: Option<&str>,
        info: Option<&RawValue>,
    ) -> Option<Self> {
        let kind = MediaKind::from_msgtype(msgtype?)?;
        let source = Mxc::parse(url?)?;
        let info: InfoIn = info
            .and_then(|raw| crate::event::parse_json(raw.get()).ok())
            .unwrap_or_default();
        let (filename, caption) = match filename {
            Some(name) if !name.is_empty() && name != body => {
                (name.to_owned(), Some(body.to_owned()).filter(|b| !b.is_empty()))
            }
            _ => (body.to_owned(), None),
        };
        Some(Self {
            kind,
            source,
            filename,
            caption,
            mimetype: info.mimetype,
            size: info.size,
            width: info.w.filter(|w| *w > 0),
            height: info.h.filter(|h| *h > 0),
            duration_ms: info.duration,
            thumbnail: info.thumbnail_url.as_deref().and_then(Mxc::parse),
            blurhash: info.blurhash.filter(|hash| hash.len() <= 200),
        })
    }
}

/// An uploaded thumbnail, for `info.thumbnail_url` and `info.thumbnail_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbnailDraft {
    pub url: Mxc,
    pub mimetype: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

/// A media message to send once its file is uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDraft {
    pub kind: MediaKind,
    pub url: Mxc,
    pub filename: String,
    pub caption: Option<String>,
    pub mimetype: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub thumbnail: Option<ThumbnailDraft>,
    pub blurhash: Option<String>,
}

impl MediaDraft {
    /// How the local echo shows it.
    pub(crate) fn to_media(&self) -> Media {
        Media {
            kind: self.kind,
            source: self.url.clone(),
            filename: self.filename.clone(),
            caption: self.caption.clone(),
            mimetype: Some(self.mimetype.clone()),
            size: Some(self.size),
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            thumbnail: self.thumbnail.as_ref().map(|t| t.url.clone()),
            blurhash: self.blurhash.clone(),
        }
    }

    /// The `info` object of the event.
    pub(crate) fn info(&self) -> InfoOut {
        InfoOut {
            mimetype: self.mimetype.clone(),
            size: self.size,
            w: self.width,
            h: self.height,
            duration: self.duration_ms,
            thumbnail_url: self.thumbnail.as_ref().map(|t| t.url.to_string()),
            thumbnail_info: self.thumbnail.as_ref().map(|t| ThumbnailInfoOut {
                mimetype: t.mimetype.clone(),
                size: t.size,
                w: t.width,
                h: t.height,
            }),
            blurhash: self.blurhash.clone(),
        }
    }
}

/// `info` of a media message we send.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct InfoOut {
    mimetype: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_info: Option<ThumbnailInfoOut>,
    #[serde(rename = "xyz.amorgan.blurhash", skip_serializing_if = "Option::is_none")]
    blurhash: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
struct ThumbnailInfoOut {
    mimetype: String,
    size: u64,
    w: u32,
    h: u32,
}

/// `POST /_matrix/media/v3/upload?filename=…`. The body is left empty: the browser layer
/// streams the file itself (with progress) rather than copying it into memory here.
pub fn upload_request(
    session: &Session,
    mimetype: &str,
    filename: &str,
) -> Result<HttpRequest, ApiError> {
    let url = endpoint::url::<create_content::v3::Request>(
        &session.homeserver,
        &[],
        &[("filename", filename)],
    )?;
    let mimetype = if mimetype.is_empty() { "application/octet-stream" } else { mimetype };
    http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, mimetype)
        .header(http::header::AUTHORIZATION, format!("Bearer {}", session.access_token))
        .body(Vec::new())
        .map_err(|error| ApiError::InvalidRequest(error.to_string()))
}

#[derive(Deserialize)]
struct UploadResponse {
    content_uri: String,
}

/// The content URI of an upload.
pub fn parse_upload(response: HttpResponse<'_>) -> Result<Mxc, ApiError> {
    let body: UploadResponse = parse(response)?;
    Mxc::parse(&body.content_uri)
        .ok_or_else(|| ApiError::Malformed(format!("not a content URI: {}", body.content_uri)))
}

/// The whole file (authenticated download).
pub fn download_request(session: &Session, mxc: &Mxc) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_content::v1::Request>(
        target(session),
        &[&mxc.server_name, &mxc.media_id],
        &[],
        None,
    )
}

/// A thumbnail that fits `width` × `height` (scaled, never cropped).
pub fn thumbnail_request(
    session: &Session,
    mxc: &Mxc,
    width: u32,
    height: u32,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_content_thumbnail::v1::Request>(
        target(session),
        &[&mxc.server_name, &mxc.media_id],
        &[
            ("width", &width.to_string()),
            ("height", &height.to_string()),
            ("method", "scale"),
            ("animated", "true"),
        ],
        None,
    )
}

/// `GET /_matrix/client/v1/media/config`.
pub fn config_request(session: &Session) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_media_config::v1::Request>(target(session), &[], &[], None)
}

#[derive(Deserialize)]
struct ConfigResponse {
    #[serde(rename = "m.upload.size")]
    upload_size: Option<u64>,
}

/// The largest upload the server accepts, if it says.
pub fn parse_config(response: HttpResponse<'_>) -> Result<Option<u64>, ApiError> {
    parse::<ConfigResponse>(response).map(|config| config.upload_size)
}

/// A size in words: "812 bytes", "4.2 KB", "5 MB" (powers of 1024, as Element shows them).
/// Integer arithmetic only: float formatting would cost the browser bundle ~10 KB.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    // u64 only (u128 division and formatting would add ~2 KB to the bundle), arranged so
    // nothing overflows: `divisor` stays at most 1024^4.
    let mut unit = 0;
    let mut divisor: u64 = 1024;
    // Rounded to tenths, a value just under the next unit reads as that unit ("1 MB"):
    // bytes * 20 >= divisor * 20479.
    while bytes >= (divisor * 20479).div_ceil(20) && unit < UNITS.len() - 1 {
        divisor *= 1024;
        unit += 1;
    }
    // (bytes * 10 + divisor / 2) / divisor, split so bytes * 10 cannot overflow.
    let tenths = bytes / divisor * 10 + (bytes % divisor * 10 + divisor / 2) / divisor;
    let (whole, fraction) = (tenths / 10, tenths % 10);
    if fraction == 0 {
        format!("{whole} {}", UNITS[unit])
    } else {
        format!("{whole}.{fraction} {}", UNITS[unit])
    }
}

/// A duration as a player shows it: "0:05", "3:12", "1:02:03".
pub fn format_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// Why a file can't be sent, said before any byte is uploaded.
pub fn too_large(filename: &str, size: u64, limit: Option<u64>) -> Option<String> {
    let limit = limit.filter(|limit| size > *limit)?;
    Some(format!(
        "“{filename}” is {}; this server accepts files up to {}.",
        format_size(size),
        format_size(limit)
    ))
}

/// The size of a thumbnail of a `width` × `height` image that fits 800 × 600 (Element's
/// size), keeping the aspect ratio; `None` when the image already fits.
pub fn thumbnail_size(width: u32, height: u32) -> Option<(u32, u32)> {
    const MAX: (f64, f64) = (800.0, 600.0);
    if width == 0 || height == 0 || (width <= 800 && height <= 600) {
        return None;
    }
    let scale = (MAX.0 / f64::from(width)).min(MAX.1 / f64::from(height));
    let scaled = |side: u32| ((f64::from(side) * scale).round() as u32).max(1);
    Some((scaled(width), scaled(height)))
}

/// Whether a thumbnail is worth uploading next to its image (Element's rule): not for small
/// images, nor when it saves little; always for types not every client can show.
pub fn thumbnail_worth_uploading(mimetype: &str, original: u64, thumbnail: u64) -> bool {
    if matches!(mimetype, "image/webp" | "image/avif") {
        return true;
    }
    if original <= 32 * 1024 {
        return false;
    }
    let saving = original.saturating_sub(thumbnail);
    saving > 64 * 1024 || saving * 10 > original
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn content_uris_are_validated() {
        let mxc = Mxc::parse("mxc://example.org:8448/AbC_12-x").unwrap();
        assert_eq!((mxc.server_name.as_str(), mxc.media_id.as_str()), ("example.org:8448", "AbC_12-x"));
        assert_eq!(mxc.to_string(), "mxc://example.org:8448/AbC_12-x");
        for bad in ["mxc://example.org/../etc", "mxc://example.org/", "http://example.org/abc", "mxc://exa mple/abc", "mxc://example.org/a/b"] {
            assert_eq!(Mxc::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn media_messages_read_info_and_captions() {
        let info = raw(r#"{"mimetype":"image/png","size":1234,"w":640,"h":480,
            "thumbnail_url":"mxc://hs/thumb","xyz.amorgan.blurhash":"LEHV6nWB2yk8pyo0adR*.7kCMdnj"}"#);
        let media = Media::from_content(Some("m.image"), "cat.png", Some("mxc://hs/abc"), None, Some(&info)).unwrap();
        assert_eq!(media.kind, MediaKind::Image);
        assert_eq!(media.filename, "cat.png");
        assert_eq!(media.caption, None);
        assert_eq!((media.width, media.height, media.size), (Some(640), Some(480), Some(1234)));
        assert_eq!(media.thumbnail, Mxc::parse("mxc://hs/thumb"));
        assert!(media.blurhash.is_some());

        let captioned = Media::from_content(Some("m.file"), "the report", Some("mxc://hs/abc"), Some("q3.pdf"), None).unwrap();
        assert_eq!((captioned.filename.as_str(), captioned.caption.as_deref()), ("q3.pdf", Some("the report")));
        let same = Media::from_content(Some("m.file"), "q3.pdf", Some("mxc://hs/abc"), Some("q3.pdf"), None).unwrap();
        assert_eq!(same.caption, None);
    }

    #[test]
    fn odd_media_messages_degrade_instead_of_failing() {
        // A string where a number belongs costs the details, not the message.
        let info = raw(r#"{"mimetype":"video/mp4","size":"big","duration":5000}"#);
        let media = Media::from_content(Some("m.video"), "clip.mp4", Some("mxc://hs/v"), None, Some(&info)).unwrap();
        assert_eq!((media.size, media.duration_ms), (None, None));
        assert_eq!(Media::from_content(Some("m.image"), "x", Some("https://evil/x.png"), None, None), None);
        assert_eq!(Media::from_content(Some("m.image"), "x", None, None, None), None);
        assert_eq!(Media::from_content(Some("m.text"), "x", Some("mxc://hs/a"), None, None), None);
    }

    #[test]
    fn drafts_become_spec_info() {
        let draft = MediaDraft {
            kind: MediaKind::Image,
            url: Mxc::parse("mxc://hs/full").unwrap(),
            filename: "big.png".into(),
            caption: None,
            mimetype: "image/png".into(),
            size: 5_000_000,
            width: Some(4000),
            height: Some(3000),
            duration_ms: None,
            thumbnail: Some(ThumbnailDraft {
                url: Mxc::parse("mxc://hs/thumb").unwrap(),
                mimetype: "image/png".into(),
                size: 90_000,
                width: 800,
                height: 600,
            }),
            blurhash: Some("LEHV6nWB2yk8pyo0adR*.7kCMdnj".into()),
        };
        let info = serde_json::to_value(draft.info()).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"mimetype": "image/png", "size": 5_000_000, "w": 4000, "h": 3000,
                "thumbnail_url": "mxc://hs/thumb",
                "thumbnail_info": {"mimetype": "image/png", "size": 90_000, "w": 800, "h": 600},
                "xyz.amorgan.blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj"})
        );
    }

    #[test]
    fn requests_use_the_authenticated_endpoints() {
        let session = Session {
            homeserver: "http://hs".into(),
            user_id: ruma::owned_user_id!("@a:hs"),
            device_id: ruma::owned_device_id!("D"),
            access_token: "tok".into(),
        };
        let mxc = Mxc::parse("mxc://other.org/abc").unwrap();
        let download = download_request(&session, &mxc).unwrap();
        assert_eq!(download.uri(), "http://hs/_matrix/client/v1/media/download/other.org/abc");
        assert_eq!(download.headers()["authorization"], "Bearer tok");
        let thumb = thumbnail_request(&session, &mxc, 800, 600).unwrap();
        assert_eq!(
            thumb.uri(),
            "http://hs/_matrix/client/v1/media/thumbnail/other.org/abc?width=800&height=600&method=scale&animated=true"
        );
        let upload = upload_request(&session, "image/png", "my cat.png").unwrap();
        assert_eq!(upload.uri(), "http://hs/_matrix/media/v3/upload?filename=my%20cat.png");
        assert_eq!(upload.headers()["content-type"], "image/png");
        assert!(upload.body().is_empty());
        assert_eq!(config_request(&session).unwrap().uri(), "http://hs/_matrix/client/v1/media/config");
        let response = |body: &'static str| http::Response::builder().status(200).body(body.as_bytes()).unwrap();
        assert_eq!(parse_upload(response(r#"{"content_uri":"mxc://hs/xyz"}"#)).unwrap(), Mxc::parse("mxc://hs/xyz").unwrap());
        assert!(parse_upload(response(r#"{"content_uri":"mxc://hs/../x"}"#)).is_err());
        assert_eq!(parse_config(response(r#"{"m.upload.size":1048576}"#)).unwrap(), Some(1_048_576));
        assert_eq!(parse_config(response("{}")).unwrap(), None);
    }

    #[test]
    fn words_for_sizes_durations_and_limits() {
        assert_eq!(format_size(812), "812 bytes");
        assert_eq!(format_size(4300), "4.2 KB");
        assert_eq!(format_size(5 * 1024 * 1024), "5 MB");
        assert_eq!(format_size(104_857_600), "100 MB");
        assert_eq!(format_size(1023 * 1024 + 1000), "1 MB");
        assert_eq!(format_size(1023 * 1024), "1023 KB");
        assert_eq!(format_size(u64::MAX), "16777216 TB");
        assert_eq!(format_duration(5_400), "0:05");
        assert_eq!(format_duration(192_000), "3:12");
        assert_eq!(format_duration(3_723_000), "1:02:03");
        assert_eq!(too_large("a.bin", 10, Some(100)), None);
        assert_eq!(too_large("a.bin", 10, None), None);
        assert_eq!(
            too_large("movie.mp4", 120 * 1024 * 1024, Some(100 * 1024 * 1024)).unwrap(),
            "“movie.mp4” is 120 MB; this server accepts files up to 100 MB."
        );
    }

    #[test]
    fn thumbnails_follow_elements_rules() {
        assert_eq!(thumbnail_size(4000, 3000), Some((800, 600)));
        assert_eq!(thumbnail_size(1000, 4000), Some((150, 600)));
        assert_eq!(thumbnail_size(640, 480), None);
        assert!(!thumbnail_worth_uploading("image/png", 30_000, 10_000));
        assert!(thumbnail_worth_uploading("image/png", 5_000_000, 90_000));
        assert!(!thumbnail_worth_uploading("image/png", 200_000, 190_000));
        assert!(thumbnail_worth_uploading("image/webp", 1_000, 900));
        assert_eq!(MediaKind::for_mimetype("image/svg+xml"), MediaKind::File);
        assert_eq!(MediaKind::for_mimetype("video/webm;codecs=vp8"), MediaKind::Video);
        assert_eq!(MediaKind::for_mimetype("audio/wav"), MediaKind::Audio);
        assert_eq!(MediaKind::for_mimetype(""), MediaKind::File);
    }
}
