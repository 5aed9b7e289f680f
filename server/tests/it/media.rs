use reqwest::{Method, header};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::TestServer;

const UPLOAD: &str = "/_matrix/media/v3/upload";

async fn upload(
    s: &TestServer,
    token: &str,
    bytes: Vec<u8>,
    content_type: &str,
    filename: Option<&str>,
) -> (u16, Value) {
    let path = match filename {
        Some(name) => format!("{UPLOAD}?filename={name}"),
        None => UPLOAD.to_owned(),
    };
    let res = s
        .http()
        .post(s.url(&path))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn download_path(mxc: &str) -> String {
    format!(
        "/_matrix/client/v1/media/download/{}",
        mxc.strip_prefix("mxc://").unwrap()
    )
}

async fn get(
    s: &TestServer,
    token: Option<&str>,
    path: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut req = s.http().get(s.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(range) = range {
        req = req.header(header::RANGE, range);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn upload_download_round_trip_with_safe_headers() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (status, res) = upload(
        &s,
        &alice,
        bytes.clone(),
        "image/png",
        Some("cat%20pic.png"),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    let mxc = res["content_uri"].as_str().unwrap().to_owned();
    assert!(mxc.starts_with("mxc://localhost/"), "{mxc}");

    let res = get(&s, Some(&alice), &download_path(&mxc), None).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["content-disposition"], "inline; filename=\"cat pic.png\"");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox;")
    );
    assert_eq!(h["cross-origin-resource-policy"], "cross-origin");
    let body = res.bytes().await.unwrap();
    assert_eq!(
        Sha256::digest(&body),
        Sha256::digest(&bytes),
        "the same bytes come back"
    );

    // The file-name variant names the file as asked.
    let res = get(
        &s,
        Some(&alice),
        &format!("{}/other.png", download_path(&mxc)),
        None,
    )
    .await;
    assert_eq!(
        res.headers()["content-disposition"],
        "inline; filename=\"other.png\""
    );

    // Anything not on the spec's safe list is an attachment.
    for kind in ["text/html", "image/svg+xml", "application/javascript"] {
        let (_, res) = upload(
            &s,
            &alice,
            b"<script>alert(1)</script>".to_vec(),
            kind,
            Some("x"),
        )
        .await;
        let res = get(
            &s,
            Some(&alice),
            &download_path(res["content_uri"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(
            res.headers()["content-disposition"],
            "attachment; filename=\"x\"",
            "{kind}"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }

    // Cached copies are revalidated by ETag.
    let etag = h["etag"].to_str().unwrap().to_owned();
    let res = s
        .http()
        .get(s.url(&download_path(&mxc)))
        .bearer_auth(&alice)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
}

#[tokio::test]
async fn downloads_need_a_token_and_legacy_endpoints_are_frozen() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let (_, res) = upload(&s, &alice, b"hello".to_vec(), "text/plain", None).await;
    let mxc = res["content_uri"].as_str().unwrap().to_owned();
    let res = get(&s, None, &download_path(&mxc), None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errcode"],
        "M_MISSING_TOKEN"
    );
    let res = s.http().post(s.url(UPLOAD)).body("x").send().await.unwrap();
    assert_eq!(res.status(), 401);

    let legacy = format!(
        "/_matrix/media/v3/download/{}",
        mxc.strip_prefix("mxc://").unwrap()
    );
    let res = get(&s, Some(&alice), &legacy, None).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap()["errcode"], "M_NOT_FOUND");

    // Unknown, foreign and malformed media IDs.
    for path in [
        "/_matrix/client/v1/media/download/localhost/nope",
        "/_matrix/client/v1/media/download/elsewhere.org/abc",
        "/_matrix/client/v1/media/download/localhost/..%2F..%2Fetc",
    ] {
        let res = get(&s, Some(&alice), path, None).await;
        assert_eq!(res.status(), 404, "{path}");
    }

    let (status, config) = s
        .call(
            Method::GET,
            "/_matrix/client/v1/media/config",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(config["m.upload.size"], 100 * 1024 * 1024);
}

#[tokio::test]
async fn byte_ranges_for_seeking() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let (_, res) = upload(&s, &alice, bytes.clone(), "video/mp4", None).await;
    let path = download_path(res["content_uri"].as_str().unwrap());

    let res = get(&s, Some(&alice), &path, Some("bytes=10-19")).await;
    assert_eq!(res.status(), 206);
    assert_eq!(res.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[10..20]);

    let res = get(&s, Some(&alice), &path, Some("bytes=-100")).await;
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[900..]);

    let res = get(&s, Some(&alice), &path, Some("bytes=5000-")).await;
    assert_eq!(res.status(), 416);
    assert_eq!(res.headers()["content-range"], "bytes */1000");
}

#[tokio::test]
async fn over_the_limit_is_refused_with_m_too_large() {
    let s = TestServer::start_with_upload_limit(1000).await;
    let alice = s.register("alice").await;
    let (status, res) = upload(&s, &alice, vec![0; 1001], "application/octet-stream", None).await;
    assert_eq!(status, 413, "{res}");
    assert_eq!(res["errcode"], "M_TOO_LARGE");
    // Without a declared length (chunked), the stream is cut at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![1u8; 200])).collect();
    let res = s
        .http()
        .post(s.url(UPLOAD))
        .bearer_auth(&alice)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let (status, _) = upload(&s, &alice, vec![0; 1000], "application/octet-stream", None).await;
    assert_eq!(status, 200, "exactly the limit is fine");
}

#[tokio::test]
async fn asynchronous_upload() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let (status, created) = s
        .call(
            Method::POST,
            "/_matrix/media/v1/create",
            Some(&alice),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let mxc = created["content_uri"].as_str().unwrap().to_owned();
    assert!(created["unused_expires_at"].as_i64().unwrap() > 0);

    let res = get(&s, Some(&alice), &download_path(&mxc), None).await;
    assert_eq!(res.status(), 504);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errcode"],
        "M_NOT_YET_UPLOADED"
    );

    let put = format!(
        "{UPLOAD}/{}?filename=notes.txt",
        mxc.strip_prefix("mxc://").unwrap()
    );
    let send = |token: String, body: &'static str| {
        let req = s
            .http()
            .put(s.url(&put))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body);
        async move {
            let res = req.send().await.unwrap();
            (
                res.status().as_u16(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, res) = send(bob.clone(), "not yours").await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    let (status, _) = send(alice.clone(), "the notes").await;
    assert_eq!(status, 200);
    let (status, res) = send(alice.clone(), "again").await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (409, Some("M_CANNOT_OVERWRITE_MEDIA"))
    );

    let res = get(&s, Some(&bob), &download_path(&mxc), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-disposition"],
        "inline; filename=\"notes.txt\""
    );
    assert_eq!(res.text().await.unwrap(), "the notes");
}

/// A field of `/proc/<pid>/status`, in kB.
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs the `weft` binary (so `/proc` shows its memory alone) on a free port
/// with an account `alice`; returns the process, its base URL and her token.
async fn weft_process_with_account(
    dir: &tempfile::TempDir,
) -> (std::process::Child, String, String) {
    let port = crate::crash::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = crate::crash::start(&dir.path().join("data"), port).await;
    let http = reqwest::Client::new();
    let register = serde_json::json!({"username": "alice", "password": "pw"});
    let (_, challenge) = crate::crash::post(
        &http,
        format!("{base}/_matrix/client/v3/register"),
        None,
        register.clone(),
    )
    .await;
    let mut register = register;
    register["auth"] =
        serde_json::json!({"type": "m.login.dummy", "session": challenge["session"]});
    let (_, account) = crate::crash::post(
        &http,
        format!("{base}/_matrix/client/v3/register"),
        None,
        register,
    )
    .await;
    let token = account["access_token"].as_str().unwrap().to_owned();
    (child, base, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_upload_keeps_server_memory_flat() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, token) = weft_process_with_account(&dir).await;
    let pid = child.id();
    let http = reqwest::Client::new();

    // Peak RSS from here on: writing 5 to clear_refs resets VmHWM to the current RSS.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = proc_kb(pid, "VmRSS");
    let chunk = |i: usize| -> Vec<u8> { (0..CHUNK).map(|j| ((i * 31 + j) % 251) as u8).collect() };
    let mut expected = Sha256::new();
    for i in 0..CHUNKS {
        expected.update(chunk(i));
    }
    let stream =
        futures_util::stream::iter((0..CHUNKS).map(move |i| Ok::<_, std::io::Error>(chunk(i))));
    let started = std::time::Instant::now();
    let res = http
        .post(format!("{base}{UPLOAD}?filename=big.bin"))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let upload_time = started.elapsed();
    assert_eq!(res.status(), 200);
    let mxc = res.json::<Value>().await.unwrap()["content_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let peak_upload = proc_kb(pid, "VmHWM");

    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let started = std::time::Instant::now();
    let mut res = http
        .get(format!("{base}{}", download_path(&mxc)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut got = Sha256::new();
    let mut size = 0;
    while let Some(bytes) = res.chunk().await.unwrap() {
        size += bytes.len();
        got.update(&bytes);
    }
    let download_time = started.elapsed();
    let peak_download = proc_kb(pid, "VmHWM");
    assert_eq!(size, CHUNK * CHUNKS);
    assert_eq!(got.finalize(), expected.finalize(), "identical bytes");

    let mb = (CHUNK * CHUNKS) as f64 / 1e6;
    eprintln!(
        "100 MiB upload: {:.0} MB/s, server peak RSS {} → {} kB; download: {:.0} MB/s, peak {} kB",
        mb / upload_time.as_secs_f64(),
        before,
        peak_upload,
        mb / download_time.as_secs_f64(),
        peak_download,
    );
    assert!(
        peak_upload.saturating_sub(before) < 30 * 1024,
        "upload grew RSS by {} kB",
        peak_upload - before
    );
    assert!(
        peak_download.saturating_sub(before) < 30 * 1024,
        "download grew RSS by {} kB",
        peak_download - before
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn thumbnails_scale_crop_never_upscale_and_refuse_non_images() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let (_, res) = upload(&s, &alice, png(1000, 500), "image/png", Some("wide.png")).await;
    let id = res["content_uri"]
        .as_str()
        .unwrap()
        .strip_prefix("mxc://")
        .unwrap()
        .to_owned();
    let thumb = |query: String| {
        let req = s
            .http()
            .get(s.url(&format!("/_matrix/client/v1/media/thumbnail/{id}?{query}")))
            .bearer_auth(&alice);
        async move { req.send().await.unwrap() }
    };

    let res = thumb("width=320&height=240&method=scale".into()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(
        res.headers()["content-disposition"],
        "inline; filename=\"thumbnail.png\""
    );
    let first = res.bytes().await.unwrap();
    let image = image::load_from_memory(&first).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (320, 160),
        "fits the box, aspect kept"
    );
    // The second request is served from the stored thumbnail.
    assert_eq!(
        thumb("width=320&height=240&method=scale".into())
            .await
            .bytes()
            .await
            .unwrap(),
        first
    );

    let res = thumb("width=96&height=96&method=crop".into()).await;
    let image = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (96, 96));

    // A small original is its own thumbnail: no upscaling.
    let small = png(20, 20);
    let (_, res) = upload(&s, &alice, small.clone(), "image/png", None).await;
    let small_id = res["content_uri"]
        .as_str()
        .unwrap()
        .strip_prefix("mxc://")
        .unwrap()
        .to_owned();
    let res = s
        .http()
        .get(s.url(&format!(
            "/_matrix/client/v1/media/thumbnail/{small_id}?width=96&height=96&method=crop"
        )))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), small.as_slice());

    // JPEG in, JPEG out.
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(800, 800, image::Rgb([200, 10, 10]))
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let (_, res) = upload(&s, &alice, jpeg.into_inner(), "image/jpeg", None).await;
    let jpeg_id = res["content_uri"]
        .as_str()
        .unwrap()
        .strip_prefix("mxc://")
        .unwrap()
        .to_owned();
    let res = s
        .http()
        .get(s.url(&format!(
            "/_matrix/client/v1/media/thumbnail/{jpeg_id}?width=100&height=100"
        )))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/jpeg");

    // Not an image, a corrupt image, a missing size.
    for (bytes, kind) in [
        (b"hello".to_vec(), "text/plain"),
        (vec![0x89, b'P', b'N', b'G', 1, 2, 3], "image/png"),
    ] {
        let (_, res) = upload(&s, &alice, bytes, kind, None).await;
        let id = res["content_uri"]
            .as_str()
            .unwrap()
            .strip_prefix("mxc://")
            .unwrap()
            .to_owned();
        let res = s
            .http()
            .get(s.url(&format!(
                "/_matrix/client/v1/media/thumbnail/{id}?width=32&height=32"
            )))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{kind}");
        assert_eq!(res.json::<Value>().await.unwrap()["errcode"], "M_UNKNOWN");
    }
    let res = thumb("height=32".into()).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errcode"],
        "M_MISSING_PARAM"
    );
}

/// A PNG of `width`×`height` pixels at one bit per pixel, all zero: a few KiB per
/// hundred megapixels, as a decompression bomb would be. `palette` makes it indexed
/// colour (decoded as RGB, three bytes a pixel) instead of greyscale (one byte a pixel).
fn one_bit_png(width: u32, height: u32, palette: bool, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_depth(png::BitDepth::One);
    if palette {
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_palette(vec![seed, 0, 0, 0, 0, seed]);
    } else {
        encoder.set_color(png::ColorType::Grayscale);
    }
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    let mut data = vec![0u8; width.div_ceil(8) as usize * height as usize];
    data[0] = seed; // Distinct files.
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thumbnail_bombs_requested_at_once_cannot_exhaust_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, token) = weft_process_with_account(&dir).await;
    let pid = child.id();
    let http = reqwest::Client::new();

    let upload = |bytes: Vec<u8>| {
        let req = http
            .post(format!("{base}{UPLOAD}"))
            .bearer_auth(&token)
            .header(header::CONTENT_TYPE, "image/png")
            .body(bytes);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["content_uri"]
                .as_str()
                .unwrap()
                .strip_prefix("mxc://")
                .unwrap()
                .to_owned()
        }
    };
    // Four 16,000 × 16,000 bombs (256 MiB each decoded), and four images just under
    // 32 megapixels (94 MiB each decoded), which a server may well decode.
    let mut bombs = Vec::new();
    let mut large = Vec::new();
    for seed in 1..=4u8 {
        let bomb = one_bit_png(16_000, 16_000, false, seed);
        assert!(bomb.len() < 256 * 1024, "{} bytes", bomb.len());
        bombs.push(upload(bomb).await);
        large.push(upload(one_bit_png(5_600, 5_600, true, seed)).await);
    }
    // Twenty requests at once for each set: every image in all five thumbnail sizes.
    let sizes = [
        "32&height=32&method=crop",
        "96&height=96&method=crop",
        "320&height=240&method=scale",
        "640&height=480&method=scale",
        "800&height=600&method=scale",
    ];
    let burst = |ids: &Vec<String>| {
        let requests: Vec<_> = ids
            .iter()
            .flat_map(|id| sizes.iter().map(move |size| (id.clone(), *size)))
            .map(|(id, size)| {
                let req = http
                    .get(format!(
                        "{base}/_matrix/client/v1/media/thumbnail/{id}?width={size}"
                    ))
                    .bearer_auth(&token);
                async move {
                    let res = req.send().await.unwrap();
                    let status = res.status().as_u16();
                    (status, res.bytes().await.unwrap())
                }
            })
            .collect();
        futures_util::future::join_all(requests)
    };

    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = proc_kb(pid, "VmRSS");
    let started = std::time::Instant::now();
    let bomb_answers = burst(&bombs).await;
    let peak_bombs = proc_kb(pid, "VmHWM");
    let large_answers = burst(&large).await;
    let peak = proc_kb(pid, "VmHWM");
    eprintln!(
        "thumbnails: RSS {before} kB before, peak {peak_bombs} kB after the bombs, {peak} kB after the large images ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        peak.saturating_sub(before) < 300 * 1024,
        "20 thumbnails at once grew RSS by {} MiB",
        (peak - before) / 1024
    );
    for (status, body) in &bomb_answers {
        assert_eq!(
            *status,
            413,
            "a 256-megapixel image is refused: {}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(
            serde_json::from_slice::<Value>(body).unwrap()["errcode"],
            "M_TOO_LARGE"
        );
    }
    for (status, body) in &large_answers {
        assert_eq!(*status, 200, "{}", String::from_utf8_lossy(body));
        let image = image::load_from_memory(body).unwrap();
        assert!(image.width() <= 800 && image.height() <= 600);
    }
}
